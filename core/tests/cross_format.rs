//! Emission of every value type, checked against sops converting a YAML file
//! (`sops decrypt --output-type X`) and extracting single values (`--extract`).
//! The trees below are written by hand to be what sops's YAML reader produces for the
//! YAML next to them (ints, floats, times, nulls, comments exist in YAML only).

mod common;

use common::*;
use keytap_core::stores::binary::BinaryStore;
use keytap_core::stores::dotenv::DotenvStore;
use keytap_core::stores::ini::IniStore;
use keytap_core::stores::json::JsonStore;
use keytap_core::stores::{Store, StoreError};
use keytap_core::tree::{Branch, Item, Value};

fn e(k: &str, v: Value) -> Item {
    Item::Entry(k.into(), v)
}
fn s(v: &str) -> Value {
    Value::Str(v.into())
}

const FLAT_YAML: &str = "# top comment
int: 1
neg: -7
float: 1.5
float_int: 100000.0
big_float: 1e6
small: 0.00001
tiny: 1.5e-7
exp21: 1e21
nine_digits: 123456789.0
bool: true
no_val: null
time: 2024-01-02T03:04:05.123Z
time_off: 2024-01-02T03:04:05+02:00
str: \"hello <&>\"
multi: \"a\\nb\"
";

fn flat_tree() -> Branch {
    vec![
        Item::Comment(" top comment".into()),
        e("int", Value::Int(1)),
        e("neg", Value::Int(-7)),
        e("float", Value::Float(1.5)),
        e("float_int", Value::Float(100000.0)),
        e("big_float", Value::Float(1e6)),
        e("small", Value::Float(0.00001)),
        e("tiny", Value::Float(1.5e-7)),
        e("exp21", Value::Float(1e21)),
        e("nine_digits", Value::Float(123456789.0)),
        e("bool", Value::Bool(true)),
        e("no_val", Value::Null),
        e("time", Value::Time("2024-01-02T03:04:05.123Z".into())),
        e("time_off", Value::Time("2024-01-02T03:04:05+02:00".into())),
        e("str", s("hello <&>")),
        e("multi", s("a\nb")),
    ]
}

const NESTED_YAML: &str = "sec:
  # c1
  int: 1
  float: 1.0
  big_float: 1e6
  no_val: null
  time: 2024-01-02T03:04:05.123Z
  nested: {b: 1, c: [x, 2.5]}
  list: [1, 2.5, x, null, true, 1e6]
  empty_list: []
  # trailing
  last: \"x;y\"
sec2:
  x: \" padded \"
";

fn nested_tree() -> Branch {
    vec![
        e(
            "sec",
            Value::Map(vec![
                Item::Comment(" c1".into()),
                e("int", Value::Int(1)),
                e("float", Value::Float(1.0)),
                e("big_float", Value::Float(1e6)),
                e("no_val", Value::Null),
                e("time", Value::Time("2024-01-02T03:04:05.123Z".into())),
                e(
                    "nested",
                    Value::Map(vec![
                        e("b", Value::Int(1)),
                        e("c", Value::List(vec![s("x"), Value::Float(2.5)])),
                    ]),
                ),
                e(
                    "list",
                    Value::List(vec![
                        Value::Int(1),
                        Value::Float(2.5),
                        s("x"),
                        Value::Null,
                        Value::Bool(true),
                        Value::Float(1e6),
                    ]),
                ),
                e("empty_list", Value::List(vec![])),
                // sops's YAML reader puts a comment before the key that follows it.
                Item::Comment(" trailing".into()),
                e("last", s("x;y")),
            ]),
        ),
        e("sec2", Value::Map(vec![e("x", s(" padded "))])),
    ]
}

fn stores() -> Vec<(&'static str, Box<dyn Store>)> {
    vec![
        ("json", Box::new(JsonStore::new(None))),
        ("dotenv", Box::new(DotenvStore)),
        ("ini", Box::new(IniStore)),
        ("binary", Box::new(BinaryStore::new(None))),
    ]
}

/// How sops's output `x` and keytap's `o` differ for `case`.
fn mismatch(case: &str, x: Result<Vec<u8>, String>, o: Result<Vec<u8>, StoreError>) -> String {
    format!(
        "{case}: sops {:?}\nkeytap {:?}",
        x.map(|b| show(&b)),
        o.map(|b| show(&b)).map_err(|e| e.message)
    )
}

/// Compares keytap's emit_plain of `tree` with sops converting `yaml` to each format;
/// where sops fails, keytap must fail too.
fn compare_conversions(yaml: &str, tree: &Branch) {
    let enc = sops()
        .encrypt(yaml.as_bytes(), "yaml", None)
        .expect("sops encrypt yaml");
    let mut failures = Vec::new();
    for (ty, store) in stores() {
        let expected = sops().decrypt(&enc, "yaml", ty, None, None);
        let ours = store.emit_plain(std::slice::from_ref(tree));
        match (expected, ours) {
            (Ok(x), Ok(o)) if x == o => {}
            (Err(_), Err(_)) => {}
            (x, o) => failures.push(mismatch(ty, x, o)),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn flat_yaml_converts_like_sops() {
    compare_conversions(FLAT_YAML, &flat_tree());
}

#[test]
fn nested_yaml_converts_like_sops() {
    compare_conversions(NESTED_YAML, &nested_tree());
}

/// keytap's emit_value against `sops decrypt --extract` for each output format.
fn compare_extracts(yaml: &str, values: &[(&str, Value)]) {
    let enc = sops()
        .encrypt(yaml.as_bytes(), "yaml", None)
        .expect("sops encrypt yaml");
    let mut failures = Vec::new();
    for (ty, store) in stores() {
        for (path, value) in values {
            let expected = sops().decrypt(&enc, "yaml", ty, None, Some(path));
            let ours = store.emit_value(value);
            match (expected, ours) {
                (Ok(x), Ok(o)) if x == o => {}
                // sops prefixes the store's message with "Error dumping tree: ".
                (Err(x), Err(o)) if x.contains(&o.message) => {}
                (x, o) => failures.push(mismatch(&format!("{ty} {path}"), x, o)),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn extracted_values_match_sops() {
    let yaml = "int: 1
float: 1.5
big: 1e21
small: 1e-7
bool: false
time: 2024-01-02T03:04:05.123Z
list: [1, x, {k: v, n: [2]}, [], null, 1e6]
empty: []
";
    let values = [
        ("[\"int\"]", Value::Int(1)),
        ("[\"float\"]", Value::Float(1.5)),
        ("[\"big\"]", Value::Float(1e21)),
        ("[\"small\"]", Value::Float(1e-7)),
        ("[\"bool\"]", Value::Bool(false)),
        ("[\"time\"]", Value::Time("2024-01-02T03:04:05.123Z".into())),
        (
            "[\"list\"]",
            Value::List(vec![
                Value::Int(1),
                s("x"),
                Value::Map(vec![
                    e("k", s("v")),
                    e("n", Value::List(vec![Value::Int(2)])),
                ]),
                Value::List(vec![]),
                Value::Null,
                Value::Float(1e6),
            ]),
        ),
        ("[\"empty\"]", Value::List(vec![])),
    ];
    compare_extracts(yaml, &values);
}

#[test]
fn nested_values_in_ini_print_like_go() {
    // sops does not refuse nested values in INI files: it prints Go's `%v` of them.
    let yaml = "sec:
  l: [2024-01-02T03:04:05.123Z, 2024-01-02T03:04:05+02:00]
  m:
    # inner comment
    a: 1
  lc:
    - x
    # list comment
    - y
  f: [0.1, 1e21, 1e-5, 123456.0, -0.0]
";
    let tree = vec![e(
        "sec",
        Value::Map(vec![
            e(
                "l",
                Value::List(vec![
                    Value::Time("2024-01-02T03:04:05.123Z".into()),
                    Value::Time("2024-01-02T03:04:05+02:00".into()),
                ]),
            ),
            e(
                "m",
                Value::Map(vec![
                    Item::Comment(" inner comment".into()),
                    e("a", Value::Int(1)),
                ]),
            ),
            e(
                "lc",
                Value::List(vec![s("x"), Value::Comment(" list comment".into()), s("y")]),
            ),
            e(
                "f",
                Value::List(vec![
                    Value::Float(0.1),
                    Value::Float(1e21),
                    Value::Float(1e-5),
                    Value::Float(123456.0),
                    Value::Float(-0.0),
                ]),
            ),
        ]),
    )];
    compare_conversions(yaml, &tree);
}

#[test]
fn a_first_section_named_default_has_no_header() {
    // go-ini omits the header of a first section whose upper-cased name is DEFAULT,
    // and skips it entirely when it has no keys.
    compare_conversions(
        "default:\n  a: 1\nother:\n  b: 2\n",
        &vec![
            e("default", Value::Map(vec![e("a", Value::Int(1))])),
            e("other", Value::Map(vec![e("b", Value::Int(2))])),
        ],
    );
    compare_conversions(
        "DEFAULT: {}\nother:\n  b: x\n",
        &vec![
            e("DEFAULT", Value::Map(vec![])),
            e("other", Value::Map(vec![e("b", s("x"))])),
        ],
    );
}
