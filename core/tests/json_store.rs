//! JSON store against the real sops 3.11 (see `common` for the corpus conventions).

mod common;

use common::*;
use keytap_core::stores::json::JsonStore;
use keytap_core::stores::Store;
use keytap_core::tree::{Item, Value};

#[test]
fn corpus_round_trips_like_sops() {
    round_trip_corpus(&JsonStore::new(None), "json", identity);
}

#[test]
fn indent_option_matches_sops() {
    for indent in [0usize, 2, 4] {
        let store = JsonStore::new(Some(indent as i64));
        for file in ["basic.json", "empty_collections.json", "deep.json"] {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/data/json")
                .join(file);
            let input = std::fs::read(&path).expect("read");
            let enc = check_plain_round_trip(&store, "json", &input, Some(indent))
                .unwrap_or_else(|e| panic!("{file} --indent {indent}: {e}"));
            check_encrypted_round_trip(&store, &enc, identity)
                .unwrap_or_else(|e| panic!("{file} --indent {indent}: {e}"));
        }
    }
}

#[test]
fn malformed_inputs_are_errors() {
    malformed_corpus(&JsonStore::new(None), "json", 12);
}

#[test]
fn numbers_are_float64_like_sops() {
    // sops reads every JSON number as a float64 (and encrypts it as type:float).
    let docs = JsonStore::new(None)
        .load_plain(br#"{"a": 1, "b": 9223372036854775807}"#)
        .unwrap();
    assert_eq!(docs[0][0], Item::Entry("a".into(), Value::Float(1.0)));
    assert_eq!(
        docs[0][1],
        Item::Entry("b".into(), Value::Float(9223372036854775807.0))
    );
}

#[test]
fn encrypted_metadata_and_errors() {
    let store = JsonStore::new(None);
    let (docs, md) = store
        .load_encrypted(br#"{"a": 1, "sops": {"shamir_threshold": 2, "kms": null, "mac_only_encrypted": true, "version": "3.11.0"}, "b": 2}"#)
        .unwrap();
    assert_eq!(docs[0].len(), 2, "the sops entry is removed from the data");
    let md = md.expect("metadata");
    assert_eq!(md[0], Item::Entry("shamir_threshold".into(), Value::Int(2)));
    assert_eq!(md[1], Item::Entry("kms".into(), Value::Null));
    assert_eq!(
        md[2],
        Item::Entry("mac_only_encrypted".into(), Value::Bool(true))
    );
    // No sops entry: no metadata.
    let (_, md) = store.load_encrypted(br#"{"a": 1}"#).unwrap();
    assert!(md.is_none());
    for bad in [
        &br#"{"sops": "not an object"}"#[..],
        br#"{"sops": {"version": 1}}"#,
        br#"{"sops": {}} trailing"#,
        br#"["sops"]"#,
        b"",
    ] {
        let e = store.load_encrypted(bad).expect_err(&show(bad));
        assert_one_line(&e.message, &show(bad));
    }
}

#[test]
fn comments_and_non_finite_floats() {
    let store = JsonStore::new(None);
    let doc = vec![
        Item::Comment(" dropped".into()),
        Item::Entry(
            "l".into(),
            Value::List(vec![
                Value::Comment("x".into()),
                Value::Int(1),
                Value::Comment("y".into()),
            ]),
        ),
        Item::Entry(
            "only_comments".into(),
            Value::List(vec![Value::Comment("x".into())]),
        ),
        Item::Entry("m".into(), Value::Map(vec![Item::Comment("c".into())])),
    ];
    let out = store.emit_plain(&[doc]).unwrap();
    assert_eq!(
        show(&out),
        "{\n\t\"l\": [\n\t\t1\n\t],\n\t\"only_comments\": [],\n\t\"m\": {}\n}\n"
    );
    let nan = vec![Item::Entry("f".into(), Value::Float(f64::NAN))];
    let e = store.emit_plain(&[nan]).unwrap_err();
    assert!(
        e.message.contains("unsupported value: NaN"),
        "{}",
        e.message
    );
    assert!(store.emit_plain(&[]).is_err());
}

#[test]
fn nesting_follows_gos_limit_without_crashing() {
    keytap_core::stack::with_deep_stack(|| {
        let store = JsonStore::new(None);
        let nested = |n: usize| format!("{{\"a\": {}1{}}}", "[".repeat(n), "]".repeat(n));
        // Go reads 10,000 levels (the top object is one); so does keytap, both ways.
        let docs = store.load_plain(nested(9_999).as_bytes()).unwrap();
        let out = store.emit_plain(&docs).unwrap();
        store.load_plain(&out).unwrap();
        // Plaintext deeper than that loads (as with sops's tokenizer) but is not written.
        let docs = store.load_plain(nested(10_000).as_bytes()).unwrap();
        let e = store.emit_plain(&docs).unwrap_err();
        assert_one_line(&e.message, "exceeded max depth");
        // Far deeper: refused while reading.
        let e = store.load_plain(nested(30_000).as_bytes()).unwrap_err();
        assert_one_line(&e.message, "exceeded max depth");
    })
}

#[test]
fn random_inputs_never_panic() {
    let inputs = fuzz_inputs("json", br#"{}[]:,"\u0123456789-+.eEtruefalsn "#, 3000);
    fuzz_store(&JsonStore::new(None), &inputs);
}

/// A plaintext file is read as sops reads it, through Go's `json.Decoder.Token`, whose
/// errors differ from `Unmarshal`'s (each checked against sops 3.11).
#[test]
fn plaintext_errors_read_as_sops_token_stream_reports_them() {
    let store = JsonStore::new(None);
    let cases: [(&[u8], &str); 15] = [
        (b"{!", "invalid character '!'"),
        (
            b"{\"a\": 1, !",
            "invalid character '!' looking for beginning of object key string",
        ),
        (
            b"{\"a\": 1",
            "Expected JSON object key, got %!s(<nil>) of type <nil> instead",
        ),
        (
            b"{",
            "Expected JSON object key, got %!s(<nil>) of type <nil> instead",
        ),
        (b"  ", "EOF"),
        (
            b"12x",
            "Expected JSON object start, got 12 of type float64 instead",
        ),
        (
            b"\"a\\\"\\u00e9\\t\"",
            "Expected JSON object start, got \"a\\\"\u{e9}\\t\" of type string instead",
        ),
        (
            b"null",
            "Expected JSON object start, got <nil> of type <nil> instead",
        ),
        (
            b"1e21",
            "Expected JSON object start, got 1e+21 of type float64 instead",
        ),
        (b"\"abc", "unexpected EOF"),
        (b"{\"a\": [1, tru", "unexpected EOF"),
        (b"]", "invalid character ']' looking for beginning of value"),
        (b"{\"a\" 1}", "invalid character '1' after object key"),
        (
            b"[1]",
            "Expected JSON object start, got delimiter [ instead",
        ),
        (b"-x", "invalid character 'x' in numeric literal"),
    ];
    for (input, message) in cases {
        let err = store.load_plain(input).unwrap_err().message;
        assert_eq!(
            err,
            format!("Could not unmarshal input data: {message}"),
            "{}",
            String::from_utf8_lossy(input)
        );
    }
}
