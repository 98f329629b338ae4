//! The dotenv store: sops's `stores/dotenv`, rule for rule.
//!
//! Reading splits the input on `\n` only (a `\r` stays part of the line). Empty lines are
//! dropped; a line starting with `#` is a comment (the text after `#`, untrimmed); any
//! other line must contain `=` and is split at the first one, key and value untrimmed,
//! and the two characters `\n` in the value become a newline. All values are strings.
//! Writing is `KEY=value` with newlines written back as `\n`, comments as `#text`, and
//! non-string values as sops's `ValToString`; lists and mappings are refused.
//! Metadata is flattened into `sops_`-prefixed keys, sorted (see [`super::flatten`]).

use super::flatten::{flatten_metadata, unflatten_metadata, val_to_bytes};
use super::{Store, StoreError};
use crate::tree::{Branch, Item, Value};

/// The prefix of every metadata key in a dotenv file.
const SOPS_PREFIX: &str = "sops_";

/// The dotenv store.
#[derive(Clone, Copy, Debug, Default)]
pub struct DotenvStore;

/// Go's `%T` for the value types sops can hold, for the `EmitValue` error.
fn go_type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Int(_) => "int",
        Value::Float(_) => "float64",
        Value::Str(_) => "string",
        Value::Time(_) => "time.Time",
        Value::Bytes(_) => "string",
        Value::Comment(_) => "sops.Comment",
        Value::Map(_) => "sops.TreeBranch",
        Value::List(_) => "[]interface {}",
    }
}

fn parse(input: &[u8]) -> Result<Branch, StoreError> {
    let text = StoreError::utf8_text(input, "dotenv")?;
    let mut branch = Vec::new();
    for (n, line) in text.split('\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            branch.push(Item::Comment(comment.to_string()));
        } else {
            // sops quotes the whole line here; keytap names the line number instead,
            // so that a malformed secret never lands in a log.
            let (key, value) = line.split_once('=').ok_or_else(|| {
                StoreError::new(format!("invalid dotenv input line {}: no '=' found", n + 1))
            })?;
            branch.push(Item::Entry(
                key.to_string(),
                Value::Str(value.replace("\\n", "\n")),
            ));
        }
    }
    Ok(branch)
}

fn emit(branch: &[Item], out: &mut Vec<u8>) -> Result<(), StoreError> {
    for item in branch {
        match item {
            Item::Comment(c) => {
                out.push(b'#');
                out.extend_from_slice(c.as_bytes());
            }
            Item::Entry(key, value) => {
                if value.is_collection() {
                    return Err(StoreError::new(format!(
                        "cannot use complex value in dotenv file; offending key {key}"
                    )));
                }
                out.extend_from_slice(key.as_bytes());
                out.push(b'=');
                let text = match value {
                    Value::Str(s) => std::borrow::Cow::Borrowed(s.as_bytes()),
                    other => std::borrow::Cow::Owned(val_to_bytes(other)),
                };
                // sops writes every newline of a value as `\n` (one line per key), byte
                // strings included.
                for (i, line) in text.split(|b| *b == b'\n').enumerate() {
                    if i > 0 {
                        out.extend_from_slice(b"\\n");
                    }
                    out.extend_from_slice(line);
                }
            }
        }
        out.push(b'\n');
    }
    Ok(())
}

impl Store for DotenvStore {
    fn load_plain(&self, input: &[u8]) -> Result<Vec<Branch>, StoreError> {
        Ok(vec![parse(input)?])
    }

    /// Keys starting with `sops_` are metadata (later duplicates win); everything else,
    /// comments included, is data. No `sops_` key at all means no metadata (`None`).
    fn load_encrypted(&self, input: &[u8]) -> Result<(Vec<Branch>, Option<Branch>), StoreError> {
        let mut data = Vec::new();
        let mut flat = Vec::new();
        for item in parse(input)? {
            match item {
                Item::Entry(key, Value::Str(v)) if key.starts_with(SOPS_PREFIX) => {
                    flat.push((key[SOPS_PREFIX.len()..].to_string(), v));
                }
                other => data.push(other),
            }
        }
        let metadata = if flat.is_empty() {
            None
        } else {
            Some(unflatten_metadata(flat)?)
        };
        Ok((vec![data], metadata))
    }

    /// Writes the first document (dotenv holds one, as in sops).
    fn emit_plain(&self, docs: &[Branch]) -> Result<Vec<u8>, StoreError> {
        let first = docs
            .first()
            .ok_or_else(|| StoreError::new("no document to write"))?;
        let mut out = Vec::new();
        emit(first, &mut out)?;
        Ok(out)
    }

    fn emit_encrypted(&self, docs: &[Branch], metadata: &Branch) -> Result<Vec<u8>, StoreError> {
        let first = docs
            .first()
            .ok_or_else(|| StoreError::new("no document to write"))?;
        let mut out = Vec::new();
        emit(first, &mut out)?;
        let md: Branch = flatten_metadata(metadata)
            .into_iter()
            .map(|(k, v)| Item::Entry(format!("{SOPS_PREFIX}{k}"), Value::Str(v)))
            .collect();
        emit(&md, &mut out)?;
        Ok(out)
    }

    /// Only strings can be extracted to dotenv (sops's `EmitValue`).
    fn emit_value(&self, value: &Value) -> Result<Vec<u8>, StoreError> {
        match value {
            Value::Str(s) => Ok(s.clone().into_bytes()),
            // A byte string (see the binary store): raw, like a Go string.
            Value::Bytes(b) => Ok(b.clone()),
            other => Err(StoreError::new(format!(
                "the dotenv store only supports emitting strings, got {}",
                go_type_name(other)
            ))),
        }
    }
}
