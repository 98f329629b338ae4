//! keytap and the real sops 3.11 on the same files, in both directions.

use std::path::{Path, PathBuf};

use keytap_e2e::{mask_random, Workspace};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The interop corpus copied into `ws`: (file name, its copy).
fn corpus_in(ws: &Workspace) -> Vec<(String, PathBuf)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/interop");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 7);
    files
        .iter()
        .map(|file| {
            let name = file.file_name().unwrap().to_str().unwrap().to_string();
            let copy = ws.write(&name, std::fs::read(file).unwrap());
            (name, copy)
        })
        .collect()
}

/// [`mask_random`], with INI's `[sops]` section as a set: sops writes it in Go's random
/// map order.
fn mask(data: &[u8]) -> String {
    let text = mask_random(data);
    match text.split_once("[sops]\n") {
        Some((body, meta)) => {
            let mut lines: Vec<&str> = meta.lines().collect();
            lines.sort_unstable();
            format!("{body}[sops]\n{}", lines.join("\n"))
        }
        None => text,
    }
}

#[test]
fn files_sops_encrypts_decrypt_identically_with_keytap() {
    let ws = Workspace::new();
    for (name, plain) in corpus_in(&ws) {
        let enc = ws.sops(["encrypt", "--age", &ws.recipient, s(&plain)]).ok();
        let enc_path = ws.write(&format!("enc-{name}"), &enc);
        let ours = ws.keytap(["decrypt", s(&enc_path)]);
        let theirs = ws.sops(["decrypt", s(&enc_path)]);
        assert_eq!(theirs.code, 0, "{name}: {}", theirs.stderr);
        assert_eq!(ours.code, 0, "{name}: keytap failed: {}", ours.stderr);
        assert_eq!(ours.out(), theirs.out(), "{name}: decrypted output differs");
    }
}

#[test]
fn files_keytap_encrypts_decrypt_with_sops_and_match_its_encryption() {
    let ws = Workspace::new();
    for (name, plain) in corpus_in(&ws) {
        let ours = ws.keytap(["encrypt", "--age", &ws.recipient, s(&plain)]);
        assert_eq!(
            ours.code, 0,
            "{name}: keytap encrypt failed: {}",
            ours.stderr
        );
        let theirs = ws.sops(["encrypt", "--age", &ws.recipient, s(&plain)]).ok();
        assert_eq!(
            mask(&ours.stdout),
            mask(&theirs),
            "{name}: encrypted layout differs from sops"
        );
        let enc_path = ws.write(&format!("enc-{name}"), &ours.stdout);
        let by_sops = ws.sops(["decrypt", s(&enc_path)]);
        assert_eq!(
            by_sops.code, 0,
            "{name}: sops cannot decrypt keytap's file: {}",
            by_sops.stderr
        );
        let theirs_path = ws.write(&format!("sops-{name}"), &theirs);
        let reference = ws.sops(["decrypt", s(&theirs_path)]).ok();
        assert_eq!(by_sops.stdout, reference, "{name}: plaintext differs");
    }
}

/// One entry of every key type keytap cannot use itself (PGP and the cloud KMSes,
/// HuaweiCloud's `hckms` too), as sops's metadata structs hold them.
fn foreign_keys() -> serde_json::Value {
    let at = "2026-01-01T00:00:00Z";
    serde_json::json!({
        "pgp": [{"created_at": at, "enc": "PGP-ENC", "fp": "0123456789ABCDEF0123456789ABCDEF01234567"}],
        "kms": [{"arn": "arn:aws:kms:us-east-1:123456789012:key/k", "created_at": at, "enc": "KMS-ENC", "aws_profile": ""}],
        "gcp_kms": [{"resource_id": "projects/p/locations/global/keyRings/r/cryptoKeys/k", "created_at": at, "enc": "GCP-ENC"}],
        "hckms": [{"key_id": "tr-west-1:0000-1111", "created_at": at, "enc": "HCKMS-ENC"}],
        "azure_kv": [{"vault_url": "https://v.vault.azure.net", "name": "k", "version": "1", "created_at": at, "enc": "AZ-ENC"}],
        "hc_vault": [{"vault_address": "https://vault:8200", "engine_path": "transit", "key_name": "k", "created_at": at, "enc": "VAULT-ENC"}],
    })
}

/// A JSON file sops encrypted, with the key lists of `keys` added to its metadata (to its
/// first key group when `grouped`).
fn with_keys(enc: &[u8], keys: &serde_json::Value, grouped: bool) -> Vec<u8> {
    let mut doc: serde_json::Value = serde_json::from_slice(enc).unwrap();
    let target = if grouped {
        &mut doc["sops"]["key_groups"][0]
    } else {
        &mut doc["sops"]
    };
    for (kind, list) in keys.as_object().unwrap() {
        target[kind] = list.clone();
    }
    serde_json::to_vec_pretty(&doc).unwrap()
}

/// A file with key entries keytap cannot use keeps every one of them through keytap's
/// `set`, laid out as sops's own `set` lays them out: in one key group (JSON, YAML, dotenv)
/// and in `key_groups`. Dropping one would lock its teammates out.
#[test]
fn foreign_master_keys_survive_a_keytap_write_as_sops_keeps_them() {
    let ws = Workspace::new();
    let foreign = foreign_keys();
    let inject_json = |enc: &[u8], grouped: bool| with_keys(enc, &foreign, grouped);
    let inject_yaml = |enc: &[u8], _: bool| {
        let mut block = String::new();
        for (kind, list) in foreign.as_object().unwrap() {
            block.push_str(&format!("    {kind}:\n"));
            for (i, (field, value)) in list[0].as_object().unwrap().iter().enumerate() {
                let dash = if i == 0 { "- " } else { "  " };
                block.push_str(&format!("        {dash}{field}: {value}\n"));
            }
        }
        String::from_utf8_lossy(enc)
            .replacen("    age:\n", &format!("{block}    age:\n"), 1)
            .into_bytes()
    };
    let inject_dotenv = |enc: &[u8], _: bool| {
        let mut text = String::from_utf8_lossy(enc).into_owned();
        for (kind, list) in foreign.as_object().unwrap() {
            for (field, value) in list[0].as_object().unwrap() {
                let value = value.as_str().unwrap();
                text.push_str(&format!("sops_{kind}__list_0__map_{field}={value}\n"));
            }
        }
        text.into_bytes()
    };
    type Inject<'a> = &'a dyn Fn(&[u8], bool) -> Vec<u8>;
    let cases: [(&str, &str, bool, Inject); 4] = [
        (
            "f.json",
            "{\"a\": \"1\", \"b\": \"two\"}",
            false,
            &inject_json,
        ),
        (
            "g.json",
            "{\"a\": \"1\", \"b\": \"two\"}",
            true,
            &inject_json,
        ),
        ("f.yaml", "a: 1\nb: two\n", false, &inject_yaml),
        ("f.env", "a=1\nb=two\n", false, &inject_dotenv),
    ];
    for (name, plain, grouped, inject) in cases {
        if grouped {
            ws.write_two_group_rule(&ws.recipient, &ws.recipient);
        } else {
            let _ = std::fs::remove_file(ws.path(".sops.yaml"));
        }
        let plain_path = ws.write(name, plain);
        let enc = ws.sops(["encrypt", s(&plain_path)]);
        let enc = if enc.code == 0 {
            enc.stdout
        } else {
            ws.sops(["encrypt", "--age", &ws.recipient, s(&plain_path)])
                .ok()
        };
        // sops's own write lays the injected entries out canonically.
        let start = ws.write(&format!("start-{name}"), inject(&enc, grouped));
        let set = ws.sops(["set", s(&start), r#"["a"]"#, r#""x""#]);
        assert_eq!(set.code, 0, "{name}: {}", set.stderr);
        let canonical = ws.read(&format!("start-{name}"));
        for kind in [
            "PGP-ENC",
            "KMS-ENC",
            "GCP-ENC",
            "HCKMS-ENC",
            "AZ-ENC",
            "VAULT-ENC",
        ] {
            assert!(
                String::from_utf8_lossy(&canonical).contains(kind),
                "{name}: sops dropped {kind}"
            );
        }
        let ours = ws.write(&format!("ours-{name}"), &canonical);
        let theirs = ws.write(&format!("theirs-{name}"), &canonical);
        let run = ws.keytap(["set", s(&ours), r#"["b"]"#, r#""y""#]);
        assert_eq!(run.code, 0, "{name}: {}", run.stderr);
        ws.sops(["set", s(&theirs), r#"["b"]"#, r#""y""#]).ok();
        assert_eq!(
            mask(&ws.read(&format!("ours-{name}"))),
            mask(&ws.read(&format!("theirs-{name}"))),
            "{name}: keytap's write differs from sops's"
        );
    }
}

/// `rotate --rm-<type>` removes a key keytap cannot use (a team moving off PGP or a KMS)
/// as sops does, named as sops names it (a KMS key with its role as `ARN+ROLE`, Azure and
/// Vault keys by URL); and `updatekeys` lists a key its rule drops by that same name.
#[test]
fn foreign_master_keys_are_removed_and_named_as_sops_does() {
    let ws = Workspace::new();
    let plain = ws.write("p.json", "{\"a\": \"1\"}");
    let enc = ws.sops(["encrypt", "--age", &ws.recipient, s(&plain)]).ok();
    let foreign = foreign_keys();
    let at = "2026-01-01T00:00:00Z";
    let kms_with_role = serde_json::json!([{"arn": "arn:aws:kms:us-east-1:1:key/k", "role": "arn:aws:iam::1:role/r", "created_at": at, "enc": "KMS-ENC", "aws_profile": ""}]);
    let cases = [
        (
            "pgp",
            foreign["pgp"].clone(),
            "--rm-pgp",
            "0123 4567 89AB CDEF 0123  4567 89AB CDEF 0123 4567",
        ),
        (
            "kms",
            kms_with_role,
            "--rm-kms",
            "arn:aws:kms:us-east-1:1:key/k+arn:aws:iam::1:role/r",
        ),
        (
            "gcp_kms",
            foreign["gcp_kms"].clone(),
            "--rm-gcp-kms",
            "projects/p/locations/global/keyRings/r/cryptoKeys/k",
        ),
        (
            "hckms",
            foreign["hckms"].clone(),
            "--rm-hckms",
            "tr-west-1:0000-1111",
        ),
        (
            "azure_kv",
            foreign["azure_kv"].clone(),
            "--rm-azure-kv",
            "https://v.vault.azure.net/keys/k/1",
        ),
        (
            "hc_vault",
            foreign["hc_vault"].clone(),
            "--rm-hc-vault-transit",
            "https://vault:8200/v1/transit/keys/k",
        ),
    ];
    for (kind, list, flag, name) in cases {
        let keys = serde_json::json!({ kind: list });
        let start = with_keys(&enc, &keys, false);
        let ours = ws.write(&format!("ours-{kind}.json"), &start);
        let theirs = ws.write(&format!("theirs-{kind}.json"), &start);
        let run = ws.keytap(["rotate", "-i", flag, name, s(&ours)]);
        assert_eq!(run.code, 0, "{kind}: {}", run.stderr);
        let sops_run = ws.sops(["rotate", "-i", flag, name, s(&theirs)]);
        assert_eq!(sops_run.code, 0, "{kind}: {}", sops_run.stderr);
        let ours = String::from_utf8(ws.read(&format!("ours-{kind}.json"))).unwrap();
        assert!(
            !ours.contains("-ENC"),
            "{kind}: the key was not removed: {ours}"
        );
        assert_eq!(
            mask(ours.as_bytes()),
            mask(&ws.read(&format!("theirs-{kind}.json"))),
            "{kind}"
        );
    }

    // updatekeys: the rule has only the age key, so the PGP key goes, named by fingerprint.
    ws.write(
        ".sops.yaml",
        format!("creation_rules:\n  - age: {}\n", ws.recipient),
    );
    let start = with_keys(
        &enc,
        &serde_json::json!({"pgp": foreign["pgp"].clone()}),
        false,
    );
    let ours = ws.write("u-ours.json", &start);
    let theirs = ws.write("u-theirs.json", &start);
    let run = ws.keytap(["updatekeys", "-y", s(&ours)]);
    let sops_run = ws.sops(["updatekeys", "-y", s(&theirs)]);
    assert_eq!(run.code, sops_run.code, "{}", run.stderr);
    assert_eq!(run.out(), sops_run.out());
    assert!(run.out().contains("--- 0123456789ABCDEF"), "{}", run.out());
}

/// Files larger than 256 KiB are mapped instead of read (`keytap_mapfile`): encrypting and
/// decrypting them, in every format, gives what sops gives.
#[test]
fn large_files_read_through_a_mapping_match_sops() {
    let ws = Workspace::new();
    let values: Vec<(String, String)> = (0..8000)
        .map(|i| {
            (
                format!("key_{i}"),
                format!("value {i} {}", "x".repeat(i % 50)),
            )
        })
        .collect();
    let json = format!(
        "{{\n{}\n}}\n",
        values
            .iter()
            .map(|(k, v)| format!("  \"{k}\": \"{v}\""))
            .collect::<Vec<_>>()
            .join(",\n")
    );
    let yaml: String = values.iter().map(|(k, v)| format!("{k}: {v}\n")).collect();
    let dotenv: String = values.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    let ini = format!("[section]\n{dotenv}");
    // Large enough to be decrypted on two threads: groups with comments, lists, numbers and
    // booleans, a plaintext key; the MAC sops checks covers both threads' parts.
    let rich: String = (0..80)
        .map(|g| {
            let items: String = (0..60)
                .map(|i| match i % 5 {
                    0 => format!("    # note {g}-{i}\n    n{i}: {}\n", g * 100 + i),
                    1 => format!(
                        "    l{i}:\n        - a {i}\n        # in list\n        - {}\n",
                        i % 2 == 0
                    ),
                    2 => format!("    p{i}_unencrypted: kept {i}\n"),
                    _ => format!("    s{i}: value {g}-{i} {}\n", "y".repeat(i * 2)),
                })
                .collect();
            format!("# group {g}\ngroup_{g}:\n{items}")
        })
        .collect();
    for (name, plain) in [
        ("big.json", json),
        ("big.yaml", yaml),
        ("big.env", dotenv),
        ("big.ini", ini),
        ("rich.yaml", rich),
    ] {
        let plain_path = ws.write(name, plain.as_bytes());
        assert!(plain.len() > 256 * 1024, "{name} is too small to be mapped");
        let ours = ws.keytap(["encrypt", "--age", &ws.recipient, s(&plain_path)]);
        assert_eq!(ours.code, 0, "{name}: {}", ours.stderr);
        let theirs = ws
            .sops(["encrypt", "--age", &ws.recipient, s(&plain_path)])
            .ok();
        assert!(
            mask(&ours.stdout) == mask(&theirs),
            "{name}: encryption differs"
        );
        for (by, enc) in [("keytap", ours.stdout), ("sops", theirs)] {
            let enc_path = ws.write(&format!("enc-{by}-{name}"), &enc);
            let back = ws.keytap(["decrypt", s(&enc_path)]);
            assert_eq!(back.code, 0, "{name} from {by}: {}", back.stderr);
            let sops_back = ws.sops(["decrypt", s(&enc_path)]).ok();
            assert!(
                back.stdout == sops_back,
                "{name} from {by}: decrypted output differs"
            );
        }
    }
}

/// PGP keys go through GnuPG as in sops (`gpg`, or `SOPS_GPG_EXEC`, with sops's
/// arguments): files keytap encrypts to a fingerprint (`--pgp`, a creation rule,
/// `rotate --add-pgp`) decrypt with sops and the other way round; without the secret key
/// the failure names the fingerprint.
#[test]
fn pgp_keys_work_both_ways_through_gnupg() {
    let ws = Workspace::new();
    let (gnupg, fp) = ws.gnupg_key("gnupg");
    let empty_home = ws.path("empty-gnupg");
    std::fs::create_dir(&empty_home).unwrap();
    let calls = ws.path("gpg-calls");
    let wrapper = ws.sh_script(
        "gpg-wrapper",
        &format!("echo \"$*\" >> '{}'\nexec gpg \"$@\"", calls.display()),
    );
    // Only GnuPG holds the key: no age identity.
    let run = |program: &str, args: &[&str], home: &Path| {
        ws.run(program, |c| {
            c.args(args)
                .env_remove("SOPS_AGE_KEY_FILE")
                .env("GNUPGHOME", home)
                .env("SOPS_GPG_EXEC", &wrapper);
        })
    };
    let keytap = keytap_e2e::keytap_bin();
    let keytap = keytap.to_str().unwrap();
    let plain = "a: secret\nb:\n    - 1\n    - 2\n";
    ws.write("plain.yaml", plain);

    let ours = run(keytap, &["encrypt", "--pgp", &fp, "plain.yaml"], &gnupg);
    assert_eq!(ours.code, 0, "{}", ours.stderr);
    let theirs = run("sops", &["encrypt", "--pgp", &fp, "plain.yaml"], &gnupg);
    assert_eq!(theirs.code, 0, "{}", theirs.stderr);
    // Everything but the random bytes is sops's, the armored message's included.
    let unarmored = |enc: &[u8]| {
        let text = mask(enc);
        let start = text
            .find("-----BEGIN PGP MESSAGE-----")
            .expect("an armored message");
        let end = text.find("-----END PGP MESSAGE-----").expect("its end");
        format!("{}ARMOR{}", &text[..start], &text[end..])
    };
    assert_eq!(
        unarmored(&ours.stdout),
        unarmored(&theirs.stdout),
        "the pgp entry differs from sops's"
    );
    let short = &fp[fp.len() - 16..];
    assert_eq!(
        std::fs::read_to_string(&calls).unwrap().lines().next(),
        Some(
            format!("--no-default-recipient --yes --encrypt -a -r {fp} --trusted-key {short} --no-encrypt-to")
                .as_str()
        ),
        "GnuPG is run as sops runs it, the data key on stdin"
    );
    for (by, enc) in [("keytap", &ours.stdout), ("sops", &theirs.stdout)] {
        ws.write("s.yaml", enc);
        for tool in [keytap, "sops"] {
            let back = run(tool, &["decrypt", "s.yaml"], &gnupg);
            assert_eq!(back.code, 0, "{tool} on {by}'s file: {}", back.stderr);
            assert_eq!(back.out(), plain, "{tool} on {by}'s file");
        }
    }

    // Without the secret key: sops's exit code, the fingerprint named, nothing on stdout.
    ws.write("s.yaml", &ours.stdout);
    let locked = run(keytap, &["decrypt", "s.yaml"], &empty_home);
    assert_eq!(locked.code, 128, "{}", locked.stderr);
    assert!(locked.stdout.is_empty());
    assert!(
        locked.stderr.contains(&format!("{fp}: FAILED"))
            && locked
                .stderr
                .contains("could not decrypt data key with PGP key"),
        "{}",
        locked.stderr
    );

    // A creation rule's PGP key, in a group of its own next to an age group.
    ws.write(
        ".sops.yaml",
        format!(
            "creation_rules:\n  - key_groups:\n    - pgp:\n      - {fp}\n    - age:\n      - {}\n",
            ws.recipient
        ),
    );
    let grouped = run(keytap, &["encrypt", "plain.yaml"], &gnupg);
    assert_eq!(grouped.code, 0, "{}", grouped.stderr);
    ws.write("g.yaml", &grouped.stdout);
    let back = ws.run("sops", |c| {
        c.args(["decrypt", "g.yaml"]).env("GNUPGHOME", &gnupg);
    });
    assert_eq!(back.out(), plain, "{}", back.stderr);
    std::fs::remove_file(ws.path(".sops.yaml")).unwrap();

    // rotate --add-pgp on an age-only file, then --rm-pgp.
    ws.write(
        "r.yaml",
        ws.keytap(["encrypt", "--age", &ws.recipient, "plain.yaml"])
            .ok(),
    );
    let added = ws.run(keytap, |c| {
        c.args(["rotate", "-i", "--add-pgp", &fp, "r.yaml"])
            .env("GNUPGHOME", &gnupg);
    });
    assert_eq!(added.code, 0, "{}", added.stderr);
    let back = run("sops", &["decrypt", "r.yaml"], &gnupg);
    assert_eq!(
        back.out(),
        plain,
        "sops through the added key: {}",
        back.stderr
    );
    let removed = ws.run(keytap, |c| {
        c.args(["rotate", "-i", "--rm-pgp", &fp, "r.yaml"])
            .env("GNUPGHOME", &gnupg);
    });
    assert_eq!(removed.code, 0, "{}", removed.stderr);
    assert!(!String::from_utf8_lossy(&ws.read("r.yaml")).contains(&fp));

    let _ = ws.run("gpgconf", |c| {
        c.env("GNUPGHOME", &gnupg).args(["--kill", "all"]);
    });
    let _ = ws.run("gpgconf", |c| {
        c.env("GNUPGHOME", &empty_home).args(["--kill", "all"]);
    });
}
