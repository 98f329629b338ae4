//! Metadata with key groups, a Shamir threshold, `mac_only_encrypted` and an
//! `encrypted_regex`, written by sops in each structured format: keytap re-emits the
//! encrypted files byte for byte, and the flat formats un-flatten to the same metadata
//! tree as the JSON file holds (minus its `null`s, which flat formats cannot carry).

mod common;

use common::*;
use keytap_core::stores::dotenv::DotenvStore;
use keytap_core::stores::ini::IniStore;
use keytap_core::stores::json::JsonStore;
use keytap_core::stores::Store;
use keytap_core::tree::{Branch, Item, Value};

fn config() -> String {
    let r = sops().recipient();
    format!(
        "creation_rules:\n  - shamir_threshold: 2\n    mac_only_encrypted: true\n    encrypted_regex: \"^(pass|secret)\"\n    key_groups:\n      - age: ['{r}']\n      - age: ['{r}']\n"
    )
}

/// A flat store, a plaintext in its format, the format's name, and how to normalize the
/// store's output before comparing it with sops's.
type FlatFormat<'a> = (&'a dyn Store, &'a [u8], &'a str, fn(&[u8]) -> String);

/// The metadata's shape: keys, order and types, with string contents blanked (keys and
/// dates differ between sops runs) and nulls dropped.
fn shape(b: &Branch) -> Branch {
    b.iter()
        .filter_map(|item| match item {
            Item::Entry(_, Value::Null) => None,
            Item::Entry(k, v) => Some(Item::Entry(k.clone(), shape_value(v))),
            c => Some(c.clone()),
        })
        .collect()
}

fn shape_value(v: &Value) -> Value {
    match v {
        Value::Str(_) => Value::Str(String::new()),
        Value::Map(b) => Value::Map(shape(b)),
        Value::List(l) => Value::List(l.iter().map(shape_value).collect()),
        other => other.clone(),
    }
}

#[test]
fn key_group_metadata_round_trips_in_every_format() {
    let cfg = config();
    let json_enc = sops()
        .encrypt_with_config(
            br#"{"password": 1, "user": "bob", "nested": {"secret": true}}"#,
            "json",
            &cfg,
        )
        .unwrap();
    check_encrypted_round_trip(&JsonStore::new(None), &json_enc, identity).unwrap();
    let (_, json_md) = JsonStore::new(None).load_encrypted(&json_enc).unwrap();
    let json_md = json_md.unwrap();
    assert!(matches!(json_md[0], Item::Entry(ref k, Value::Int(2)) if k == "shamir_threshold"));

    // The flat formats carry the same key groups as JSON.
    let flat_formats: [FlatFormat; 2] = [
        (&DotenvStore, b"password=1\nuser=bob\n", "dotenv", identity),
        (
            &IniStore,
            b"[s]\npassword = 1\nuser = bob\n",
            "ini",
            sort_ini_sops_section,
        ),
    ];
    for (store, plain, ty, normalize) in flat_formats {
        let enc = sops().encrypt_with_config(plain, ty, &cfg).unwrap();
        check_encrypted_round_trip(store, &enc, normalize).unwrap();
        let (_, md) = store.load_encrypted(&enc).unwrap();
        assert_eq!(shape(&md.unwrap()), shape(&json_md), "{ty}");
    }
}
