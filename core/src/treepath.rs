//! sops tree paths (`["a"][0]["b"]`), used by `--extract`, `set` and `unset`.
//!
//! Parsing and the set/unset semantics follow sops's `parseTreePath`, `TreeBranch.Set`
//! and `TreeBranch.Unset`, so the same arguments change files the same way.

use crate::tree::{Branch, Item, Value};

/// One step of a path.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Step {
    /// A mapping key.
    Key(String),
    /// A list index. Negative ones parse, as in sops: they make a new list (`set` of a
    /// missing key) but index none.
    Index(i64),
}

/// A path that does not parse.
#[derive(Debug, thiserror::Error)]
#[error("invalid tree path {path:?}: {reason}")]
pub struct PathError {
    /// The path as given.
    pub path: String,
    /// What is wrong.
    pub reason: String,
}

/// Parses `["key"][0]['other']` as sops's `parseTreePath` does, on bytes: each `[`-split
/// component must end with `]`; one starting with a quote is a key (its first and last
/// byte dropped, the closing quote unchecked, as in sops); anything else is an index in
/// Go's `strconv.Atoi` syntax. Where sops panics (`["]`, `[]`) this returns an error
/// instead. A key cut inside a multi-byte character keeps the valid part.
pub fn parse(arg: &str) -> Result<Vec<Step>, PathError> {
    let err = |reason: String| PathError {
        path: arg.to_string(),
        reason,
    };
    let mut steps = Vec::new();
    for component in arg.as_bytes().split(|b| *b == b'[') {
        if component.is_empty() {
            continue;
        }
        let text = || String::from_utf8_lossy(component).into_owned();
        let Some(inner) = component.strip_suffix(b"]") else {
            return Err(err(format!("component {} doesn't end with ]", text())));
        };
        match inner.first() {
            None => return Err(err(format!("component {} is empty", text()))),
            Some(b'"' | b'\'') => {
                if inner.len() < 2 {
                    return Err(err(format!("unterminated string in component {}", text())));
                }
                let key = &inner[1..inner.len() - 1];
                steps.push(Step::Key(String::from_utf8_lossy(key).into_owned()));
            }
            Some(_) => steps.push(Step::Index(atoi_index(inner).map_err(err)?)),
        }
    }
    Ok(steps)
}

/// Go's `strconv.Atoi` (optional sign, decimal digits, 64 bits) for a list index.
fn atoi_index(text: &[u8]) -> Result<i64, String> {
    let quoted = crate::goerr::quote(text);
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, text),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(format!("strconv.Atoi: parsing {quoted}: invalid syntax"));
    }
    // Parsed with its sign, so that i64::MIN is in range as in Go.
    let sign = if negative { "-" } else { "" };
    std::str::from_utf8(digits)
        .ok()
        .and_then(|d| format!("{sign}{d}").parse().ok())
        .ok_or_else(|| format!("strconv.Atoi: parsing {quoted}: value out of range"))
}

/// A list position for an index; `None` for a negative one (sops panics there).
fn position(index: i64) -> Option<usize> {
    usize::try_from(index).ok()
}

/// The error for a negative index into an existing list or mapping, where sops 3.11
/// panics ("index out of range").
fn negative_index(index: i64) -> String {
    format!("component [{index}]: index out of range")
}

/// Renders a path back to its `["a"][0]` form.
pub fn display(steps: &[Step]) -> String {
    steps
        .iter()
        .map(|s| match s {
            Step::Key(k) => format!("[\"{k}\"]"),
            Step::Index(i) => format!("[{i}]"),
        })
        .collect()
}

/// What a path leads to.
#[derive(Debug, PartialEq)]
pub enum Found<'a> {
    /// A value.
    Value(&'a Value),
    /// An item of a mapping, reached by an index (`[1]` on a mapping: sops's `TreeItem`,
    /// comments counted).
    Item(&'a Item),
}

/// Finds what `steps` lead to in a document, as sops's `Truncate` does.
pub fn get<'a>(doc: &'a Branch, steps: &[Step]) -> Result<Found<'a>, String> {
    let mut current: Option<Found<'a>> = None;
    for step in steps {
        let branch = match current {
            None => Some(doc),
            Some(Found::Value(Value::Map(b))) => Some(b),
            _ => None,
        };
        current = Some(match (step, branch, current) {
            (Step::Key(k), Some(branch), _) => Found::Value(
                crate::tree::get(branch, k)
                    .ok_or_else(|| format!("component ['{k}'] not found"))?,
            ),
            // sops panics here (an item is no mapping); the key is not there.
            (Step::Key(k), None, _) => return Err(format!("component ['{k}'] not found")),
            (Step::Index(i), Some(branch), _) => Found::Item(
                branch
                    .get(position(*i).ok_or_else(|| negative_index(*i))?)
                    .ok_or_else(|| format!("component [{i}] accesses out of bounds"))?,
            ),
            // Like sops, indices count comment entries too.
            (Step::Index(i), None, Some(Found::Value(Value::List(l)))) => Found::Value(
                l.get(position(*i).ok_or_else(|| negative_index(*i))?)
                    .ok_or_else(|| format!("component [{i}] accesses out of bounds"))?,
            ),
            (Step::Index(i), None, _) => {
                return Err(format!(
                    "component [{i}] is integer, but tree part is not a slice"
                ))
            }
        });
    }
    current.ok_or_else(|| "empty path".to_string())
}

/// A mapping's item as sops's `EmitValue` writes a `TreeItem` (Go marshals the struct):
/// a mapping of `key` and `value` (`Key` and `Value` in JSON), whose nested mappings are
/// lists of such items; a comment is a `Comment` struct (`value`/`Value`).
pub fn item_as_value(item: &Item, json: bool) -> Value {
    let (key_field, value_field) = if json {
        ("Key", "Value")
    } else {
        ("key", "value")
    };
    let comment = |text: &str| {
        Value::Map(vec![Item::Entry(
            value_field.into(),
            Value::Str(text.into()),
        )])
    };
    let (key, value) = match item {
        Item::Entry(k, v) => (Value::Str(k.clone()), go_struct_form(v, json)),
        Item::Comment(c) => (comment(c), Value::Null),
    };
    Value::Map(vec![
        Item::Entry(key_field.into(), key),
        Item::Entry(value_field.into(), value),
    ])
}

/// [`item_as_value`]'s form of a value inside an item.
fn go_struct_form(value: &Value, json: bool) -> Value {
    match value {
        Value::Map(b) => Value::List(b.iter().map(|i| item_as_value(i, json)).collect()),
        Value::List(l) => Value::List(l.iter().map(|v| go_struct_form(v, json)).collect()),
        Value::Comment(c) => {
            let field = if json { "Value" } else { "value" };
            Value::Map(vec![Item::Entry(field.into(), Value::Str(c.clone()))])
        }
        other => other.clone(),
    }
}

fn value_from_path(steps: &[Step], leaf: Value) -> Value {
    match steps.split_first() {
        None => leaf,
        Some((Step::Index(_), rest)) => Value::List(vec![value_from_path(rest, leaf)]),
        Some((Step::Key(k), rest)) => {
            Value::Map(vec![Item::Entry(k.clone(), value_from_path(rest, leaf))])
        }
    }
}

/// Sets the value at `steps`, creating missing maps and list entries as sops does.
/// Returns whether anything changed (as sops counts it: see [`Step::Index`] on a mapping).
///
/// An index into a mapping (the document's top level included) changes nothing, as in
/// sops: it adds an entry with an integer key, which no store writes, so the file is
/// written again with the same data. A key into a list is an error (sops panics).
pub fn set(doc: &mut Branch, steps: &[Step], value: Value) -> Result<bool, String> {
    let Some((first, rest)) = steps.split_first() else {
        return Err("empty path".into());
    };
    match first {
        Step::Key(key) => set_in_branch(doc, key, rest, value),
        Step::Index(_) => Ok(true),
    }
}

fn set_in_branch(
    branch: &mut Branch,
    key: &str,
    rest: &[Step],
    value: Value,
) -> Result<bool, String> {
    for item in branch.iter_mut() {
        if let Item::Entry(k, v) = item {
            if k == key {
                return set_in_value(v, rest, value);
            }
        }
    }
    branch.push(Item::Entry(key.to_string(), value_from_path(rest, value)));
    Ok(true)
}

fn set_in_value(target: &mut Value, steps: &[Step], value: Value) -> Result<bool, String> {
    let Some((first, rest)) = steps.split_first() else {
        let changed = *target != value;
        crate::tree::wipe_value(target);
        *target = value;
        return Ok(changed);
    };
    match (first, &mut *target) {
        (Step::Key(k), Value::Map(b)) => set_in_branch(b, k, rest, value),
        (Step::Index(i), Value::List(l)) => {
            // Like sops, indices count comment entries too.
            match l.get_mut(position(*i).ok_or_else(|| negative_index(*i))?) {
                Some(item) => set_in_value(item, rest, value),
                None => {
                    l.push(value_from_path(rest, value));
                    Ok(true)
                }
            }
        }
        (Step::Index(_), Value::Map(_)) => Ok(true),
        (Step::Key(k), Value::List(_)) => Err(format!(
            "component [{k:?}] is a key, but tree part is a list"
        )),
        _ => {
            let new = value_from_path(steps, value);
            let changed = *target != new;
            crate::tree::wipe_value(target);
            *target = new;
            Ok(changed)
        }
    }
}

/// Removes the value at `steps`. Errors name the missing key or index as sops does.
pub fn unset(doc: &mut Branch, steps: &[Step]) -> Result<(), String> {
    let Some((first, rest)) = steps.split_first() else {
        return Err("empty path".into());
    };
    let Step::Key(key) = first else {
        return Err(format!("Key not found: {}", display(&steps[..1])));
    };
    unset_in_branch(doc, key, rest)
}

fn unset_in_branch(branch: &mut Branch, key: &str, rest: &[Step]) -> Result<(), String> {
    let pos = branch
        .iter()
        .position(|i| matches!(i, Item::Entry(k, _) if k == key))
        .ok_or_else(|| format!("Key not found: {key}"))?;
    if rest.is_empty() {
        crate::tree::wipe_item(&mut branch.remove(pos));
        return Ok(());
    }
    let Item::Entry(_, v) = &mut branch[pos] else {
        unreachable!("position matched an entry")
    };
    unset_in_value(v, rest)
}

fn unset_in_value(target: &mut Value, steps: &[Step]) -> Result<(), String> {
    let (first, rest) = steps.split_first().expect("non-empty");
    match (first, target) {
        (Step::Key(k), Value::Map(b)) => unset_in_branch(b, k, rest),
        (Step::Index(i), Value::List(l)) => {
            let p = position(*i).ok_or_else(|| negative_index(*i))?;
            if p >= l.len() {
                return Err(format!("Index {i} out of bounds"));
            }
            if rest.is_empty() {
                crate::tree::wipe_value(&mut l.remove(p));
                Ok(())
            } else {
                unset_in_value(&mut l[p], rest)
            }
        }
        (step, _) => Err(format!(
            "Unsupported type for item '{}'",
            display(std::slice::from_ref(step))
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Value {
        Value::Str(v.into())
    }

    #[test]
    fn parses_sops_paths() {
        assert_eq!(
            parse(r#"["a"][0]['b']"#).unwrap(),
            vec![Step::Key("a".into()), Step::Index(0), Step::Key("b".into())]
        );
        assert!(parse(r#"["a""#).is_err());
        assert!(parse("[x]").is_err());
        assert!(parse("[\"]").is_err());
        // Go's Atoi and sops's unchecked closing quote.
        assert_eq!(
            parse("[+1][01]").unwrap(),
            vec![Step::Index(1), Step::Index(1)]
        );
        assert_eq!(parse(r#"["a']"#).unwrap(), vec![Step::Key("a".into())]);
        assert_eq!(
            parse("[c]").unwrap_err().reason,
            "strconv.Atoi: parsing \"c\": invalid syntax"
        );
        for panics_in_sops in ["[]", "]", "[\"]"] {
            assert!(parse(panics_in_sops).is_err(), "{panics_in_sops}");
        }
        assert_eq!(
            parse("[-1][-9223372036854775808]").unwrap(),
            vec![Step::Index(-1), Step::Index(i64::MIN)]
        );
        assert!(parse("[9223372036854775808]").is_err());
    }

    #[test]
    fn negative_indices_make_new_lists_but_index_none() {
        let parse_doc = |text: &str| parse(text).unwrap();
        let mut doc = vec![
            Item::Entry("a".into(), s("1")),
            Item::Entry("l".into(), Value::List(vec![s("x")])),
        ];
        // As sops 3.11: a missing key or a scalar becomes a one-item list.
        assert!(set(&mut doc, &parse_doc(r#"["new"][-1]["k"]"#), s("v")).unwrap());
        assert!(set(&mut doc, &parse_doc(r#"["a"][-2]"#), s("v")).unwrap());
        assert_eq!(doc[0], Item::Entry("a".into(), Value::List(vec![s("v")])));
        assert_eq!(
            doc[2],
            Item::Entry(
                "new".into(),
                Value::List(vec![Value::Map(vec![Item::Entry("k".into(), s("v"))])])
            )
        );
        // sops panics on an existing list; keytap refuses and changes nothing.
        let before = doc.clone();
        let list = parse_doc(r#"["l"][-1]"#);
        assert!(set(&mut doc, &list, s("v")).is_err());
        assert!(unset(&mut doc, &list).is_err());
        assert!(get(&doc, &list).is_err());
        assert!(get(&doc, &parse_doc("[-1]")).is_err());
        assert_eq!(doc, before);
    }

    #[test]
    fn keys_are_cut_on_bytes_without_panicking() {
        // Found by fuzzing: a multi-byte character cut by the closing-quote byte.
        assert_eq!(parse("[\"é]").unwrap(), vec![Step::Key("\u{fffd}".into())]);
        for s in ["[\"ߡ]", "['é']", "[\"\u{10ffff}]"] {
            let _ = parse(s);
        }
    }

    #[test]
    fn set_follows_sops_where_a_step_does_not_fit_the_tree() {
        let doc = vec![
            Item::Entry(
                "m".into(),
                Value::Map(vec![Item::Entry("k".into(), s("v"))]),
            ),
            Item::Entry("l".into(), Value::List(vec![s("x")])),
            Item::Entry("a".into(), s("1")),
        ];
        // An index into a mapping: sops adds an integer key no store writes, so the data
        // stays as it was (and the file counts as changed).
        for path in [r#"[0]"#, r#"[1]["x"]"#, r#"["m"][0]"#, r#"["m"][0]["z"]"#] {
            let mut changed = doc.clone();
            assert_eq!(
                set(&mut changed, &parse(path).unwrap(), s("V")),
                Ok(true),
                "{path}"
            );
            assert_eq!(changed, doc, "{path}");
        }
        // A key into a list: sops panics; here an error, the list untouched.
        let mut changed = doc.clone();
        assert!(set(&mut changed, &parse(r#"["l"]["k"]"#).unwrap(), s("V")).is_err());
        assert_eq!(changed, doc);
        // A key or an index into a scalar replaces it, as in sops.
        let mut changed = doc.clone();
        set(&mut changed, &parse(r#"["a"][0]"#).unwrap(), s("V")).unwrap();
        assert_eq!(
            changed[2],
            Item::Entry("a".into(), Value::List(vec![s("V")]))
        );
    }

    #[test]
    fn set_get_unset() {
        let mut doc = vec![Item::Entry("a".into(), Value::List(vec![s("x"), s("y")]))];
        assert!(set(&mut doc, &parse(r#"["b"]["c"]"#).unwrap(), s("1")).unwrap());
        assert_eq!(
            get(&doc, &parse(r#"["b"]["c"]"#).unwrap()).unwrap(),
            Found::Value(&s("1"))
        );
        assert!(!set(&mut doc, &parse(r#"["b"]["c"]"#).unwrap(), s("1")).unwrap());
        assert!(set(&mut doc, &parse(r#"["a"][5]"#).unwrap(), s("z")).unwrap());
        assert_eq!(
            get(&doc, &parse(r#"["a"][2]"#).unwrap()).unwrap(),
            Found::Value(&s("z"))
        );
        unset(&mut doc, &parse(r#"["a"][0]"#).unwrap()).unwrap();
        assert_eq!(
            get(&doc, &parse(r#"["a"][0]"#).unwrap()).unwrap(),
            Found::Value(&s("y"))
        );
        // An index into a mapping is one of its items.
        assert_eq!(
            get(&doc, &parse("[1]").unwrap()).unwrap(),
            Found::Item(&doc[1])
        );
        assert_eq!(
            unset(&mut doc, &parse(r#"["nope"]"#).unwrap()).unwrap_err(),
            "Key not found: nope"
        );
        assert_eq!(
            unset(&mut doc, &parse(r#"["a"][9]"#).unwrap()).unwrap_err(),
            "Index 9 out of bounds"
        );
    }
}
