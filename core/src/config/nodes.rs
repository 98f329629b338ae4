//! `.sops.yaml` as a node tree, the input of the typed decoder in `decode.rs`. The first
//! document is composed by keytap's port of go-yaml (the YAML store's), so syntax errors
//! carry sops's words and line numbers; later documents are never read (as in sops).

use std::collections::HashMap;
use std::rc::Rc;

use crate::stores::yaml::{first_document, node_style, short_tag, GraphNode, NodeKind as Kind};

/// How a scalar was written (quoted scalars are always strings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ScalarStyle {
    Plain,
    SingleQuoted,
    DoubleQuoted,
    Literal,
    Folded,
}

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

/// The root of the first document of `text` (None without one), or go-yaml's error.
pub(super) fn read_first_document(text: &str) -> Result<Option<Node>, String> {
    let Some((nodes, root)) = first_document(text)? else {
        return Ok(None);
    };
    let mut tree = Tree {
        nodes: &nodes,
        done: HashMap::new(),
        open: vec![false; nodes.len()],
    };
    tree.node(root).map(Some)
}

struct Tree<'a> {
    nodes: &'a [GraphNode],
    /// Nodes already built, shared by the aliases to them.
    done: HashMap<usize, Node>,
    /// The nodes being built: an alias to one of them is a cycle.
    open: Vec<bool>,
}

impl Tree<'_> {
    fn node(&mut self, n: usize) -> Result<Node, String> {
        let g = &self.nodes[n];
        let line = usize::try_from(g.line).unwrap_or(0);
        if g.kind == Kind::Alias {
            let Some(target) = g.alias else {
                return Err(format!("yaml: unknown anchor '{}' referenced", g.value));
            };
            if self.open[target] {
                return Err(format!("yaml: anchor '{}' value contains itself", g.value));
            }
            let mut node = match self.done.get(&target) {
                Some(node) => node.clone(),
                None => self.node(target)?,
            };
            node.alias = true;
            return Ok(node);
        }
        if let Some(node) = self.done.get(&n) {
            return Ok(node.clone());
        }
        self.open[n] = true;
        let kind = match g.kind {
            Kind::Sequence => {
                let items = g.content.clone();
                NodeKind::Seq(
                    items
                        .into_iter()
                        .map(|c| self.node(c))
                        .collect::<Result<_, _>>()?,
                )
            }
            Kind::Mapping => {
                let content = g.content.clone();
                let mut pairs = Vec::with_capacity(content.len() / 2);
                for kv in content.chunks(2) {
                    let key = self.node(kv[0])?;
                    let value = match kv.get(1) {
                        Some(&v) => self.node(v)?,
                        None => return Err("yaml: a mapping key without a value".into()),
                    };
                    pairs.push((key, value));
                }
                NodeKind::Map(pairs)
            }
            _ => NodeKind::Scalar {
                value: g.value.clone(),
                style: scalar_style(g.style),
                // The graph resolves every tag; only a written one counts here.
                tag: (g.style & node_style::TAGGED != 0).then(|| short_tag(&g.tag)),
            },
        };
        self.open[n] = false;
        let node = Node {
            kind: Rc::new(kind),
            line,
            alias: false,
            in_alias: false,
        };
        self.done.insert(n, node.clone());
        Ok(node)
    }
}

fn scalar_style(bits: u8) -> ScalarStyle {
    if bits & node_style::DOUBLE_QUOTED != 0 {
        ScalarStyle::DoubleQuoted
    } else if bits & node_style::SINGLE_QUOTED != 0 {
        ScalarStyle::SingleQuoted
    } else if bits & node_style::LITERAL != 0 {
        ScalarStyle::Literal
    } else if bits & node_style::FOLDED != 0 {
        ScalarStyle::Folded
    } else {
        ScalarStyle::Plain
    }
}
