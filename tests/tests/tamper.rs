//! Tampered files: keytap must refuse exactly where sops refuses, with the same exit code,
//! and print no plaintext.

use keytap_e2e::Workspace;
use regex::Regex;

const PLAIN: &str = r#"{"a": "one", "b": "two", "c_unencrypted": "plain", "n": 42}"#;

fn encrypted(ws: &Workspace) -> String {
    let out = ws.encrypt_plain("plain.json", PLAIN);
    String::from_utf8(out).unwrap()
}

/// Flips one base64 character of the `field` of the value of `key`.
fn flip(text: &str, key: &str, field: &str) -> String {
    let re = Regex::new(&format!(
        r#""{key}": "ENC\[AES256_GCM,data:([^,]*),iv:([^,]*),tag:([^,]*),type"#
    ))
    .unwrap();
    let caps = re
        .captures(text)
        .unwrap_or_else(|| panic!("no value for {key}"));
    let idx = match field {
        "data" => 1,
        "iv" => 2,
        _ => 3,
    };
    let m = caps.get(idx).unwrap();
    let mut bytes = text.as_bytes().to_vec();
    let pos = m.start();
    bytes[pos] = if bytes[pos] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).unwrap()
}

fn case(ws: &Workspace, name: &str, text: &str) {
    let file = format!("{name}.json");
    ws.write(&file, text);
    let theirs = ws.sops(["decrypt", &file]);
    let ours = ws.keytap(["decrypt", &file]);
    assert_ne!(
        theirs.code, 0,
        "{name}: sops accepted the tampered file; the test is broken"
    );
    assert_eq!(
        ours.code, theirs.code,
        "{name}: exit code differs from sops (sops said {:?}, keytap {:?})",
        theirs.stderr, ours.stderr
    );
    assert!(
        ours.stdout.is_empty(),
        "{name}: plaintext printed on failure"
    );
    assert_eq!(
        ours.stderr.trim_end().lines().count(),
        1,
        "{name}: expected a one-line error, got {:?}",
        ours.stderr
    );
}

#[test]
fn every_kind_of_tampering_fails_like_sops() {
    let ws = Workspace::new();
    let enc = encrypted(&ws);
    ws.write("good.json", &enc);
    assert_eq!(ws.sops(["decrypt", "good.json"]).code, 0);
    for field in ["data", "iv", "tag"] {
        case(&ws, &format!("value-{field}"), &flip(&enc, "a", field));
    }
    case(&ws, "mac-data", &flip(&enc, "mac", "data"));
    // lastmodified is the MAC's AAD.
    let lm = Regex::new(r#""lastmodified": "(\d{4})"#).unwrap();
    case(
        &ws,
        "lastmodified",
        &lm.replace(&enc, r#""lastmodified": "1999"#),
    );
    // Swap the ciphertexts of a and b: the AAD (key path) no longer matches.
    let ra = Regex::new(r#""a": "(ENC\[[^"]*)""#).unwrap();
    let rb = Regex::new(r#""b": "(ENC\[[^"]*)""#).unwrap();
    let va = ra.captures(&enc).unwrap()[1].to_string();
    let vb = rb.captures(&enc).unwrap()[1].to_string();
    let swapped = enc
        .replace(&va, "@A@")
        .replace(&vb, &va)
        .replace("@A@", &vb);
    case(&ws, "swapped", &swapped);
    // An unencrypted value is still covered by the MAC.
    case(&ws, "unencrypted", &enc.replace("\"plain\"", "\"changed\""));
    // No MAC at all.
    let mac = Regex::new(r#""mac": "[^"]*""#).unwrap();
    case(&ws, "no-mac", &mac.replace(&enc, r#""mac": """#));
}

#[test]
fn ignore_mac_skips_only_the_mac_check() {
    let ws = Workspace::new();
    let enc = encrypted(&ws);
    ws.write("t.json", enc.replace("\"plain\"", "\"changed\""));
    let ours = ws.keytap(["decrypt", "--ignore-mac", "t.json"]);
    let theirs = ws.sops(["decrypt", "--ignore-mac", "t.json"]);
    assert_eq!(ours.code, 0, "{}", ours.stderr);
    assert_eq!(ours.stdout, theirs.ok());
    ws.write("v.json", flip(&enc, "a", "data"));
    assert_eq!(
        ws.keytap(["decrypt", "--ignore-mac", "v.json"]).code,
        ws.sops(["decrypt", "--ignore-mac", "v.json"]).code
    );
}

#[test]
fn wrong_key_is_128_and_lists_what_was_tried() {
    let ws = Workspace::new();
    let other = Workspace::new();
    ws.write("plain.json", PLAIN);
    let enc = ws
        .keytap(["encrypt", "--age", &other.recipient, "plain.json"])
        .ok();
    ws.write("enc.json", &enc);
    let ours = ws.keytap(["decrypt", "enc.json"]);
    let theirs = ws.sops(["decrypt", "enc.json"]);
    assert_eq!(theirs.code, 128);
    assert_eq!(ours.code, 128);
    assert!(ours.stdout.is_empty());
    assert!(
        ours.stderr
            .contains("Failed to get the data key required to decrypt the SOPS file."),
        "{}",
        ours.stderr
    );
    assert!(
        ours.stderr.contains(&other.recipient),
        "names the recipient: {}",
        ours.stderr
    );
    ours.assert_stderr_has("Group 0: FAILED");
}
