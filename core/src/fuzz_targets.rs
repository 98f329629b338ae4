//! The bodies of the fuzz targets (`fuzz/`), here so that the committed corpus and every
//! past finding replay in the ordinary test suite (`core/tests/fuzz_corpus.rs`) without
//! a sanitizer build. Each function takes arbitrary bytes and must return without
//! panicking, hanging or allocating without bound; the properties they assert are ones a
//! user relies on (what keytap writes, keytap reads back).

use crate::stores::{Format, StoreOptions};
use crate::tree::{Branch, Item, Value};

/// A fuzz target's body.
pub type Target = fn(&[u8]);

/// Every target, by the name `cargo fuzz` knows it under.
pub const TARGETS: &[(&str, Target)] = &[
    ("store_yaml", store_yaml),
    ("store_json", store_json),
    ("store_dotenv", store_dotenv),
    ("store_ini", store_ini),
    ("store_binary", store_binary),
    ("sops_config", sops_config),
    ("metadata", metadata),
    ("identity_file", identity_file),
    ("plugin_identity_session", plugin_identity_session),
    ("plugin_recipient_session", plugin_recipient_session),
    ("install_manifest", install_manifest),
    ("tree_path", tree_path),
    ("envelope", envelope),
    ("age_header", age_header),
    ("merge", merge),
    ("ssh_private_key", ssh_private_key),
];

/// Plain and encrypted loading in `format`; whatever loads and emits must load again.
fn store(format: Format, data: &[u8]) {
    let store = format.store(&StoreOptions::default());
    if let Ok(docs) = store.load_plain(data) {
        if let Ok(out) = store.emit_plain(&docs) {
            if matches!(format, Format::Yaml | Format::Json) && !docs.is_empty() {
                let again = store.load_plain(&out);
                assert!(again.is_ok(), "emitted plaintext does not load: {again:?}");
            }
        }
    }
    if let Ok((docs, Some(meta))) = store.load_encrypted(data) {
        if let Ok(m) = crate::metadata::Metadata::from_branch(&meta) {
            let _ = crate::metadata::check_version(&m.version);
            let empty = if format == Format::Yaml {
                Value::List(Vec::new())
            } else {
                Value::Null
            };
            if let Ok(out) = store.emit_encrypted(&docs, &m.to_branch(empty)) {
                if matches!(format, Format::Yaml | Format::Json) {
                    let again = store.load_encrypted(&out);
                    assert!(
                        matches!(again, Ok((_, Some(_)))),
                        "emitted file does not load: {again:?}"
                    );
                }
            }
        }
    }
}

/// The YAML store.
pub fn store_yaml(data: &[u8]) {
    store(Format::Yaml, data)
}

/// The JSON store.
pub fn store_json(data: &[u8]) {
    store(Format::Json, data)
}

/// The dotenv store.
pub fn store_dotenv(data: &[u8]) {
    store(Format::Dotenv, data)
}

/// The INI store.
pub fn store_ini(data: &[u8]) {
    store(Format::Ini, data)
}

/// The binary store.
pub fn store_binary(data: &[u8]) {
    store(Format::Binary, data)
}

/// `.sops.yaml`: parsing and rule matching.
pub fn sops_config(data: &[u8]) {
    let path = std::path::Path::new("/repo/.sops.yaml");
    if let Ok(config) = crate::config::parse_bytes(data.to_vec(), path) {
        for file in ["/repo/secrets/a.yaml", "/repo/x.json", "/elsewhere/b.env"] {
            let _ = config.rule_for(std::path::Path::new(file), std::path::Path::new("/repo"));
        }
    }
}

/// The `sops` metadata block: what is read is written back to the same metadata.
pub fn metadata(data: &[u8]) {
    let Ok((_, Some(meta))) = Format::Json
        .store(&StoreOptions::default())
        .load_encrypted(data)
    else {
        return;
    };
    if let Ok(m) = crate::metadata::Metadata::from_branch(&meta) {
        let again = crate::metadata::Metadata::from_branch(&m.to_branch(Value::Null));
        assert_eq!(
            again.ok().as_ref(),
            Some(&m),
            "metadata does not round-trip"
        );
    }
}

/// Identity files (keys.txt, SOPS_AGE_KEY): native, post-quantum and plugin identities.
pub fn identity_file(data: &[u8]) {
    // A passphrase-protected file would ask for its passphrase; fuzzing cannot answer.
    if crate::keys::sources::is_encrypted_identity_file(data) {
        return;
    }
    let mut ids = crate::keys::identities::AgeIdentities::default();
    ids.add_identity_text("fuzz", data);
}

/// A prompt handler that never answers (a client with no way to ask the user).
#[derive(Clone)]
pub(crate) struct NoAnswers;

impl age::Callbacks for NoAnswers {
    fn display_message(&self, _: &str) {}
    fn confirm(&self, _: &str, _: &str, _: Option<&str>) -> Option<bool> {
        None
    }
    fn request_public_string(&self, _: &str) -> Option<String> {
        None
    }
    fn request_passphrase(&self, _: &str) -> Option<age::secrecy::SecretString> {
        None
    }
}

/// The client's `identity-v1` session against a plugin that writes `data`.
pub fn plugin_identity_session(data: &[u8]) {
    let mut plugin = crate::plugin::session::ScriptedPlugin::new(data);
    let stanza = || age_core::format::Stanza {
        tag: "x25519".into(),
        args: vec!["AAAA".into()],
        body: vec![0; 32],
    };
    let files = vec![vec![stanza()], vec![stanza()]];
    let identities = ["AGE-PLUGIN-FUZZ-1QQQQQQ".to_string()];
    if let Ok(out) = crate::plugin::identity::run(&mut plugin, &identities, &files, &NoAnswers) {
        assert_eq!(out.file_keys.len(), files.len());
    }
}

/// The client's `recipient-v1` session against a plugin that writes `data`.
pub fn plugin_recipient_session(data: &[u8]) {
    let mut plugin = crate::plugin::session::ScriptedPlugin::new(data);
    let key = age_core::format::FileKey::new(Box::new([7; 16]));
    let _ = crate::plugin::recipient::run(&mut plugin, "age1fuzz1qqqq", &key, &NoAnswers);
}

/// The NixOS module's manifest, validated as `--check-mode=manifest` does.
pub fn install_manifest(data: &[u8]) {
    if let Ok(m) = crate::install::manifest::Manifest::parse(data) {
        let _ =
            crate::install::check::validate(&m, crate::install::CheckMode::Manifest, true, true);
    }
}

/// An SSH private key file, converted as the installer converts host keys: to an age
/// identity and to an OpenPGP key. Converting twice gives the same key.
pub fn ssh_private_key(data: &[u8]) {
    let _ = crate::install::sshkey::ssh_private_key_to_age(data);
    if let Ok(key) = crate::install::sshpgp::ssh_private_key_to_pgp(data) {
        let again = crate::install::sshpgp::ssh_private_key_to_pgp(data).expect("converts again");
        assert_eq!(key.public, again.public);
    }
}

/// `--extract`/`set`/`unset` paths applied to a small document.
pub fn tree_path(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(steps) = crate::treepath::parse(text) else {
        return;
    };
    let mut doc: Branch = vec![
        Item::Entry("a".into(), Value::Str("1".into())),
        Item::Entry(
            "b".into(),
            Value::List(vec![Value::Str("x".into()), Value::Comment("c".into())]),
        ),
    ];
    if let Ok(crate::treepath::Found::Item(item)) = crate::treepath::get(&doc, &steps) {
        let _ = crate::treepath::item_as_value(item, true);
    }
    let _ = crate::treepath::set(&mut doc, &steps, Value::Int(1));
    let _ = crate::treepath::unset(&mut doc, &steps);
}

/// `ENC[AES256_GCM,...]` envelopes: decrypting one as text and into its own buffer agree,
/// and a failure leaves the buffer as it was. Input starting with `!` is a plaintext
/// encrypted first, so that opening succeeds too.
pub fn envelope(data: &[u8]) {
    let mut cipher = crate::cipher::ValueCipher::read_only(&[7; 32]);
    let envelope = match data.strip_prefix(b"!") {
        Some(plain) => {
            let value = match std::str::from_utf8(plain) {
                Ok(s) => Value::Str(s.to_string()),
                Err(_) => Value::Bytes(plain.to_vec()),
            };
            cipher.encrypt(&value, "a:").expect("a leaf encrypts")
        }
        None => match std::str::from_utf8(data) {
            Ok(s) => s.to_string(),
            Err(_) => return,
        },
    };
    let as_text = cipher.decrypt(&envelope, "a:");
    let mut buffer = envelope.clone();
    let replacing = cipher.decrypt_replacing(&mut buffer, "a:");
    match (&as_text, &replacing) {
        (Ok(a), Ok(b)) => assert_eq!(a, b),
        (Err(a), Err(b)) => {
            assert_eq!(a.to_string(), b.to_string());
            assert_eq!(buffer, envelope, "a failed decryption changed the envelope");
        }
        _ => panic!("decrypt and decrypt_replacing disagree"),
    }
    if data.starts_with(b"!") {
        assert!(as_text.is_ok(), "a fresh envelope does not decrypt");
    }
}

/// keytap's check of an age file (a sops `enc` blob) before the age crate reads it.
pub fn age_header(data: &[u8]) {
    let _ = crate::keys::agefile::checked(data);
}

/// The three-way merge of `keytap merge`, on up to three YAML inputs separated by a form
/// feed byte (base, ours, theirs): never a panic, and a side that changed nothing
/// gives the other side exactly, without conflicts.
pub fn merge(data: &[u8]) {
    let store = Format::Yaml.store(&StoreOptions::default());
    let mut versions = data
        .split(|b| *b == 0x0c) // form feed: a cheap separator for the fuzzer to find
        .map(|part| store.load_plain(part).ok());
    let (Some(Some(base)), Some(Some(ours))) = (versions.next(), versions.next()) else {
        return;
    };
    let theirs = versions.next().flatten().unwrap_or_else(|| base.clone());
    let mut conflicts = crate::merge::Conflicts::default();
    let _ = crate::merge::merge_documents(Some(&base), &ours, &theirs, &mut conflicts);
    let mut none = crate::merge::Conflicts::default();
    let merged = crate::merge::merge_documents(Some(&base), &ours, &base, &mut none);
    assert!(
        none.is_empty(),
        "conflicts with an unchanged side: {none:?}"
    );
    assert_eq!(merged, ours, "an unchanged side must give the other side");
    let _ = crate::merge::merge_documents(None, &ours, &theirs, &mut conflicts);
}
