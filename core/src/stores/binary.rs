//! The binary store: sops's `BinaryStore`. A plaintext file of any content is one value
//! under the key `data`; the encrypted form is the JSON store's (`{"data": "ENC[...]",
//! "sops": {...}}`), and decrypting writes the raw `data` value back.

use super::json::{self, JsonStore};
use super::{Store, StoreError};
use crate::tree::{Branch, Item, Value};

/// The binary store.
#[derive(Clone, Debug)]
pub struct BinaryStore {
    json: JsonStore,
}

impl BinaryStore {
    /// A store whose encrypted (JSON) form is indented like [`JsonStore::new`].
    pub fn new(indent: Option<i64>) -> Self {
        BinaryStore {
            json: JsonStore::new(indent),
        }
    }
}

/// sops's `BinaryStoreEmitPlainError` text: `decrypt` adds [`NOT_BINARY_HINT`] to
/// errors that start with it.
pub const EMIT_ERROR: &str = "error emitting binary store";

/// What sops's `decrypt` adds, after a blank line, to a binary store's error.
pub const NOT_BINARY_HINT: &str = "This is likely not an encrypted binary file? If not, use --output-type to select the correct output type.";

impl Store for BinaryStore {
    /// The whole input as the value of `data`: a `Value::Str` when it is UTF-8, else a
    /// `Value::Bytes` holding it unchanged. sops keeps any bytes in a Go string and
    /// encrypts them as `type:str`; keytap's cipher does the same with `Value::Bytes`.
    fn load_plain(&self, input: &[u8]) -> Result<Vec<Branch>, StoreError> {
        // Copied, then checked: the input may be a mapped file that changes meanwhile.
        let value = match String::from_utf8(input.to_vec()) {
            Ok(text) => Value::Str(text),
            Err(e) => Value::Bytes(e.into_bytes()),
        };
        Ok(vec![vec![Item::Entry("data".into(), value)]])
    }

    fn load_encrypted(&self, input: &[u8]) -> Result<(Vec<Branch>, Option<Branch>), StoreError> {
        let (data, metadata) = json::load_encrypted(input)?;
        Ok((vec![data], metadata))
    }

    /// The raw `data` value, a `Value::Str` or a `Value::Bytes` (the byte string a
    /// non-UTF-8 file decrypts to).
    fn emit_plain(&self, docs: &[Branch]) -> Result<Vec<u8>, StoreError> {
        if docs.len() != 1 {
            return Err(StoreError::new(format!(
                "{EMIT_ERROR}: there must be exactly one tree branch"
            )));
        }
        for item in &docs[0] {
            if let Item::Entry(key, value) = item {
                if key == "data" {
                    return match value {
                        Value::Str(s) => Ok(s.clone().into_bytes()),
                        Value::Bytes(b) => Ok(b.clone()),
                        _ => Err(StoreError::new(format!(
                            "{EMIT_ERROR}: 'data' key in tree does not have a string value"
                        ))),
                    };
                }
            }
        }
        Err(StoreError::new(format!(
            "{EMIT_ERROR}: no binary data found in tree"
        )))
    }

    fn emit_encrypted(&self, docs: &[Branch], metadata: &Branch) -> Result<Vec<u8>, StoreError> {
        self.json.emit_encrypted_doc(docs, metadata)
    }

    fn emit_value(&self, _value: &Value) -> Result<Vec<u8>, StoreError> {
        Err(StoreError::new(
            "Binary files are not structured and extracting a single value is not possible",
        ))
    }
}
