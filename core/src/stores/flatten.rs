//! Helpers shared by the flat formats (dotenv and INI), after sops's `stores/flatten.go`
//! and `stores.ValToString`.
//!
//! Flat formats cannot nest, so sops writes its metadata as one `key = value` per leaf:
//! map keys are joined with `__map_`, list indices with `__list_<i>`
//! (`age__list_0__map_recipient`), newlines become the two characters `\n`,
//! `shamir_threshold` and `mac_only_encrypted` become strings, nulls and empty lists
//! vanish. The dotenv store prefixes every key with `sops_`; the INI store puts them in a
//! `[sops]` section.

use std::collections::BTreeMap;

use super::json::go_lossy_utf8;
use super::json::gofmt::{format_float, val_to_string_float};
use super::StoreError;
use crate::tree::{Branch, Item, Value};
use crate::walk::CryptRule;

const MAP_SEPARATOR: &str = "__map_";
const LIST_SEPARATOR: &str = "__list_";

/// Largest list index accepted in a flattened key, and the most list slots all lists of
/// one metadata block may hold together. sops would allocate lists of any length (or
/// panic on a negative index); the bounds keep a hostile file from exhausting memory.
const MAX_LIST_INDEX: usize = 10_000;
const MAX_LIST_SLOTS: usize = 100_000;

/// sops's `stores.ValToString`: how a non-string value is written into a flat file.
///
/// Floats use Go's `%G` shortest form with `.0` added to integral results (`1.0`,
/// `1E+06`); times are RFC 3339 without fractional seconds; `null` is Go's `<nil>`;
/// lists and mappings, which sops does not reject in INI files, are Go's `%v` rendering
/// of its in-memory structures (`[1 2]`, `[{key value}]`). `Value::Bytes` is a byte
/// string: written raw by [`val_to_bytes`]; here (and inside lists) bytes that are not
/// UTF-8 become U+FFFD.
pub fn val_to_string(v: &Value) -> String {
    match v {
        Value::Str(s) => s.clone(),
        Value::Bytes(b) => go_lossy_utf8(b),
        Value::Float(f) => val_to_string_float(*f),
        Value::Bool(b) => b.to_string(),
        Value::Time(t) => rfc3339_seconds(t),
        _ => {
            let mut out = String::new();
            go_v(&mut out, v);
            out
        }
    }
}

/// [`val_to_string`] as bytes, with a byte string's bytes as they are: sops keeps a value
/// that is not UTF-8 (a file sops encrypted from such input) in a Go string and writes it
/// unchanged.
pub fn val_to_bytes(v: &Value) -> Vec<u8> {
    match v {
        Value::Bytes(b) => b.clone(),
        other => val_to_string(other).into_bytes(),
    }
}

/// Drops the fractional seconds of an RFC 3339 timestamp (Go's `time.RFC3339` layout
/// prints none, while `Value::Time` holds `RFC3339Nano` text).
fn rfc3339_seconds(t: &str) -> String {
    match t
        .find('T')
        .and_then(|tpos| t[tpos..].find('.').map(|d| tpos + d))
    {
        Some(dot) => {
            let end = t[dot + 1..]
                .find(|c: char| !c.is_ascii_digit())
                .map(|i| dot + 1 + i)
                .unwrap_or(t.len());
            format!("{}{}", &t[..dot], &t[end..])
        }
        None => t.to_string(),
    }
}

/// Go's `time.Time.String()` (`2006-01-02 15:04:05.999999999 -0700 MST`) for an RFC 3339
/// text: `Z` and `+00:00` print as `+0000 UTC`, other offsets name themselves (`+0200 +0200`),
/// as for times Go parsed with a fixed offset.
pub(crate) fn go_time_string(t: &str) -> String {
    let Some((date, rest)) = t.split_once('T') else {
        return t.to_string();
    };
    let zone_at = rest.find(['Z', 'z', '+', '-']).unwrap_or(rest.len());
    let (clock, zone) = rest.split_at(zone_at);
    let clock = match clock.split_once('.') {
        Some((hms, frac)) => {
            let frac = frac.trim_end_matches('0');
            if frac.is_empty() {
                hms.to_string()
            } else {
                format!("{hms}.{frac}")
            }
        }
        None => clock.to_string(),
    };
    let zone = match zone {
        "" | "Z" | "z" | "+00:00" | "-00:00" => "+0000 UTC".to_string(),
        z => {
            let compact = z.replace(':', "");
            format!("{compact} {compact}")
        }
    };
    format!("{date} {clock} {zone}")
}

/// Go's `fmt.Sprintf("%v", x)` of sops's in-memory value (`[]interface{}`,
/// `sops.TreeBranch` = slice of `{Key Value}` structs, `sops.Comment{Value}`).
fn go_v(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("<nil>"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => out.push_str(&i.to_string()),
        Value::Float(f) => out.push_str(&format_float(*f, 'g')),
        Value::Str(s) => out.push_str(s),
        Value::Time(t) => out.push_str(&go_time_string(t)),
        Value::Bytes(b) => out.push_str(&go_lossy_utf8(b)),
        Value::Comment(c) => {
            out.push('{');
            out.push_str(c);
            out.push('}');
        }
        Value::List(items) => go_v_slice(out, items, go_v),
        Value::Map(items) => go_v_slice(out, items, |out, item| match item {
            Item::Entry(k, v) => {
                out.push('{');
                out.push_str(k);
                out.push(' ');
                go_v(out, v);
                out.push('}');
            }
            Item::Comment(c) => {
                out.push_str("{{");
                out.push_str(c);
                out.push_str("} <nil>}");
            }
        }),
    }
}

/// Go's `%v` of a slice: `[a b c]`, each element written by `element`.
fn go_v_slice<T>(out: &mut String, items: &[T], mut element: impl FnMut(&mut String, &T)) {
    out.push('[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        element(out, item);
    }
    out.push(']');
}

fn flatten_into(out: &mut BTreeMap<String, Value>, prefix: String, v: &Value) {
    match v {
        Value::Map(branch) => {
            for item in branch {
                if let Item::Entry(k, child) = item {
                    flatten_into(out, format!("{prefix}{MAP_SEPARATOR}{k}"), child);
                }
            }
        }
        Value::List(items) => {
            for (i, child) in items.iter().enumerate() {
                flatten_into(out, format!("{prefix}{LIST_SEPARATOR}{i}"), child);
            }
        }
        leaf => {
            out.insert(prefix, leaf.clone());
        }
    }
}

/// Flattens sops metadata into `(key, value)` pairs sorted by key (byte order, as sops's
/// dotenv store sorts them; sops's INI store writes them in Go's random map order, so
/// keytap sorts there too).
///
/// Values are encoded as sops's `EncodeNonStrings` + `EncodeNewLines` leave them:
/// `shamir_threshold` as a decimal integer, booleans `true`/`false`, newlines as `\n`,
/// other numbers as Go prints a float64 that went through JSON (`5` becomes `5.0`).
/// Nulls, comments and empty collections produce no entry.
pub fn flatten_metadata(metadata: &Branch) -> Vec<(String, String)> {
    let mut flat = BTreeMap::new();
    for item in metadata {
        if let Item::Entry(k, v) = item {
            flatten_into(&mut flat, k.clone(), v);
        }
    }
    flat.into_iter()
        .filter_map(|(k, v)| {
            let s = match (&v, k.as_str()) {
                (Value::Null | Value::Comment(_), _) => return None,
                (Value::Int(i), "shamir_threshold") => i.to_string(),
                (Value::Float(f), "shamir_threshold") => format!("{f:.0}"),
                // FlattenMetadata round-trips through JSON, so ints are float64 there.
                (Value::Int(i), _) => val_to_string_float(*i as f64),
                (other, _) => val_to_string(other),
            };
            Some((k, s.replace('\n', "\\n")))
        })
        .collect()
}

#[derive(Debug)]
enum Token {
    Map(String),
    List(String),
}

/// sops's `tokenize`: splits a flattened key at every `__map_` / `__list_`.
fn tokenize(path: &str) -> Vec<Token> {
    #[derive(PartialEq)]
    enum State {
        Normal,
        Map,
        List,
    }
    let mut tokens = Vec::new();
    let mut state = State::Normal;
    let mut last = 0;
    let mut i = 0;
    let finish = |state: &State, last: usize, i: usize, tokens: &mut Vec<Token>| {
        tokens.push(match state {
            State::Normal => Token::Map(path[last..i].to_string()),
            State::Map => Token::Map(path[last + MAP_SEPARATOR.len()..i].to_string()),
            State::List => Token::List(path[last + LIST_SEPARATOR.len()..i].to_string()),
        });
    };
    while i < path.len() {
        if path[i..].starts_with(MAP_SEPARATOR) {
            finish(&state, last, i, &mut tokens);
            last = i;
            state = State::Map;
            i += MAP_SEPARATOR.len();
        } else if path[i..].starts_with(LIST_SEPARATOR) {
            finish(&state, last, i, &mut tokens);
            last = i;
            state = State::List;
            i += LIST_SEPARATOR.len();
        } else {
            // Separators are ASCII, so stepping to the next char boundary is enough.
            i += path[i..].chars().next().map_or(1, char::len_utf8);
        }
    }
    finish(&state, last, i, &mut tokens);
    tokens
}

/// A list index as sops reads it: Go's `strconv.Atoi`, where a parse failure means 0.
fn list_index(text: &str, key: &str) -> Result<usize, StoreError> {
    let n: i64 = text.parse().unwrap_or(0);
    if n < 0 || n as u64 > MAX_LIST_INDEX as u64 {
        return Err(StoreError::new(format!(
            "invalid list index {n} in flattened metadata key '{key}'"
        )));
    }
    Ok(n as usize)
}

enum Node {
    Leaf(Value),
    Map(BTreeMap<String, Node>),
    List(Vec<Option<Node>>),
}

fn conflict(key: &str) -> StoreError {
    StoreError::new(format!(
        "flattened metadata key '{key}' conflicts with another metadata key"
    ))
}

/// Descends from `node` along `token` towards a child of the kind `next` asks for
/// (sops's `unflatten`), creating it when absent; stores `value` when `next` is `None`.
fn step<'n>(
    node: &'n mut Node,
    token: &Token,
    next: Option<&Token>,
    value: &Value,
    key: &str,
    slots: &mut usize,
) -> Result<Option<&'n mut Node>, StoreError> {
    let fresh = |next: &Token| match next {
        Token::Map(_) => Node::Map(BTreeMap::new()),
        Token::List(_) => Node::List(Vec::new()),
    };
    let child: &'n mut Node = match (node, token) {
        (Node::Map(map), Token::Map(k)) => match next {
            None => {
                if matches!(map.get(k), Some(Node::Map(_) | Node::List(_))) {
                    return Err(conflict(key));
                }
                map.insert(k.clone(), Node::Leaf(value.clone()));
                return Ok(None);
            }
            Some(next) => map.entry(k.clone()).or_insert_with(|| fresh(next)),
        },
        (Node::List(list), Token::List(p)) => {
            let pos = list_index(p, key)?;
            let slot = list.get_mut(pos).ok_or_else(|| conflict(key))?;
            match next {
                None => {
                    if matches!(slot, Some(Node::Map(_) | Node::List(_))) {
                        return Err(conflict(key));
                    }
                    *slot = Some(Node::Leaf(value.clone()));
                    return Ok(None);
                }
                Some(next) => slot.get_or_insert_with(|| fresh(next)),
            }
        }
        _ => return Err(conflict(key)),
    };
    match next {
        Some(next) => descend(child, next, key, slots).map(Some),
        None => Ok(None),
    }
}

/// Checks that `child` has the kind `next` needs, growing a list to hold `next`'s index.
fn descend<'n>(
    child: &'n mut Node,
    next: &Token,
    key: &str,
    slots: &mut usize,
) -> Result<&'n mut Node, StoreError> {
    match (&mut *child, next) {
        (Node::Map(_), Token::Map(_)) => {}
        (Node::List(list), Token::List(p)) => {
            let need = list_index(p, key)? + 1;
            if list.len() < need {
                *slots += need - list.len();
                if *slots > MAX_LIST_SLOTS {
                    return Err(StoreError::new(format!(
                        "flattened metadata lists are too long (at key '{key}')"
                    )));
                }
                list.resize_with(need, || None);
            }
        }
        _ => return Err(conflict(key)),
    }
    Ok(child)
}

/// Field order of sops's metadata structs (stores.Metadata and its key structs), so an
/// un-flattened tree reads like the same metadata loaded from YAML or JSON.
const TOP_ORDER: &[&str] = &joined::<19>([
    &[
        "shamir_threshold",
        "key_groups",
        "kms",
        "gcp_kms",
        "hckms",
        "azure_kv",
        "hc_vault",
        "age",
        "lastmodified",
        "mac",
        "pgp",
    ],
    &CryptRule::FIELD_NAMES,
    &["mac_only_encrypted", "version"],
]);

/// `parts` one after the other, as one array of `N` names (a compile error when they do
/// not add up to `N`).
const fn joined<const N: usize>(parts: [&[&'static str]; 3]) -> [&'static str; N] {
    let mut out = [""; N];
    let (mut at, mut part) = (0, 0);
    while part < parts.len() {
        let mut i = 0;
        while i < parts[part].len() {
            out[at] = parts[part][i];
            at += 1;
            i += 1;
        }
        part += 1;
    }
    assert!(at == N, "the parts do not add up to N names");
    out
}
const GROUP_ORDER: &[&str] = &[
    "pgp", "kms", "gcp_kms", "hckms", "azure_kv", "hc_vault", "age",
];

/// The field order of one key entry in the list named `list_key`.
fn entry_order(list_key: &str) -> &'static [&'static str] {
    match list_key {
        "pgp" => &["created_at", "enc", "fp"],
        "kms" => &["arn", "role", "context", "created_at", "enc", "aws_profile"],
        "gcp_kms" => &["resource_id", "created_at", "enc"],
        "hckms" => &["key_id", "created_at", "enc"],
        "azure_kv" => &["vault_url", "name", "version", "created_at", "enc"],
        "hc_vault" => &[
            "vault_address",
            "engine_path",
            "key_name",
            "created_at",
            "enc",
        ],
        "age" => &["recipient", "enc"],
        _ => &[],
    }
}

#[derive(Clone, Copy)]
enum Shape {
    /// The metadata root.
    Top,
    /// An element of `key_groups`.
    Group,
    /// An element of the key list with this name.
    Entry(&'static str),
    /// Anything else: keys sorted.
    Other,
}

fn child_shape(parent: Shape, key: &str) -> Shape {
    let is_key_list = GROUP_ORDER.contains(&key);
    match parent {
        Shape::Top if key == "key_groups" => Shape::Group,
        Shape::Top | Shape::Group if is_key_list => Shape::Entry(
            GROUP_ORDER
                .iter()
                .copied()
                .find(|k| *k == key)
                .unwrap_or(""),
        ),
        _ => Shape::Other,
    }
}

fn order_of(shape: Shape) -> &'static [&'static str] {
    match shape {
        Shape::Top => TOP_ORDER,
        Shape::Group => GROUP_ORDER,
        Shape::Entry(list) => entry_order(list),
        Shape::Other => &[],
    }
}

/// Converts a node; `element_shape` orders the keys of mappings inside it (a list passes
/// it on to its elements).
fn to_value(node: Node, element_shape: Shape) -> Value {
    match node {
        Node::Leaf(v) => v,
        Node::List(items) => Value::List(
            items
                .into_iter()
                .map(|n| n.map_or(Value::Null, |n| to_value(n, element_shape)))
                .collect(),
        ),
        Node::Map(map) => Value::Map(to_branch(map, element_shape)),
    }
}

fn to_branch(mut map: BTreeMap<String, Node>, shape: Shape) -> Branch {
    let mut branch = Vec::with_capacity(map.len());
    let push = |k: String, n: Node, branch: &mut Branch| {
        let cs = child_shape(shape, &k);
        // A mapping directly under a key (e.g. kms `context`) is plain; list elements
        // take the list's shape.
        let v = match n {
            Node::List(_) => to_value(n, cs),
            Node::Map(m) => Value::Map(to_branch(m, Shape::Other)),
            leaf => to_value(leaf, Shape::Other),
        };
        branch.push(Item::Entry(k, v));
    };
    for key in order_of(shape) {
        if let Some(n) = map.remove(*key) {
            push(key.to_string(), n, &mut branch);
        }
    }
    for (k, n) in map {
        push(k, n, &mut branch);
    }
    branch
}

/// sops's `DecodeNonStrings`: `mac_only_encrypted` is true only for `"true"`;
/// `shamir_threshold` is an integer (older sops wrote it as an integral float).
fn decode_non_string(key: &str, s: String) -> Result<Value, StoreError> {
    match key {
        "mac_only_encrypted" => Ok(Value::Bool(s == "true")),
        "shamir_threshold" => {
            if let Ok(i) = s.parse::<i64>() {
                return Ok(Value::Int(i));
            }
            match s.parse::<f64>() {
                Ok(f) if f.fract() == 0.0 && f.abs() < 9.2e18 => Ok(Value::Int(f as i64)),
                _ => Err(StoreError::new(format!(
                    "shamir_threshold is not an integer: strconv.Atoi: parsing {s:?}: invalid syntax"
                ))),
            }
        }
        _ => Ok(Value::Str(s)),
    }
}

/// Rebuilds sops metadata from flattened `(key, value)` pairs (keys without the dotenv
/// `sops_` prefix). Later duplicates win. `\n` in values becomes a newline
/// (`DecodeNewLines`), `shamir_threshold` an `Int`, `mac_only_encrypted` a `Bool`, all other
/// leaves strings. Mappings come back in sops's struct field order (as YAML metadata
/// reads), list holes as `Null`. Keys that contradict each other (a value and a mapping
/// at the same place) are an error where sops would crash.
pub fn unflatten_metadata(pairs: Vec<(String, String)>) -> Result<Branch, StoreError> {
    let mut flat: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in pairs {
        flat.insert(k, v);
    }
    let mut root = Node::Map(BTreeMap::new());
    let mut slots = 0;
    for (key, raw) in flat {
        let value = decode_non_string(&key, raw.replace("\\n", "\n"))?;
        let tokens = tokenize(&key);
        let mut current: &mut Node = &mut root;
        for (i, token) in tokens.iter().enumerate() {
            match step(current, token, tokens.get(i + 1), &value, &key, &mut slots)? {
                Some(next) => current = next,
                None => break,
            }
        }
    }
    match root {
        Node::Map(map) => Ok(to_branch(map, Shape::Top)),
        _ => Ok(Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Value {
        Value::Str(v.into())
    }

    #[test]
    fn flatten_and_back() {
        // Metadata with one key group; flattening drops the group's null entries.
        let with_group = |group: Branch| -> Branch {
            vec![
                Item::Entry("shamir_threshold".into(), Value::Int(2)),
                Item::Entry("key_groups".into(), Value::List(vec![Value::Map(group)])),
                Item::Entry("lastmodified".into(), s("2024-01-01T00:00:00Z")),
                Item::Entry("mac_only_encrypted".into(), Value::Bool(true)),
                Item::Entry("version".into(), s("3.11.0")),
            ]
        };
        let age = Item::Entry(
            "age".into(),
            Value::List(vec![Value::Map(vec![
                Item::Entry("recipient".into(), s("age1x")),
                Item::Entry("enc".into(), s("a\nb\n")),
            ])]),
        );
        let md = with_group(vec![
            Item::Entry("hc_vault".into(), Value::Null),
            age.clone(),
        ]);
        let flat = flatten_metadata(&md);
        let keys: Vec<&str> = flat.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "key_groups__list_0__map_age__list_0__map_enc",
                "key_groups__list_0__map_age__list_0__map_recipient",
                "lastmodified",
                "mac_only_encrypted",
                "shamir_threshold",
                "version"
            ]
        );
        assert_eq!(flat[0].1, "a\\nb\\n");
        let back = unflatten_metadata(flat).unwrap();
        assert_eq!(back, with_group(vec![age]));
    }

    #[test]
    fn conflicts_and_bad_indices_are_errors() {
        let e = unflatten_metadata(vec![
            ("age".into(), "x".into()),
            ("age__list_0__map_enc".into(), "y".into()),
        ]);
        assert!(e.is_err());
        assert!(unflatten_metadata(vec![("age__list_-1".into(), "x".into())]).is_err());
        assert!(unflatten_metadata(vec![("age__list_99999999999".into(), "x".into())]).is_err());
        assert!(unflatten_metadata(vec![("shamir_threshold".into(), "x".into())]).is_err());
        let holes = unflatten_metadata(vec![("age__list_2__map_enc".into(), "e".into())]).unwrap();
        assert!(
            matches!(&holes[0], Item::Entry(_, Value::List(l)) if l.len() == 3 && l[0] == Value::Null)
        );
    }

    #[test]
    fn value_strings() {
        assert_eq!(val_to_string(&Value::Null), "<nil>");
        assert_eq!(
            val_to_string(&Value::Time("2024-01-02T03:04:05.123+02:00".into())),
            "2024-01-02T03:04:05+02:00"
        );
        assert_eq!(
            val_to_string(&Value::Map(vec![Item::Entry("b".into(), Value::Int(1))])),
            "[{b 1}]"
        );
        assert_eq!(
            val_to_string(&Value::List(vec![Value::Int(1), Value::Float(1e6)])),
            "[1 1e+06]"
        );
    }
}
