//! Random documents for tests that compare two ways of doing the same thing on many
//! inputs: keys, comments and values of every kind, nested, with the awkward strings of
//! YAML and JSON (multi-line, indicator characters, spaces at either end, non-ASCII).

use crate::test_rng::next;
use crate::tree::{Branch, Item, Value};

const STRINGS: &[&str] = &[
    "plain",
    "",
    " lead",
    "trail ",
    "two\nlines",
    "ends\n",
    "ends twice\n\n",
    "a: b",
    "- x",
    "#hash",
    "x #y",
    "'q'",
    "\"dq\"",
    "{a}",
    "[b]",
    "true",
    "null",
    "~",
    "12",
    "1.5",
    "0x1F",
    "2001-12-14",
    "é ünïcode",
    "tab\there",
    "\u{1F600}",
    "---",
    "...",
    "* star",
    "&a",
    "!t",
    "%p",
    "@at",
    "`bq`",
    "|",
    ">",
    "?",
    "a long line of words that goes on well past the width at which go-yaml folds a plain scalar",
];

fn pick<'a, T>(seed: &mut u64, from: &'a [T]) -> &'a T {
    &from[(next(seed) % from.len() as u64) as usize]
}

fn comment(seed: &mut u64) -> String {
    pick(
        seed,
        &[" note", "", " sops:enc", "x", " with: colon", "  indented"],
    )
    .to_string()
}

fn value(seed: &mut u64, depth: usize, comments: bool) -> Value {
    let kinds = if depth >= 3 { 6 } else { 9 };
    match next(seed) % kinds {
        0 | 1 => Value::Str(pick(seed, STRINGS).to_string()),
        2 => Value::Int(next(seed) as i64 % 100_000 - 50_000),
        3 => Value::Float(*pick(seed, &[0.5, -2.25, 1e21, 3.0, 1e-7])),
        4 => Value::Bool(next(seed) % 2 == 0),
        5 => Value::Null,
        6 | 7 => Value::Map(branch(seed, depth + 1, 4, comments)),
        _ => Value::List(
            (0..next(seed) % 4)
                .map(|_| match next(seed) % 5 {
                    0 if comments => Value::Comment(comment(seed)),
                    _ => value(seed, depth + 1, comments),
                })
                .collect(),
        ),
    }
}

/// A mapping of up to `most` entries (and comments, if asked for) at nesting `depth`.
pub(crate) fn branch(seed: &mut u64, depth: usize, most: u64, comments: bool) -> Branch {
    let mut items = Vec::new();
    for i in 0..next(seed) % (most + 1) {
        if comments && next(seed) % 4 == 0 {
            items.push(Item::Comment(comment(seed)));
        }
        let key = match next(seed) % 6 {
            0 => pick(seed, STRINGS).to_string(),
            _ => format!("k{depth}_{i}"),
        };
        items.push(Item::Entry(key, value(seed, depth, comments)));
    }
    if comments && next(seed) % 4 == 0 {
        items.push(Item::Comment(comment(seed)));
    }
    items
}

/// A top-level document of `entries` entries (and comments, if asked for), each random
/// below.
pub(crate) fn document(seed: &mut u64, entries: usize, comments: bool) -> Branch {
    let mut doc = Vec::new();
    for i in 0..entries {
        if comments && next(seed) % 3 == 0 {
            doc.push(Item::Comment(comment(seed)));
        }
        doc.push(Item::Entry(format!("top_{i}"), value(seed, 0, comments)));
    }
    if comments && next(seed) % 3 == 0 {
        doc.push(Item::Comment(comment(seed)));
    }
    doc
}
