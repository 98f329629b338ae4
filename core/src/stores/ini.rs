//! The INI store: sops's `stores/ini`, which uses gopkg.in/ini.v1 (v1.67.0) with
//! `AllowNonUniqueSections`. The reader and writer below are hand-written to follow that
//! library's parser and `WriteTo` byte for byte, as sops configures it.
//!
//! Tree shape: every section is a top-level key whose value is a mapping of string values;
//! keys before the first header belong to the section `DEFAULT`, which is always present
//! (empty when unused). A section's leading comment is its first item; a key's comment
//! (the comment lines above it, plus an inline `; ...` after it) follows the key, without
//! its `;`/`#` marker. On output comments are written above their key as `; text`.
//! Metadata lives in a `[sops]` section, flattened (see [`super::flatten`]).

use std::collections::HashMap;

use super::flatten::{flatten_metadata, unflatten_metadata, val_to_bytes};
use super::json::go_lossy_utf8;
use super::json::write_go_marshal;
use super::{Store, StoreError};
use crate::tree::{Branch, Item, Value};

/// The INI store.
#[derive(Clone, Copy, Debug, Default)]
pub struct IniStore;

/// go-ini's implicit first section.
const DEFAULT_SECTION: &str = "DEFAULT";

/// One parsed or to-be-written section.
#[derive(Debug, Default)]
struct Section {
    name: String,
    comment: String,
    keys: Vec<Key>,
    /// Position of each key name in `keys` (go-ini keeps a map beside its key list).
    index: HashMap<String, usize>,
}

#[derive(Debug)]
struct Key {
    name: String,
    /// Bytes: a value sops encrypted from input that is not UTF-8 is written back as it
    /// was (a Go string), not with U+FFFD.
    value: Vec<u8>,
    comment: String,
}

impl Section {
    fn new(name: &str) -> Self {
        Section {
            name: name.to_string(),
            ..Default::default()
        }
    }

    /// go-ini's `NewKey` without shadows: a repeated name overwrites the value in place.
    fn set_key(&mut self, name: &str, value: Vec<u8>) -> Result<usize, String> {
        if name.is_empty() {
            return Err("error creating new key: empty key name".into());
        }
        if let Some(&i) = self.index.get(name) {
            self.keys[i].value = value;
            return Ok(i);
        }
        self.index.insert(name.to_string(), self.keys.len());
        self.keys.push(Key {
            name: name.to_string(),
            value,
            comment: String::new(),
        });
        Ok(self.keys.len() - 1)
    }
}

// ---------------------------------------------------------------------------------------
// Reading (go-ini parser.go)
// ---------------------------------------------------------------------------------------

struct Parser<'a> {
    s: &'a str,
    pos: usize,
    eof: bool,
    /// Comment lines collected for the next key or section.
    comment: String,
    /// Line number of the last line read, for error messages.
    line_no: usize,
}

/// go-ini's `cleanComment`: the text from the first `#` or `;` on.
fn clean_comment(s: &str) -> Option<&str> {
    s.find(['#', ';']).map(|i| &s[i..])
}

/// go-ini's `hasSurroundedQuote`: quoted at both ends and nowhere else.
fn has_surrounded_quote(s: &str, q: u8) -> bool {
    let b = s.as_bytes();
    b.len() >= 2
        && b[0] == q
        && b[b.len() - 1] == q
        && b[1..].iter().position(|c| *c == q) == Some(b.len() - 2)
}

impl<'a> Parser<'a> {
    /// go-ini's `readUntil('\n')`: the next line including its `\n`, or the rest.
    fn read_line(&mut self) -> &'a str {
        let rest = &self.s[self.pos..];
        self.line_no += 1;
        match rest.find('\n') {
            Some(i) => {
                self.pos += i + 1;
                &rest[..=i]
            }
            None => {
                self.pos = self.s.len();
                self.eof = true;
                rest
            }
        }
    }

    fn err(&self, what: &str) -> StoreError {
        StoreError::new(format!(
            "Could not unmarshal input data: line {}: {what}",
            self.line_no
        ))
    }

    /// go-ini's `readKeyName` with the delimiters `=` and `:`: the trimmed key and the
    /// offset just past the delimiter.
    fn key_name(&self, line: &str) -> Result<(String, usize), StoreError> {
        let quote = if line.starts_with('"') {
            if line.len() > 6 && line.starts_with("\"\"\"") {
                "\"\"\""
            } else {
                "\""
            }
        } else if line.starts_with('`') {
            "`"
        } else {
            ""
        };
        if !quote.is_empty() {
            let start = quote.len();
            let pos = line[start..]
                .find(quote)
                .ok_or_else(|| self.err("missing closing key quote"))?
                + start;
            let i = line[pos + start..]
                .find(['=', ':'])
                .ok_or_else(|| self.err("key-value delimiter not found"))?;
            let end = pos + i;
            return Ok((line[start..pos].trim().to_string(), end + start + 1));
        }
        match line.find(['=', ':']) {
            None => Err(self.err("key-value delimiter not found")),
            Some(0) => Err(self.err("empty key name")),
            Some(end) => Ok((line[..end].trim().to_string(), end + 1)),
        }
    }

    /// go-ini's `readMultilines`: continues a `"""` or backtick value up to the last
    /// closing quote on a later line; text after it is a comment if it has `#`/`;`.
    fn multilines(&mut self, mut val: String, quote: &str) -> Result<String, StoreError> {
        loop {
            let next = self.read_line();
            if let Some(pos) = next.rfind(quote) {
                val.push_str(&next[..pos]);
                if let Some(c) = clean_comment(&next[pos..]) {
                    self.comment.push_str(c.trim());
                }
                return Ok(val);
            }
            val.push_str(next);
            if self.eof {
                return Err(self.err("missing closing quote of a multi-line value"));
            }
        }
    }

    /// go-ini's `readContinuationLines`: a value ending in `\` continues on the next line.
    fn continuation(&mut self, mut val: String) -> String {
        loop {
            let next = self.read_line().trim();
            if next.is_empty() {
                break;
            }
            val.push_str(next);
            if !val.ends_with('\\') {
                break;
            }
            val.pop();
        }
        val
    }

    /// go-ini's `readValue` with sops's options (inline comments on, continuation lines
    /// on, surrounding quotes removed, no Python multi-line values).
    fn value(&mut self, input: &'a str) -> Result<String, StoreError> {
        let line = input.trim_start();
        if line.is_empty() {
            return Ok(String::new());
        }
        let quote = if line.len() > 3 && line.starts_with("\"\"\"") {
            "\"\"\""
        } else if line.starts_with('`') {
            "`"
        } else {
            ""
        };
        if !quote.is_empty() {
            let start = quote.len();
            return match line[start..].rfind(quote) {
                None => self.multilines(line[start..].to_string(), quote),
                Some(pos) => Ok(line[start..pos + start].to_string()),
            };
        }
        let mut line = line.trim();
        if let Some(stripped) = line.strip_suffix('\\') {
            return Ok(self.continuation(stripped.to_string()));
        }
        if let Some(i) = line.find(['#', ';']) {
            self.comment.push_str(&line[i..]);
            line = line[..i].trim();
        }
        if has_surrounded_quote(line, b'\'') || has_surrounded_quote(line, b'"') {
            line = &line[1..line.len() - 1];
        }
        Ok(line.to_string())
    }

    fn take_comment(&mut self) -> String {
        let c = self.comment.trim().to_string();
        self.comment.clear();
        c
    }

    /// go-ini's `parse`.
    fn parse(mut self) -> Result<Vec<Section>, StoreError> {
        let mut sections = vec![Section::new(DEFAULT_SECTION)];
        // Auto-increment counter for `-` keys, reset per section.
        let mut count = 1;
        while !self.eof {
            let line = self.read_line().trim_start();
            if line.is_empty() {
                continue;
            }
            if line.starts_with('#') || line.starts_with(';') {
                self.comment.push_str(line);
                continue;
            }
            if line.starts_with('[') {
                let close = line
                    .rfind(']')
                    .ok_or_else(|| self.err("unclosed section"))?;
                let name = &line[1..close];
                if name.is_empty() {
                    return Err(self.err("empty section name"));
                }
                let mut section = Section::new(name);
                if let Some(c) = clean_comment(&line[close + 1..]) {
                    self.comment.push_str(c);
                }
                section.comment = self.take_comment();
                sections.push(section);
                count = 1;
                continue;
            }
            let (mut name, offset) = self.key_name(line)?;
            if name == "-" {
                name = format!("#{count}");
                count += 1;
            }
            let value = self.value(&line[offset..])?;
            let comment = self.take_comment();
            let section = sections.last_mut().expect("DEFAULT is always present");
            let i = section
                .set_key(&name, value.into_bytes())
                .map_err(|e| self.err(&e))?;
            section.keys[i].comment = comment;
        }
        Ok(sections)
    }
}

/// sops's `stripCommentChar`.
fn strip_comment_char(c: &str) -> String {
    if c.starts_with(';') {
        c.trim_start_matches([';', ' ']).to_string()
    } else if c.starts_with('#') {
        c.trim_start_matches(['#', ' ']).to_string()
    } else {
        c.to_string()
    }
}

fn parse(input: &[u8]) -> Result<Vec<Section>, StoreError> {
    // go-ini skips a UTF-16 byte order mark (2 bytes) or a UTF-8 one (3 bytes).
    let input = if input.starts_with(&[0xfe, 0xff]) || input.starts_with(&[0xff, 0xfe]) {
        &input[2..]
    } else if input.starts_with(&[0xef, 0xbb, 0xbf]) {
        &input[3..]
    } else {
        input
    };
    let text = StoreError::utf8_text(input, "INI")?;
    Parser {
        s: &text,
        pos: 0,
        eof: false,
        comment: String::new(),
        line_no: 0,
    }
    .parse()
}

/// A parsed value back as text (the parser reads UTF-8 text only, so nothing is lost).
fn parsed_text(value: Vec<u8>) -> String {
    String::from_utf8(value).unwrap_or_else(|e| go_lossy_utf8(e.as_bytes()))
}

/// sops's `treeItemFromSection`.
fn section_to_item(section: Section) -> Item {
    let mut items = Vec::with_capacity(section.keys.len() + 1);
    if !section.comment.is_empty() {
        items.push(Item::Comment(strip_comment_char(&section.comment)));
    }
    for key in section.keys {
        items.push(Item::Entry(key.name, Value::Str(parsed_text(key.value))));
        if !key.comment.is_empty() {
            items.push(Item::Comment(strip_comment_char(&key.comment)));
        }
    }
    Item::Entry(section.name, Value::Map(items))
}

// ---------------------------------------------------------------------------------------
// Writing (sops's encodeTree + go-ini file.go writeToBuffer, PrettyFormat on)
// ---------------------------------------------------------------------------------------

/// Builds go-ini sections from tree items the way sops's `encodeTree` does: top-level
/// comments are dropped, every entry must be a mapping, a leading comment is the section
/// comment, and a comment after a key becomes that key's comment (the last one wins).
fn sections_from_tree(items: &[Item], out: &mut Vec<Section>) -> Result<(), StoreError> {
    for item in items {
        let Item::Entry(name, value) = item else {
            continue;
        };
        if name.is_empty() {
            return Err(StoreError::new(
                "Error marshaling to ini: Error encoding section : empty section name",
            ));
        }
        // sops's words exactly (they name no section).
        let Value::Map(body) = value else {
            return Err(StoreError::new(
                "Error marshaling to ini: Error encoding section: Section values should always be TreeBranches",
            ));
        };
        let mut section = Section::new(name);
        let mut rest = &body[..];
        if let Some(Item::Comment(c)) = body.first() {
            section.comment = c.clone();
            rest = &body[1..];
        }
        let mut last: Option<usize> = None;
        for entry in rest {
            match entry {
                Item::Comment(c) => {
                    if let Some(i) = last {
                        section.keys[i].comment = c.clone();
                    }
                }
                Item::Entry(k, v) => {
                    let i = section.set_key(k, val_to_bytes(v)).map_err(|e| {
                        StoreError::new(format!("Error marshaling to ini: Error encoding key: {e}"))
                    })?;
                    last = Some(i);
                }
            }
        }
        out.push(section);
    }
    Ok(())
}

/// go-ini's comment line rewriting: lines already starting with `#`/`;` keep that marker
/// followed by one space; other lines get `; `. Key comment lines are trimmed, section
/// comment lines without a marker are not (go-ini's asymmetry). go-ini crashes on an
/// empty line; keytap writes `; ` for it.
fn write_comment(out: &mut Vec<u8>, comment: &str, trim_plain: bool) {
    for line in comment.split('\n') {
        if line.starts_with('#') || line.starts_with(';') {
            out.extend_from_slice(&line.as_bytes()[..1]);
            out.push(b' ');
            out.extend_from_slice(line[1..].trim().as_bytes());
        } else {
            out.extend_from_slice(b"; ");
            out.extend_from_slice(if trim_plain { line.trim() } else { line }.as_bytes());
        }
        out.push(b'\n');
    }
}

/// The key as go-ini writes it: backticks around keys with `"`, `=` or `:`, triple
/// quotes around keys with a backtick.
fn quoted_key(name: &str) -> String {
    if name.contains(['"', '=', ':']) {
        format!("`{name}`")
    } else if name.contains('`') {
        format!("\"\"\"{name}\"\"\"")
    } else {
        name.to_string()
    }
}

/// The value as go-ini writes it: triple quotes for newlines or backticks, backticks for
/// `#`/`;`, double quotes for leading or trailing whitespace.
fn quoted_value(val: &[u8]) -> Vec<u8> {
    let has = |set: &[u8]| val.iter().any(|b| set.contains(b));
    let quote: &[u8] = if has(b"\n`") {
        b"\"\"\""
    } else if has(b"#;") {
        b"`"
    } else if has_outer_space(val) {
        b"\""
    } else {
        b""
    };
    [quote, val, quote].concat()
}

/// Whether Go's `strings.TrimSpace` would change the value (Unicode spaces; a byte that
/// is not UTF-8 is no space).
fn has_outer_space(val: &[u8]) -> bool {
    let text = String::from_utf8_lossy(val);
    text.trim().len() != text.len()
}

/// go-ini's `writeToBuffer` with its defaults (PrettyFormat, PrettySection, no
/// DefaultHeader, `" = "`).
fn write_sections(sections: &[Section]) -> Vec<u8> {
    let mut out = Vec::new();
    let last = sections.len().saturating_sub(1);
    for (i, sec) in sections.iter().enumerate() {
        if !sec.comment.is_empty() {
            write_comment(&mut out, &sec.comment, false);
        }
        if i > 0 || sec.name.to_uppercase() != DEFAULT_SECTION {
            out.push(b'[');
            out.extend_from_slice(sec.name.as_bytes());
            out.extend_from_slice(b"]\n");
        } else if sec.keys.is_empty() {
            // An empty default section writes nothing, not even the blank line.
            continue;
        }
        // Align `=` using the longest (quoted) key name, in bytes.
        let align = sec
            .keys
            .iter()
            .map(|k| quoted_key(&k.name).len())
            .max()
            .unwrap_or(0);
        for key in &sec.keys {
            if !key.comment.is_empty() {
                write_comment(&mut out, &key.comment, true);
            }
            let name = quoted_key(&key.name);
            out.extend_from_slice(name.as_bytes());
            out.resize(out.len() + align.saturating_sub(name.len()), b' ');
            out.extend_from_slice(b" = ");
            out.extend_from_slice(&quoted_value(&key.value));
            out.push(b'\n');
        }
        if i != last {
            out.push(b'\n');
        }
    }
    out
}

impl Store for IniStore {
    fn load_plain(&self, input: &[u8]) -> Result<Vec<Branch>, StoreError> {
        Ok(vec![parse(input)?
            .into_iter()
            .map(section_to_item)
            .collect()])
    }

    /// The metadata is the first `[sops]` section (its keys un-flattened); every `[sops]`
    /// section is removed from the data. No `[sops]` section means no metadata (`None`).
    fn load_encrypted(&self, input: &[u8]) -> Result<(Vec<Branch>, Option<Branch>), StoreError> {
        let mut metadata = None;
        let mut data = Vec::new();
        for section in parse(input)? {
            if section.name == "sops" {
                if metadata.is_none() {
                    let flat = section
                        .keys
                        .into_iter()
                        .map(|k| (k.name, parsed_text(k.value)))
                        .collect();
                    metadata = Some(unflatten_metadata(flat)?);
                }
            } else {
                data.push(section_to_item(section));
            }
        }
        Ok((vec![data], metadata))
    }

    /// Writes the sections of every document, in order (as sops does).
    fn emit_plain(&self, docs: &[Branch]) -> Result<Vec<u8>, StoreError> {
        let mut sections = Vec::new();
        for doc in docs {
            sections_from_tree(doc, &mut sections)?;
        }
        Ok(write_sections(&sections))
    }

    /// The data sections followed by `[sops]` with the flattened metadata, sorted by key
    /// (sops writes them in Go's random map order).
    fn emit_encrypted(&self, docs: &[Branch], metadata: &Branch) -> Result<Vec<u8>, StoreError> {
        let mut sections = Vec::new();
        for doc in docs {
            sections_from_tree(doc, &mut sections)?;
        }
        let mut md = Section::new("sops");
        for (k, v) in flatten_metadata(metadata) {
            md.set_key(&k, v.into_bytes()).map_err(|e| {
                StoreError::new(format!("Error marshaling to ini: Error encoding key: {e}"))
            })?;
        }
        sections.push(md);
        Ok(write_sections(&sections))
    }

    /// sops's INI `EmitValue` is Go's `json.Marshal` of the in-memory value: compact,
    /// no trailing newline, lists as JSON arrays, mappings as `[{"Key":..,"Value":..}]`.
    fn emit_value(&self, value: &Value) -> Result<Vec<u8>, StoreError> {
        let mut out = String::new();
        write_go_marshal(&mut out, value).map_err(StoreError::new)?;
        Ok(out.into_bytes())
    }
}
