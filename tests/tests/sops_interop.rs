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

/// A file with key entries keytap cannot use keeps every one of them through keytap's
/// `set`, laid out as sops's own `set` lays them out: in one key group (JSON, YAML, dotenv)
/// and in `key_groups`. Dropping one would lock its teammates out.
#[test]
fn foreign_master_keys_survive_a_keytap_write_as_sops_keeps_them() {
    let ws = Workspace::new();
    let foreign = foreign_keys();
    let inject_json = |enc: &[u8], grouped: bool| {
        let mut doc: serde_json::Value = serde_json::from_slice(enc).unwrap();
        let target = if grouped {
            &mut doc["sops"]["key_groups"][0]
        } else {
            &mut doc["sops"]
        };
        for (kind, list) in foreign.as_object().unwrap() {
            target[kind] = list.clone();
        }
        serde_json::to_vec_pretty(&doc).unwrap()
    };
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
