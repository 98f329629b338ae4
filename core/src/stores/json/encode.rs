//! JSON output, hand-written to match sops byte for byte.
//!
//! sops builds compact JSON with its own ordered encoder (`"key": value` pairs, comments
//! skipped, scalars through Go's `json.Marshal`) and then runs Go's `json.Indent` over it.
//! Writing the indented form directly gives the same bytes: `{` / `[` followed by a newline
//! and one more indent level per element, `,` at line ends, `": "` between key and value,
//! and `{}` / `[]` for empty (or comment-only) collections.

use super::gofmt::json_float;
use crate::tree::{Item, Value};

/// Appends `s` as a JSON string the way Go's `encoding/json` writes it with HTML escaping
/// on (the default of `json.Marshal`): `<`, `>`, `&`, U+2028 and U+2029 as `\u` escapes,
/// `\b \f \n \r \t` short escapes, other control characters as `\u00XX` (lowercase hex).
pub(crate) fn write_string(out: &mut String, s: &str) {
    out.push('"');
    escape_into(out, s);
    out.push('"');
}

/// Bytes Go's `encoding/json` copies as they are: printable ASCII except `"`, `\\` and the
/// HTML-sensitive `<`, `>`, `&`.
const fn copied_as_is(b: u8) -> bool {
    (b >= 0x20) & (b < 0x80) & (b != b'"') & (b != b'\\') & (b != b'<') & (b != b'>') & (b != b'&')
}

/// [`copied_as_is`] as a table, for finding the next byte to escape.
const NO_ESCAPE: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = copied_as_is(b as u8);
        b += 1;
    }
    table
};

/// The body of [`write_string`], without the quotes.
fn escape_into(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = s.as_bytes();
    // Most strings (every ENC[...] value) need no escape: a comparison fold over the whole
    // string, which compiles to vector code, shows that, and the string is copied at once.
    if bytes.iter().fold(true, |all, &b| all & copied_as_is(b)) {
        out.push_str(s);
        return;
    }
    // Otherwise copy the runs that need no escape at once.
    let mut start = 0;
    while start < bytes.len() {
        let run = bytes[start..]
            .iter()
            .position(|&b| !NO_ESCAPE[b as usize])
            .map_or(bytes.len(), |n| start + n);
        out.push_str(&s[start..run]);
        if run == bytes.len() {
            return;
        }
        // Escape (or copy) the one character at `run`, then continue with runs.
        let c = s[run..].chars().next().expect("not at the end");
        escape_char(out, c, HEX);
        start = run + c.len_utf8();
    }
}

/// One character as Go's `encoding/json` writes it inside a string.
fn escape_char(out: &mut String, c: char, hex: &[u8; 16]) {
    match c {
        '"' => out.push_str("\\\""),
        '\\' => out.push_str("\\\\"),
        '\u{8}' => out.push_str("\\b"),
        '\u{c}' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '<' | '>' | '&' | '\u{0}'..='\u{1f}' => {
            let b = c as u32 as u8;
            out.push_str("\\u00");
            out.push(hex[(b >> 4) as usize] as char);
            out.push(hex[(b & 0xf) as usize] as char);
        }
        '\u{2028}' => out.push_str("\\u2028"),
        '\u{2029}' => out.push_str("\\u2029"),
        _ => out.push(c),
    }
}

/// Appends raw bytes as Go writes a string holding them: like [`write_string`], with
/// every byte that is not part of valid UTF-8 written as the escape `\ufffd`.
pub(crate) fn write_byte_string(out: &mut String, b: &[u8]) {
    out.push('"');
    super::parse::for_each_go_rune(b, |r| match r {
        Ok(s) => escape_into(out, s),
        Err(_) => out.push_str("\\ufffd"),
    });
    out.push('"');
}

/// Go's `json.Marshal` of a float64, or its error for NaN and infinities.
fn float(out: &mut String, f: f64) -> Result<(), String> {
    match json_float(f) {
        Some(s) => {
            out.push_str(&s);
            Ok(())
        }
        None => Err(format!(
            "json: unsupported value: {}",
            super::gofmt::format_float(f, 'g')
        )),
    }
}

/// A scalar as `json.Marshal` writes it; `None` for collections and comments.
fn scalar(out: &mut String, v: &Value) -> Option<Result<(), String>> {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => out.push_str(&i.to_string()),
        Value::Float(f) => return Some(float(out, *f)),
        Value::Str(s) => write_string(out, s),
        // time.Time marshals as its RFC 3339 text, which is what Value::Time holds.
        Value::Time(t) => write_string(out, t),
        // keytap's Value::Bytes is a byte string (the cipher encrypts it as type:str, as
        // sops does with the Go strings of binary files), so it is written as Go writes a
        // string, not as Go's base64 for []byte.
        Value::Bytes(b) => write_byte_string(out, b),
        Value::Comment(_) | Value::Map(_) | Value::List(_) => return None,
    }
    Some(Ok(()))
}

fn newline(out: &mut String, indent: &str, depth: usize) {
    out.push('\n');
    for _ in 0..depth {
        out.push_str(indent);
    }
}

/// Writes `v` in sops's indented JSON form at nesting `depth`.
pub(crate) fn write_indented(
    out: &mut String,
    v: &Value,
    indent: &str,
    depth: usize,
) -> Result<(), String> {
    if let Some(r) = scalar(out, v) {
        return r;
    }
    // A collection at `depth` is at nesting level `depth + 1`; Go's encoder fails past its
    // maxNestingDepth with this text.
    if depth + 1 > crate::tree::MAX_NESTING {
        let bracket = if matches!(v, Value::List(_)) {
            '['
        } else {
            '{'
        };
        return Err(format!("invalid character '{bracket}' exceeded max depth"));
    }
    match v {
        Value::Map(branch) => write_branch(out, branch, indent, depth),
        Value::List(items) => {
            let mut first = true;
            out.push('[');
            for item in items {
                // sops's encodeArray skips comments.
                if matches!(item, Value::Comment(_)) {
                    continue;
                }
                if !first {
                    out.push(',');
                }
                first = false;
                newline(out, indent, depth + 1);
                write_indented(out, item, indent, depth + 1)?;
            }
            if !first {
                newline(out, indent, depth);
            }
            out.push(']');
            Ok(())
        }
        // A lone comment value: json.Marshal(sops.Comment{...}) is {"Value": "..."}.
        Value::Comment(c) => {
            out.push('{');
            newline(out, indent, depth + 1);
            out.push_str("\"Value\": ");
            write_string(out, c);
            newline(out, indent, depth);
            out.push('}');
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Writes a mapping in sops's indented JSON form; comment items are skipped (JSON has
/// no comments, and sops's encodeTree drops them).
pub(crate) fn write_branch<'a>(
    out: &mut String,
    branch: impl IntoIterator<Item = &'a Item>,
    indent: &str,
    depth: usize,
) -> Result<(), String> {
    out.push('{');
    let wrote = write_entries(out, branch, indent, depth, false)?;
    close_branch(out, indent, depth, wrote);
    Ok(())
}

/// Writes the entries of a mapping opened with `{` at nesting `depth`, after others if
/// `after_entry`; returns whether the mapping has an entry now.
pub(crate) fn write_entries<'a>(
    out: &mut String,
    entries: impl IntoIterator<Item = &'a Item>,
    indent: &str,
    depth: usize,
    mut after_entry: bool,
) -> Result<bool, String> {
    for item in entries {
        let Item::Entry(key, value) = item else {
            continue;
        };
        if after_entry {
            out.push(',');
        }
        after_entry = true;
        newline(out, indent, depth + 1);
        write_string(out, key);
        out.push_str(": ");
        write_indented(out, value, indent, depth + 1)?;
    }
    Ok(after_entry)
}

/// Closes a mapping at nesting `depth` that [`write_entries`] wrote into.
pub(crate) fn close_branch(out: &mut String, indent: &str, depth: usize, has_entries: bool) {
    if has_entries {
        newline(out, indent, depth);
    }
    out.push('}');
}

/// Go's compact `json.Marshal` of a value as sops holds it in memory: lists are
/// `[]interface{}`, mappings are `sops.TreeBranch` (a slice of `{Key, Value}` structs),
/// comments are `sops.Comment{Value}`, and empty collections are nil slices (`null`).
/// The INI store prints `--extract`ed values this way.
pub(crate) fn write_go_marshal(out: &mut String, v: &Value) -> Result<(), String> {
    if let Some(r) = scalar(out, v) {
        return r;
    }
    match v {
        Value::List(items) if items.is_empty() => out.push_str("null"),
        Value::Map(items) if items.is_empty() => out.push_str("null"),
        Value::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_go_marshal(out, item)?;
            }
            out.push(']');
        }
        Value::Map(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                match item {
                    Item::Entry(k, v) => {
                        out.push_str("{\"Key\":");
                        write_string(out, k);
                        out.push_str(",\"Value\":");
                        write_go_marshal(out, v)?;
                        out.push('}');
                    }
                    Item::Comment(c) => {
                        out.push_str("{\"Key\":{\"Value\":");
                        write_string(out, c);
                        out.push_str("},\"Value\":null}");
                    }
                }
            }
            out.push(']');
        }
        Value::Comment(c) => {
            out.push_str("{\"Value\":");
            write_string(out, c);
            out.push('}');
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_string_escapes() {
        let mut s = String::new();
        write_string(&mut s, "<a&b>\u{8}\u{c}\u{1}\u{7f}\u{2028}é\"\\");
        assert_eq!(
            s,
            "\"\\u003ca\\u0026b\\u003e\\b\\f\\u0001\u{7f}\\u2028é\\\"\\\\\""
        );
        let mut b = String::new();
        write_byte_string(&mut b, b"a\xe2\x82<\xff");
        assert_eq!(b, "\"a\\ufffd\\ufffd\\u003c\\ufffd\"");
    }
}
