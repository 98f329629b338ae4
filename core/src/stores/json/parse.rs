//! A JSON parser hand-written to read documents the way sops's JSON store does.
//!
//! sops walks Go's `encoding/json` token stream itself (not `Unmarshal` into a map), so:
//! key order and duplicate keys are kept; every number is a float64 (Go's `Token()` has
//! no `UseNumber`), a number out of float64 range is an error; strings decode like Go
//! (`\u` + four hex digits: surrogate pairs combined, lone surrogates and invalid UTF-8 bytes each
//! become U+FFFD); control characters in strings are syntax errors. Error messages use
//! Go's wording (`invalid character 'x' after object key`) and never quote input text
//! beyond the one offending character; a plaintext file's errors are those of the
//! `json.Decoder.Token` stream sops walks (`unexpected EOF`, no context just after `{`,
//! a top-level scalar named as Go's `%#v` names it), an encrypted file's `Unmarshal`'s.
//!
//! Differences from sops, on purpose: sops's plain-file reader stops at the closing `}`
//! of the top-level object and ignores what follows, and treats input cut off inside a
//! value as if the object ended there; keytap rejects both (a truncated file would
//! otherwise silently lose secrets).
//!
//! Depth: an encrypted file is read as Go's `json.Unmarshal` reads it, up to 10,000
//! nested values. sops reads plaintext with a tokenizer that has no limit and only fails
//! when it writes the result; keytap reads plaintext up to twice that (a guard for the
//! stack), so deeper-than-10,000 plaintext fails where sops's does, when written.

use crate::tree::{Branch, Item, Value};

/// Deepest nesting of objects and arrays in an encrypted file (Go's `maxNestingDepth`).
pub(crate) const MAX_DEPTH: usize = crate::tree::MAX_NESTING;

/// Deepest nesting of objects and arrays in a plaintext file.
pub(crate) const MAX_PLAIN_DEPTH: usize = 2 * crate::tree::MAX_NESTING;

/// How numbers become values.
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Numbers {
    /// Every number is a float64, as sops reads data.
    Float,
    /// An integer literal that fits an i64 is an `Int` (how Go unmarshals sops's
    /// metadata struct, whose `shamir_threshold` is an `int`); anything else a float.
    IntWhenIntegral,
}

pub(crate) struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
    depth: usize,
    max_depth: usize,
    /// Whether errors read as from Go's `json.Decoder.Token`, which sops walks for a
    /// plaintext file, rather than from `json.Unmarshal` (an encrypted one).
    tokens: bool,
    /// The entries of the objects being parsed, innermost last: an object pushes its
    /// entries here and, at its `}`, moves them into a vector of exactly their number. A
    /// vector per object grew by doubling instead, copying itself each time (a twentieth
    /// of a large file's decrypt).
    open_entries: Vec<Item>,
    /// The same for the elements of the arrays being parsed.
    open_elements: Vec<Value>,
    /// Where a key of the top-level object starts at which to stop ([`Parser::document`]
    /// then returns the entries before it; see [`super::halves`]), or `usize::MAX`.
    cut: usize,
    /// Whether the parser stopped at `cut`.
    stopped_at_cut: bool,
}

type PResult<T> = Result<T, String>;

impl Drop for Parser<'_> {
    /// After an error, the entries parsed so far (plaintext, in a plain file) are wiped.
    fn drop(&mut self) {
        crate::tree::wipe(std::slice::from_mut(&mut self.open_entries));
        self.open_elements
            .iter_mut()
            .for_each(crate::tree::wipe_value);
    }
}

/// Go's `quoteChar` from `encoding/json` (the `'x'` in syntax errors). A byte is shown
/// as the Latin-1 character of the same value, as Go does.
fn quote_char(c: u8) -> String {
    match c {
        b'\'' => "'\\''".to_string(),
        b'"' => "'\"'".to_string(),
        0x07 => "'\\a'".to_string(),
        0x08 => "'\\b'".to_string(),
        0x0c => "'\\f'".to_string(),
        b'\n' => "'\\n'".to_string(),
        b'\r' => "'\\r'".to_string(),
        b'\t' => "'\\t'".to_string(),
        0x0b => "'\\v'".to_string(),
        b'\\' => "'\\\\'".to_string(),
        0x00..=0x1f | 0x7f => format!("'\\x{:02x}'", c),
        0x80..=0xa0 | 0xad => format!("'\\u00{:02x}'", c),
        _ => format!("'{}'", char::from(c)),
    }
}

fn invalid(c: u8, context: &str) -> String {
    format!("invalid character {} {}", quote_char(c), context)
}

const UNEXPECTED_END: &str = "unexpected end of JSON input";

/// sops's error when the input ends where an object key should be: `Token()` returned
/// `io.EOF`, which it takes for a nil key.
const NO_KEY: &str = "Expected JSON object key, got %!s(<nil>) of type <nil> instead";

impl<'a> Parser<'a> {
    /// A parser for an encrypted file.
    pub(crate) fn new(s: &'a [u8]) -> Self {
        Parser {
            s,
            pos: 0,
            depth: 0,
            max_depth: MAX_DEPTH,
            tokens: false,
            open_entries: Vec::new(),
            open_elements: Vec::new(),
            cut: usize::MAX,
            stopped_at_cut: false,
        }
    }

    /// Makes [`Parser::document`] stop before the top-level key starting at `cut`, if the
    /// document has one there (see [`Parser::stopped_at_cut`]).
    pub(crate) fn stop_at(mut self, cut: usize) -> Self {
        self.cut = cut;
        self
    }

    /// Whether [`Parser::document`] stopped at the cut given to [`Parser::stop_at`]
    /// (returning the entries before it) rather than parsing the whole document.
    pub(crate) fn stopped_at_cut(&self) -> bool {
        self.stopped_at_cut
    }

    /// A parser for a plaintext file.
    pub(crate) fn new_plain(s: &'a [u8]) -> Self {
        let mut parser = Parser::new(s);
        parser.max_depth = MAX_PLAIN_DEPTH;
        parser.tokens = true;
        parser
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    /// The error for input that ends inside a value: `Token()` reads values with a
    /// stream decoder, which says so differently from `Unmarshal`.
    fn end(&self) -> String {
        match self.tokens {
            true => "unexpected EOF".into(),
            false => UNEXPECTED_END.into(),
        }
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    /// Parses a whole document whose top level must be an object. `sops_numbers` is how
    /// numbers under the top-level `sops` key are read (encrypted files).
    pub(crate) fn document(&mut self, sops_numbers: Numbers) -> PResult<Branch> {
        self.skip_ws();
        let branch = match self.peek() {
            None if self.tokens => return Err("EOF".into()),
            // encoding/json's words.
            None => return Err("unexpected end of JSON input".into()),
            Some(b'{') => {
                self.pos += 1;
                let branch = self.object(Numbers::Float, Some(sops_numbers))?;
                if self.stopped_at_cut {
                    return Ok(branch);
                }
                branch
            }
            Some(b'[') => return Err("Expected JSON object start, got delimiter [ instead".into()),
            // sops decodes the value, then names it as Go's `%#v` and `%T` do.
            Some(_) if self.tokens => {
                let value = self.value(Numbers::Float)?;
                let (shown, type_name) = super::gofmt::go_sharp_v(&value);
                crate::tree::wipe_value(&mut { value });
                return Err(format!(
                    "Expected JSON object start, got {shown} of type {type_name} instead"
                ));
            }
            Some(c) => {
                let kind = match c {
                    b'"' => "a string",
                    b'-' | b'0'..=b'9' => "a number",
                    b't' | b'f' => "a boolean",
                    b'n' => "null",
                    _ => return Err(invalid(c, "looking for beginning of value")),
                };
                return Err(format!("Expected JSON object start, got {kind} instead"));
            }
        };
        self.end_of_document()?;
        Ok(branch)
    }

    /// The entries of the top-level object from `cut`, where one of its keys starts, to
    /// the end of the document: what [`Parser::document`] would return after those before
    /// `cut`, or the error it would meet after them.
    pub(crate) fn entries_from(&mut self, cut: usize, sops_numbers: Numbers) -> PResult<Branch> {
        self.pos = cut;
        self.depth = 1;
        let branch = self.entries(Numbers::Float, Some(sops_numbers), false)?;
        self.end_of_document()?;
        Ok(branch)
    }

    /// Only white space may follow the top-level object.
    fn end_of_document(&mut self) -> PResult<()> {
        self.skip_ws();
        match self.peek() {
            Some(c) => Err(invalid(c, "after top-level value")),
            None => Ok(()),
        }
    }

    /// Go's `maxNestingDepth`: its error names the opening bracket.
    fn enter(&mut self) -> PResult<()> {
        self.depth += 1;
        if self.depth > self.max_depth {
            return Err(invalid(self.s[self.pos - 1], "exceeded max depth"));
        }
        Ok(())
    }

    /// After `{`. `top` carries the number mode for a `sops` key (top level only).
    fn object(&mut self, numbers: Numbers, top: Option<Numbers>) -> PResult<Branch> {
        self.enter()?;
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            self.depth -= 1;
            return Ok(Vec::new());
        }
        self.entries(numbers, top, true)
    }

    /// An object's entries, from where a key is expected (`at_start`: just after its `{`)
    /// to after its `}`.
    fn entries(
        &mut self,
        numbers: Numbers,
        top: Option<Numbers>,
        at_start: bool,
    ) -> PResult<Branch> {
        let start = self.open_entries.len();
        let mut at_start = at_start;
        loop {
            self.skip_ws();
            if self.pos == self.cut && self.depth == 1 {
                self.stopped_at_cut = true;
                return Ok(self.open_entries.drain(start..).collect());
            }
            match self.peek() {
                None if self.tokens => return Err(NO_KEY.into()),
                None => return Err(self.end()),
                Some(b'"') => self.pos += 1,
                // Go's tokenError has no context for the state just after `{`.
                Some(c) if self.tokens && at_start => {
                    return Err(format!("invalid character {}", quote_char(c)))
                }
                Some(c) => return Err(invalid(c, "looking for beginning of object key string")),
            }
            at_start = false;
            let key = self.string()?;
            self.skip_ws();
            match self.peek() {
                None => return Err(self.end()),
                Some(b':') => self.pos += 1,
                Some(c) => return Err(invalid(c, "after object key")),
            }
            let value_numbers = match top {
                Some(n) if key == "sops" => n,
                _ => numbers,
            };
            let value = self.value(value_numbers)?;
            self.open_entries.push(Item::Entry(key, value));
            self.skip_ws();
            match self.peek() {
                None if self.tokens => return Err(NO_KEY.into()),
                None => return Err(self.end()),
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    self.depth -= 1;
                    return Ok(self.open_entries.drain(start..).collect());
                }
                Some(c) => return Err(invalid(c, "after object key:value pair")),
            }
        }
    }

    /// After `[`.
    fn array(&mut self, numbers: Numbers) -> PResult<Vec<Value>> {
        self.enter()?;
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            self.depth -= 1;
            return Ok(Vec::new());
        }
        let start = self.open_elements.len();
        loop {
            let element = self.value(numbers)?;
            self.open_elements.push(element);
            self.skip_ws();
            match self.peek() {
                None => return Err(self.end()),
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    self.depth -= 1;
                    return Ok(self.open_elements.drain(start..).collect());
                }
                Some(c) => return Err(invalid(c, "after array element")),
            }
        }
    }

    fn value(&mut self, numbers: Numbers) -> PResult<Value> {
        self.skip_ws();
        match self.peek() {
            None => Err(self.end()),
            Some(b'{') => {
                self.pos += 1;
                Ok(Value::Map(self.object(numbers, None)?))
            }
            Some(b'[') => {
                self.pos += 1;
                Ok(Value::List(self.array(numbers)?))
            }
            Some(b'"') => {
                self.pos += 1;
                Ok(Value::Str(self.string()?))
            }
            Some(b't') => self.literal("true", Value::Bool(true)),
            Some(b'f') => self.literal("false", Value::Bool(false)),
            Some(b'n') => self.literal("null", Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number(numbers),
            Some(c) => Err(invalid(c, "looking for beginning of value")),
        }
    }

    fn literal(&mut self, word: &str, v: Value) -> PResult<Value> {
        for expected in word.bytes() {
            match self.peek() {
                None => return Err(self.end()),
                Some(c) if c == expected => self.pos += 1,
                Some(c) => {
                    // Go: "in literal true (expecting 'r')"; the first letter chose the literal.
                    return Err(invalid(
                        c,
                        &format!("in literal {word} (expecting {})", quote_char(expected)),
                    ));
                }
            }
        }
        Ok(v)
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
    }

    fn number(&mut self, numbers: Numbers) -> PResult<Value> {
        let start = self.pos;
        let mut integral = true;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            None => return Err(self.end()),
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => self.digits(),
            Some(c) => return Err(invalid(c, "in numeric literal")),
        }
        if self.peek() == Some(b'.') {
            integral = false;
            self.pos += 1;
            match self.peek() {
                None => return Err(self.end()),
                Some(b'0'..=b'9') => self.digits(),
                Some(c) => return Err(invalid(c, "after decimal point in numeric literal")),
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            integral = false;
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            match self.peek() {
                None => return Err(self.end()),
                Some(b'0'..=b'9') => self.digits(),
                Some(c) => return Err(invalid(c, "in exponent of numeric literal")),
            }
        }
        // ASCII by construction, copied before it is checked (the input may be a mapped
        // file that changes meanwhile).
        let text =
            String::from_utf8(self.s[start..self.pos].to_vec()).unwrap_or_else(|_| "0".into());
        let text = text.as_str();
        if numbers == Numbers::IntWhenIntegral && integral {
            if let Ok(i) = text.parse::<i64>() {
                return Ok(Value::Int(i));
            }
        }
        match text.parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(Value::Float(f)),
            _ => Err(format!(
                "json: cannot unmarshal number {text} into Go value of type float64"
            )),
        }
    }

    fn hex4(&mut self) -> PResult<u32> {
        let mut v = 0u32;
        for _ in 0..4 {
            let c = self.peek().ok_or_else(|| self.end())?;
            let d = (c as char)
                .to_digit(16)
                .ok_or_else(|| invalid(c, "in \\u hexadecimal character escape"))?;
            v = v * 16 + d;
            self.pos += 1;
        }
        Ok(v)
    }

    /// A `\u` escape (four hex digits) starting at `self.pos` (pointing at the backslash),
    /// if well-formed.
    fn peek_u_escape(&self) -> Option<u32> {
        let s = self.s.get(self.pos..self.pos + 6)?;
        if s[0] != b'\\' || s[1] != b'u' {
            return None;
        }
        let hex: [u8; 4] = s[2..].try_into().ok()?;
        let text = std::str::from_utf8(&hex).ok()?;
        u32::from_str_radix(text, 16)
            .ok()
            .filter(|_| text.bytes().all(|b| b.is_ascii_hexdigit()))
    }

    /// After the opening quote; consumes the closing quote.
    fn string(&mut self) -> PResult<String> {
        let stop = |b: u8| b == b'"' || b == b'\\' || b < 0x20;
        // Most strings (every encrypted value) have no escapes and are valid UTF-8: one copy.
        // The quote is found by SIMD search and the control-byte check folds without
        // stopping early, so that both compile to vector code.
        let rest = &self.s[self.pos..];
        if let Some(run) = memchr::memchr2(b'"', b'\\', rest) {
            let body = &rest[..run];
            if rest[run] == b'"' && !body.iter().fold(false, |bad, &b| bad | (b < 0x20)) {
                // Copied, then checked: the input may be a mapped file that changes
                // meanwhile.
                if let Ok(text) = String::from_utf8(body.to_vec()) {
                    self.pos += run + 1;
                    return Ok(text);
                }
            }
        }
        let mut raw: Vec<u8> = Vec::new();
        loop {
            // Fast path: copy the run of ordinary bytes up to a quote, backslash or control.
            let rest = &self.s[self.pos..];
            let run = rest.iter().position(|&b| stop(b)).unwrap_or(rest.len());
            raw.extend_from_slice(&rest[..run]);
            self.pos += run;
            let c = self.peek().ok_or_else(|| self.end())?;
            self.pos += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    let e = self.peek().ok_or_else(|| self.end())?;
                    self.pos += 1;
                    let ch = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let r = self.hex4()?;
                            if (0xD800..0xE000).contains(&r) {
                                // Go: combine a valid high+low pair; anything else is U+FFFD
                                // and a following escape is read on its own.
                                match self.peek_u_escape() {
                                    Some(r2)
                                        if (0xD800..0xDC00).contains(&r)
                                            && (0xDC00..0xE000).contains(&r2) =>
                                    {
                                        self.pos += 6;
                                        let cp = 0x10000 + ((r - 0xD800) << 10) + (r2 - 0xDC00);
                                        char::from_u32(cp).unwrap_or('\u{FFFD}')
                                    }
                                    _ => '\u{FFFD}',
                                }
                            } else {
                                char::from_u32(r).unwrap_or('\u{FFFD}')
                            }
                        }
                        other => return Err(invalid(other, "in string escape code")),
                    };
                    let mut buf = [0u8; 4];
                    raw.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                }
                0x00..=0x1f => return Err(invalid(c, "in string literal")),
                _ => raw.push(c),
            }
        }
        Ok(go_lossy_utf8(&raw))
    }
}

/// Walks bytes the way Go's `utf8.DecodeRune` loop does: valid UTF-8 runs are passed as
/// text, and every byte that does not start a valid sequence is passed on its own
/// (Rust's `from_utf8_lossy` would treat a whole truncated sequence as one error).
pub(crate) fn for_each_go_rune(raw: &[u8], mut f: impl FnMut(Result<&str, u8>)) {
    let mut i = 0;
    while i < raw.len() {
        match std::str::from_utf8(&raw[i..]) {
            Ok(s) => {
                f(Ok(s));
                return;
            }
            Err(e) => {
                let valid = e.valid_up_to();
                if valid > 0 {
                    // The prefix was just validated, so this cannot fail.
                    f(Ok(
                        std::str::from_utf8(&raw[i..i + valid]).unwrap_or_default()
                    ));
                    i += valid;
                }
                f(Err(raw[i]));
                i += 1;
            }
        }
    }
}

/// Decodes bytes as Go does when it converts them to text: every byte that does not
/// start a valid UTF-8 sequence becomes one U+FFFD.
pub(crate) fn go_lossy_utf8(raw: &[u8]) -> String {
    let mut out = String::with_capacity(raw.len());
    for_each_go_rune(raw, |r| match r {
        Ok(s) => out.push_str(s),
        Err(_) => out.push('\u{FFFD}'),
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> PResult<Branch> {
        Parser::new(s.as_bytes()).document(Numbers::Float)
    }

    #[test]
    fn errors_are_go_worded() {
        assert_eq!(
            parse(r#"{"a" 1}"#).unwrap_err(),
            "invalid character '1' after object key"
        );
        assert_eq!(
            parse(r#"{"a":1,}"#).unwrap_err(),
            "invalid character '}' looking for beginning of object key string"
        );
        assert_eq!(
            parse(r#"{"a":01}"#).unwrap_err(),
            "invalid character '1' after object key:value pair"
        );
        assert_eq!(
            parse(r#"{"a":tru}"#).unwrap_err(),
            "invalid character '}' in literal true (expecting 'e')"
        );
        assert_eq!(
            parse(
                r#"{"a":"x
"}"#
            )
            .unwrap_err(),
            "invalid character '\\n' in string literal"
        );
        assert!(parse(r#"{"a":1E400}"#)
            .unwrap_err()
            .contains("cannot unmarshal number 1E400"));
    }

    #[test]
    fn nested_collections_keep_their_own_members() {
        // Objects and arrays share the parser's stacks of open members: each takes back
        // exactly its own, whatever nests inside it.
        let entry = |k: &str, v: Value| Item::Entry(k.into(), v);
        let b =
            parse(r#"{"a":{"b":[1,{"c":2,"d":[3,[],{}]},5],"e":6},"f":[],"g":{"h":[7]}}"#).unwrap();
        assert_eq!(
            b,
            vec![
                entry(
                    "a",
                    Value::Map(vec![
                        entry(
                            "b",
                            Value::List(vec![
                                Value::Float(1.0),
                                Value::Map(vec![
                                    entry("c", Value::Float(2.0)),
                                    entry(
                                        "d",
                                        Value::List(vec![
                                            Value::Float(3.0),
                                            Value::List(vec![]),
                                            Value::Map(vec![]),
                                        ])
                                    ),
                                ]),
                                Value::Float(5.0),
                            ])
                        ),
                        entry("e", Value::Float(6.0)),
                    ])
                ),
                entry("f", Value::List(vec![])),
                entry(
                    "g",
                    Value::Map(vec![entry("h", Value::List(vec![Value::Float(7.0)]))])
                ),
            ]
        );
    }

    #[test]
    fn strings_decode_like_go() {
        let b = parse(r#"{"a":"\ud800x\ud83d\ude00\udc00"}"#).unwrap();
        assert_eq!(
            b,
            vec![Item::Entry(
                "a".into(),
                Value::Str("\u{FFFD}x😀\u{FFFD}".into())
            )]
        );
        assert_eq!(go_lossy_utf8(b"\xe2\x82A\xff"), "\u{FFFD}\u{FFFD}A\u{FFFD}");
    }
}
