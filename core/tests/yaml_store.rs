//! YAML store tests against the real `sops` binary (sops 3.11 on PATH, plus `age-keygen`).
//!
//! * Corpus round trips (`tests/data/yaml/*.yaml`): our `load_plain` + `emit_plain` must
//!   equal `sops decrypt` of `sops encrypt` of the file, byte for byte, with the default
//!   indent and with indent 2; our `load_encrypted` + `emit_encrypted` must reproduce the
//!   file `sops encrypt` wrote; and with sops told to encrypt nothing
//!   (`--encrypted-regex` that never matches) our single parse + emit must equal sops's.
//! * `emit_value` against `sops decrypt --extract`.
//! * Data tables for scalar resolution and output style (expectations taken from sops).
//! * Malformed input: errors, never panics, one-line messages; a bounded random loop.
//!
//! The sops tests fail (they are not skipped) when `sops` or `age-keygen` is missing.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use keytap_core::stores::yaml::YamlStore;
use keytap_core::stores::Store;
use keytap_core::tree::{Branch, Item, Value};

use common::{name, show};

// ---- sops harness -------------------------------------------------------------------------

/// Runs sops in `dir` with the shared harness key; returns stdout or the error text.
fn sops(dir: &Path, args: &[&str]) -> Result<Vec<u8>, String> {
    common::sops().run_in(dir, args)
}

/// A work dir with a `.sops.yaml` for our recipient and, optionally, a YAML indent.
fn workdir(indent: Option<usize>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut cfg = String::new();
    if let Some(i) = indent {
        cfg.push_str(&format!("stores:\n  yaml:\n    indent: {i}\n"));
    }
    cfg.push_str(&format!(
        "creation_rules:\n  - age: {}\n",
        common::sops().recipient()
    ));
    std::fs::write(dir.path().join(".sops.yaml"), cfg).expect("write .sops.yaml");
    dir
}

/// `sops encrypt` then `sops decrypt` of `input`: (encrypted file, decrypted output).
fn sops_round_trip(input: &[u8], indent: Option<usize>) -> Result<(Vec<u8>, Vec<u8>), String> {
    let dir = workdir(indent);
    std::fs::write(dir.path().join("in.yaml"), input).map_err(|e| e.to_string())?;
    let enc = sops(dir.path(), &["encrypt", "in.yaml"])?;
    std::fs::write(dir.path().join("enc.yaml"), &enc).map_err(|e| e.to_string())?;
    let dec = sops(dir.path(), &["decrypt", "enc.yaml"])?;
    Ok((enc, dec))
}

fn corpus() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/yaml");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("corpus dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 30, "corpus has only {} files", files.len());
    files
}

/// First differing line, for readable failures.
fn first_diff(expected: &[u8], got: &[u8]) -> String {
    let (e, g) = (show(expected), show(got));
    for (i, (a, b)) in e.lines().zip(g.lines()).enumerate() {
        if a != b {
            return format!("line {}: sops {:?} / ours {:?}", i + 1, a, b);
        }
    }
    format!(
        "lengths differ: sops {} bytes / ours {} bytes",
        expected.len(),
        got.len()
    )
}

/// Runs `check` on every corpus file (it returns what failed) and asserts nothing did,
/// listing every failure.
fn check_corpus(check: impl Fn(&[u8]) -> Vec<String>) {
    let files = corpus();
    let mut failures = Vec::new();
    for path in &files {
        let input = std::fs::read(path).expect("read corpus file");
        let name = name(path);
        failures.extend(check(&input).into_iter().map(|f| format!("{name}: {f}")));
    }
    assert!(
        failures.is_empty(),
        "{} of {} corpus files failed:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

/// How a corpus file sops could not handle is reported.
fn sops_failed(error: &str) -> Vec<String> {
    vec![format!(
        "sops failed: {}",
        error.lines().next().unwrap_or("")
    )]
}

fn corpus_round_trip(indent: Option<usize>) {
    let store = YamlStore::new(indent.map(|n| n as i64));
    check_corpus(|input| {
        let (enc, dec) = match sops_round_trip(input, indent) {
            Ok(r) => r,
            Err(e) => return sops_failed(&e),
        };
        let mut failures = Vec::new();
        // (a) plain load + emit equals sops decrypt(encrypt(file)).
        match store
            .load_plain(input)
            .and_then(|docs| store.emit_plain(&docs))
        {
            Ok(ours) if ours == dec => {}
            Ok(ours) => failures.push(format!(
                "plain round trip differs: {}",
                first_diff(&dec, &ours)
            )),
            Err(e) => failures.push(format!("load_plain failed: {e}")),
        }
        // (b) encrypted load + emit reproduces the encrypted file.
        match store.load_encrypted(&enc) {
            Ok((docs, Some(md))) => match store.emit_encrypted(&docs, &md) {
                Ok(ours) if ours == enc => {}
                Ok(ours) => failures.push(format!(
                    "encrypted round trip differs: {}",
                    first_diff(&enc, &ours)
                )),
                Err(e) => failures.push(format!("emit_encrypted failed: {e}")),
            },
            Ok((_, None)) => failures.push("no sops metadata found".to_string()),
            Err(e) => failures.push(format!("load_encrypted failed: {e}")),
        }
        failures
    });
}

#[test]
fn corpus_matches_sops_default_indent() {
    corpus_round_trip(None);
}

#[test]
fn corpus_matches_sops_indent_2() {
    corpus_round_trip(Some(2));
}

/// With sops encrypting nothing, its output is go-yaml's emission of the tree it parsed
/// from our input, plus the `sops` block: a single parse + emit, compared directly.
#[test]
fn corpus_single_pass_matches_sops_plaintext_mode() {
    let store = YamlStore::new(None);
    check_corpus(|input| {
        let dir = workdir(None);
        std::fs::write(dir.path().join("in.yaml"), input).expect("write");
        let enc = match sops(
            dir.path(),
            &[
                "encrypt",
                "--encrypted-regex",
                "^keytap-never-matches$",
                "in.yaml",
            ],
        ) {
            Ok(e) => e,
            Err(e) => return sops_failed(&e),
        };
        let md = match store.load_encrypted(&enc) {
            Ok((_, Some(md))) => md,
            other => return vec![format!("cannot read sops metadata: {:?}", other.err())],
        };
        match store
            .load_plain(input)
            .and_then(|docs| store.emit_encrypted(&docs, &md))
        {
            Ok(ours) if ours == enc => vec![],
            Ok(ours) => vec![format!("differs: {}", first_diff(&enc, &ours))],
            Err(e) => vec![format!("failed: {e}")],
        }
    });
}

#[test]
fn emit_value_matches_sops_extract() {
    let input = b"list:\n  # head of list\n  - a\n  - b: 1\n    c: [1, 2]\n  - - nested\nnum: 42\nneg: -7\nf: 1.5\nbig: 1e20\nb: true\nn: null\nt: 2020-01-01\ne: []\nem: {}\nkeys:\n  - \"on\"\n  - \"multi\\nline\"\n";
    let (enc, _) = sops_round_trip(input, None).expect("sops round trip");
    let dir = workdir(None);
    std::fs::write(dir.path().join("enc.yaml"), &enc).expect("write");
    let store = YamlStore::new(Some(2)); // emit_value ignores the store indent, like sops
    let docs = store.load_plain(input).expect("load");
    let mut failures = Vec::new();
    for key in [
        "list", "num", "neg", "f", "big", "b", "n", "t", "e", "em", "keys",
    ] {
        let expected = sops(
            dir.path(),
            &["decrypt", "--extract", &format!("[\"{key}\"]"), "enc.yaml"],
        )
        .expect("extract");
        let value = keytap_core::tree::get(&docs[0], key).expect("key present");
        let ours = store.emit_value(value).expect("emit_value");
        if ours != expected {
            failures.push(format!(
                "{key}: sops {:?} / ours {:?}",
                show(&expected),
                show(&ours)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ---- data tables ----------------------------------------------------------------------------

fn load_one(text: &str) -> Value {
    let store = YamlStore::new(None);
    let docs = store
        .load_plain(format!("k: {text}\n").as_bytes())
        .unwrap_or_else(|e| panic!("{text:?}: {e}"));
    match docs[0].first() {
        Some(Item::Entry(_, v)) => v.clone(),
        other => panic!("{text:?}: unexpected {other:?}"),
    }
}

/// Plain scalars and how go-yaml v3 (as sops uses it) decodes them into `interface{}`.
#[test]
fn scalar_resolution_table() {
    use Value::*;
    let table: Vec<(&str, Value)> = vec![
        ("", Null),
        ("~", Null),
        ("null", Null),
        ("Null", Null),
        ("NULL", Null),
        ("nULL", Str("nULL".into())),
        ("true", Bool(true)),
        ("True", Bool(true)),
        ("TRUE", Bool(true)),
        ("false", Bool(false)),
        ("yes", Str("yes".into())),
        ("no", Str("no".into())),
        ("on", Str("on".into())),
        ("off", Str("off".into())),
        ("y", Str("y".into())),
        ("0", Int(0)),
        ("-0", Int(0)),
        ("+5", Int(5)),
        ("42", Int(42)),
        ("1_000", Int(1000)),
        ("0x1F", Int(31)),
        ("0X1f", Int(31)),
        ("-0x10", Int(-16)),
        ("0o17", Int(15)),
        ("0755", Int(493)),
        ("0b1010", Int(10)),
        ("9223372036854775807", Int(i64::MAX)),
        ("-9223372036854775808", Int(i64::MIN)),
        ("09", Float(9.0)),
        ("-9223372036854775809", Float(-9223372036854775809.0)),
        ("1.5", Float(1.5)),
        ("1.", Float(1.0)),
        (".5", Float(0.5)),
        ("1e3", Float(1000.0)),
        ("6.02e23", Float(6.02e23)),
        ("1_000.5", Float(1000.5)),
        (".inf", Float(f64::INFINITY)),
        ("-.Inf", Float(f64::NEG_INFINITY)),
        ("+.INF", Float(f64::INFINITY)),
        ("1e999", Str("1e999".into())),
        ("0x", Str("0x".into())),
        ("1:20", Str("1:20".into())),
        ("12:30:45", Str("12:30:45".into())),
        ("1.2.3", Str("1.2.3".into())),
        ("2001-12-14", Time("2001-12-14T00:00:00Z".into())),
        ("2001-1-2", Time("2001-01-02T00:00:00Z".into())),
        (
            "2001-12-14t21:59:43.10-05:00",
            Time("2001-12-14T21:59:43.1-05:00".into()),
        ),
        (
            "2001-12-14T21:59:43.10Z",
            Time("2001-12-14T21:59:43.1Z".into()),
        ),
        (
            "2001-12-14 21:59:43.10",
            Time("2001-12-14T21:59:43.1Z".into()),
        ),
        (
            "2002-12-14T21:59:43+00:00",
            Time("2002-12-14T21:59:43Z".into()),
        ),
        (
            "2002-12-14T21:59:43.1234567891Z",
            Time("2002-12-14T21:59:43.123456789Z".into()),
        ),
        ("2001-12-14T21:59:43", Str("2001-12-14T21:59:43".into())),
        ("2001-02-30", Str("2001-02-30".into())),
        ("\"123\"", Str("123".into())),
        ("'true'", Str("true".into())),
        ("!!str 123", Str("123".into())),
        ("!!int \"42\"", Int(42)),
        ("!!float 3", Float(3.0)),
        ("!!binary aGVsbG8=", Str("hello".into())),
        ("!custom value", Str("value".into())),
        ("<<", Str("<<".into())),
    ];
    let mut failures = Vec::new();
    for (text, want) in table {
        let got = load_one(text);
        let same = match (&got, &want) {
            (Float(a), Float(b)) => a == b || (a.is_nan() && b.is_nan()),
            _ => got == want,
        };
        if !same {
            failures.push(format!("{text:?}: want {want:?}, got {got:?}"));
        }
    }
    assert!(
        load_one(".nan") != load_one(".nan"),
        ".nan must load as NaN"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The resolution table's inputs, emitted by sops and by us: any type difference shows up
/// in the text (`1e999` quoted as a string vs `.inf`, `09` as `9`, ...).
#[test]
fn scalar_resolution_agrees_with_sops() {
    let texts = [
        "",
        "~",
        "nULL",
        "True",
        "yes",
        "on",
        "-0",
        "+5",
        "1_000",
        "0X1f",
        "-0x10",
        "0o17",
        "0755",
        "0b1010",
        "09",
        "-9223372036854775809",
        "9223372036854775807",
        "1.",
        ".5",
        "1_000.5",
        "6.02e23",
        "1e999",
        "0x",
        "1:20",
        "1.2.3",
        "2001-1-2",
        "2001-12-14t21:59:43.10-05:00",
        "2001-12-14 21:59:43.10",
        "2002-12-14T21:59:43+00:00",
        "2002-12-14T21:59:43.1234567891Z",
        "2001-12-14T21:59:43",
        "2001-02-30",
        "2000-02-29",
        "1900-02-29",
        "2001-12-14T24:00:00Z",
        "2001-12-14T21:59:43+23:59",
        "2001-12-14T21:59:43-00:60",
        "!!float 3",
        "!!int \"42\"",
        "!!binary aGVsbG8=",
        "!custom value",
        "<<",
        ".NaN",
        "-.Inf",
    ];
    let input: String = texts
        .iter()
        .enumerate()
        .map(|(i, t)| format!("k{i}: {t}\n"))
        .collect();
    let (_, dec) = sops_round_trip(input.as_bytes(), None).expect("sops");
    let store = YamlStore::new(None);
    let ours = store
        .load_plain(input.as_bytes())
        .and_then(|d| store.emit_plain(&d))
        .expect("ours");
    assert_eq!(show(&ours), show(&dec));
}

fn emit_one(v: Value) -> String {
    let store = YamlStore::new(None);
    let doc: Branch = vec![Item::Entry("k".into(), v)];
    show(&store.emit_plain(&[doc]).expect("emit"))
}

/// Values and the exact line go-yaml v3 writes for them (scalar style choice).
#[test]
fn scalar_style_table() {
    use Value::*;
    let s = |x: &str| Str(x.to_string());
    let table: Vec<(Value, &str)> = vec![
        (s("plain"), "k: plain\n"),
        (s("two words"), "k: two words\n"),
        (s(""), "k: \"\"\n"),
        (s("on"), "k: \"on\"\n"),
        (s("Off"), "k: \"Off\"\n"),
        (s("y"), "k: \"y\"\n"),
        (s("yes"), "k: \"yes\"\n"),
        (s("true"), "k: \"true\"\n"),
        (s("null"), "k: \"null\"\n"),
        (s("~"), "k: \"~\"\n"),
        (s("123"), "k: \"123\"\n"),
        (s("1e3"), "k: \"1e3\"\n"),
        (s("0o17"), "k: \"0o17\"\n"),
        (s("1:20"), "k: \"1:20\"\n"),
        (s("2001-12-14"), "k: \"2001-12-14\"\n"),
        (s("a: b"), "k: 'a: b'\n"),
        (s("a #b"), "k: 'a #b'\n"),
        (s("a#b"), "k: a#b\n"),
        (s(" lead"), "k: ' lead'\n"),
        (s("trail "), "k: 'trail '\n"),
        (s("- x"), "k: '- x'\n"),
        (s("-x"), "k: -x\n"),
        (s("*x"), "k: '*x'\n"),
        (s("it's"), "k: it's\n"),
        (s("'q'"), "k: '''q'''\n"),
        (s("say \"hi\""), "k: say \"hi\"\n"),
        (s("tab\there"), "k: \"tab\\there\"\n"),
        (s("🔑"), "k: \"\\U0001F511\"\n"),
        (s("é"), "k: é\n"),
        (s("a\u{a0}b"), "k: a\u{a0}b\n"),
        (s("a\u{85}b"), "k: \"a\\Nb\"\n"),
        (s("\u{7}"), "k: \"\\a\"\n"),
        (s("line1\nline2"), "k: |-\n    line1\n    line2\n"),
        (s("text\n"), "k: |\n    text\n"),
        (s("text\n\n"), "k: |+\n    text\n\n"),
        (s("\nlead"), "k: |4-\n\n    lead\n"),
        (s(" x\ny"), "k: |4-\n     x\n    y\n"),
        (s("a \nb"), "k: \"a \\nb\"\n"),
        (s("<<"), "k: !!merge <<\n"),
        // go-yaml cannot parse back a literal block starting with a tab, so sops's
        // Node.Encode fails and the value is written as null.
        (s("\tx\ny"), "k: null\n"),
        (Null, "k: null\n"),
        (Bool(true), "k: true\n"),
        (Int(-3), "k: -3\n"),
        (Float(1.0), "k: 1\n"),
        (Float(1.5), "k: 1.5\n"),
        (Float(100000.0), "k: 100000\n"),
        (Float(1000000.0), "k: 1e+06\n"),
        (Float(1234567.0), "k: 1.234567e+06\n"),
        (Float(0.0001), "k: 0.0001\n"),
        (Float(0.00001), "k: 1e-05\n"),
        (Float(6.02e23), "k: 6.02e+23\n"),
        (Float(f64::INFINITY), "k: .inf\n"),
        (Float(f64::NEG_INFINITY), "k: -.inf\n"),
        (Float(f64::NAN), "k: .nan\n"),
        (
            Time("2001-12-14T21:59:43.1-05:00".into()),
            "k: 2001-12-14T21:59:43.1-05:00\n",
        ),
        (Map(vec![]), "k: {}\n"),
        (List(vec![]), "k: []\n"),
        (List(vec![s("a"), Int(1)]), "k:\n    - a\n    - 1\n"),
    ];
    let mut failures = Vec::new();
    for (v, want) in table {
        let got = emit_one(v.clone());
        if got != want {
            failures.push(format!("{v:?}: want {want:?}, got {got:?}"));
        }
    }
    // Keys follow the same rules.
    let store = YamlStore::new(None);
    let doc: Branch = vec![
        Item::Entry("on".into(), Int(1)),
        Item::Entry("1".into(), Int(2)),
        Item::Entry("a: b".into(), Int(3)),
        Item::Entry("<<".into(), Int(4)),
    ];
    let got = show(&store.emit_plain(&[doc]).expect("emit"));
    let want = "\"on\": 1\n\"1\": 2\n'a: b': 3\n!!merge <<: 4\n";
    if got != want {
        failures.push(format!("keys: want {want:?}, got {got:?}"));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The cases of the style table, checked against sops itself (so the table cannot drift).
#[test]
fn scalar_style_table_agrees_with_sops() {
    let input = "a: \"on\"\nb: \"1e3\"\nc: 'a: b'\nd: ' lead'\ne: \"\\U0001F511\"\nf: \"line1\\nline2\"\ng: \"\\nlead\"\nh: \"text\\n\\n\"\ni: 1000000.0\nj: 0.00001\nk: \"a \\nb\"\nl: \"tab\\there\"\n";
    let (_, dec) = sops_round_trip(input.as_bytes(), None).expect("sops");
    let store = YamlStore::new(None);
    let ours = store
        .load_plain(input.as_bytes())
        .and_then(|d| store.emit_plain(&d))
        .expect("ours");
    assert_eq!(show(&ours), show(&dec));
}

// ---- structure and API --------------------------------------------------------------------

#[test]
fn empty_and_trivial_documents() {
    let store = YamlStore::new(None);
    assert!(store.load_plain(b"").expect("empty").is_empty());
    assert_eq!(
        store.load_plain(b"---\n").expect("doc"),
        vec![Branch::new()]
    );
    assert_eq!(
        store.load_plain(b"~\n").expect("null doc"),
        vec![Branch::new()]
    );
    assert!(
        store.load_plain(b"# only a comment\n").is_err(),
        "sops fails with EOF here"
    );
    assert!(store.load_plain(b"\n\n").is_err());
    assert_eq!(store.emit_plain(&[]).expect("no docs"), b"");
    assert_eq!(
        store.emit_plain(&[Branch::new()]).expect("empty doc"),
        b"{}\n"
    );
    let docs = store.load_plain(b"a: 1\n---\n---\nb: 2\n").expect("multi");
    assert_eq!(docs.len(), 3);
    assert_eq!(
        store.emit_plain(&docs).expect("emit"),
        b"a: 1\n---\n{}\n---\nb: 2\n"
    );
}

#[test]
fn comments_become_tree_items() {
    let store = YamlStore::new(None);
    let docs = store
        .load_plain(b"# head\na: 1 # line\nl:\n  # first\n  - x\n  # last\n# tail\n")
        .expect("load");
    let want: Branch = vec![
        Item::Comment(" head".into()),
        Item::Comment(" line".into()),
        Item::Entry("a".into(), Value::Int(1)),
        Item::Entry(
            "l".into(),
            Value::List(vec![
                Value::Comment(" first".into()),
                Value::Str("x".into()),
                Value::Comment(" last".into()),
            ]),
        ),
        Item::Comment(" tail".into()),
    ];
    assert_eq!(docs, vec![want]);
}

#[test]
fn encrypted_load_splits_metadata() {
    let store = YamlStore::new(None);
    let input = b"a: ENC[x]\nsops:\n    version: 3.11.0\n---\nb: 2\nsops:\n    version: 3.11.0\n";
    let (docs, md) = store.load_encrypted(input).expect("load");
    assert_eq!(docs.len(), 2);
    assert_eq!(
        docs[0],
        vec![Item::Entry("a".into(), Value::Str("ENC[x]".into()))]
    );
    assert_eq!(docs[1], vec![Item::Entry("b".into(), Value::Int(2))]);
    assert_eq!(
        md,
        Some(vec![Item::Entry(
            "version".into(),
            Value::Str("3.11.0".into())
        )])
    );
    let (_, none) = store.load_encrypted(b"a: 1\n").expect("no metadata");
    assert_eq!(none, None);
    let out = store
        .emit_encrypted(&docs, &md.unwrap_or_default())
        .expect("emit");
    assert_eq!(show(&out), show(input));
}

#[test]
fn indent_option() {
    let doc: Branch = vec![Item::Entry(
        "a".into(),
        Value::Map(vec![Item::Entry(
            "b".into(),
            Value::List(vec![Value::Int(1)]),
        )]),
    )];
    for (indent, want) in [
        (None, "a:\n    b:\n        - 1\n"),
        (Some(0), "a:\n    b:\n        - 1\n"),
        (Some(2), "a:\n  b:\n    - 1\n"),
        (Some(3), "a:\n   b:\n      - 1\n"),
        (Some(1), "a:\n  b:\n    - 1\n"),
        (Some(12), "a:\n  b:\n    - 1\n"),
    ] {
        let got = YamlStore::new(indent)
            .emit_plain(std::slice::from_ref(&doc))
            .expect("emit");
        assert_eq!(show(&got), want, "indent {indent:?}");
    }
    // Negative: sops's getIndentation refuses it when a file is written.
    let err = YamlStore::new(Some(-1))
        .emit_plain(std::slice::from_ref(&doc))
        .unwrap_err();
    assert_eq!(err.message, "YAML Negative indentation not accepted");
}

// ---- malformed input --------------------------------------------------------------------

fn assert_error(store: &YamlStore, input: &[u8]) -> String {
    let err = match store.load_plain(input) {
        Ok(docs) => panic!("{:?} should not load, got {docs:?}", show(input)),
        Err(e) => e.message,
    };
    assert!(!err.contains('\n'), "error must be one line: {err:?}");
    assert!(!err.is_empty());
    err
}

#[test]
fn malformed_inputs_are_errors() {
    let store = YamlStore::new(None);
    // (input, a fragment the error must contain)
    let cases: Vec<(&[u8], &str)> = vec![
        (b"a: 1\na: 2\n", "already defined"),
        (b"a:\n  b: 1\n  b: 2\n", "already defined"),
        (b"a: 1\n\"a\": 2\n", "already defined"),
        (b"- a\n- b\n", "cannot unmarshal !!seq"),
        (b"hello\n", "cannot unmarshal !!str"),
        (b"a: 1\n---\n- x\n", "sequences are not supported"),
        (b"a: 1\n---\nscalar\n", "values are not supported"),
        (b"1: a\n", "non-string key"),
        (b"a:\n  true: x\n", "non-string key"),
        (b"~: x\n", "non-string key"),
        (b"? [a]\n: b\n", "cannot unmarshal"),
        (b"a: b: c\n", "mapping values are not allowed"),
        // A ':' inside a plain scalar ends it before a blank or a break, not before ':'.
        (
            b"ok: a::b\nbad: a:b:\n",
            "line 2: mapping values are not allowed",
        ),
        (b"bad: a::\n", "mapping values are not allowed"),
        (b"a:\n  - b\n c: d\n", "line"),
        (b"a: [1, 2\n", "line"),
        (b"a: {b: 1\n", "line"),
        (b"a: \"unterminated\n", "line"),
        (b"a: 'unterminated\n", "line"),
        (b"a: *nope\n", "unknown anchor"),
        (b"a: &x [*x]\n", "contains itself"),
        // The alias sits in a merge of a mapping after a list of mappings (found by a
        // differential run against sops).
        (
            b"m: &m1\n  k4:\n  - k: 1\n  name:\n    y: 1\n    <<: [*m1]\n",
            "yaml: anchor 'm1' value contains itself",
        ),
        (b"a: !!int abc\n", "cannot decode"),
        (b"a: !!binary '%%%'\n", "base64"),
        (b"a: !!bool yes\n", "cannot decode"),
        (b"<<: 1\n", "map merge"),
        (b"a:\n  <<: [1]\n", "map merge"),
        (b"%FOO bar\na: 1\n", "unknown directive"),
        (b"%YAML 2.0\n---\na: 1\n", "incompatible"),
        (b"!foo!bar x: 1\n", "undefined tag handle"),
        (b"a: \"\\q\"\n", "escape"),
        (b"a: |0\n  x\n", "indentation indicator"),
        (b"a:\n\t- b\n", "line"),
        (b"\x00a: 1\n", "control characters"),
        (b"a: \xff\xfe\n", "UTF-8"),
        (b"a: \x1b[0m\n", "control characters"),
        (b"@a: 1\n", "cannot start any token"),
        (b"a: `b`\n", "cannot start any token"),
        (b"a:\n  b: 1\n c: 2\n", "line"),
        (b"[a\n", "line"),
        (b"{a: 1}}\n", "did not find expected <document start>"),
        (b"key: 18446744073709551615\n", "64-bit"),
        (b"---\n- a\n", "cannot unmarshal !!seq"),
        (b"t: 2001-12-14T21:59:43+24:00\n", "timezone hour"),
    ];
    let mut failures = Vec::new();
    for (input, fragment) in &cases {
        let err = assert_error(&store, input);
        if !err.contains(fragment) {
            failures.push(format!(
                "{:?}: error {err:?} lacks {fragment:?}",
                show(input)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(cases.len() >= 30);
}

#[test]
fn malformed_encrypted_inputs_are_errors() {
    let store = YamlStore::new(None);
    for input in [
        &b"a: 1\na: 2\nsops:\n    version: 3\n"[..],
        b"- a\n",
        b"a: [\n",
        b"a: 1\nsops: 3\n",
        b"sops:\n    version: 1\n    version: 2\n",
    ] {
        match store.load_encrypted(input) {
            Ok(r) => panic!("{:?} should not load, got {r:?}", show(input)),
            Err(e) => assert!(!e.message.contains('\n')),
        }
    }
}

#[test]
fn deep_nesting_is_bounded() {
    let store = YamlStore::new(None);
    // Within the limit: loads and emits.
    let depth = 200;
    let mut text = String::new();
    for i in 0..depth {
        text.push_str(&" ".repeat(i));
        text.push_str("k:\n");
    }
    text.push_str(&" ".repeat(depth));
    text.push_str("leaf: 1\n");
    let docs = store.load_plain(text.as_bytes()).expect("200 levels");
    store.emit_plain(&docs).expect("emit 200 levels");
    // As deep as go-yaml reads (10,000 levels), and beyond: loads, or an error naming
    // the limit; never a stack overflow.
    keytap_core::stack::with_deep_stack(|| {
        let flow = |n: usize| format!("k: {}x{}\n", "{a: ".repeat(n), "}".repeat(n));
        let block = |n: usize| format!("k:\n{}x\n", "- ".repeat(n));
        for input in [flow(5000), block(5000)] {
            assert!(store.load_plain(input.as_bytes()).is_ok());
        }
        for input in [
            flow(10_001),
            block(10_001),
            format!("k: {}\n", "[".repeat(20_000)),
        ] {
            let e = store.load_plain(input.as_bytes()).unwrap_err();
            assert!(
                e.message.contains("exceeded max depth of 10000"),
                "{}",
                e.message
            );
        }
    });
    // Alias bombs: an error, not a hang.
    let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..12 {
        let prev = format!("*a{}", i - 1);
        bomb.push_str(&format!(
            "a{i}: &a{i} [{}]\n",
            [prev.as_str(); 10].join(", ")
        ));
    }
    let start = Instant::now();
    assert!(store.load_plain(bomb.as_bytes()).is_err());
    assert!(start.elapsed() < Duration::from_secs(20));
}

/// A deterministic xorshift generator (no extra dependency).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Random bytes and random mutations of corpus files: any result is fine, a panic is not;
/// whatever loads must also emit. Bounded in count and time.
#[test]
fn random_input_never_panics() {
    let store = YamlStore::new(None);
    let alphabet: &[u8] = b"ab: -#'\"\n\n  \t[]{},&*!|>%@`?~01.\\\r\xc3\xa9";
    let seeds: Vec<Vec<u8>> = corpus()
        .iter()
        .map(|p| std::fs::read(p).expect("read"))
        .collect();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let start = Instant::now();
    let mut runs = 0;
    while runs < 4000 && start.elapsed() < Duration::from_secs(20) {
        let input: Vec<u8> = if runs % 2 == 0 {
            let len = rng.below(80);
            (0..len)
                .map(|_| {
                    if rng.below(10) == 0 {
                        rng.next() as u8
                    } else {
                        alphabet[rng.below(alphabet.len())]
                    }
                })
                .collect()
        } else {
            let mut v = seeds[rng.below(seeds.len())].clone();
            for _ in 0..1 + rng.below(4) {
                if v.is_empty() {
                    break;
                }
                let at = rng.below(v.len());
                match rng.below(3) {
                    0 => v[at] = alphabet[rng.below(alphabet.len())],
                    1 => v.insert(at, alphabet[rng.below(alphabet.len())]),
                    _ => {
                        v.remove(at);
                    }
                }
            }
            v
        };
        if let Ok(docs) = store.load_plain(&input) {
            store.emit_plain(&docs).expect("loaded trees must emit");
        }
        let _ = store.load_encrypted(&input);
        runs += 1;
    }
    assert!(runs >= 500, "only {runs} random inputs in the time budget");
}
