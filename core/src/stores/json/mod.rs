//! The JSON store: sops's `stores/json` (the JSON half; the binary store reuses it).
//!
//! Reading: the top level must be an object; keys keep their order (duplicates too);
//! numbers are float64 like sops reads them (`1` is encrypted as `type:float`), see
//! [`parse`]. Writing: sops's ordered encoder plus Go's `json.Indent`, see [`encode`];
//! one tab per level by default, `--indent N` spaces, a trailing newline on files.

mod encode;
pub(crate) mod gofmt;
mod halves;
mod metadata_types;
mod parse;

use super::{Store, StoreError};
use crate::tree::{Branch, Item, Value};

pub(crate) use encode::write_go_marshal;
pub(crate) use parse::go_lossy_utf8;
use parse::Numbers;

/// The JSON store.
#[derive(Clone, Debug)]
pub struct JsonStore {
    /// One indentation level: a tab (sops's default) or `--indent N` spaces; `None` for an
    /// `--indent` below -1, refused when writing.
    indent: Option<String>,
}

impl JsonStore {
    /// A store writing one tab per level (`None` or -1, sops's default) or `n` spaces
    /// (`--indent n`; 0 means newlines without indentation, as in sops). Below -1, writing
    /// fails, as in sops.
    pub fn new(indent: Option<i64>) -> Self {
        let indent = match indent {
            None | Some(-1) => Some("\t".to_string()),
            Some(n) => usize::try_from(n).ok().map(|n| " ".repeat(n)),
        };
        JsonStore { indent }
    }

    /// One level of indentation (sops's `reindentJSON` check).
    fn indent(&self) -> Result<&str, String> {
        self.indent
            .as_deref()
            .ok_or_else(|| "JSON Indentation parameter smaller than -1 is not accepted".into())
    }

    /// Emits one branch as a file: indented object plus a trailing newline.
    fn emit_branch(&self, branch: &[Item]) -> Result<Vec<u8>, StoreError> {
        self.emit_items(branch, None)
    }

    /// Emits `items` (and `extra` after them) as one object.
    fn emit_items(&self, items: &[Item], extra: Option<&Item>) -> Result<Vec<u8>, StoreError> {
        let extra_len = extra.map_or(0, |item| {
            crate::tree::text_len_hint(std::slice::from_ref(item))
        });
        let mut out = self
            .indent()
            .and_then(|indent| match crate::split::split_point(items) {
                Some(cut) => write_split(items, cut, extra, indent, extra_len),
                None => {
                    let size_hint = crate::tree::text_len_hint(items) + extra_len;
                    write_whole(items, extra, indent, size_hint)
                }
            })
            .map_err(|e| StoreError::new(format!("Error marshaling to json: {e}")))?;
        out.push('\n');
        Ok(out.into_bytes())
    }
}

/// `items` and `extra` written as one object.
fn write_whole(
    items: &[Item],
    extra: Option<&Item>,
    indent: &str,
    size_hint: usize,
) -> Result<String, String> {
    let mut out = String::with_capacity(size_hint);
    encode::write_branch(&mut out, items.iter().chain(extra), indent, 0)?;
    Ok(out)
}

/// [`write_whole`] in two parts at once (see [`crate::split`]): the entries before `cut`
/// here, the rest (and `extra`, of `extra_len` bytes) on another thread, joined.
fn write_split(
    items: &[Item],
    cut: crate::split::Cut,
    extra: Option<&Item>,
    indent: &str,
    extra_len: usize,
) -> Result<String, String> {
    let (first, rest) = items.split_at(cut.at);
    let rest_len = cut.rest_len + extra_len;
    let (first, rest) = crate::stack::join_deep(
        || {
            // Room for the rest too, which is appended to it.
            let mut out = String::with_capacity(cut.first_len + rest_len);
            out.push('{');
            encode::write_entries(&mut out, first, indent, 0, false).map(|_| out)
        },
        || {
            let mut out = String::with_capacity(rest_len);
            let after_first = first.iter().any(|item| matches!(item, Item::Entry(..)));
            let wrote =
                encode::write_entries(&mut out, rest.iter().chain(extra), indent, 0, after_first)?;
            encode::close_branch(&mut out, indent, 0, wrote);
            Ok::<_, String>(out)
        },
    );
    // Room for the newline that ends the file.
    crate::split::join_texts(first, rest, 1)
}

/// Parses a plaintext JSON document (shared with the binary store's encrypted form).
pub(crate) fn load_plain(input: &[u8]) -> Result<Branch, StoreError> {
    let (mut first, rest) = halves::parse_document(input, true, Numbers::Float)
        .map_err(|e| StoreError::new(format!("Could not unmarshal input data: {e}")))?;
    first.reserve_exact(rest.len());
    first.extend(rest);
    Ok(first)
}

/// Parses an encrypted JSON document: the data without the top-level `sops` entries, and
/// the metadata object. Integer literals inside the metadata come back as `Value::Int`
/// (sops unmarshals them into Go `int` fields), everything else as in plain files.
pub(crate) fn load_encrypted(input: &[u8]) -> Result<(Branch, Option<Branch>), StoreError> {
    let (first, rest) = halves::parse_document(input, false, Numbers::IntWhenIntegral)
        .map_err(|e| StoreError::new(format!("Error unmarshalling input json: {e}")))?;
    let mut metadata = None;
    let mut data = Vec::with_capacity(first.len() + rest.len());
    for item in first.into_iter().chain(rest) {
        match item {
            Item::Entry(key, value) if key == "sops" => {
                // Go's Unmarshal lets a later duplicate win; null means "no metadata".
                metadata = match value {
                    Value::Map(m) => Some(m),
                    Value::Null => None,
                    other => return Err(metadata_types::not_an_object(&other)),
                };
            }
            other => data.push(other),
        }
    }
    if let Some(m) = &mut metadata {
        metadata_types::last_duplicate_wins(m);
        // (sops's message for a SOPS 1.x numeric version is unreachable in sops built
        // with Go 1.20+, which names the field by its whole path: Go's own message it is.)
        metadata_types::check(m)?;
    }
    Ok((data, metadata))
}

impl JsonStore {
    /// The encrypted file: the first document with `sops` appended last.
    pub(crate) fn emit_encrypted_doc(
        &self,
        docs: &[Branch],
        metadata: &Branch,
    ) -> Result<Vec<u8>, StoreError> {
        let first = docs
            .first()
            .ok_or_else(|| StoreError::new("Error marshaling to json: no document to write"))?;
        let sops = Item::Entry("sops".into(), Value::Map(metadata.clone()));
        self.emit_items(first, Some(&sops))
    }
}

impl Store for JsonStore {
    fn load_plain(&self, input: &[u8]) -> Result<Vec<Branch>, StoreError> {
        Ok(vec![load_plain(input)?])
    }

    fn load_encrypted(&self, input: &[u8]) -> Result<(Vec<Branch>, Option<Branch>), StoreError> {
        let (data, metadata) = load_encrypted(input)?;
        Ok((vec![data], metadata))
    }

    /// JSON holds one document: like sops, only the first is written.
    fn emit_plain(&self, docs: &[Branch]) -> Result<Vec<u8>, StoreError> {
        let first = docs
            .first()
            .ok_or_else(|| StoreError::new("Error marshaling to json: no document to write"))?;
        self.emit_branch(first)
    }

    fn emit_encrypted(&self, docs: &[Branch], metadata: &Branch) -> Result<Vec<u8>, StoreError> {
        self.emit_encrypted_doc(docs, metadata)
    }

    /// Indented like a file but without the trailing newline (sops's `EmitValue`).
    fn emit_value(&self, value: &Value) -> Result<Vec<u8>, StoreError> {
        let mut out = String::new();
        self.indent()
            .and_then(|indent| encode::write_indented(&mut out, value, indent, 0))
            .map_err(StoreError::new)?;
        Ok(out.into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_object_written_in_two_parts_is_the_object_written_whole() {
        let sops = Item::Entry("sops".into(), Value::Map(vec![]));
        let mut seed = 0x9E37_79B9_7F4A_7C15;
        let mut cuts = 0;
        for round in 0..300 {
            let doc = crate::test_docs::document(&mut seed, 1 + round % 7, true);
            for extra in [None, Some(&sops)] {
                for indent in ["\t", "  "] {
                    let Ok(whole) = write_whole(&doc, extra, indent, 0) else {
                        continue;
                    };
                    for cut in crate::split::possible_cuts(&doc) {
                        let parts = write_split(
                            &doc,
                            crate::split::Cut::before(&doc, cut),
                            extra,
                            indent,
                            0,
                        )
                        .unwrap();
                        assert_eq!(parts, whole, "cut at {cut} of {doc:#?}");
                        cuts += 1;
                    }
                }
            }
        }
        assert!(cuts > 1000, "only {cuts} cuts tried");
    }
}
