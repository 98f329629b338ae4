//! keytap and the real sops 3.11 on the same files, in both directions.

use std::path::{Path, PathBuf};

use keytap_e2e::Workspace;
use regex::Regex;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn corpus() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/interop");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 7);
    files
}

/// Replaces everything random (IVs, ciphertext, wrapped keys, times) so two encryptions of
/// the same plaintext by sops and by keytap can be compared byte for byte.
fn mask(data: &[u8]) -> String {
    let text = String::from_utf8_lossy(data);
    let enc = Regex::new(r"ENC\[AES256_GCM,data:([A-Za-z0-9+/=]*),iv:[A-Za-z0-9+/=]*,tag:[A-Za-z0-9+/=]*,type:(\w+)\]").unwrap();
    let text = enc.replace_all(&text, |c: &regex::Captures| {
        format!("ENC[len={},type:{}]", c[1].len(), &c[2])
    });
    let armor =
        Regex::new(r"(?s)-----BEGIN AGE ENCRYPTED FILE-----.*?-----END AGE ENCRYPTED FILE-----")
            .unwrap();
    let text = armor.replace_all(&text, "AGE-ARMOR");
    let time = Regex::new(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ").unwrap();
    let text = time.replace_all(&text, "TIME");
    // sops writes INI's [sops] section in Go's random map order: compare it as a set.
    match text.split_once("[sops]\n") {
        Some((body, meta)) => {
            let mut lines: Vec<&str> = meta.lines().collect();
            lines.sort_unstable();
            format!("{body}[sops]\n{}", lines.join("\n"))
        }
        None => text.into_owned(),
    }
}

#[test]
fn files_sops_encrypts_decrypt_identically_with_keytap() {
    let ws = Workspace::new();
    for file in corpus() {
        let name = file.file_name().unwrap().to_str().unwrap().to_string();
        let plain = ws.write(&name, std::fs::read(&file).unwrap());
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
    for file in corpus() {
        let name = file.file_name().unwrap().to_str().unwrap().to_string();
        let plain = ws.write(&name, std::fs::read(&file).unwrap());
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
