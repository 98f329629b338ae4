//! `.sops.yaml` as a node tree from saphyr's events (first document only), the input of
//! the typed decoder in `decode.rs`.

use std::collections::BTreeMap;
use std::rc::Rc;

use saphyr_parser::{Event, Parser, ScalarStyle, Tag};

#[derive(Debug, Clone)]
pub(super) enum NodeKind {
    Scalar {
        value: String,
        style: ScalarStyle,
        tag: Option<String>,
    },
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

/// A node of the first document. Aliases share their anchor's node (`Rc`) instead of
/// copying it, so an alias bomb costs no memory here; the decoder bounds the work of
/// walking it (see the decoder's `visit`).
#[derive(Debug, Clone)]
pub(super) struct Node {
    pub(super) kind: Rc<NodeKind>,
    pub(super) line: usize,
    /// An alias (this node is its anchor's, shared).
    pub(super) alias: bool,
    /// A value of an aliased mapping, decoded after the mapping (see the decoder's
    /// `mapping`): it counts as inside the alias.
    pub(super) in_alias: bool,
}

impl Node {
    fn new(kind: NodeKind, line: usize) -> Node {
        Node {
            kind: Rc::new(kind),
            line,
            alias: false,
            in_alias: false,
        }
    }
}

fn short_tag(tag: &Tag) -> String {
    if tag.handle == "tag:yaml.org,2002:" {
        format!("!!{}", tag.suffix)
    } else if tag.handle == "!" || tag.handle.is_empty() {
        format!("!{}", tag.suffix.trim_start_matches('!'))
    } else {
        format!("{}{}", tag.handle, tag.suffix)
    }
}

type ParseError = (usize, String);

pub(super) fn read_first_document(text: &str) -> Result<Option<Node>, ParseError> {
    let mut parser = Parser::new_from_str(text);
    let mut anchors: BTreeMap<usize, Node> = BTreeMap::new();
    loop {
        let event = match parser.next_event() {
            None => return Ok(None),
            Some(Ok((e, _))) => e,
            Some(Err(e)) => return Err((e.marker().line(), e.info().to_string())),
        };
        match event {
            Event::StreamEnd => return Ok(None),
            // Only the first document counts; later ones are never parsed (as in sops).
            Event::DocumentStart(_) => return read_node(&mut parser, &mut anchors).map(Some),
            _ => {}
        }
    }
}

fn next<'a>(
    parser: &mut Parser<'a, saphyr_parser::StrInput<'a>>,
) -> Result<(Event<'a>, usize), ParseError> {
    match parser.next_event() {
        None => Err((0, "unexpected end of input".to_string())),
        Some(Ok((e, span))) => Ok((e, span.start.line())),
        Some(Err(e)) => Err((e.marker().line(), e.info().to_string())),
    }
}

fn read_node<'a>(
    parser: &mut Parser<'a, saphyr_parser::StrInput<'a>>,
    anchors: &mut BTreeMap<usize, Node>,
) -> Result<Node, ParseError> {
    let (event, line) = next(parser)?;
    read_node_from(event, line, parser, anchors)
}

fn read_node_from<'a>(
    event: Event<'a>,
    line: usize,
    parser: &mut Parser<'a, saphyr_parser::StrInput<'a>>,
    anchors: &mut BTreeMap<usize, Node>,
) -> Result<Node, ParseError> {
    let (node, anchor) = match event {
        Event::Scalar(value, style, anchor, tag) => (
            Node::new(
                NodeKind::Scalar {
                    value: value.into_owned(),
                    style,
                    tag: tag.map(|t| short_tag(&t)),
                },
                line,
            ),
            anchor,
        ),
        Event::Alias(id) => {
            let mut node = anchors
                .get(&id)
                .cloned()
                .ok_or((line, "unknown anchor".to_string()))?;
            node.alias = true;
            return Ok(node);
        }
        Event::SequenceStart(anchor, _tag) => {
            let mut items = Vec::new();
            loop {
                let (e, l) = next(parser)?;
                if matches!(e, Event::SequenceEnd) {
                    break;
                }
                items.push(read_node_from(e, l, parser, anchors)?);
            }
            (Node::new(NodeKind::Seq(items), line), anchor)
        }
        Event::MappingStart(anchor, _tag) => {
            let mut pairs = Vec::new();
            loop {
                let (e, l) = next(parser)?;
                if matches!(e, Event::MappingEnd) {
                    break;
                }
                let key = read_node_from(e, l, parser, anchors)?;
                let value = read_node(parser, anchors)?;
                pairs.push((key, value));
            }
            (Node::new(NodeKind::Map(pairs), line), anchor)
        }
        other => return Err((line, format!("unexpected YAML event {other:?}"))),
    };
    if anchor != 0 {
        anchors.insert(anchor, node.clone());
    }
    Ok(node)
}
