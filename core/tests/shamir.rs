//! Shamir interoperability with the real `sops` (`sops`, `age` and
//! `age-keygen` must be on PATH: scripts/install-deps.sh installs them): shares written by sops combine with our `combine`, and
//! shares made by our `split` are accepted by `sops decrypt`.

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use keytap_core::shamir;

/// Fails the test unless sops, age and age-keygen are on PATH: it must not pass by skipping.
fn require_tools() {
    let ok = ["sops", "age", "age-keygen"].iter().all(|t| {
        Command::new(t)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok()
    });
    assert!(
        ok,
        "sops, age and age-keygen must be on PATH (run scripts/install-deps.sh)"
    );
}

fn keygen(path: &Path) -> String {
    let out = Command::new("age-keygen")
        .arg("-o")
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = fs::read_to_string(path).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .unwrap()
        .to_string()
}

fn age_decrypt(identity: &Path, armored: &str) -> Vec<u8> {
    let mut child = Command::new("age")
        .arg("-d")
        .arg("-i")
        .arg(identity)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(armored.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    out.stdout
}

fn age_encrypt(recipient: &str, data: &[u8]) -> String {
    let mut child = Command::new("age")
        .args(["-a", "-r", recipient])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(data).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

/// Runs a sops command that must succeed (`what` names it in a failure) and returns its
/// standard output.
fn sops_output(sops: &mut Command, what: &str) -> Vec<u8> {
    let out = sops.output().unwrap();
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn shares_interoperate_with_sops_both_ways() {
    require_tools();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let keys: Vec<(std::path::PathBuf, String)> = (0..3)
        .map(|i| {
            let p = dir.join(format!("key{i}.txt"));
            let r = keygen(&p);
            (p, r)
        })
        .collect();
    fs::write(
        dir.join(".sops.yaml"),
        format!(
            "creation_rules:\n  - key_groups:\n      - age: [{}]\n      - age: [{}]\n      - age: [{}]\n    shamir_threshold: 2\n",
            keys[0].1, keys[1].1, keys[2].1
        ),
    )
    .unwrap();
    fs::write(
        dir.join("plain.json"),
        "{\"secret\": \"hunter2\", \"n\": 42}\n",
    )
    .unwrap();
    let encrypted = sops_output(
        Command::new("sops")
            .current_dir(dir)
            .env_remove("SOPS_CONFIG")
            .args(["encrypt", "plain.json"]),
        "encrypt",
    );
    let mut doc: serde_json::Value = serde_json::from_slice(&encrypted).unwrap();
    assert_eq!(doc["sops"]["shamir_threshold"], 2);

    // sops -> us: each group wraps a 33-byte share with x = group index + 1.
    let shares: Vec<Vec<u8>> = (0..3)
        .map(|i| {
            let enc = doc["sops"]["key_groups"][i]["age"][0]["enc"]
                .as_str()
                .unwrap();
            age_decrypt(&keys[i].0, enc)
        })
        .collect();
    for (i, s) in shares.iter().enumerate() {
        assert_eq!(s.len(), 33);
        assert_eq!(s[32] as usize, i + 1);
    }
    let key01 = shamir::combine(&shares[0..2]).unwrap();
    let key12 = shamir::combine(&shares[1..3]).unwrap();
    let key20 = shamir::combine(&[&shares[2], &shares[0]]).unwrap();
    let key_all = shamir::combine(&shares).unwrap();
    assert_eq!(key01.len(), 32);
    assert_eq!(key01, key12);
    assert_eq!(key01, key20);
    assert_eq!(key01, key_all);

    // us -> sops: replace the shares by our own split of the same data key (the MAC is
    // encrypted with the data key, so the file stays valid), then decrypt with two groups.
    let ours = shamir::split(&key01, 3, 2).unwrap();
    for i in 0..3 {
        doc["sops"]["key_groups"][i]["age"][0]["enc"] =
            serde_json::Value::String(age_encrypt(&keys[i].1, &ours[i]));
    }
    fs::write(
        dir.join("enc.json"),
        serde_json::to_vec_pretty(&doc).unwrap(),
    )
    .unwrap();
    for pair in [[0usize, 1], [1, 2], [0, 2]] {
        let ids: String = pair
            .iter()
            .map(|&i| fs::read_to_string(&keys[i].0).unwrap())
            .collect();
        let id_file = dir.join("ids.txt");
        fs::write(&id_file, ids).unwrap();
        let decrypted = sops_output(
            Command::new("sops")
                .current_dir(dir)
                .env("SOPS_AGE_KEY_FILE", &id_file)
                .env_remove("SOPS_AGE_KEY")
                .env_remove("SOPS_AGE_KEY_CMD")
                .env("XDG_CONFIG_HOME", dir)
                .env("HOME", dir)
                .args(["decrypt", "enc.json"]),
            &format!("groups {pair:?}"),
        );
        let plain: serde_json::Value = serde_json::from_slice(&decrypted).unwrap();
        assert_eq!(plain["secret"], "hunter2");
        assert_eq!(plain["n"], 42);
    }
}
