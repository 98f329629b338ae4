//! YAML store, byte-compatible with sops 3.11 (which uses go-yaml v3).
//!
//! Reading goes bytes -> characters (`reader`) -> tokens with comments (`scanner`) ->
//! events (`parser`) -> node graph (`compose`) -> sops tree (`load`), each stage following
//! the go-yaml v3 code sops runs, because which comment ends up where, and how scalars
//! resolve, are decided by go-yaml's internals. Writing goes sops tree -> go-yaml-style
//! nodes and events (`encode`) -> text (`emitter`), again following go-yaml's emitter so
//! that output matches `sops` byte for byte.

mod compose;
mod emitter;
mod encode;
mod load;
mod parser;
mod plain_run;
mod reader;
mod resolve;
mod scanner;

pub(crate) use reader::decode_owned;

use super::{Store, StoreError};
use crate::tree::{Branch, Item, Value};

/// sops's default YAML indentation.
pub const DEFAULT_INDENT: usize = 4;

/// The YAML store.
#[derive(Clone, Debug)]
pub struct YamlStore {
    /// Spaces per level; `None` for a negative `--indent`, refused when writing a file.
    indent: Option<usize>,
}

impl YamlStore {
    /// A store writing with `indent` spaces per level (`None` or 0: sops's default of 4;
    /// like go-yaml, values outside 2..=9 become 2). A negative indentation makes writing
    /// a file fail, as in sops.
    pub fn new(indent: Option<i64>) -> Self {
        let indent = match indent {
            None | Some(0) => Some(DEFAULT_INDENT),
            Some(n) => usize::try_from(n).ok(),
        };
        YamlStore { indent }
    }

    /// The indentation to write with (sops's `getIndentation`).
    fn indent(&self) -> Result<usize, StoreError> {
        self.indent
            .ok_or_else(|| StoreError::new("YAML Negative indentation not accepted"))
    }
}

/// Parses all documents of a stream into node graphs.
struct Parsed {
    nodes: Vec<compose::Node>,
    docs: Vec<usize>,
    /// Whether the nodes are wiped when dropped (a plaintext file's).
    plaintext: bool,
}

impl Drop for Parsed {
    fn drop(&mut self) {
        if self.plaintext {
            compose::wipe_nodes(&mut self.nodes);
        }
    }
}

/// Parses the whole stream; `first_check` runs on the first document as soon as it is
/// composed (sops runs its go-yaml decoder check before reading further documents). The
/// text of a `plaintext` stream is wiped once parsed, and its nodes when dropped.
fn parse_stream(
    decoded: Result<String, String>,
    first_check: fn(&[compose::Node], usize) -> Result<(), String>,
    first_prefix: &str,
    later_prefix: &str,
    plaintext: bool,
) -> Result<Parsed, StoreError> {
    let text = decoded.map_err(|e| StoreError::new(format!("{first_prefix}{e}")))?;
    let mut composer = compose::Composer::new(text);
    let docs = compose_all(&mut composer, first_check, first_prefix, later_prefix);
    if plaintext {
        composer.wipe_input();
    }
    // Wiped when dropped, on an error too.
    let mut parsed = Parsed {
        nodes: std::mem::take(&mut composer.nodes),
        docs: Vec::new(),
        plaintext,
    };
    parsed.docs = docs?;
    Ok(parsed)
}

/// The documents of `composer`'s stream (see [`parse_stream`]).
fn compose_all(
    composer: &mut compose::Composer,
    first_check: fn(&[compose::Node], usize) -> Result<(), String>,
    first_prefix: &str,
    later_prefix: &str,
) -> Result<Vec<usize>, StoreError> {
    let mut docs = Vec::new();
    match composer.next_document() {
        Err(e) => return Err(StoreError::new(format!("{first_prefix}{e}"))),
        Ok(None) => return Err(StoreError::new(format!("{first_prefix}EOF"))),
        Ok(Some(d)) => {
            first_check(&composer.nodes, d)
                .map_err(|e| StoreError::new(format!("{first_prefix}{e}")))?;
            docs.push(d);
        }
    }
    loop {
        match composer.next_document() {
            Err(e) => return Err(StoreError::new(format!("{later_prefix}{e}"))),
            Ok(None) => return Ok(docs),
            Ok(Some(d)) => docs.push(d),
        }
    }
}

/// A node of [`first_document`]'s graph.
pub(crate) use compose::{style as node_style, Kind as NodeKind, Node as GraphNode};

/// The first document of `text` as go-yaml composes it, for `.sops.yaml`: the node graph
/// and the document's root node (None for a stream without documents). Errors are
/// go-yaml's (`yaml: line 3: did not find expected key`).
pub(crate) fn first_document(text: &str) -> Result<Option<(Vec<GraphNode>, usize)>, String> {
    let text = reader::decode_input(text.as_bytes())?;
    let mut composer = compose::Composer::new(text);
    let Some(doc) = composer.next_document()? else {
        return Ok(None);
    };
    let nodes = std::mem::take(&mut composer.nodes);
    Ok(nodes[doc]
        .content
        .first()
        .copied()
        .map(|root| (nodes, root)))
}

/// go-yaml's short form of a node's tag (`!!str`).
pub(crate) fn short_tag(tag: &str) -> String {
    resolve::short_tag(tag)
}

fn build_all(parsed: &Parsed, input_len: usize) -> Result<Vec<Branch>, StoreError> {
    let mut builder = load::Builder::new(&parsed.nodes, load::build_budget(input_len));
    parsed
        .docs
        .iter()
        .map(|&d| {
            builder
                .document(d)
                .map_err(|e| StoreError::new(format!("Error unmarshaling input YAML: {e}")))
        })
        .collect()
}

impl YamlStore {
    /// [`Store::load_encrypted`] of decoded input (`input_len` bytes long).
    fn load_encrypted_text(
        &self,
        decoded: Result<String, String>,
        input_len: usize,
    ) -> Result<(Vec<Branch>, Option<Branch>), StoreError> {
        let parsed = parse_stream(
            decoded,
            load::check_encrypted_document,
            "Error unmarshalling input yaml: ",
            "Error unmarshaling input YAML: ",
            false,
        )?;
        // Like sops, which finds the metadata before it walks any value: a file without
        // it is refused before aliases get a chance to expand.
        if !parsed
            .docs
            .first()
            .is_some_and(|&d| compose::has_top_level_key(&parsed.nodes, d, "sops"))
        {
            return Ok((Vec::new(), None));
        }
        let mut docs = build_all(&parsed, input_len)?;
        let mut metadata = None;
        for (i, doc) in docs.iter_mut().enumerate() {
            let mut k = 0;
            while k < doc.len() {
                if matches!(&doc[k], Item::Entry(key, _) if key == "sops") {
                    let item = doc.remove(k);
                    if i == 0 && metadata.is_none() {
                        if let Item::Entry(_, v) = item {
                            metadata = Some(v);
                        }
                    }
                } else {
                    k += 1;
                }
            }
        }
        let metadata = match metadata {
            None | Some(Value::Null) => None,
            Some(Value::Map(b)) => Some(b),
            Some(_) => {
                return Err(StoreError::new(
                    "Error unmarshalling input yaml: the sops metadata is not a mapping",
                ))
            }
        };
        Ok((docs, metadata))
    }
}

impl Store for YamlStore {
    fn load_plain(&self, input: &[u8]) -> Result<Vec<Branch>, StoreError> {
        if input.is_empty() {
            return Ok(Vec::new());
        }
        let parsed = parse_stream(
            reader::decode_input(input),
            load::Checker::check_plain_document,
            "",
            "Error unmarshaling input YAML: ",
            true,
        )?;
        build_all(&parsed, input.len())
    }

    fn load_encrypted(&self, input: &[u8]) -> Result<(Vec<Branch>, Option<Branch>), StoreError> {
        if input.is_empty() {
            return Ok((Vec::new(), None));
        }
        self.load_encrypted_text(reader::decode_input(input), input.len())
    }

    fn load_encrypted_owned(
        &self,
        input: Vec<u8>,
    ) -> Result<(Vec<Branch>, Option<Branch>), StoreError> {
        if input.is_empty() {
            return Ok((Vec::new(), None));
        }
        let len = input.len();
        self.load_encrypted_text(reader::decode_owned(input), len)
    }

    fn emit_plain(&self, docs: &[Branch]) -> Result<Vec<u8>, StoreError> {
        let refs: Vec<&Branch> = docs.iter().collect();
        encode::emit_documents(&refs, None, self.indent()?)
            .map(String::into_bytes)
            .map_err(|e| StoreError::new(format!("Error marshaling to yaml: {e}")))
    }

    fn emit_encrypted(&self, docs: &[Branch], metadata: &Branch) -> Result<Vec<u8>, StoreError> {
        let refs: Vec<&Branch> = docs.iter().collect();
        let sops = Item::Entry("sops".to_string(), Value::Map(metadata.clone()));
        encode::emit_documents(&refs, Some(&sops), self.indent()?)
            .map(String::into_bytes)
            .map_err(|e| StoreError::new(format!("Error marshaling to yaml: {e}")))
    }

    fn emit_value(&self, value: &Value) -> Result<Vec<u8>, StoreError> {
        encode::emit_value(value)
            .map(String::into_bytes)
            .map_err(|e| StoreError::new(format!("Error dumping tree: {e}")))
    }
}

#[cfg(test)]
mod tests;
