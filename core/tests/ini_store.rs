//! INI store against the real sops 3.11 (see `common` for the corpus conventions).

mod common;

use common::*;
use keytap_core::stores::ini::IniStore;
use keytap_core::stores::Store;
use keytap_core::tree::{Item, Value};

#[test]
fn corpus_round_trips_like_sops() {
    round_trip_corpus(&IniStore, "ini", sort_ini_sops_section);
}

#[test]
fn malformed_inputs_are_errors() {
    malformed_corpus(&IniStore, "ini", 6);
}

#[test]
fn metadata_section_is_sorted_and_unflattened() {
    let md = vec![
        Item::Entry(
            "lastmodified".into(),
            Value::Str("2024-01-01T00:00:00Z".into()),
        ),
        Item::Entry("mac".into(), Value::Str("ENC[x]".into())),
        Item::Entry("unencrypted_regex".into(), Value::Str("^(a|#b);".into())),
        Item::Entry("version".into(), Value::Str("3.11.0".into())),
    ];
    let doc = vec![Item::Entry(
        "s".into(),
        Value::Map(vec![Item::Entry("k".into(), Value::Str("v".into()))]),
    )];
    let out = IniStore
        .emit_encrypted(std::slice::from_ref(&doc), &md)
        .unwrap();
    assert_eq!(
        show(&out),
        "[s]\nk = v\n\n[sops]\nlastmodified      = 2024-01-01T00:00:00Z\nmac               = ENC[x]\n\
unencrypted_regex = `^(a|#b);`\nversion           = 3.11.0\n"
    );
    let (docs, back) = IniStore.load_encrypted(&out).unwrap();
    assert_eq!(
        docs[0][1..],
        doc[..],
        "data sections (after the empty DEFAULT) come back"
    );
    assert_eq!(back.unwrap(), md);
}

#[test]
fn non_mapping_sections_are_refused() {
    let doc = vec![Item::Entry("top".into(), Value::Str("scalar".into()))];
    let e = IniStore.emit_plain(&[doc]).unwrap_err();
    assert_one_line(&e.message, "scalar section");
}

#[test]
fn random_inputs_never_panic() {
    let inputs = fuzz_inputs("ini", b"[]=:;#\"`'\\\n -abc\t", 3000);
    fuzz_store(&IniStore, &inputs);
}

#[test]
fn auto_increment_keys_are_written_like_go_ini() {
    // go-ini names `-` keys `#1`, `#2`, ... and sops writes them back under those names,
    // which read as comments afterwards (sops then fails its MAC check on decrypt).
    // keytap writes the same bytes and reads sops's encrypted file the same way.
    let input = b"[list]\n- = first\n- = second\n[other]\n- = again\n";
    let docs = IniStore.load_plain(input).unwrap();
    assert_eq!(
        show(&IniStore.emit_plain(&docs).unwrap()),
        "[list]\n#1 = first\n#2 = second\n\n[other]\n#1 = again\n"
    );
    let enc = sops().encrypt(input, "ini", None).unwrap();
    assert!(
        show(&enc).starts_with("[list]\n#1 = ENC["),
        "{}",
        show(&enc)
    );
    let (docs, md) = IniStore.load_encrypted(&enc).unwrap();
    assert!(md.is_some());
    let Item::Entry(name, Value::Map(other)) = &docs[0][2] else {
        panic!("{docs:?}")
    };
    assert_eq!(name, "other");
    assert!(
        matches!(&other[0], Item::Comment(c) if c.starts_with("1 = ENC[")),
        "{other:?}"
    );
}
