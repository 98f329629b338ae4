//! Files written by other sops versions (`../shared/vectors/`).

use std::path::PathBuf;

use keytap_e2e::Workspace;

fn vectors() -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors");
    assert!(
        p.is_dir(),
        "{} missing: CI lays shared/ beside the checkout",
        p.display()
    );
    p
}

#[test]
fn sops_3_7_1_file_with_pgp_keys_decrypts_and_edits_keep_the_pgp_entries() {
    let ws = Workspace::new();
    let dir = vectors().join("sops-3.7.1-mixed");
    let keys = dir.join("age-keys.txt");
    ws.write(
        "secrets.yaml",
        std::fs::read(dir.join("secrets.yaml")).unwrap(),
    );
    let run = ws.run(keytap_e2e::keytap_bin().to_str().unwrap(), |c| {
        c.args(["decrypt", "secrets.yaml"])
            .env("SOPS_AGE_KEY_FILE", &keys);
    });
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.out(),
        "test_key: test_value\na_list:\n    - e1\n    - e3\nnested:\n    test:\n        file: another value\n"
    );
    // Editing keeps the data key, so the PGP recipients keep access: their entries stay.
    let pgp_block = |text: &str| {
        text[text.find("    pgp:").unwrap()..text.find("    unencrypted_suffix").unwrap()]
            .to_string()
    };
    let before = String::from_utf8(ws.read("secrets.yaml")).unwrap();
    let set = ws.run(keytap_e2e::keytap_bin().to_str().unwrap(), |c| {
        c.args(["set", "secrets.yaml", r#"["test_key"]"#, r#""changed""#])
            .env("SOPS_AGE_KEY_FILE", &keys);
    });
    assert_eq!(set.code, 0, "{}", set.stderr);
    let after = String::from_utf8(ws.read("secrets.yaml")).unwrap();
    assert_eq!(pgp_block(&before), pgp_block(&after), "PGP entries changed");
    assert!(
        !after.contains("kms: []"),
        "keytap writes the 3.11 layout (no empty key lists)"
    );
    let by_sops = ws.run("sops", |c| {
        c.args(["decrypt", "--extract", r#"["test_key"]"#, "secrets.yaml"])
            .env("SOPS_AGE_KEY_FILE", &keys);
    });
    assert_eq!(by_sops.out(), "changed", "{}", by_sops.stderr);
}
