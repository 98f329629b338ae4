//! Binary store against the real sops 3.11 (see `common` for the corpus conventions).

mod common;

use common::*;
use keytap_core::stores::binary::BinaryStore;
use keytap_core::stores::Store;
use keytap_core::tree::{Item, Value};

#[test]
fn corpus_round_trips_like_sops() {
    let store = BinaryStore::new(None);
    round_trip_corpus(&store, "binary", identity);
    // The plaintext comes back unchanged.
    for path in corpus("binary").into_iter().filter(|p| is_valid(p)) {
        let input = std::fs::read(&path).unwrap();
        let docs = store.load_plain(&input).unwrap();
        assert_eq!(store.emit_plain(&docs).unwrap(), input, "{}", name(&path));
    }
}

#[test]
fn indent_option_matches_sops() {
    let store = BinaryStore::new(Some(2));
    let enc = check_plain_round_trip(&store, "binary", b"secret\n", Some(2)).unwrap();
    check_encrypted_round_trip(&store, &enc, identity).unwrap();
}

#[test]
fn any_plaintext_loads_but_broken_encrypted_files_do_not() {
    let store = BinaryStore::new(None);
    // Binary plaintext has no syntax; non-UTF-8 content is a byte string.
    let docs = store.load_plain(b"\xff\x00").unwrap();
    assert_eq!(
        docs[0][0],
        Item::Entry("data".into(), Value::Bytes(vec![0xff, 0]))
    );
    for bad in [&b"not json"[..], b"", b"[]", br#"{"data": "x", "sops": 1}"#] {
        let e = store.load_encrypted(bad).expect_err(&show(bad));
        assert_one_line(&e.message, &show(bad));
    }
}

#[test]
fn non_utf8_data_converts_to_json_like_sops() {
    // sops holds the file in a Go string; JSON output escapes each invalid byte as \ufffd.
    let input = b"bin \xff\xfe\x00 <\xe2\x82> \xc3\xa9\n";
    let enc = sops().encrypt(input, "binary", None).unwrap();
    let expected = sops().decrypt(&enc, "binary", "json", None, None).unwrap();
    let docs = BinaryStore::new(None).load_plain(input).unwrap();
    let ours = keytap_core::stores::json::JsonStore::new(None)
        .emit_plain(&docs)
        .unwrap();
    assert_eq!(show(&ours), show(&expected));
    assert_eq!(ours, expected);
}

#[test]
fn emit_errors_match_sops() {
    let store = BinaryStore::new(None);
    let e = store
        .emit_plain(&[vec![Item::Entry("other".into(), Value::Str("x".into()))]])
        .unwrap_err();
    assert_eq!(
        e.message,
        "error emitting binary store: no binary data found in tree"
    );
    let e = store
        .emit_plain(&[vec![Item::Entry("data".into(), Value::Int(1))]])
        .unwrap_err();
    assert_eq!(
        e.message,
        "error emitting binary store: 'data' key in tree does not have a string value"
    );
    let e = store.emit_plain(&[vec![], vec![]]).unwrap_err();
    assert_eq!(
        e.message,
        "error emitting binary store: there must be exactly one tree branch"
    );
    let e = store.emit_value(&Value::Int(1)).unwrap_err();
    assert_eq!(
        e.message,
        "Binary files are not structured and extracting a single value is not possible"
    );
}

#[test]
fn random_inputs_never_panic() {
    let inputs = fuzz_inputs("binary", b"{}\":,sopsdata\\n", 2000);
    fuzz_store(&BinaryStore::new(None), &inputs);
}
