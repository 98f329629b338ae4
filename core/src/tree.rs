//! The in-memory tree every store parses into and emits from.
//!
//! It mirrors sops's `TreeBranch`/`TreeItem` model: a document is an ordered list of
//! items, each either a `key: value` pair or a comment line, so comments and key order
//! survive a decrypt/encrypt round trip and are encrypted in place like values.

/// The deepest nesting of collections keytap writes, counting a document's top-level
/// mapping as level 1: what go-yaml (10,000 indentation or flow levels) and Go's
/// encoding/json (10,000 nested values) read back, so keytap never writes a file that it
/// or sops cannot open again. (sops itself writes YAML one level deeper than it reads.)
pub const MAX_NESTING: usize = 10_000;

/// One document (or one nested mapping): ordered items.
pub type Branch = Vec<Item>;

/// An entry of a [`Branch`].
#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    /// A `key: value` pair. Keys are always strings in sops files.
    Entry(String, Value),
    /// A comment line, without its leading `#` (sops keeps the leading space).
    Comment(String),
}

/// A value in the tree.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// YAML `null` / `~` / empty, JSON `null`. Never encrypted, never in the MAC.
    Null,
    /// A boolean (`type:bool`, plaintext `True`/`False`).
    Bool(bool),
    /// A signed 64-bit integer (`type:int`).
    Int(i64),
    /// A 64-bit float (`type:float`, plaintext in shortest non-exponent form).
    Float(f64),
    /// A string (`type:str`). Encrypted values are strings `ENC[...]` too.
    Str(String),
    /// A timestamp, kept as the RFC 3339 text Go's `time.Time.MarshalText` writes (`type:time`).
    Time(String),
    /// Raw bytes (`type:bytes`): only produced by decrypting such a value.
    Bytes(Vec<u8>),
    /// A comment inside a list (lists have no keys to hang an [`Item::Comment`] on).
    Comment(String),
    /// A nested mapping.
    Map(Branch),
    /// A sequence; may contain [`Value::Comment`] entries.
    List(Vec<Value>),
}

impl Value {
    /// True for maps and lists.
    pub fn is_collection(&self) -> bool {
        matches!(self, Value::Map(_) | Value::List(_))
    }
}

/// Finds the value of `key` in a branch.
pub fn get<'a>(branch: &'a Branch, key: &str) -> Option<&'a Value> {
    branch.iter().find_map(|item| match item {
        Item::Entry(k, v) if k == key => Some(v),
        _ => None,
    })
}

/// Roughly how many bytes `branch` takes written out: its keys and scalar text plus a
/// few bytes of indentation and punctuation per item. Emitters reserve this up front so
/// that a large output is not copied (and its new pages faulted in) at every doubling.
pub fn text_len_hint(branch: &[Item]) -> usize {
    const PER_ITEM: usize = 16;
    fn value_len<'a>(
        v: &'a Value,
        maps: &mut Vec<&'a [Item]>,
        lists: &mut Vec<&'a [Value]>,
    ) -> usize {
        match v {
            Value::Str(s) | Value::Time(s) | Value::Comment(s) => s.len(),
            Value::Bytes(b) => b.len(),
            Value::Map(items) => {
                maps.push(items);
                0
            }
            Value::List(values) => {
                lists.push(values);
                0
            }
            _ => 8,
        }
    }
    // Iterative: documents nest up to MAX_NESTING levels.
    let mut total = 0;
    let (mut maps, mut lists) = (vec![branch], Vec::new());
    loop {
        if let Some(items) = maps.pop() {
            for item in items {
                total += PER_ITEM
                    + match item {
                        Item::Entry(k, v) => k.len() + value_len(v, &mut maps, &mut lists),
                        Item::Comment(c) => c.len(),
                    };
            }
        } else if let Some(values) = lists.pop() {
            for v in values {
                total += PER_ITEM + value_len(v, &mut maps, &mut lists);
            }
        } else {
            return total;
        }
    }
}

/// [`wipe`]s `docs` and frees them; a single document that `cut` (where a walk cut it
/// between two threads, a hint) still divides in two takes two threads, as freeing 10,000
/// values took a tenth of a large file's decrypt.
pub fn wipe_and_free(mut docs: Vec<Branch>, cut: Option<usize>) {
    let [doc] = docs.as_mut_slice() else {
        return wipe(&mut docs);
    };
    let Some(cut) = cut.filter(|&cut| cut > 0 && cut < doc.len()) else {
        return wipe(&mut docs);
    };
    // Wiped in place first: moving the second part out copies its items, and a number
    // held in an item itself would stay behind in the first part's freed buffer.
    let (first, rest) = doc.split_at_mut(cut);
    crate::stack::join_deep(
        || wipe_all(vec![first], Vec::new()),
        || wipe_all(vec![rest], Vec::new()),
    );
    let rest = doc.split_off(cut);
    crate::stack::join_deep(move || drop(docs), move || drop(rest));
}

/// Overwrites the plaintext in `docs` with zeros, in place: every string, byte string,
/// comment and number (not the keys, which sops files carry in the clear). For a tree
/// that held plaintext and is about to be freed (an allocator hands freed memory out
/// again as it is). Only the bytes in use are wiped: a decrypted string reuses its
/// envelope's buffer, whose spare room holds ciphertext.
pub fn wipe(docs: &mut [Branch]) {
    wipe_all(
        docs.iter_mut().map(|d| d.as_mut_slice()).collect(),
        Vec::new(),
    );
}

/// Documents that hold plaintext, wiped when dropped unless taken out.
#[derive(Debug, Default)]
pub struct WipedOnDrop(pub Vec<Branch>);

impl WipedOnDrop {
    /// The documents, no longer wiped on drop: the caller keeps them.
    pub fn take(mut self) -> Vec<Branch> {
        std::mem::take(&mut self.0)
    }
}

impl Drop for WipedOnDrop {
    fn drop(&mut self) {
        wipe(&mut self.0);
    }
}

/// [`wipe`] for one value and everything under it.
pub fn wipe_value(v: &mut Value) {
    match v {
        Value::Map(items) => wipe_all(vec![items], Vec::new()),
        Value::List(values) => wipe_all(Vec::new(), vec![values]),
        leaf => wipe_leaf(leaf),
    }
}

/// [`wipe`] for one item.
pub fn wipe_item(item: &mut Item) {
    wipe_all(vec![std::slice::from_mut(item)], Vec::new());
}

/// Wipes the items of `maps` and the values of `lists`, and all under them. Iterative:
/// documents nest up to [`MAX_NESTING`] levels.
fn wipe_all<'a>(mut maps: Vec<&'a mut [Item]>, mut lists: Vec<&'a mut [Value]>) {
    fn wipe_value<'a>(
        v: &'a mut Value,
        maps: &mut Vec<&'a mut [Item]>,
        lists: &mut Vec<&'a mut [Value]>,
    ) {
        match v {
            Value::Map(items) => maps.push(items),
            Value::List(values) => lists.push(values),
            leaf => wipe_leaf(leaf),
        }
    }
    loop {
        if let Some(items) = maps.pop() {
            for item in items {
                match item {
                    // Keys are not wiped: sops files carry them in the clear.
                    Item::Entry(_, v) => wipe_value(v, &mut maps, &mut lists),
                    Item::Comment(c) => wipe_text(c),
                }
            }
        } else if let Some(values) = lists.pop() {
            for v in values {
                wipe_value(v, &mut maps, &mut lists);
            }
        } else {
            return;
        }
    }
}

/// Overwrites a string's bytes with zeros (empty ones cost nothing: zeroize's barrier
/// made 100,000 empty strings cost 4 ms).
pub fn wipe_text(text: &mut str) {
    if !text.is_empty() {
        zeroize::Zeroize::zeroize(text);
    }
}

/// [`wipe`] for one scalar value (a collection is left as it is).
pub fn wipe_leaf(v: &mut Value) {
    use zeroize::Zeroize;
    match v {
        Value::Null | Value::Map(_) | Value::List(_) => {}
        Value::Bool(b) => b.zeroize(),
        Value::Int(i) => i.zeroize(),
        Value::Float(f) => f.zeroize(),
        Value::Str(s) | Value::Time(s) | Value::Comment(s) => wipe_text(s),
        Value::Bytes(b) if !b.is_empty() => b.as_mut_slice().zeroize(),
        Value::Bytes(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_cut_hint_is_safe_to_free_at() {
        let doc = |n: usize| -> Branch {
            (0..n)
                .map(|i| Item::Entry(format!("k{i}"), Value::Str(format!("v{i}"))))
                .chain([Item::Entry("pin".into(), Value::Int(1234))])
                .collect()
        };
        // A stale hint (the documents changed since the walk) must not panic.
        for (docs, cut) in [
            (vec![doc(10)], Some(5)),
            (vec![doc(10)], Some(0)),
            (vec![doc(10)], Some(10)),
            (vec![doc(10)], Some(99)),
            (vec![doc(10), doc(3)], Some(5)),
            (vec![doc(10)], None),
            (vec![], Some(1)),
        ] {
            wipe_and_free(docs, cut);
        }
    }

    #[test]
    fn wiping_leaves_no_plaintext_at_any_depth() {
        // Debug-formatting and dropping a tree recurse once per level.
        crate::stack::with_deep_stack(wipe_a_deep_tree);
    }

    fn wipe_a_deep_tree() {
        let mut deep = Value::Str("secret at the bottom".into());
        for level in 0..MAX_NESTING {
            deep = match level % 2 {
                0 => Value::List(vec![deep, Value::Comment("list note".into())]),
                _ => Value::Map(vec![Item::Entry("k".into(), deep)]),
            };
        }
        let mut docs = vec![
            vec![
                Item::Comment("note".into()),
                Item::Entry("password".into(), Value::Str("hunter2".into())),
                Item::Entry("n".into(), Value::Int(42)),
                Item::Entry("f".into(), Value::Float(1.5)),
                Item::Entry("b".into(), Value::Bool(true)),
                Item::Entry("raw".into(), Value::Bytes(vec![1, 2, 3])),
                Item::Entry("when".into(), Value::Time("2024-01-01T00:00:00Z".into())),
            ],
            vec![Item::Entry("deep".into(), deep)],
        ];
        wipe(&mut docs);
        let text = format!("{docs:?}");
        for plaintext in [
            "note",
            "hunter2",
            "42",
            "1.5",
            "true",
            "[1, 2, 3]",
            "2024",
            "secret",
            "list note",
        ] {
            assert!(!text.contains(plaintext), "{plaintext} survived");
        }
        // Keys stay (sops files carry them in the clear), and the tree keeps its shape
        // (and its strings their lengths, as zeros).
        assert!(text.contains("\"password\""));
        assert!(
            text.contains(r#"Str("\0\0\0\0\0\0\0")"#),
            "{}",
            &text[..200]
        );
    }
}
