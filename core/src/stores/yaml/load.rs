//! Node graph to sops tree, plus the checks sops gets from go-yaml's decoder.
//!
//! `build_document` ports sops's `stores/yaml/store.go` (`appendYamlNodeToTreeBranch`,
//! `nodeToTreeValue`): comments become `Comment` items exactly where sops puts them,
//! aliases are expanded, merge keys stay literal `<<` entries (sops walks nodes itself).
//! `Checker` reproduces what `Decoder.Decode(map[string]interface{})` rejects in the first
//! document before sops builds its tree: duplicate keys, tags that do not fit their value,
//! bad `!!binary`, bad merges, self-referencing anchors and excessive aliasing.

use std::collections::HashSet;

use super::compose::{Kind, Node, MAX_DEPTH};
use super::resolve::{resolve_checked, Scalar, BINARY_TAG, MERGE_TAG, NULL_TAG, STR_TAG};
use crate::tree::{Branch, Item, Value};

/// Most duplicate-key errors listed for one mapping.
const MAX_DUPLICATE_ERRORS: usize = 1000;

/// go-yaml's unique-keys check of a mapping's `content` (keys at even positions): for each
/// key, in order, an error for every later key of the same kind and text. go-yaml
/// compares every pair; this finds the duplicates by hashing, so a large mapping costs
/// linear time, and lists at most [`MAX_DUPLICATE_ERRORS`] of them.
fn duplicate_key_errors(nodes: &[Node], content: &[usize]) -> Vec<String> {
    let key = |k: usize| (nodes[k].kind as u8, nodes[k].value.as_str());
    // Nearly every mapping has no duplicate: a set answers that without a list per key.
    let mut seen = std::collections::HashSet::with_capacity(content.len() / 2);
    if content.iter().step_by(2).all(|&k| seen.insert(key(k))) {
        return Vec::new();
    }
    let mut groups: std::collections::HashMap<(u8, &str), Vec<usize>> =
        std::collections::HashMap::with_capacity(seen.len());
    for &k in content.iter().step_by(2) {
        groups.entry(key(k)).or_default().push(k);
    }
    let mut errors = Vec::new();
    for &a in content.iter().step_by(2) {
        let group = &groups[&key(a)];
        let later = group.iter().skip_while(|&&k| k != a).skip(1);
        for &b in later {
            if errors.len() == MAX_DUPLICATE_ERRORS {
                return errors;
            }
            errors.push(format!(
                "line {}: mapping key {} already defined at line {}",
                nodes[b].line,
                crate::goerr::quote(nodes[b].value.as_bytes()),
                nodes[a].line
            ));
        }
    }
    errors
}

/// go-yaml's `ShortTag()` of a node.
pub(crate) fn node_short_tag(nodes: &[Node], n: usize) -> String {
    let node = &nodes[n];
    if node.indicated_string() {
        return STR_TAG.into();
    }
    if node.tag.is_empty() || node.tag == "!" {
        return match node.kind {
            Kind::Mapping => "!!map".into(),
            Kind::Sequence => "!!seq".into(),
            Kind::Alias => match node.alias {
                Some(t) if t != n => node_short_tag(nodes, t),
                _ => String::new(),
            },
            Kind::Scalar => super::resolve::resolved_tag(&node.value).to_string(),
            Kind::Document => String::new(),
        };
    }
    super::resolve::short_tag(&node.tag)
}

/// Decodes a scalar node into what go-yaml puts in an `interface{}`.
pub(crate) fn decode_scalar(node: &Node) -> Result<Scalar, String> {
    if node.indicated_string() {
        return Ok(Scalar::Str(node.value.clone()));
    }
    let (tag, resolved) = resolve_checked(&node.tag, &node.value)?;
    if tag == BINARY_TAG {
        let text = match resolved {
            Scalar::Str(s) => s,
            _ => node.value.clone(),
        };
        let bytes =
            decode_base64(&text).ok_or("yaml: !!binary value contains invalid base64 data")?;
        return Ok(match String::from_utf8(bytes) {
            Ok(s) => Scalar::Str(s),
            // Not valid UTF-8: kept as bytes (sops keeps a Go string with raw bytes).
            Err(e) => Scalar::Str(format!("\u{0}BYTES:{}", hex_encode(e.as_bytes()))),
        });
    }
    Ok(resolved)
}

fn hex_encode(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn hex_decode(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .filter_map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok())
        .collect()
}

/// Go's `base64.StdEncoding.DecodeString`: padded standard alphabet; CR and LF ignored.
pub(crate) fn decode_base64(s: &str) -> Option<Vec<u8>> {
    let clean: Vec<u8> = s.bytes().filter(|&c| c != b'\r' && c != b'\n').collect();
    if clean.len() % 4 != 0 {
        return None;
    }
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => (c - b'A') as u32,
            b'a'..=b'z' => (c - b'a' + 26) as u32,
            b'0'..=b'9' => (c - b'0' + 52) as u32,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        })
    };
    let mut out = Vec::new();
    let chunks = clean.len() / 4;
    for (ci, chunk) in clean.chunks(4).enumerate() {
        let pad = chunk.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && ci != chunks - 1) {
            return None;
        }
        let mut acc: u32 = 0;
        for &c in &chunk[..4 - pad] {
            acc = (acc << 6) | val(c)?;
        }
        acc <<= 6 * pad as u32;
        let bytes = [(acc >> 16) as u8, (acc >> 8) as u8, acc as u8];
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    Some(out)
}

/// Turns a decoded scalar into a tree value.
fn scalar_to_value(s: Scalar) -> Result<Value, String> {
    Ok(match s {
        Scalar::Null => Value::Null,
        Scalar::Bool(b) => Value::Bool(b),
        Scalar::Int(i) => Value::Int(i),
        Scalar::Uint(u) => {
            return Err(format!(
                "integer {u} does not fit a signed 64-bit integer (sops: Cannot walk value, unknown type: uint64)"
            ))
        }
        Scalar::Float(f) => Value::Float(f),
        Scalar::Time(t) => {
            // Go parses offsets up to +24:00 but cannot marshal them; sops fails later.
            let bytes = t.as_bytes();
            if bytes.len() > 6 && (bytes[bytes.len() - 6] == b'+' || bytes[bytes.len() - 6] == b'-') && t[t.len() - 5..t.len() - 3] >= *"24" {
                return Err(format!("Could not convert {t} to bytes: Time.MarshalText: timezone hour outside of range [0,23]"));
            }
            Value::Time(t)
        }
        Scalar::Str(s) => match s.strip_prefix("\u{0}BYTES:") {
            Some(hex) => Value::Bytes(hex_decode(hex)),
            None => Value::Str(s),
        },
    })
}

// ---- sops's node-to-tree conversion -----------------------------------------------------

/// Builds sops trees from documents. Aliases are expanded (sops does so without any
/// bound); here what they expand to is counted in bytes, so a few kilobytes of nested
/// aliases cannot make gigabytes of tree.
pub(crate) struct Builder<'a> {
    nodes: &'a [Node],
    /// Bytes of tree (scalar text plus a per-value overhead) still allowed.
    budget: usize,
    depth: usize,
}

/// What each value, entry or comment counts besides its text.
const VALUE_OVERHEAD: usize = 16;

/// The tree a stream may build: several times its own size (expansion with few aliases
/// stays far below), and never less than 64 MiB.
pub(crate) fn build_budget(input_len: usize) -> usize {
    input_len.saturating_mul(8).max(64 << 20)
}

fn split_comments(comment: &str) -> impl Iterator<Item = String> + '_ {
    comment.split('\n').filter(|l| !l.is_empty()).map(|l| {
        let mut cs = l.chars();
        cs.next();
        cs.as_str().to_string()
    })
}

impl<'a> Builder<'a> {
    pub(crate) fn new(nodes: &'a [Node], budget: usize) -> Builder<'a> {
        Builder {
            nodes,
            budget,
            depth: 0,
        }
    }

    fn spend(&mut self, text_len: usize) -> Result<(), String> {
        let cost = text_len + VALUE_OVERHEAD;
        if self.budget < cost {
            return Err("document contains excessive aliasing".into());
        }
        self.budget -= cost;
        Ok(())
    }

    fn enter(&mut self) -> Result<(), String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err("document contains excessive aliasing or nesting".into());
        }
        Ok(())
    }

    /// sops's `yamlDocumentNodeToTreeBranch`.
    pub(crate) fn document(&mut self, doc: usize) -> Result<Branch, String> {
        let mut branch = Branch::new();
        self.append_to_branch(doc, &mut branch, false)?;
        Ok(branch)
    }

    // Three comment fields per node, nearly all empty: those cost nothing.
    fn append_comment_to_map(branch: &mut Branch, comment: &str) {
        if !comment.is_empty() {
            branch.extend(split_comments(comment).map(Item::Comment));
        }
    }

    fn append_comment_to_list(list: &mut Vec<Value>, comment: &str) {
        if !comment.is_empty() {
            list.extend(split_comments(comment).map(Value::Comment));
        }
    }

    fn node_to_value(&mut self, n: usize, comments_handled: bool) -> Result<Value, String> {
        let node = &self.nodes[n];
        let text = node.value.len()
            + node.head_comment.len()
            + node.line_comment.len()
            + node.foot_comment.len();
        self.spend(text)?;
        self.enter()?;
        let node = &self.nodes[n];
        let r = match node.kind {
            Kind::Document => Err("documents should never be passed here".into()),
            Kind::Sequence => {
                let mut list = Vec::new();
                if !comments_handled {
                    Self::append_comment_to_list(&mut list, &node.head_comment);
                    Self::append_comment_to_list(&mut list, &node.line_comment);
                }
                for &item in &node.content {
                    let it = &self.nodes[item];
                    Self::append_comment_to_list(&mut list, &it.head_comment);
                    Self::append_comment_to_list(&mut list, &it.line_comment);
                    let v = self.node_to_value(item, true)?;
                    list.push(v);
                    Self::append_comment_to_list(&mut list, &self.nodes[item].foot_comment);
                }
                if !comments_handled {
                    Self::append_comment_to_list(&mut list, &node.foot_comment);
                }
                Ok(Value::List(list))
            }
            Kind::Mapping => {
                let mut branch = Branch::new();
                self.append_to_branch(n, &mut branch, comments_handled)?;
                Ok(Value::Map(branch))
            }
            // sops ignores decode errors here; the value then stays nil.
            Kind::Scalar => match decode_scalar(node) {
                Ok(s) => scalar_to_value(s),
                Err(_) => Ok(Value::Null),
            },
            Kind::Alias => match node.alias {
                Some(t) => self.node_to_value(t, false),
                None => Ok(Value::Null),
            },
        };
        self.depth -= 1;
        r
    }

    fn key_string(&mut self, k: usize) -> Result<String, String> {
        let mut n = k;
        let mut hops = 0;
        while self.nodes[n].kind == Kind::Alias {
            n = self.nodes[n].alias.ok_or("alias without target")?;
            hops += 1;
            if hops > 1000 {
                return Err("anchor value contains itself".into());
            }
        }
        let node = &self.nodes[n];
        // sops formats the key with `%s` whatever its type, so Go's fmt marks the verb as
        // wrong for every type but time.Time; and its message lacks a space.
        let bad_verb = |type_name: &str, v: String| format!("%!s({type_name}={v})");
        let (type_name, shown) = match node.kind {
            Kind::Scalar => match decode_scalar(node) {
                Ok(Scalar::Str(s)) if !s.starts_with("\u{0}BYTES:") => return Ok(s),
                Ok(Scalar::Str(_)) => ("string", node.value.clone()),
                Ok(Scalar::Null) | Err(_) => ("<nil>", "%!s(<nil>)".to_string()),
                Ok(Scalar::Bool(b)) => ("bool", bad_verb("bool", b.to_string())),
                Ok(Scalar::Int(i)) => ("int", bad_verb("int", i.to_string())),
                Ok(Scalar::Uint(u)) => ("uint64", bad_verb("uint64", u.to_string())),
                Ok(Scalar::Float(f)) => (
                    "float64",
                    bad_verb("float64", crate::stores::json::gofmt::format_float(f, 'g')),
                ),
                Ok(Scalar::Time(t)) => ("time.Time", crate::stores::flatten::go_time_string(&t)),
            },
            Kind::Mapping => ("map[string]interface {}", node.value.clone()),
            Kind::Sequence => ("[]interface {}", node.value.clone()),
            _ => ("<nil>", "%!s(<nil>)".to_string()),
        };
        Err(format!(
            "Tree contains a non-string key (type {type_name}): {shown}. Only string keys \
             aresupported"
        ))
    }

    fn append_to_branch(
        &mut self,
        n: usize,
        branch: &mut Branch,
        comments_handled: bool,
    ) -> Result<(), String> {
        self.enter()?;
        let r = self.append_to_branch_inner(n, branch, comments_handled);
        self.depth -= 1;
        r
    }

    fn append_to_branch_inner(
        &mut self,
        n: usize,
        branch: &mut Branch,
        comments_handled: bool,
    ) -> Result<(), String> {
        let nodes = self.nodes;
        let node = &nodes[n];
        if !comments_handled {
            Self::append_comment_to_map(branch, &node.head_comment);
            Self::append_comment_to_map(branch, &node.line_comment);
        }
        match node.kind {
            Kind::Document => {
                for &item in &node.content {
                    self.append_to_branch(item, branch, false)?;
                }
            }
            Kind::Sequence => {
                return Err("YAML documents that are sequences are not supported".into())
            }
            Kind::Mapping => {
                branch.reserve(node.content.len() / 2);
                let mut i = 0;
                while i + 1 < node.content.len() {
                    let (k, v) = (node.content[i], node.content[i + 1]);
                    let (key, value) = (&nodes[k], &nodes[v]);
                    Self::append_comment_to_map(branch, &key.head_comment);
                    Self::append_comment_to_map(branch, &key.line_comment);
                    let handle_value_comments = matches!(value.kind, Kind::Scalar | Kind::Alias);
                    if handle_value_comments {
                        Self::append_comment_to_map(branch, &value.head_comment);
                        Self::append_comment_to_map(branch, &value.line_comment);
                    }
                    let key_text = self.key_string(k)?;
                    self.spend(key_text.len() + key.head_comment.len() + key.line_comment.len())?;
                    let tv = self.node_to_value(v, handle_value_comments)?;
                    branch.push(Item::Entry(key_text, tv));
                    if handle_value_comments {
                        Self::append_comment_to_map(branch, &value.foot_comment);
                    }
                    Self::append_comment_to_map(branch, &key.foot_comment);
                    i += 2;
                }
            }
            Kind::Scalar => {
                // An empty document (or one that is just `~`) is an empty branch.
                if node_short_tag(nodes, n) == NULL_TAG {
                    return Ok(());
                }
                return Err("YAML documents that are values are not supported".into());
            }
            Kind::Alias => {
                if let Some(t) = node.alias {
                    self.append_to_branch(t, branch, false)?;
                }
            }
        }
        if !comments_handled {
            Self::append_comment_to_map(branch, &node.foot_comment);
        }
        Ok(())
    }
}

// ---- go-yaml decoder checks ---------------------------------------------------------------

/// What go-yaml decodes a node into, as far as errors are concerned.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Out {
    /// `map[string]interface{}` (the top level of sops's check, and string-keyed maps).
    StringMap,
    /// `map[interface{}]interface{}`.
    IfaceMap,
    /// A `string` (the keys of a string map).
    Str,
    /// `interface{}`.
    Iface,
}

/// A decoded key or value, as far as identity and kind matter to the checks.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Shape {
    Nil,
    Scalar(String),
    Map,
    Slice,
}

struct Fail(String);

/// Replays go-yaml's `decoder.unmarshal` into `map[string]interface{}` for its errors.
pub(crate) struct Checker<'a> {
    nodes: &'a [Node],
    decode_count: u64,
    alias_count: u64,
    alias_depth: u64,
    active: HashSet<usize>,
    terrors: Vec<String>,
    merged_fields: Option<HashSet<Shape>>,
    /// Shapes of scalars are only compared while merging; building them costs a
    /// formatted string per scalar, so it is skipped otherwise.
    collecting_shapes: bool,
    depth: usize,
}

fn allowed_alias_ratio(decode_count: u64) -> f64 {
    const LOW: u64 = 400_000;
    const HIGH: u64 = 4_000_000;
    if decode_count <= LOW {
        0.99
    } else if decode_count >= HIGH {
        0.10
    } else {
        0.99 - 0.89 * ((decode_count - LOW) as f64 / (HIGH - LOW) as f64)
    }
}

impl<'a> Checker<'a> {
    pub(crate) fn new(nodes: &'a [Node]) -> Checker<'a> {
        Checker {
            nodes,
            decode_count: 0,
            alias_count: 0,
            alias_depth: 0,
            active: HashSet::new(),
            terrors: Vec::new(),
            merged_fields: None,
            collecting_shapes: false,
            depth: 0,
        }
    }

    /// Decodes the document into `map[string]interface{}` (sops's duplicate-key check).
    pub(crate) fn check_plain_document(nodes: &[Node], doc: usize) -> Result<(), String> {
        let mut c = Checker::new(nodes);
        c.finish(doc, Out::StringMap)
    }

    /// Decodes a node into `interface{}` (used for the `sops` metadata value).
    pub(crate) fn check_value(nodes: &[Node], n: usize) -> Result<(), String> {
        let mut c = Checker::new(nodes);
        c.finish(n, Out::Iface)
    }

    fn finish(&mut self, n: usize, out: Out) -> Result<(), String> {
        match self.unmarshal(n, out) {
            Err(Fail(msg)) => Err(msg),
            Ok(_) if !self.terrors.is_empty() => Err(format!(
                "yaml: unmarshal errors: {}",
                self.terrors.join("; ")
            )),
            Ok(_) => Ok(()),
        }
    }

    fn terror(&mut self, n: usize, tag: &str, out: Out) {
        let node = &self.nodes[n];
        let tag = if node.tag.is_empty() {
            tag.to_string()
        } else {
            node.tag.clone()
        };
        let tag = super::resolve::short_tag(&tag);
        let mut value = String::new();
        if tag != "!!seq" && tag != "!!map" {
            if node.value.len() > 10 {
                let cut: String = node.value.bytes().take(7).map(|b| b as char).collect();
                value = format!(" `{cut}...`");
            } else {
                value = format!(" `{}`", node.value);
            }
        }
        let into = match out {
            Out::StringMap => "map[string]interface {}",
            Out::IfaceMap => "map[interface {}]interface {}",
            Out::Str => "string",
            Out::Iface => "interface {}",
        };
        self.terrors.push(format!(
            "line {}: cannot unmarshal {tag}{value} into {into}",
            node.line
        ));
    }

    fn unmarshal(&mut self, n: usize, out: Out) -> Result<(bool, Shape), Fail> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(Fail("yaml: document contains excessive aliasing".into()));
        }
        let r = self.unmarshal_inner(n, out);
        self.depth -= 1;
        r
    }

    fn unmarshal_inner(&mut self, n: usize, out: Out) -> Result<(bool, Shape), Fail> {
        self.decode_count += 1;
        if self.alias_depth > 0 {
            self.alias_count += 1;
        }
        if self.alias_count > 100
            && self.decode_count > 1000
            && self.alias_count as f64 / self.decode_count as f64
                > allowed_alias_ratio(self.decode_count)
        {
            return Err(Fail("yaml: document contains excessive aliasing".into()));
        }
        let node = &self.nodes[n];
        match node.kind {
            Kind::Document => {
                if node.content.len() == 1 {
                    let c = node.content[0];
                    self.unmarshal(c, out)?;
                    return Ok((true, Shape::Nil));
                }
                Ok((false, Shape::Nil))
            }
            Kind::Alias => {
                if self.active.contains(&n) {
                    return Err(Fail(format!(
                        "yaml: anchor '{}' value contains itself",
                        node.value
                    )));
                }
                let target = match node.alias {
                    Some(t) => t,
                    None => return Ok((false, Shape::Nil)),
                };
                self.active.insert(n);
                self.alias_depth += 1;
                let r = self.unmarshal(target, out);
                self.alias_depth -= 1;
                self.active.remove(&n);
                r
            }
            Kind::Scalar => self.scalar(n, out),
            Kind::Mapping => self.mapping(n, out),
            Kind::Sequence => self.sequence(n, out),
        }
    }

    fn scalar(&mut self, n: usize, out: Out) -> Result<(bool, Shape), Fail> {
        let node = &self.nodes[n];
        let (tag, resolved) = if node.indicated_string() {
            (STR_TAG.to_string(), Scalar::Str(node.value.clone()))
        } else {
            let (tag, r) = resolve_checked(&node.tag, &node.value).map_err(Fail)?;
            if tag == BINARY_TAG {
                let text = match &r {
                    Scalar::Str(s) => s.clone(),
                    _ => node.value.clone(),
                };
                if decode_base64(&text).is_none() {
                    return Err(Fail(
                        "yaml: !!binary value contains invalid base64 data".into(),
                    ));
                }
            }
            (tag, r)
        };
        if resolved == Scalar::Null {
            // d.null: only interfaces (and addressable maps) take a null.
            return Ok((out == Out::Iface, Shape::Nil));
        }
        let want_shape = self.collecting_shapes || self.merged_fields.is_some();
        let shape = if want_shape {
            Shape::Scalar(format!("{resolved:?}"))
        } else {
            Shape::Scalar(String::new())
        };
        match out {
            Out::Str if want_shape => Ok((
                true,
                Shape::Scalar(format!("{:?}", Scalar::Str(node.value.clone()))),
            )),
            Out::Str => Ok((true, shape)),
            Out::Iface => Ok((true, shape)),
            Out::StringMap | Out::IfaceMap => {
                self.terror(n, &tag, out);
                Ok((false, Shape::Nil))
            }
        }
    }

    fn sequence(&mut self, n: usize, out: Out) -> Result<(bool, Shape), Fail> {
        match out {
            Out::Iface => {}
            _ => {
                self.terror(n, "!!seq", out);
                return Ok((false, Shape::Nil));
            }
        }
        let content = self.nodes[n].content.clone();
        for c in content {
            self.unmarshal(c, Out::Iface)?;
        }
        Ok((true, Shape::Slice))
    }

    fn is_string_map(&self, n: usize) -> bool {
        let node = &self.nodes[n];
        node.content.iter().step_by(2).all(|&k| {
            let t = node_short_tag(self.nodes, k);
            t == STR_TAG || t == MERGE_TAG
        })
    }

    fn is_merge(&self, k: usize) -> bool {
        let node = &self.nodes[k];
        node.kind == Kind::Scalar
            && node.value == "<<"
            && (node.tag.is_empty()
                || node.tag == "!"
                || super::resolve::short_tag(&node.tag) == MERGE_TAG)
    }

    fn mapping(&mut self, n: usize, out: Out) -> Result<(bool, Shape), Fail> {
        let nodes = self.nodes;
        let node = &nodes[n];
        let l = node.content.len();
        // Unique keys: same kind and same text.
        let before = self.terrors.len();
        self.terrors
            .extend(duplicate_key_errors(nodes, &node.content));
        if self.terrors.len() > before {
            return Ok((false, Shape::Nil));
        }
        let map_out = match out {
            Out::StringMap => Out::StringMap,
            Out::IfaceMap => Out::IfaceMap,
            Out::Iface => {
                if self.is_string_map(n) {
                    Out::StringMap
                } else {
                    Out::IfaceMap
                }
            }
            Out::Str => {
                self.terror(n, "!!map", out);
                return Ok((false, Shape::Nil));
            }
        };
        let key_out = if map_out == Out::StringMap {
            Out::Str
        } else {
            Out::Iface
        };

        let merged_fields = self.merged_fields.take();
        let mut merged_fields = merged_fields;
        let mut merge_node = None;
        let mut i = 0;
        while i + 1 < l {
            let (k, v) = (node.content[i], node.content[i + 1]);
            if self.is_merge(k) {
                merge_node = Some(v);
                i += 2;
                continue;
            }
            // Keys are told apart by their shape only while a merge is being applied
            // (go-yaml's mergedFields); `merged_fields` is taken from `self` here, so say
            // so, or every key would get the same empty shape and all but the first be
            // skipped.
            let collecting = self.collecting_shapes;
            self.collecting_shapes |= merged_fields.is_some();
            let key = self.unmarshal(k, key_out);
            self.collecting_shapes = collecting;
            let (ok, shape) = key?;
            if ok {
                if let Some(mf) = merged_fields.as_mut() {
                    if mf.contains(&shape) {
                        i += 2;
                        continue;
                    }
                    mf.insert(shape.clone());
                }
                if shape == Shape::Map || shape == Shape::Slice {
                    return Err(Fail("yaml: invalid map key".into()));
                }
                self.unmarshal(v, Out::Iface)?;
            }
            i += 2;
        }
        self.merged_fields = merged_fields;
        if let Some(m) = merge_node {
            self.merge(n, m, map_out)?;
        }
        Ok((true, Shape::Map))
    }

    fn merge(&mut self, parent: usize, merge: usize, out: Out) -> Result<(), Fail> {
        let saved = self.merged_fields.clone();
        if self.merged_fields.is_none() {
            let mut set = HashSet::new();
            let keys: Vec<usize> = self.nodes[parent]
                .content
                .iter()
                .step_by(2)
                .copied()
                .collect();
            self.collecting_shapes = true;
            for k in keys {
                let (ok, shape) = self.unmarshal(k, Out::Iface)?;
                if ok {
                    set.insert(shape);
                }
            }
            self.collecting_shapes = false;
            self.merged_fields = Some(set);
        }
        let want_map =
            || Fail("yaml: map merge requires map or sequence of maps as the value".into());
        let target_kind = |c: &Checker, x: usize| c.nodes[x].alias.map(|t| c.nodes[t].kind);
        match self.nodes[merge].kind {
            Kind::Mapping => {
                self.unmarshal(merge, out)?;
            }
            Kind::Alias => {
                if let Some(k) = target_kind(self, merge) {
                    if k != Kind::Mapping {
                        return Err(want_map());
                    }
                }
                self.unmarshal(merge, out)?;
            }
            Kind::Sequence => {
                let items = self.nodes[merge].content.clone();
                for ni in items {
                    match self.nodes[ni].kind {
                        Kind::Alias => {
                            if let Some(k) = target_kind(self, ni) {
                                if k != Kind::Mapping {
                                    return Err(want_map());
                                }
                            }
                        }
                        Kind::Mapping => {}
                        _ => return Err(want_map()),
                    }
                    self.unmarshal(ni, out)?;
                }
            }
            _ => return Err(want_map()),
        }
        self.merged_fields = saved;
        Ok(())
    }
}

/// What `yaml.Unmarshal(in, &stores.SopsFile{})` rejects in the first document of an
/// encrypted file: a top level that is not a mapping, duplicate top-level keys, and
/// problems inside the `sops` metadata value.
pub(crate) fn check_encrypted_document(nodes: &[Node], doc: usize) -> Result<(), String> {
    let mut n = match nodes[doc].content.first() {
        Some(&c) => c,
        None => return Ok(()),
    };
    let mut hops = 0;
    while nodes[n].kind == Kind::Alias {
        n = match nodes[n].alias {
            Some(t) => t,
            None => return Ok(()),
        };
        hops += 1;
        if hops > 1000 {
            return Err("yaml: anchor value contains itself".into());
        }
    }
    let node = &nodes[n];
    match node.kind {
        Kind::Mapping => {}
        Kind::Scalar if node_short_tag(nodes, n) == NULL_TAG => return Ok(()),
        _ => {
            let tag = node_short_tag(nodes, n);
            let value = if node.kind == Kind::Scalar {
                format!(" `{}`", node.value)
            } else {
                String::new()
            };
            return Err(format!(
                "yaml: unmarshal errors: line {}: cannot unmarshal {tag}{value} into stores.SopsFile",
                node.line
            ));
        }
    }
    let errors = duplicate_key_errors(nodes, &node.content);
    if !errors.is_empty() {
        return Err(format!("yaml: unmarshal errors: {}", errors.join("; ")));
    }
    let checker = Checker::new(nodes);
    for pair in node.content.chunks(2) {
        if pair.len() != 2 {
            continue;
        }
        if checker.is_merge(pair[0]) {
            // go-yaml merges even into a struct, so a top-level `<<` must hold a mapping.
            let mut v = pair[1];
            if nodes[v].kind == Kind::Alias {
                v = nodes[v].alias.unwrap_or(v);
            }
            let ok = match nodes[v].kind {
                Kind::Mapping => true,
                Kind::Sequence => nodes[v].content.iter().all(|&i| {
                    let t = if nodes[i].kind == Kind::Alias {
                        nodes[i].alias.unwrap_or(i)
                    } else {
                        i
                    };
                    nodes[t].kind == Kind::Mapping
                }),
                _ => false,
            };
            if !ok {
                return Err("yaml: map merge requires map or sequence of maps as the value".into());
            }
        }
        if nodes[pair[0]].kind == Kind::Scalar && nodes[pair[0]].value == "sops" {
            Checker::check_value(nodes, pair[1])?;
        }
    }
    Ok(())
}
