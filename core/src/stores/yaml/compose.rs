//! Events to a node graph, as go-yaml v3's `decode.go` parser builds `yaml.Node`s.
//!
//! Besides building nodes this moves comments the way go-yaml does (a key's foot comment
//! to the previous key when dedented, a value's foot comment to its key, a block mapping's
//! own foot comment to its last key). Anchors live for the whole stream, as in go-yaml, so
//! a later document may refer to an earlier one's anchor. Nodes live in an arena because
//! aliases may point back to an enclosing node.

use std::collections::HashMap;

use super::parser::{Event, EventType, Parser};
use super::resolve::{resolved_tag, short_tag, MERGE_TAG, STR_TAG};
use super::scanner::ScalarStyle;

/// Guard on node nesting. go-yaml's own limits (10,000 indentation levels and 10,000 flow
/// levels, in the scanner) are what decide which files are read; indentless sequences can
/// nest two collections per indentation level, so the guard sits above twice that.
pub(crate) const MAX_DEPTH: usize = 2 * crate::tree::MAX_NESTING + 8;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Document,
    Sequence,
    Mapping,
    Scalar,
    Alias,
}

/// go-yaml's node style bits that matter here.
pub(crate) mod style {
    pub const TAGGED: u8 = 1;
    pub const DOUBLE_QUOTED: u8 = 2;
    pub const SINGLE_QUOTED: u8 = 4;
    pub const LITERAL: u8 = 8;
    pub const FOLDED: u8 = 16;
    pub const FLOW: u8 = 32;
}

#[derive(Clone, Debug)]
pub(crate) struct Node {
    pub kind: Kind,
    pub style: u8,
    pub tag: String,
    pub value: String,
    pub alias: Option<usize>,
    pub content: Vec<usize>,
    pub head_comment: String,
    pub line_comment: String,
    pub foot_comment: String,
    pub line: i64,
}

impl Node {
    /// go-yaml's `indicatedString`: explicitly `!!str`, or untagged and quoted/block.
    pub fn indicated_string(&self) -> bool {
        self.kind == Kind::Scalar
            && (short_tag(&self.tag) == STR_TAG
                || ((self.tag.is_empty() || self.tag == "!")
                    && self.style
                        & (style::SINGLE_QUOTED
                            | style::DOUBLE_QUOTED
                            | style::LITERAL
                            | style::FOLDED)
                        != 0))
    }
}

/// Follows alias links to the node they name (a bounded walk: anchors cannot point ahead,
/// but a broken graph must not loop).
fn dealias(nodes: &[Node], mut n: usize) -> usize {
    for _ in 0..nodes.len().min(1024) {
        match (nodes[n].kind, nodes[n].alias) {
            (Kind::Alias, Some(t)) => n = t,
            _ => break,
        }
    }
    n
}

/// Whether document `doc`'s top-level mapping has the key `key` (a scalar, or an alias to
/// one), found without expanding any value.
pub(crate) fn has_top_level_key(nodes: &[Node], doc: usize, key: &str) -> bool {
    let Some(&top) = nodes[doc].content.first() else {
        return false;
    };
    let top = dealias(nodes, top);
    if nodes[top].kind != Kind::Mapping {
        return false;
    }
    nodes[top].content.iter().step_by(2).any(|&k| {
        let k = dealias(nodes, k);
        nodes[k].kind == Kind::Scalar && nodes[k].value == key
    })
}

/// The node graph of a stream, built one document at a time.
pub(crate) struct Composer {
    parser: Parser,
    event: Option<Event>,
    started: bool,
    pub nodes: Vec<Node>,
    anchors: HashMap<String, usize>,
    depth: usize,
}

type CResult<T> = Result<T, String>;

/// Overwrites the text of `nodes` (scalars, tags and comments).
pub(crate) fn wipe_nodes(nodes: &mut [Node]) {
    for node in nodes {
        for text in [
            &mut node.value,
            &mut node.tag,
            &mut node.head_comment,
            &mut node.line_comment,
            &mut node.foot_comment,
        ] {
            crate::tree::wipe_text(text);
        }
    }
}

impl Composer {
    /// Overwrites the input text (and what the parser holds of it; not the nodes).
    pub(crate) fn wipe_input(&mut self) {
        self.parser.wipe();
    }

    pub(crate) fn new(text: String) -> Composer {
        // About two nodes (a key and a value) per line; a closer guess than one per N
        // characters, which over-reserves for long encrypted values.
        let expected_nodes = 2 * memchr::memchr_iter(b'\n', text.as_bytes()).count() + 16;
        Composer {
            parser: Parser::new(text),
            event: None,
            started: false,
            nodes: Vec::with_capacity(expected_nodes),
            anchors: HashMap::new(),
            depth: 0,
        }
    }

    fn peek(&mut self) -> CResult<EventType> {
        if self.event.is_none() {
            match self.parser.next_event().map_err(|e| e.message())? {
                Some(ev) => self.event = Some(ev),
                None => {
                    return Err(
                        "yaml: attempted to go past the end of stream; corrupted value?".into(),
                    )
                }
            }
        }
        Ok(self
            .event
            .as_ref()
            .map(|e| e.typ)
            .unwrap_or(EventType::StreamEnd))
    }

    /// Takes the current event, which must be of type `typ`.
    fn expect(&mut self, typ: EventType) -> CResult<Event> {
        self.peek()?;
        let ev = self
            .event
            .take()
            .ok_or_else(|| "yaml: unexpected end of events".to_string())?;
        if ev.typ == EventType::StreamEnd && typ != EventType::StreamEnd {
            return Err("yaml: attempted to go past the end of stream; corrupted value?".into());
        }
        if ev.typ != typ {
            return Err(format!("yaml: expected {typ:?} event but got {:?}", ev.typ));
        }
        Ok(ev)
    }

    /// The next document node, or None at the end of the stream.
    pub(crate) fn next_document(&mut self) -> CResult<Option<usize>> {
        if !self.started {
            self.expect(EventType::StreamStart)?;
            self.started = true;
        }
        match self.peek()? {
            EventType::StreamEnd => Ok(None),
            EventType::DocumentStart => self.document().map(Some),
            other => Err(format!(
                "yaml: unexpected {other:?} event at document level"
            )),
        }
    }

    fn new_node(&mut self, kind: Kind, default_tag: &str, tag: &str, value: String) -> usize {
        let ev = self.event.as_ref();
        let mut st = 0;
        let tag = if !tag.is_empty() && tag != "!" {
            st = style::TAGGED;
            short_tag(tag)
        } else if !default_tag.is_empty() {
            default_tag.to_string()
        } else if kind == Kind::Scalar {
            resolved_tag(&value).to_string()
        } else {
            String::new()
        };
        let (line, head, linec, foot) = match ev {
            Some(ev) => (
                ev.start_mark.line + 1,
                ev.head_comment.clone(),
                ev.line_comment.clone(),
                ev.foot_comment.clone(),
            ),
            None => (0, String::new(), String::new(), String::new()),
        };
        self.nodes.push(Node {
            kind,
            style: st,
            tag,
            value,
            alias: None,
            content: Vec::new(),
            head_comment: head,
            line_comment: linec,
            foot_comment: foot,
            line,
        });
        self.nodes.len() - 1
    }

    fn anchor(&mut self, n: usize) {
        if let Some(ev) = &self.event {
            if !ev.anchor.is_empty() {
                self.anchors.insert(ev.anchor.clone(), n);
            }
        }
    }

    fn parse(&mut self) -> CResult<usize> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(format!("yaml: exceeded max depth of {MAX_DEPTH}"));
        }
        let r = match self.peek()? {
            EventType::Scalar => self.scalar(),
            EventType::Alias => self.alias(),
            EventType::MappingStart => self.mapping(),
            EventType::SequenceStart => self.sequence(),
            EventType::DocumentStart => self.document(),
            other => Err(format!(
                "yaml: attempted to parse unexpected event {other:?}"
            )),
        };
        self.depth -= 1;
        r
    }

    fn document(&mut self) -> CResult<usize> {
        let n = self.new_node(Kind::Document, "", "", String::new());
        self.expect(EventType::DocumentStart)?;
        let child = self.parse()?;
        self.nodes[n].content.push(child);
        if self.peek()? == EventType::DocumentEnd {
            let foot = self
                .event
                .as_ref()
                .map(|e| e.foot_comment.clone())
                .unwrap_or_default();
            self.nodes[n].foot_comment = foot;
        }
        self.expect(EventType::DocumentEnd)?;
        Ok(n)
    }

    fn alias(&mut self) -> CResult<usize> {
        let name = self
            .event
            .as_ref()
            .map(|e| e.anchor.clone())
            .unwrap_or_default();
        let n = self.new_node(Kind::Alias, "", "", name.clone());
        match self.anchors.get(&name) {
            Some(&target) => self.nodes[n].alias = Some(target),
            None => return Err(format!("yaml: unknown anchor '{name}' referenced")),
        }
        self.expect(EventType::Alias)?;
        Ok(n)
    }

    fn scalar(&mut self) -> CResult<usize> {
        let (ev_style, value, tag) = {
            let ev = self.event.as_mut().ok_or("yaml: missing event")?;
            (ev.style, std::mem::take(&mut ev.value), ev.tag.clone())
        };
        let node_style = match ev_style {
            ScalarStyle::DoubleQuoted => style::DOUBLE_QUOTED,
            ScalarStyle::SingleQuoted => style::SINGLE_QUOTED,
            ScalarStyle::Literal => style::LITERAL,
            ScalarStyle::Folded => style::FOLDED,
            ScalarStyle::Plain => 0,
        };
        let default_tag = if node_style == 0 {
            if value == "<<" {
                MERGE_TAG
            } else {
                ""
            }
        } else {
            STR_TAG
        };
        let n = self.new_node(Kind::Scalar, default_tag, &tag, value);
        self.nodes[n].style |= node_style;
        self.anchor(n);
        self.expect(EventType::Scalar)?;
        Ok(n)
    }

    fn sequence(&mut self) -> CResult<usize> {
        let (tag, flow) = {
            let ev = self.event.as_ref().ok_or("yaml: missing event")?;
            (ev.tag.clone(), ev.flow)
        };
        let n = self.new_node(Kind::Sequence, "!!seq", &tag, String::new());
        if flow {
            self.nodes[n].style |= style::FLOW;
        }
        self.anchor(n);
        self.expect(EventType::SequenceStart)?;
        while self.peek()? != EventType::SequenceEnd {
            let child = self.parse()?;
            self.nodes[n].content.push(child);
        }
        let (line, foot) = {
            let ev = self.event.as_ref().ok_or("yaml: missing event")?;
            (ev.line_comment.clone(), ev.foot_comment.clone())
        };
        self.nodes[n].line_comment = line;
        self.nodes[n].foot_comment = foot;
        self.expect(EventType::SequenceEnd)?;
        Ok(n)
    }

    fn mapping(&mut self) -> CResult<usize> {
        let (tag, flow) = {
            let ev = self.event.as_ref().ok_or("yaml: missing event")?;
            (ev.tag.clone(), ev.flow)
        };
        let n = self.new_node(Kind::Mapping, "!!map", &tag, String::new());
        let block = !flow;
        if flow {
            self.nodes[n].style |= style::FLOW;
        }
        self.anchor(n);
        self.expect(EventType::MappingStart)?;
        while self.peek()? != EventType::MappingEnd {
            let k = self.parse()?;
            self.nodes[n].content.push(k);
            if block && !self.nodes[k].foot_comment.is_empty() {
                // Must be a foot comment for the prior value when being dedented.
                let len = self.nodes[n].content.len();
                if len > 2 {
                    let prev = self.nodes[n].content[len - 3];
                    self.nodes[prev].foot_comment = std::mem::take(&mut self.nodes[k].foot_comment);
                }
            }
            let v = self.parse()?;
            self.nodes[n].content.push(v);
            if self.nodes[k].foot_comment.is_empty() && !self.nodes[v].foot_comment.is_empty() {
                self.nodes[k].foot_comment = std::mem::take(&mut self.nodes[v].foot_comment);
            }
        }
        let (line, foot) = {
            let ev = self.event.as_ref().ok_or("yaml: missing event")?;
            (ev.line_comment.clone(), ev.foot_comment.clone())
        };
        self.nodes[n].line_comment = line;
        self.nodes[n].foot_comment = foot;
        let len = self.nodes[n].content.len();
        if self.nodes[n].style & style::FLOW == 0
            && !self.nodes[n].foot_comment.is_empty()
            && len > 1
        {
            let last_key = self.nodes[n].content[len - 2];
            self.nodes[last_key].foot_comment = std::mem::take(&mut self.nodes[n].foot_comment);
        }
        self.expect(EventType::MappingEnd)?;
        Ok(n)
    }
}
