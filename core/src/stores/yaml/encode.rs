//! sops tree to emitter events, as sops's `appendTreeBranch`/`treeValueToNode` build
//! go-yaml nodes and go-yaml's `encoder.node` turns them into events.
//!
//! Two go-yaml behaviours are folded in here. First, sops builds every scalar with
//! `Node.Encode`, which *emits* the value and parses it back, so the style a node ends up
//! with is the style go-yaml's emitter picked for it at the document root (`root_style`).
//! Second, the encoder re-derives tags: a plain `<<` keeps its `!!merge` tag and is printed
//! `!!merge <<`. Comments follow sops's placement: comments before the first entry become
//! the collection's head comment, comments before later entries the entry's head comment,
//! trailing comments the last key's (or item's) foot comment.

use super::compose::{style, Composer, Kind};
use super::emitter::{EEvent, EKind, Emitter};
use super::resolve::{format_float, long_tag, resolved_tag, BINARY_TAG, STR_TAG};
use super::scanner::ScalarStyle;
use crate::tree::{text_len_hint, Branch, Item, Value};
use std::borrow::Cow;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NKind {
    Mapping,
    Sequence,
    Scalar,
}

/// The subset of go-yaml's `Node` that sops fills in for emission.
#[derive(Clone, Debug)]
struct ENode<'a> {
    kind: NKind,
    /// Short tag (`!!str`, `!!merge`, ...), as the re-parse in `Node.Encode` set it
    /// (borrowed for the resolver's own tags: one per scalar of a large file).
    tag: Cow<'static, str>,
    /// True when the tag was explicit in the re-parsed text (`!!binary`).
    tagged: bool,
    style: ScalarStyle,
    /// A scalar's text: borrowed from the tree when written unchanged, owned when re-encoded.
    value: Cow<'a, str>,
    head_comment: String,
    foot_comment: String,
    content: Vec<ENode<'a>>,
    /// go-yaml's zero node (a failed `Node.Encode`): written as `null`.
    null: bool,
}

impl<'a> ENode<'a> {
    fn collection(kind: NKind) -> ENode<'a> {
        ENode {
            kind,
            tag: Cow::Borrowed(""),
            tagged: false,
            style: ScalarStyle::Plain,
            value: Cow::Borrowed(""),
            head_comment: String::new(),
            foot_comment: String::new(),
            content: Vec::new(),
            null: false,
        }
    }
}

/// go-yaml's `isBase60Float`: `^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$`.
pub(crate) fn is_base60_float(s: &str) -> bool {
    let b = s.as_bytes();
    if b.is_empty() {
        return false;
    }
    let c = b[0];
    if !(c == b'+' || c == b'-' || c.is_ascii_digit()) || !s.contains(':') {
        return false;
    }
    let mut i = 0;
    if b[i] == b'+' || b[i] == b'-' {
        i += 1;
    }
    if i >= b.len() || !b[i].is_ascii_digit() {
        return false;
    }
    i += 1;
    while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
        i += 1;
    }
    let mut groups = 0;
    while i < b.len() && b[i] == b':' {
        i += 1;
        // One group is `[0-5]?[0-9]` and must be followed by ':', '.' or the end, so
        // the run of digits is one digit, or two with the first at most 5.
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let n = i - start;
        if !(n == 1 || (n == 2 && b[start] <= b'5')) {
            return false;
        }
        groups += 1;
    }
    if groups == 0 {
        return false;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
            i += 1;
        }
    }
    i == b.len()
}

/// go-yaml's `isOldBool`: YAML 1.1 booleans that must be quoted.
pub(crate) fn is_old_bool(s: &str) -> bool {
    matches!(
        s,
        "y" | "Y"
            | "yes"
            | "Yes"
            | "YES"
            | "on"
            | "On"
            | "ON"
            | "n"
            | "N"
            | "no"
            | "No"
            | "NO"
            | "off"
            | "Off"
            | "OFF"
    )
}

/// The style go-yaml's `encoder.stringv` asks for: literal for multi-line text, plain when
/// the text reads back as the same string, double-quoted otherwise.
pub(crate) fn requested_string_style(s: &str) -> ScalarStyle {
    let can_use_plain = resolved_tag(s) == STR_TAG && !(is_base60_float(s) || is_old_bool(s));
    if s.contains('\n') {
        ScalarStyle::Literal
    } else if can_use_plain {
        ScalarStyle::Plain
    } else {
        ScalarStyle::DoubleQuoted
    }
}

/// go-yaml's `encodeBase64`: 70-column lines, each ended by a newline when there are
/// several.
fn encode_base64(data: &[u8]) -> String {
    const ALPHA: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut enc = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = ((b[0] as u32) << 16) | ((b[1] as u32) << 8) | b[2] as u32;
        for k in 0..4 {
            if k <= chunk.len() {
                enc.push(ALPHA[((n >> (18 - 6 * k)) & 63) as usize] as char);
            } else {
                enc.push('=');
            }
        }
    }
    let lines = enc.len() / 70 + 1;
    if lines <= 1 {
        return enc;
    }
    let mut out = String::new();
    let bytes = enc.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let j = (i + 70).min(bytes.len());
        out.push_str(&enc[i..j]);
        out.push('\n');
        i = j;
    }
    out
}

/// A scalar node as `Node.Encode(v)` leaves it. go-yaml implements `Node.Encode` by
/// emitting the value as a one-scalar document and parsing that text back, so this does
/// exactly that with our emitter and parser: the re-parsed style and tag are what the
/// final emission sees. When the text does not parse back (a literal block whose first
/// line starts with a tab, for instance) go-yaml leaves the node empty and sops writes
/// `null`; `None` here stands for that.
fn node_encode(
    text: &str,
    requested: ScalarStyle,
    explicit_tag: Option<&str>,
) -> Option<ENode<'static>> {
    let mut em = Emitter::new(4);
    let mut ev = EEvent::new(EKind::Scalar);
    ev.value = Cow::Borrowed(text);
    ev.style = requested;
    match explicit_tag {
        Some(t) => {
            ev.tag = long_tag(t);
            ev.implicit = false;
            ev.quoted_implicit = false;
        }
        None => {
            ev.implicit = true;
            ev.quoted_implicit = true;
        }
    }
    let events = [
        EEvent::new(EKind::StreamStart),
        EEvent::new(EKind::DocumentStart),
        ev,
        EEvent::new(EKind::DocumentEnd),
    ];
    for e in events {
        em.emit(e).ok()?;
    }
    em.clear_open_ended();
    em.emit(EEvent::new(EKind::StreamEnd)).ok()?;
    let mut composer = Composer::new(std::mem::take(&mut em.out));
    let doc = composer.next_document().ok()??;
    let n = *composer.nodes[doc].content.first()?;
    let node = &composer.nodes[n];
    if node.kind != Kind::Scalar {
        return None;
    }
    let st = if node.style & style::DOUBLE_QUOTED != 0 {
        ScalarStyle::DoubleQuoted
    } else if node.style & style::SINGLE_QUOTED != 0 {
        ScalarStyle::SingleQuoted
    } else if node.style & style::LITERAL != 0 {
        ScalarStyle::Literal
    } else if node.style & style::FOLDED != 0 {
        ScalarStyle::Folded
    } else {
        ScalarStyle::Plain
    };
    Some(ENode {
        kind: NKind::Scalar,
        tag: Cow::Owned(node.tag.clone()),
        tagged: node.style & style::TAGGED != 0,
        style: st,
        value: Cow::Owned(node.value.clone()),
        head_comment: String::new(),
        foot_comment: String::new(),
        content: Vec::new(),
        null: false,
    })
}

/// The bytes [`simple_plain_text`] allows: ASCII alphanumerics and ` _./+=,:[]-`. Every
/// key and value of a file goes through this check: as comparisons folded without an
/// early exit, it compiles to vector code (a table lookup per byte does not).
const fn plain_safe(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b' ' | b'_' | b'.' | b'/' | b'+' | b'=' | b',' | b':' | b'[' | b']' | b'-'
        )
}

/// Text whose emit-and-reparse in `Node.Encode` is known without running it: a plain
/// scalar that comes back unchanged and plain, tagged by the resolver. This covers the bulk
/// of a sops file (`ENC[...]` values, simple words and numbers) and spares a full emit and
/// parse per value. `fast_path_agrees_with_node_encode` checks it against the slow path.
fn simple_plain_text(s: &str) -> bool {
    let b = s.as_bytes();
    let Some(&first) = b.first() else {
        return false;
    };
    let second = b.get(1).copied();
    let first_ok = first.is_ascii_alphanumeric()
        || first == b'_'
        || (first == b'-' && second.is_some_and(|c| c.is_ascii_digit()))
        || (first == b'.' && second.is_some_and(|c| c.is_ascii_alphanumeric()));
    first_ok
        && !b
            .iter()
            .fold(false, |unsafe_seen, &c| unsafe_seen | !plain_safe(c))
        && !s.ends_with([' ', ':'])
        && !s.contains(": ")
        && !is_base60_float(s)
        && !is_old_bool(s)
}

fn plain_node(text: Cow<'_, str>) -> ENode<'_> {
    let mut n = ENode::collection(NKind::Scalar);
    n.tag = Cow::Borrowed(resolved_tag(&text));
    n.value = text;
    n
}

/// The scalar node sops builds for a tree value (`valueNode.Encode(v)`).
fn scalar_node(v: &Value) -> ENode<'_> {
    let (text, requested, explicit_tag) = match v {
        Value::Null => (Cow::Borrowed("null"), ScalarStyle::Plain, None),
        Value::Bool(b) => (Cow::Owned(b.to_string()), ScalarStyle::Plain, None),
        Value::Int(i) => (Cow::Owned(i.to_string()), ScalarStyle::Plain, None),
        Value::Float(f) => (Cow::Owned(format_float(*f)), ScalarStyle::Plain, None),
        Value::Time(t) => (Cow::Borrowed(t.as_str()), ScalarStyle::Plain, None),
        Value::Str(s) => return str_node(s),
        Value::Bytes(b) => {
            // go-yaml's stringv for non-UTF-8 text: `!!binary` with base64.
            let s = encode_base64(b);
            let st = if s.contains('\n') {
                ScalarStyle::Literal
            } else {
                ScalarStyle::Plain
            };
            (Cow::Owned(s), st, Some(BINARY_TAG))
        }
        // Not reachable from sops trees; treated as text.
        Value::Comment(c) => (Cow::Borrowed(c.as_str()), requested_string_style(c), None),
        Value::Map(_) | Value::List(_) => (Cow::Borrowed(""), ScalarStyle::Plain, None),
    };
    if explicit_tag.is_none() && requested == ScalarStyle::Plain && simple_plain_text(&text) {
        return plain_node(text);
    }
    encoded_node(&text, requested, explicit_tag)
}

/// The scalar node of a string (a value or a key), borrowing it when it is written as it is.
fn str_node(s: &str) -> ENode<'_> {
    let requested = requested_string_style(s);
    if requested == ScalarStyle::Plain && simple_plain_text(s) {
        // A string only asks for plain style when it resolves as a string: skip resolving
        // it a second time.
        let mut n = ENode::collection(NKind::Scalar);
        n.tag = Cow::Borrowed(STR_TAG);
        n.value = Cow::Borrowed(s);
        return n;
    }
    encoded_node(s, requested, None)
}

/// [`node_encode`], with go-yaml's zero node where the text does not parse back.
fn encoded_node(text: &str, requested: ScalarStyle, explicit_tag: Option<&str>) -> ENode<'static> {
    node_encode(text, requested, explicit_tag).unwrap_or_else(|| {
        let mut n = ENode::collection(NKind::Scalar);
        n.null = true;
        n
    })
}

fn join_comments(comments: &[String]) -> String {
    let mut s = String::from("#");
    s.push_str(&comments.join("\n#"));
    s
}

/// sops's `addCommentsHead`: prepends to the node's head comment.
fn add_comments_head(node: &mut ENode<'_>, comments: &mut Vec<String>) {
    if !comments.is_empty() {
        let c = join_comments(comments);
        if node.head_comment.is_empty() {
            node.head_comment = c;
        } else {
            node.head_comment = format!("{c}\n{}", node.head_comment);
        }
    }
    comments.clear();
}

/// sops's `addCommentsFoot`: appends to the node's foot comment.
fn add_comments_foot(node: &mut ENode<'_>, comments: &mut Vec<String>) {
    if !comments.is_empty() {
        let c = join_comments(comments);
        if node.foot_comment.is_empty() {
            node.foot_comment = c;
        } else {
            node.foot_comment = format!("{}\n{c}", node.foot_comment);
        }
    }
    comments.clear();
}

/// `depth` counts from 0 for the values of a document's top-level keys, so a collection
/// here is at nesting level `depth + 2`.
fn tree_value_to_node(v: &Value, depth: usize) -> Result<ENode<'_>, String> {
    if v.is_collection() && depth + 2 > crate::tree::MAX_NESTING {
        return Err(format!(
            "the document nests collections deeper than {} levels, which sops and keytap cannot read back",
            crate::tree::MAX_NESTING
        ));
    }
    Ok(match v {
        Value::Map(b) => {
            let mut m = ENode::collection(NKind::Mapping);
            append_tree_branch(b, &mut m, depth + 1)?;
            m
        }
        Value::List(l) => {
            let mut s = ENode::collection(NKind::Sequence);
            append_sequence(l, &mut s, depth + 1)?;
            s
        }
        Value::Comment(c) => {
            // sops would encode its Comment struct as a mapping `{value: ...}`.
            let mut m = ENode::collection(NKind::Mapping);
            m.content.push(str_node("value"));
            m.content.push(str_node(c));
            m
        }
        other => scalar_node(other),
    })
}

fn append_sequence<'a>(list: &'a [Value], seq: &mut ENode<'a>, depth: usize) -> Result<(), String> {
    let mut comments: Vec<String> = Vec::new();
    let mut beginning = true;
    seq.content.reserve(list.len());
    for item in list {
        if let Value::Comment(c) = item {
            comments.push(c.clone());
        } else {
            if beginning {
                add_comments_head(seq, &mut comments);
                beginning = false;
            }
            let mut node = tree_value_to_node(item, depth)?;
            add_comments_head(&mut node, &mut comments);
            seq.content.push(node);
        }
    }
    if !comments.is_empty() {
        if beginning {
            add_comments_head(seq, &mut comments);
        } else if let Some(last) = seq.content.last_mut() {
            add_comments_foot(last, &mut comments);
        }
    }
    Ok(())
}

fn append_tree_branch<'a>(
    branch: impl IntoIterator<Item = &'a Item>,
    mapping: &mut ENode<'a>,
    depth: usize,
) -> Result<(), String> {
    let mut comments: Vec<String> = Vec::new();
    let mut beginning = true;
    let branch = branch.into_iter();
    // A key and a value node per item (comments take none).
    mapping.content.reserve(2 * branch.size_hint().0);
    for item in branch {
        match item {
            Item::Comment(c) => comments.push(c.clone()),
            Item::Entry(k, v) => {
                if beginning {
                    add_comments_head(mapping, &mut comments);
                    beginning = false;
                }
                let mut key = str_node(k);
                add_comments_head(&mut key, &mut comments);
                let value = tree_value_to_node(v, depth)?;
                mapping.content.push(key);
                mapping.content.push(value);
            }
        }
    }
    if !comments.is_empty() {
        if beginning {
            add_comments_head(mapping, &mut comments);
        } else {
            let n = mapping.content.len();
            add_comments_foot(&mut mapping.content[n - 2], &mut comments);
        }
    }
    Ok(())
}

/// go-yaml's `encoder.node`: events for a node; `tail` is the previous key's foot comment.
/// Consumes the node so its strings move into the events instead of being copied, and
/// feeds the emitter directly (it buffers the little look-ahead it needs).
fn node_events<'a>(node: ENode<'a>, tail: String, em: &mut Emitter<'a>) -> Result<(), String> {
    match node.kind {
        NKind::Sequence => {
            let mut ev = EEvent::new(EKind::SequenceStart);
            ev.head_comment = node.head_comment;
            em.emit(ev)?;
            for c in node.content {
                node_events(c, String::new(), em)?;
            }
            let mut end = EEvent::new(EKind::SequenceEnd);
            end.foot_comment = node.foot_comment;
            em.emit(end)?;
        }
        NKind::Mapping => {
            let mut ev = EEvent::new(EKind::MappingStart);
            ev.tail_comment = tail;
            ev.head_comment = node.head_comment;
            em.emit(ev)?;
            let mut tail = String::new();
            let mut content = node.content.into_iter();
            while let Some(mut key) = content.next() {
                let foot = std::mem::take(&mut key.foot_comment);
                let previous_foot = std::mem::replace(&mut tail, foot);
                node_events(key, previous_foot, em)?;
                if let Some(value) = content.next() {
                    node_events(value, String::new(), em)?;
                }
            }
            let mut end = EEvent::new(EKind::MappingEnd);
            end.tail_comment = tail;
            end.foot_comment = node.foot_comment;
            em.emit(end)?;
        }
        NKind::Scalar if node.null => {
            // encoder.node: a zero node is written by nilv(), which carries no comments.
            let mut ev = EEvent::new(EKind::Scalar);
            ev.value = "null".into();
            ev.tail_comment = String::new();
            let _ = tail;
            em.emit(ev)?;
        }
        NKind::Scalar => {
            let mut tag: &str = &node.tag;
            let mut force_quoting = false;
            if !tag.is_empty() && !node.tagged {
                let quoted_or_block = node.style != ScalarStyle::Plain;
                if tag == STR_TAG && quoted_or_block {
                    tag = "";
                } else {
                    let rtag = resolved_tag(&node.value);
                    if rtag == tag {
                        tag = "";
                    } else if tag == STR_TAG {
                        tag = "";
                        force_quoting = true;
                    }
                }
            }
            let style = if node.style != ScalarStyle::Plain {
                node.style
            } else if node.value.contains('\n') {
                ScalarStyle::Literal
            } else if force_quoting {
                ScalarStyle::DoubleQuoted
            } else {
                ScalarStyle::Plain
            };
            let mut ev = EEvent::new(EKind::Scalar);
            let implicit = tag.is_empty();
            ev.tag = if implicit {
                String::new()
            } else {
                long_tag(tag)
            };
            ev.implicit = implicit;
            ev.quoted_implicit = implicit;
            ev.value = node.value;
            ev.style = style;
            ev.head_comment = node.head_comment;
            ev.foot_comment = node.foot_comment;
            ev.tail_comment = tail;
            em.emit(ev)?;
        }
    }
    Ok(())
}

/// Emits documents as go-yaml's `Encoder` (with `SetIndent(indent)`) writes the nodes sops
/// builds: one root mapping per document, `---` between documents.
pub(crate) fn emit_documents(
    docs: &[&Branch],
    extra: Option<&Item>,
    indent: usize,
) -> Result<String, String> {
    let docs: Vec<&[Item]> = docs.iter().map(|doc| doc.as_slice()).collect();
    let size = |items: &[Item]| {
        text_len_hint(items) + extra.map_or(0, |item| text_len_hint(std::slice::from_ref(item)))
    };
    match docs[..] {
        [doc] => match crate::split::split_point(doc) {
            Some(cut) if !crate::split::has_comments(doc) => emit_split(doc, cut, extra, indent),
            _ => emit_stream(&docs, extra, indent, size(doc)),
        },
        _ => emit_stream(&docs, extra, indent, docs.iter().map(|doc| size(doc)).sum()),
    }
}

/// A document without comments emitted in two parts at once, the items before `cut` here
/// and the rest on another thread, each as a stream of its own: go-yaml writes a block
/// mapping's top-level entries one after another from column 0, each entry's text
/// depending only on itself, so the two texts joined are the one text (tested on random
/// documents). Not so with comments: go-yaml moves a comment that ends a nested
/// collection past the next key, and a blank line with it.
fn emit_split(
    doc: &[Item],
    cut: crate::split::Cut,
    extra: Option<&Item>,
    indent: usize,
) -> Result<String, String> {
    let (first, rest) = doc.split_at(cut.at);
    let extra_size = extra.map_or(0, |item| text_len_hint(std::slice::from_ref(item)));
    let rest_size = cut.rest_len + extra_size;
    let (first, rest) = crate::stack::join_deep(
        // Room for the rest too, which is appended to it.
        || emit_stream(&[first], None, indent, cut.first_len + rest_size),
        || emit_stream(&[rest], extra, indent, rest_size),
    );
    crate::split::join_texts(first, rest, 0)
}

/// go-yaml's encoder over a stream of documents, `extra` appended to each, into a buffer
/// of `reserve` bytes to begin with.
fn emit_stream(
    docs: &[&[Item]],
    extra: Option<&Item>,
    indent: usize,
    reserve: usize,
) -> Result<String, String> {
    let mut em = Emitter::new(indent as i64);
    if docs.is_empty() {
        // go-yaml's Close() fails before anything is written; sops ignores that error.
        return Ok(String::new());
    }
    em.out.reserve(reserve);
    em.emit(EEvent::new(EKind::StreamStart))?;
    for doc in docs {
        let mut mapping = ENode::collection(NKind::Mapping);
        match extra {
            // The metadata is appended as if it were the document's last item, without
            // copying the document.
            Some(item) => append_tree_branch(doc.iter().chain([item]), &mut mapping, 0)?,
            None => append_tree_branch(doc.iter(), &mut mapping, 0)?,
        }
        emit_root(&mut em, mapping)?;
    }
    em.clear_open_ended();
    em.emit(EEvent::new(EKind::StreamEnd))?;
    Ok(em.out)
}

fn emit_root<'a>(em: &mut Emitter<'a>, node: ENode<'a>) -> Result<(), String> {
    em.emit(EEvent::new(EKind::DocumentStart))?;
    node_events(node, String::new(), em)?;
    em.emit(EEvent::new(EKind::DocumentEnd))
}

/// sops's `EmitValue`: `yaml.Marshal` of the node for one value (default indent 4).
pub(crate) fn emit_value(v: &Value) -> Result<String, String> {
    let mut em = Emitter::new(4);
    em.emit(EEvent::new(EKind::StreamStart))?;
    let node = tree_value_to_node(v, 0)?;
    emit_root(&mut em, node)?;
    em.clear_open_ended();
    em.emit(EEvent::new(EKind::StreamEnd))?;
    Ok(em.out)
}

#[cfg(test)]
mod fast_path_tests {
    use super::*;

    #[test]
    fn a_document_emitted_in_two_parts_is_the_document_emitted_whole() {
        let sops = Item::Entry(
            "sops".into(),
            Value::Map(vec![Item::Entry(
                "version".into(),
                Value::Str("3.11.0".into()),
            )]),
        );
        let mut seed = 0x2545_F491_4F6C_DD1D;
        let mut cuts = 0;
        for round in 0..400 {
            let doc = crate::test_docs::document(&mut seed, 1 + round % 7, false);
            assert!(!crate::split::has_comments(&doc));
            for extra in [None, Some(&sops)] {
                let Ok(whole) = emit_stream(&[&doc], extra, 4, 0) else {
                    continue;
                };
                for cut in crate::split::possible_cuts(&doc) {
                    let parts =
                        emit_split(&doc, crate::split::Cut::before(&doc, cut), extra, 4).unwrap();
                    assert_eq!(parts, whole, "cut at {cut} of {doc:#?}");
                    cuts += 1;
                }
            }
        }
        assert!(cuts > 1000, "only {cuts} cuts tried");
    }

    #[test]
    fn fast_path_agrees_with_node_encode() {
        let alphabet: Vec<char> = "ab1Z0 _./+=,:[]-e".chars().collect();
        let mut samples: Vec<String> = [
            "ENC[AES256_GCM,data:oYyi,iv:MyIDYbT718JRr11QtBkcj3Dwm4k1aCGZBVeZf0EyV8o=,tag:t5z2Z023Up0kxwCgw1gNxg==,type:str]",
            "hello world", "-1", "-12.5", ".inf", ".nan", "1e+21", "0x1F", "0o17", "true", "false", "null",
            "a:b", "a: b", "x]", "[x", "a,b", "1_000", "2001-12-14", "1:30", "_", "a b:", "0.1", "-", "-a",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        // A deterministic spread of strings over the fast path's alphabet.
        let mut seed: u64 = 0x9E3779B97F4A7C15;
        for _ in 0..20_000 {
            crate::test_rng::next(&mut seed);
            let len = 1 + (seed % 7) as usize;
            let s: String = (0..len)
                .map(|i| alphabet[((seed >> (i * 5)) % alphabet.len() as u64) as usize])
                .collect();
            samples.push(s);
        }
        let mut checked = 0;
        for s in samples {
            if requested_string_style(&s) != ScalarStyle::Plain || !simple_plain_text(&s) {
                continue;
            }
            checked += 1;
            let fast = plain_node(Cow::Borrowed(&s));
            let slow = node_encode(&s, ScalarStyle::Plain, None).expect("plain text re-parses");
            assert_eq!(
                (&*fast.tag, fast.style, &*fast.value, fast.tagged),
                (&*slow.tag, slow.style, &*slow.value, slow.tagged),
                "{s:?}"
            );
        }
        assert!(
            checked > 5_000,
            "too few strings took the fast path: {checked}"
        );
    }
}
