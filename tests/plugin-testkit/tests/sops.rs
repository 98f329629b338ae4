//! `age-plugin-testkit` with the real sops 3.11 (which runs `age-plugin-<name>` from
//! `PATH` through its Go age library): sops writes a `testkit` stanza and reads it back,
//! and the misbehaviours are reported by sops, or, for `hang`, make sops wait forever.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;

fn sops(dir: &Path) -> Command {
    sops_in(dir, &["TESTKIT_MODE", "TESTKIT_LOG"])
}

#[test]
fn sops_round_trip_and_misbehaviours() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (recipient, identity) = generate(&[]);
    fs::write(d.join("keys.txt"), format!("{identity}\n")).unwrap();
    fs::write(d.join("plain.yaml"), "token: s3cr3t\n").unwrap();
    let log = d.join("testkit.log");

    let out = run(
        sops(d)
            .args(["encrypt", "--age", &recipient, "plain.yaml"])
            .env("TESTKIT_LOG", &log),
        b"",
        TIMEOUT,
    );
    assert!(out.success(), "{out:?}");
    let encrypted = out.stdout_str();
    assert!(encrypted.contains(&recipient), "{encrypted}");
    fs::write(d.join("enc.yaml"), &encrypted).unwrap();
    assert_eq!(fs::read_to_string(&log).unwrap(), "session recipient-v1\n");

    let decrypt = |mode: &str, timeout| {
        run(
            sops(d)
                .args(["decrypt", "enc.yaml"])
                .env("SOPS_AGE_KEY_FILE", d.join("keys.txt"))
                .env("TESTKIT_MODE", mode),
            b"",
            timeout,
        )
    };
    let out = decrypt("ok", TIMEOUT);
    assert!(out.success(), "{out:?}");
    assert_eq!(out.stdout_str(), "token: s3cr3t\n");

    for (mode, expect) in [
        (
            "fail",
            "testkit plugin: testkit: refusing to unwrap (TESTKIT_MODE=fail)",
        ),
        (
            "absent",
            "testkit plugin: testkit token not found (is it plugged in?)",
        ),
        ("crash", "testkit plugin"),
        ("garbage", "malformed stanza"),
        ("wrong-key", "Failed to get the data key"),
        (
            "prompt-pin",
            "testkit: a PIN is required but the client could not ask for it",
        ),
    ] {
        let out = decrypt(mode, TIMEOUT);
        assert!(!out.timed_out, "{mode}: {out:?}");
        assert!(out.code.is_some_and(|c| c != 0), "{mode}: {out:?}");
        assert!(!out.stdout_str().contains("s3cr3t"), "{mode}: {out:?}");
        assert!(
            words(&out.stderr).contains(expect),
            "{mode}: expected {expect:?} in {}",
            out.stderr
        );
    }

    // sops has no plugin timeout either: it waits until killed.
    let out = decrypt("hang", Duration::from_secs(3));
    assert!(out.timed_out && out.stdout.is_empty(), "{out:?}");
}
