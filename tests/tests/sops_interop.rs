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
