//! dotenv store against the real sops 3.11 (see `common` for the corpus conventions).

mod common;

use common::*;
use keytap_core::stores::dotenv::DotenvStore;
use keytap_core::stores::Store;
use keytap_core::tree::{Item, Value};

#[test]
fn corpus_round_trips_like_sops() {
    round_trip_corpus(&DotenvStore, "dotenv", identity);
}

#[test]
fn malformed_inputs_are_errors() {
    malformed_corpus(&DotenvStore, "dotenv", 3);
}

#[test]
fn metadata_is_unflattened_with_sops_types() {
    let input = b"A=1\n#c\nsops_shamir_threshold=3\nsops_mac_only_encrypted=true\n\
sops_age__list_0__map_enc=line1\\nline2\\n\nsops_age__list_0__map_recipient=age1x\nsops_version=3.11.0\n";
    let (docs, md) = DotenvStore.load_encrypted(input).unwrap();
    assert_eq!(
        docs[0],
        vec![
            Item::Entry("A".into(), Value::Str("1".into())),
            Item::Comment("c".into())
        ]
    );
    let md = md.expect("metadata");
    assert_eq!(md[0], Item::Entry("shamir_threshold".into(), Value::Int(3)));
    assert_eq!(
        md[1],
        Item::Entry(
            "age".into(),
            Value::List(vec![Value::Map(vec![
                Item::Entry("recipient".into(), Value::Str("age1x".into())),
                Item::Entry("enc".into(), Value::Str("line1\nline2\n".into())),
            ])])
        )
    );
    assert_eq!(
        md[2],
        Item::Entry("mac_only_encrypted".into(), Value::Bool(true))
    );
    // Old sops wrote the threshold as a float.
    let (_, md) = DotenvStore
        .load_encrypted(b"sops_shamir_threshold=2.0\n")
        .unwrap();
    assert_eq!(
        md.unwrap()[0],
        Item::Entry("shamir_threshold".into(), Value::Int(2))
    );
    for bad in [
        &b"sops_shamir_threshold=two\n"[..],
        b"sops_age=x\nsops_age__list_0__map_enc=y\n",
        b"sops_age__list_-1=x\n",
    ] {
        let e = DotenvStore.load_encrypted(bad).expect_err(&show(bad));
        assert_one_line(&e.message, &show(bad));
    }
    let (_, md) = DotenvStore.load_encrypted(b"A=1\n").unwrap();
    assert!(md.is_none());
}

#[test]
fn nested_values_are_refused() {
    let doc = vec![Item::Entry("a".into(), Value::List(vec![]))];
    let e = DotenvStore.emit_plain(&[doc]).unwrap_err();
    assert_eq!(
        e.message,
        "cannot use complex value in dotenv file; offending key a"
    );
}

#[test]
fn random_inputs_never_panic() {
    let inputs = fuzz_inputs("dotenv", b"=#\n\\nsops_ABC__map___list_0 \r", 3000);
    fuzz_store(&DotenvStore, &inputs);
}
