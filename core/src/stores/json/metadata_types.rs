//! The types sops's JSON store demands of the metadata: it unmarshals the `sops` object
//! into Go structs (`stores.Metadata`, `stores.agekey`, ...), so `"mac": 5` or
//! `"shamir_threshold": "1"` is refused there with encoding/json's message, before any
//! key is tried. Written by hand to match those messages (the first mismatch in document
//! order, as Go reports it); null is every type's zero value.

use crate::tree::{Branch, Item, Value};

use super::StoreError;

/// What a field must hold.
enum Kind {
    Str,
    Int,
    Bool,
    /// A list of structs: Go's element type, the struct's name and its checked fields.
    Structs(&'static str, &'static str, &'static [(&'static str, Kind)]),
}

const AGE_KEY: &[(&str, Kind)] = &[("recipient", Kind::Str), ("enc", Kind::Str)];
const PGP_KEY: &[(&str, Kind)] = &[
    ("created_at", Kind::Str),
    ("enc", Kind::Str),
    ("fp", Kind::Str),
];
/// Key types keytap does not use: only their shape (a list of objects) is checked.
const OTHER_KEY: &[(&str, Kind)] = &[];

/// The key lists, in `stores.Metadata` and in each `stores.keygroup` alike.
const KEY_LISTS: &[(&str, Kind)] = &[
    ("pgp", Kind::Structs("stores.pgpkey", "pgpkey", PGP_KEY)),
    ("kms", Kind::Structs("stores.kmskey", "kmskey", OTHER_KEY)),
    (
        "gcp_kms",
        Kind::Structs("stores.gcpkmskey", "gcpkmskey", OTHER_KEY),
    ),
    (
        "azure_kv",
        Kind::Structs("stores.azkvkey", "azkvkey", OTHER_KEY),
    ),
    (
        "hc_vault",
        Kind::Structs("stores.vaultkey", "vaultkey", OTHER_KEY),
    ),
    ("age", Kind::Structs("stores.agekey", "agekey", AGE_KEY)),
];

/// `stores.Metadata`'s other fields.
const METADATA: &[(&str, Kind)] = &[
    ("shamir_threshold", Kind::Int),
    (
        "key_groups",
        Kind::Structs("stores.keygroup", "keygroup", KEY_LISTS),
    ),
    ("lastmodified", Kind::Str),
    ("mac", Kind::Str),
    ("unencrypted_suffix", Kind::Str),
    ("encrypted_suffix", Kind::Str),
    ("unencrypted_regex", Kind::Str),
    ("encrypted_regex", Kind::Str),
    ("unencrypted_comment_regex", Kind::Str),
    ("encrypted_comment_regex", Kind::Str),
    ("mac_only_encrypted", Kind::Bool),
    ("version", Kind::Str),
];

/// A top-level `sops` entry that is not an object (nor null), in encoding/json's words.
pub(crate) fn not_an_object(value: &Value) -> StoreError {
    StoreError::new(format!(
        "Error unmarshalling input json: json: cannot unmarshal {} into Go struct field SopsFile.sops of type stores.Metadata",
        json_kind(value)
    ))
}

/// Keeps the last of a key given twice, in the metadata and every object inside it, as
/// `json.Unmarshal` into a struct does (`"age": [...]` then `"age": []` has no age keys).
pub(crate) fn last_duplicate_wins(branch: &mut Branch) {
    let mut seen = std::collections::HashSet::new();
    let mut keep = vec![true; branch.len()];
    for (i, item) in branch.iter().enumerate().rev() {
        if let Item::Entry(key, _) = item {
            keep[i] = seen.insert(key.clone());
        }
    }
    let mut keep = keep.into_iter();
    branch.retain(|_| keep.next().unwrap_or(true));
    for item in branch.iter_mut() {
        if let Item::Entry(_, value) = item {
            last_duplicate_wins_in(value);
        }
    }
}

fn last_duplicate_wins_in(value: &mut Value) {
    match value {
        Value::Map(branch) => last_duplicate_wins(branch),
        Value::List(items) => items.iter_mut().for_each(last_duplicate_wins_in),
        _ => {}
    }
}

/// Checks the `sops` object as `json.Unmarshal` into `stores.Metadata` would.
pub(crate) fn check(metadata: &Branch) -> Result<(), StoreError> {
    check_struct(metadata, "Metadata", "sops", &[METADATA, KEY_LISTS])
}

/// Checks the fields of struct `name` (at JSON path `path`) that `tables` list.
fn check_struct(
    branch: &Branch,
    name: &str,
    path: &str,
    tables: &[&[(&str, Kind)]],
) -> Result<(), StoreError> {
    for item in branch {
        let Item::Entry(key, value) = item else {
            continue;
        };
        let field = tables.iter().flat_map(|t| t.iter()).find(|(f, _)| f == key);
        if let Some((_, kind)) = field {
            check_value(value, name, &format!("{path}.{key}"), kind)?;
        }
    }
    Ok(())
}

fn check_value(value: &Value, name: &str, path: &str, kind: &Kind) -> Result<(), StoreError> {
    let mismatch = |what: String, go_type: &str| {
        Err(StoreError::new(format!(
            "Error unmarshalling input json: json: cannot unmarshal {what} into Go struct field {name}.{path} of type {go_type}"
        )))
    };
    match (kind, value) {
        (_, Value::Null)
        | (Kind::Str, Value::Str(_))
        | (Kind::Int, Value::Int(_))
        | (Kind::Bool, Value::Bool(_)) => Ok(()),
        (Kind::Str, other) => mismatch(json_kind(other), "string"),
        // Go names the literal of a number an int cannot hold.
        (Kind::Int, Value::Float(f)) => mismatch(format!("number {f:?}"), "int"),
        (Kind::Int, other) => mismatch(json_kind(other), "int"),
        (Kind::Bool, other) => mismatch(json_kind(other), "bool"),
        (Kind::Structs(element, struct_name, fields), Value::List(items)) => {
            for item in items {
                match item {
                    Value::Map(b) => check_struct(b, struct_name, path, &[fields])?,
                    Value::Null | Value::Comment(_) => {}
                    other => return mismatch(json_kind(other), element),
                }
            }
            Ok(())
        }
        (Kind::Structs(element, ..), other) => mismatch(json_kind(other), &format!("[]{element}")),
    }
}

/// encoding/json's word for a JSON value's kind.
fn json_kind(v: &Value) -> String {
    match v {
        Value::Bool(_) => "bool",
        Value::Int(_) | Value::Float(_) => "number",
        Value::Map(_) => "object",
        Value::List(_) => "array",
        _ => "string",
    }
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata(json: &str) -> Result<(), String> {
        let (_, m) = super::super::load_encrypted(json.as_bytes()).map_err(|e| e.to_string())?;
        check(&m.expect("metadata")).map_err(|e| e.to_string())
    }

    #[test]
    fn the_last_of_a_duplicate_key_wins() {
        let json = r#"{"sops": {"age": [{"enc": "a", "enc": "b"}], "mac": "m", "age": []}}"#;
        let (_, m) = super::super::load_encrypted(json.as_bytes()).unwrap();
        let m = m.unwrap();
        assert_eq!(crate::tree::get(&m, "age"), Some(&Value::List(vec![])));
        assert_eq!(m.len(), 2);
        let json = r#"{"sops": {"age": [{"enc": "a", "enc": "b"}]}}"#;
        let (_, m) = super::super::load_encrypted(json.as_bytes()).unwrap();
        let Some(Value::List(ages)) = crate::tree::get(&m.unwrap(), "age").cloned() else {
            panic!("no age list");
        };
        assert_eq!(
            ages,
            vec![Value::Map(vec![Item::Entry(
                "enc".into(),
                Value::Str("b".into())
            )])]
        );
    }

    #[test]
    fn types_are_go_structs_types() {
        let ok = r#"{"a": "x", "sops": {"age": [{"recipient": "age1x", "enc": "e"}],
            "shamir_threshold": 2, "mac_only_encrypted": true, "mac": null, "version": "3.11.0"}}"#;
        assert_eq!(metadata(ok), Ok(()));
        for (json, message) in [
            (r#"{"sops": {"mac": 5}}"#, "cannot unmarshal number into Go struct field Metadata.sops.mac of type string"),
            (r#"{"sops": {"shamir_threshold": "1"}}"#, "cannot unmarshal string into Go struct field Metadata.sops.shamir_threshold of type int"),
            (r#"{"sops": {"shamir_threshold": 1.0}}"#, "cannot unmarshal number 1.0 into Go struct field Metadata.sops.shamir_threshold of type int"),
            (r#"{"sops": {"mac_only_encrypted": "true"}}"#, "cannot unmarshal string into Go struct field Metadata.sops.mac_only_encrypted of type bool"),
            (r#"{"sops": {"key_groups": 5}}"#, "cannot unmarshal number into Go struct field Metadata.sops.key_groups of type []stores.keygroup"),
            (r#"{"sops": {"age": [{"enc": 5}]}}"#, "cannot unmarshal number into Go struct field agekey.sops.age.enc of type string"),
            (r#"{"sops": {"age": [5]}}"#, "cannot unmarshal number into Go struct field Metadata.sops.age of type stores.agekey"),
            (r#"{"sops": {"key_groups": [{"age": [{"recipient": []}]}]}}"#, "cannot unmarshal array into Go struct field agekey.sops.key_groups.age.recipient of type string"),
        ] {
            let error = metadata(json).unwrap_err();
            assert!(error.ends_with(message), "{json}: {error}");
            assert!(error.starts_with("Error unmarshalling input json: json: "), "{error}");
        }
    }
}
