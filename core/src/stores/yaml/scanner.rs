//! YAML tokenizer with go-yaml v3's comment attribution.
//!
//! sops keeps comments by reading go-yaml v3's `HeadComment`/`LineComment`/`FootComment`
//! node fields, and which field a comment lands in is decided inside go-yaml's scanner:
//! it depends on the token queue, the current indentation level, the number of line breaks
//! just skipped and the scanner's two-token lookahead. No generic YAML parser exposes that
//! state, so this scanner follows the structure of go-yaml's `scannerc.go` (itself derived
//! from libyaml) closely, state variable by state variable. Where a quirk looks odd (the
//! `peek` counter skipping the break right after a comment, CR LF counting as two breaks
//! while looking for empty lines, marks counting characters), it is kept on purpose: it is
//! hand-written to match go-yaml byte for byte. This file holds the token queue, simple
//! keys, indentation and the dispatch; comments, properties (directives, anchors, tags)
//! and scalars are scanned in the submodules.

mod comments;
mod properties;
mod scalars;

use std::collections::HashMap;

/// A position in the input. `index` counts characters (CR LF counts as two), `line` and
/// `column` start at 0. Signed because go-yaml computes `index - 1` and compares columns
/// with an indentation of -1.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Mark {
    pub index: i64,
    pub line: i64,
    pub column: i64,
}

/// Scalar styles as the scanner reports them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ScalarStyle {
    Plain,
    SingleQuoted,
    DoubleQuoted,
    Literal,
    Folded,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TokenType {
    StreamStart,
    StreamEnd,
    VersionDirective,
    TagDirective,
    DocumentStart,
    DocumentEnd,
    BlockSequenceStart,
    BlockMappingStart,
    BlockEnd,
    FlowSequenceStart,
    FlowSequenceEnd,
    FlowMappingStart,
    FlowMappingEnd,
    BlockEntry,
    FlowEntry,
    Key,
    Value,
    Alias,
    Anchor,
    Tag,
    Scalar,
}

#[derive(Clone, Debug)]
pub(crate) struct Token {
    pub typ: TokenType,
    pub start_mark: Mark,
    pub end_mark: Mark,
    /// Scalar text, anchor/alias name, tag handle or tag-directive handle.
    pub value: String,
    /// Tag suffix.
    pub suffix: String,
    /// Tag-directive prefix.
    pub prefix: String,
    pub style: ScalarStyle,
    pub major: i32,
    pub minor: i32,
}

impl Token {
    fn new(typ: TokenType, start_mark: Mark, end_mark: Mark) -> Token {
        Token {
            typ,
            start_mark,
            end_mark,
            value: String::new(),
            suffix: String::new(),
            prefix: String::new(),
            style: ScalarStyle::Plain,
            major: 0,
            minor: 0,
        }
    }
}

/// A comment as go-yaml's scanner records it, before the parser attaches it to an event.
#[derive(Clone, Debug, Default)]
pub(crate) struct Comment {
    pub scan_mark: Mark,
    pub token_mark: Mark,
    pub start_mark: Mark,
    pub end_mark: Mark,
    pub head: String,
    pub line: String,
    pub foot: String,
}

/// A scanner or parser error, formatted the way go-yaml's `parser.fail` does.
#[derive(Clone, Debug)]
pub(crate) struct SyntaxError {
    pub scanner: bool,
    pub context_line: i64,
    pub problem_line: i64,
    pub problem: String,
}

impl SyntaxError {
    /// `yaml: line N: problem`, with go-yaml's line choice (context line first; scanner
    /// errors are 0-based there and get +1, parser errors do not).
    pub fn message(&self) -> String {
        let mut line = 0;
        if self.context_line != 0 {
            line = self.context_line;
            if self.scanner {
                line += 1;
            }
        } else if self.problem_line != 0 {
            line = self.problem_line;
            if self.scanner {
                line += 1;
            }
        }
        let problem = if self.problem.is_empty() {
            "unknown problem parsing YAML content"
        } else {
            &self.problem
        };
        if line != 0 {
            format!("yaml: line {line}: {problem}")
        } else {
            format!("yaml: {problem}")
        }
    }
}

type SResult<T> = Result<T, SyntaxError>;

#[derive(Clone, Copy, Debug, Default)]
struct SimpleKey {
    possible: bool,
    required: bool,
    token_number: usize,
    mark: Mark,
}

const MAX_INDENTS: usize = 10000;
const MAX_FLOW_LEVEL: usize = 10000;

pub(crate) fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}
pub(crate) fn is_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}
pub(crate) fn is_breakz(c: char) -> bool {
    is_break(c) || c == '\0'
}
pub(crate) fn is_blankz(c: char) -> bool {
    is_blank(c) || is_breakz(c)
}
pub(crate) fn is_alpha(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// The tokenizer. Holds the whole input as UTF-8; every read past its end is NUL, which
/// plays the role of go-yaml's buffer end marker (no padding is appended: that copied a
/// large file once more). `pos` is a byte offset; marks count characters, as go-yaml's do.
pub(crate) struct Scanner {
    /// The text; sliced as `str` at character boundaries, so copies need no UTF-8 check.
    buf: String,
    pos: usize,
    pub(crate) mark: Mark,
    newlines: i64,

    pub(crate) tokens: Vec<Token>,
    pub(crate) tokens_head: usize,
    pub(crate) tokens_parsed: usize,
    token_available: bool,
    stream_start_produced: bool,
    pub(crate) stream_end_produced: bool,

    indent: i64,
    indents: Vec<i64>,
    simple_key_allowed: bool,
    simple_keys: Vec<SimpleKey>,
    simple_keys_by_tok: HashMap<usize, usize>,
    flow_level: usize,

    pub(crate) comments: Vec<Comment>,
    pub(crate) comments_head: usize,
}

impl Scanner {
    /// Overwrites the text and whatever tokens and comments are still queued (a plaintext
    /// file's, before it is freed).
    pub(crate) fn wipe(&mut self) {
        crate::tree::wipe_text(&mut self.buf);
        for token in &mut self.tokens {
            crate::tree::wipe_text(&mut token.value);
        }
        for comment in &mut self.comments {
            for text in [&mut comment.head, &mut comment.line, &mut comment.foot] {
                crate::tree::wipe_text(text);
            }
        }
    }

    /// A scanner over already-decoded text (see `reader::decode`).
    pub(crate) fn new(text: String) -> Scanner {
        Scanner {
            buf: text,
            pos: 0,
            mark: Mark::default(),
            newlines: 0,
            tokens: Vec::with_capacity(64),
            tokens_head: 0,
            tokens_parsed: 0,
            token_available: false,
            stream_start_produced: false,
            stream_end_produced: false,
            indent: 0,
            indents: Vec::new(),
            simple_key_allowed: false,
            simple_keys: Vec::new(),
            simple_keys_by_tok: HashMap::new(),
            flow_level: 0,
            comments: Vec::new(),
            comments_head: 0,
        }
    }

    // ---- character access -------------------------------------------------------------

    /// The character `offset` characters past the current one ('\0' past the end).
    fn at(&self, offset: usize) -> char {
        let mut i = self.pos;
        for _ in 0..offset {
            i += self.width_at(i);
        }
        self.char_at(i)
    }
    fn char_at(&self, i: usize) -> char {
        match self.buf.as_bytes().get(i) {
            None => '\0',
            Some(&b) if b < 0x80 => b as char,
            Some(_) => self
                .buf
                .get(i..)
                .and_then(|rest| rest.chars().next())
                .unwrap_or('\0'),
        }
    }
    /// Bytes in the character at `i` (1 past the end, so positions always advance).
    fn width_at(&self, i: usize) -> usize {
        self.buf
            .as_bytes()
            .get(i)
            .map_or(1, |&b| utf8_width(b).max(1))
    }
    fn cur(&self) -> char {
        self.at(0)
    }
    fn is_crlf(&self) -> bool {
        self.at(0) == '\r' && self.at(1) == '\n'
    }

    fn skip(&mut self) {
        if !is_blank(self.cur()) {
            self.newlines = 0;
        }
        self.mark.index += 1;
        self.mark.column += 1;
        self.pos += self.width_at(self.pos);
    }

    fn skip_line(&mut self) {
        if self.is_crlf() {
            self.mark.index += 2;
            self.mark.column = 0;
            self.mark.line += 1;
            self.pos += 2;
            self.newlines += 1;
        } else if is_break(self.cur()) {
            self.mark.index += 1;
            self.mark.column = 0;
            self.mark.line += 1;
            self.pos += self.width_at(self.pos);
            self.newlines += 1;
        }
    }

    fn read(&mut self, s: &mut String) {
        let c = self.cur();
        if !is_blank(c) {
            self.newlines = 0;
        }
        s.push(c);
        self.pos += self.width_at(self.pos);
        self.mark.index += 1;
        self.mark.column += 1;
    }

    fn read_line(&mut self, s: &mut String) {
        let c = self.cur();
        if self.is_crlf() {
            s.push('\n');
            self.pos += 2;
            self.mark.index += 1;
        } else if c == '\r' || c == '\n' || c == '\u{85}' {
            s.push('\n');
            self.pos += c.len_utf8();
        } else if c == '\u{2028}' || c == '\u{2029}' {
            s.push(c);
            self.pos += c.len_utf8();
        } else {
            return;
        }
        self.mark.index += 1;
        self.mark.column = 0;
        self.mark.line += 1;
        self.newlines += 1;
    }

    fn error(&self, context_mark: Mark, problem: &str) -> SyntaxError {
        SyntaxError {
            scanner: true,
            context_line: context_mark.line,
            problem_line: self.mark.line,
            problem: problem.to_string(),
        }
    }

    // ---- token queue ------------------------------------------------------------------

    /// Inserts a token `pos` places after the queue head, or appends it when `pos` is None.
    fn insert_token(&mut self, pos: Option<usize>, token: Token) {
        match pos {
            None => self.tokens.push(token),
            Some(p) => {
                let at = (self.tokens_head + p).min(self.tokens.len());
                self.tokens.insert(at, token)
            }
        }
    }

    /// Makes sure the head of the queue is a token the parser may take, keeping go-yaml's
    /// extra lookahead of two tokens (needed for foot comments).
    pub(crate) fn fetch_more_tokens(&mut self) -> SResult<()> {
        if self.token_available {
            return Ok(());
        }
        self.drop_parsed_tokens();
        loop {
            if (self.tokens_head as i64) < self.tokens.len() as i64 - 2 {
                match self.simple_keys_by_tok.get(&self.tokens_parsed).copied() {
                    None => break,
                    Some(idx) => {
                        if !self.simple_key_is_valid(idx)? {
                            break;
                        }
                    }
                }
            }
            self.fetch_next_token()?;
        }
        self.token_available = true;
        Ok(())
    }

    /// Forgets tokens the parser has taken, once they are most of the queue, so memory
    /// follows the lookahead and not the file. The last two tokens stay even when parsed:
    /// comment attribution looks back at them, as it does in go-yaml's queue.
    fn drop_parsed_tokens(&mut self) {
        if self.tokens_head < 256 || self.tokens_head * 2 < self.tokens.len() {
            return;
        }
        let dropped = self.tokens_head.min(self.tokens.len().saturating_sub(2));
        self.tokens.drain(..dropped);
        self.tokens_head -= dropped;
    }

    /// Removes the head token (after the parser peeked at it).
    pub(crate) fn skip_token(&mut self) {
        self.token_available = false;
        self.tokens_parsed += 1;
        self.stream_end_produced = self.tokens[self.tokens_head].typ == TokenType::StreamEnd;
        self.tokens_head += 1;
    }

    fn fetch_next_token(&mut self) -> SResult<()> {
        if !self.stream_start_produced {
            self.fetch_stream_start();
            return Ok(());
        }
        let scan_mark = self.mark;
        self.scan_to_next_token()?;
        self.unroll_indent(self.mark.column, scan_mark);

        let c = self.cur();
        if c == '\0' {
            return self.fetch_stream_end();
        }
        if self.mark.column == 0 && c == '%' {
            return self.fetch_directive();
        }
        if self.mark.column == 0
            && c == '-'
            && self.at(1) == '-'
            && self.at(2) == '-'
            && is_blankz(self.at(3))
        {
            return self.fetch_document_indicator(TokenType::DocumentStart);
        }
        if self.mark.column == 0
            && c == '.'
            && self.at(1) == '.'
            && self.at(2) == '.'
            && is_blankz(self.at(3))
        {
            return self.fetch_document_indicator(TokenType::DocumentEnd);
        }

        let mut comment_mark = self.mark;
        if !self.tokens.is_empty()
            && ((self.flow_level == 0 && c == ':') || (self.flow_level > 0 && c == ','))
        {
            // Associate any following comments with the prior token.
            comment_mark = self.tokens[self.tokens.len() - 1].start_mark;
        }

        self.fetch_token_body(c)?;

        // go-yaml runs this in a deferred function after every successful fetch.
        if let Some(last) = self.tokens.last() {
            if last.typ == TokenType::BlockEntry {
                // Sequence indicators alone have no line comments.
                return Ok(());
            }
        }
        self.scan_line_comment(comment_mark);
        Ok(())
    }

    fn fetch_token_body(&mut self, c: char) -> SResult<()> {
        match c {
            '[' => return self.fetch_flow_collection_start(TokenType::FlowSequenceStart),
            '{' => return self.fetch_flow_collection_start(TokenType::FlowMappingStart),
            ']' => return self.fetch_flow_collection_end(TokenType::FlowSequenceEnd),
            '}' => return self.fetch_flow_collection_end(TokenType::FlowMappingEnd),
            ',' => return self.fetch_flow_entry(),
            _ => {}
        }
        let next = self.at(1);
        if c == '-' && is_blankz(next) {
            return self.fetch_block_entry();
        }
        if c == '?' && (self.flow_level > 0 || is_blankz(next)) {
            return self.fetch_key();
        }
        if c == ':' && (self.flow_level > 0 || is_blankz(next)) {
            return self.fetch_value();
        }
        match c {
            '*' => return self.fetch_anchor(TokenType::Alias),
            '&' => return self.fetch_anchor(TokenType::Anchor),
            '!' => return self.fetch_tag(),
            '|' if self.flow_level == 0 => return self.fetch_block_scalar(true),
            '>' if self.flow_level == 0 => return self.fetch_block_scalar(false),
            '\'' => return self.fetch_flow_scalar(true),
            '"' => return self.fetch_flow_scalar(false),
            _ => {}
        }
        let indicator = matches!(
            c,
            '-' | '?'
                | ':'
                | ','
                | '['
                | ']'
                | '{'
                | '}'
                | '#'
                | '&'
                | '*'
                | '!'
                | '|'
                | '>'
                | '\''
                | '"'
                | '%'
                | '@'
                | '`'
        );
        if !(is_blankz(c) || indicator)
            || (c == '-' && !is_blank(next))
            || (self.flow_level == 0 && (c == '?' || c == ':') && !is_blankz(next))
        {
            return self.fetch_plain_scalar();
        }
        Err(self.error(self.mark, "found character that cannot start any token"))
    }

    fn simple_key_is_valid(&mut self, idx: usize) -> SResult<bool> {
        let key = self.simple_keys[idx];
        if !key.possible {
            return Ok(false);
        }
        if key.mark.line < self.mark.line || key.mark.index + 1024 < self.mark.index {
            if key.required {
                return Err(self.error(key.mark, "could not find expected ':'"));
            }
            self.simple_keys[idx].possible = false;
            return Ok(false);
        }
        Ok(true)
    }

    fn save_simple_key(&mut self) -> SResult<()> {
        let required = self.flow_level == 0 && self.indent == self.mark.column;
        if self.simple_key_allowed {
            let key = SimpleKey {
                possible: true,
                required,
                token_number: self.tokens_parsed + (self.tokens.len() - self.tokens_head),
                mark: self.mark,
            };
            self.remove_simple_key()?;
            let last = self.simple_keys.len() - 1;
            self.simple_keys[last] = key;
            self.simple_keys_by_tok.insert(key.token_number, last);
        }
        Ok(())
    }

    fn remove_simple_key(&mut self) -> SResult<()> {
        let i = self.simple_keys.len() - 1;
        if self.simple_keys[i].possible {
            if self.simple_keys[i].required {
                return Err(self.error(self.simple_keys[i].mark, "could not find expected ':'"));
            }
            self.simple_keys[i].possible = false;
            self.simple_keys_by_tok
                .remove(&self.simple_keys[i].token_number);
        }
        Ok(())
    }

    fn increase_flow_level(&mut self) -> SResult<()> {
        self.simple_keys.push(SimpleKey {
            possible: false,
            required: false,
            token_number: self.tokens_parsed + (self.tokens.len() - self.tokens_head),
            mark: self.mark,
        });
        self.flow_level += 1;
        if self.flow_level > MAX_FLOW_LEVEL {
            let m = self.simple_keys[self.simple_keys.len() - 1].mark;
            return Err(self.error(m, &format!("exceeded max depth of {MAX_FLOW_LEVEL}")));
        }
        Ok(())
    }

    fn decrease_flow_level(&mut self) {
        if self.flow_level > 0 {
            self.flow_level -= 1;
            let last = self.simple_keys.len() - 1;
            self.simple_keys_by_tok
                .remove(&self.simple_keys[last].token_number);
            self.simple_keys.pop();
        }
    }

    /// Pushes an indentation level and emits a BLOCK-*-START token when `column` is deeper.
    /// `number` is the absolute token number to insert before (a simple key's), or None.
    fn roll_indent(
        &mut self,
        column: i64,
        number: Option<usize>,
        typ: TokenType,
        mark: Mark,
    ) -> SResult<()> {
        if self.flow_level > 0 {
            return Ok(());
        }
        if self.indent < column {
            self.indents.push(self.indent);
            self.indent = column;
            if self.indents.len() > MAX_INDENTS {
                let m = self.simple_keys[self.simple_keys.len() - 1].mark;
                return Err(self.error(m, &format!("exceeded max depth of {MAX_INDENTS}")));
            }
            let token = Token::new(typ, mark, mark);
            let pos = number.map(|n| n.saturating_sub(self.tokens_parsed));
            self.insert_token(pos, token);
        }
        Ok(())
    }

    /// Pops indentation levels deeper than `column`, emitting BLOCK-END tokens. go-yaml
    /// places each BLOCK-END before the foot comments that belong to the enclosing block.
    fn unroll_indent(&mut self, column: i64, scan_mark: Mark) {
        if self.flow_level > 0 {
            return;
        }
        let mut block_mark = scan_mark;
        block_mark.index -= 1;
        while self.indent > column {
            let mut stop_index = block_mark.index;
            for i in (0..self.comments.len()).rev() {
                let comment = &self.comments[i];
                if comment.end_mark.index < stop_index {
                    break;
                }
                if comment.start_mark.column == self.indent + 1 {
                    block_mark = comment.start_mark;
                }
                stop_index = comment.scan_mark.index;
            }
            self.insert_token(
                None,
                Token::new(TokenType::BlockEnd, block_mark, block_mark),
            );
            self.indent = self.indents.pop().unwrap_or(-1);
        }
    }

    fn fetch_stream_start(&mut self) {
        self.indent = -1;
        self.simple_keys.push(SimpleKey::default());
        self.simple_key_allowed = true;
        self.stream_start_produced = true;
        self.insert_token(
            None,
            Token::new(TokenType::StreamStart, self.mark, self.mark),
        );
    }

    fn fetch_stream_end(&mut self) -> SResult<()> {
        if self.mark.column != 0 {
            self.mark.column = 0;
            self.mark.line += 1;
        }
        self.unroll_indent(-1, self.mark);
        self.remove_simple_key()?;
        self.simple_key_allowed = false;
        self.insert_token(None, Token::new(TokenType::StreamEnd, self.mark, self.mark));
        Ok(())
    }

    fn fetch_directive(&mut self) -> SResult<()> {
        self.unroll_indent(-1, self.mark);
        self.remove_simple_key()?;
        self.simple_key_allowed = false;
        let token = self.scan_directive()?;
        self.insert_token(None, token);
        Ok(())
    }

    fn fetch_document_indicator(&mut self, typ: TokenType) -> SResult<()> {
        self.unroll_indent(-1, self.mark);
        self.remove_simple_key()?;
        self.simple_key_allowed = false;
        let start = self.mark;
        self.skip();
        self.skip();
        self.skip();
        self.insert_token(None, Token::new(typ, start, self.mark));
        Ok(())
    }

    fn fetch_flow_collection_start(&mut self, typ: TokenType) -> SResult<()> {
        self.save_simple_key()?;
        self.increase_flow_level()?;
        self.simple_key_allowed = true;
        let start = self.mark;
        self.skip();
        self.insert_token(None, Token::new(typ, start, self.mark));
        Ok(())
    }

    fn fetch_flow_collection_end(&mut self, typ: TokenType) -> SResult<()> {
        self.remove_simple_key()?;
        self.decrease_flow_level();
        self.simple_key_allowed = false;
        let start = self.mark;
        self.skip();
        self.insert_token(None, Token::new(typ, start, self.mark));
        Ok(())
    }

    fn fetch_flow_entry(&mut self) -> SResult<()> {
        self.remove_simple_key()?;
        self.simple_key_allowed = true;
        let start = self.mark;
        self.skip();
        self.insert_token(None, Token::new(TokenType::FlowEntry, start, self.mark));
        Ok(())
    }

    fn fetch_block_entry(&mut self) -> SResult<()> {
        if self.flow_level == 0 {
            if !self.simple_key_allowed {
                return Err(self.error(
                    self.mark,
                    "block sequence entries are not allowed in this context",
                ));
            }
            self.roll_indent(
                self.mark.column,
                None,
                TokenType::BlockSequenceStart,
                self.mark,
            )?;
        }
        self.remove_simple_key()?;
        self.simple_key_allowed = true;
        let start = self.mark;
        self.skip();
        self.insert_token(None, Token::new(TokenType::BlockEntry, start, self.mark));
        Ok(())
    }

    fn fetch_key(&mut self) -> SResult<()> {
        if self.flow_level == 0 {
            if !self.simple_key_allowed {
                return Err(self.error(self.mark, "mapping keys are not allowed in this context"));
            }
            self.roll_indent(
                self.mark.column,
                None,
                TokenType::BlockMappingStart,
                self.mark,
            )?;
        }
        self.remove_simple_key()?;
        self.simple_key_allowed = self.flow_level == 0;
        let start = self.mark;
        self.skip();
        self.insert_token(None, Token::new(TokenType::Key, start, self.mark));
        Ok(())
    }

    fn fetch_value(&mut self) -> SResult<()> {
        let idx = self.simple_keys.len() - 1;
        if self.simple_key_is_valid(idx)? {
            let key = self.simple_keys[idx];
            self.insert_token(
                Some(key.token_number.saturating_sub(self.tokens_parsed)),
                Token::new(TokenType::Key, key.mark, key.mark),
            );
            self.roll_indent(
                key.mark.column,
                Some(key.token_number),
                TokenType::BlockMappingStart,
                key.mark,
            )?;
            self.simple_keys[idx].possible = false;
            self.simple_keys_by_tok.remove(&key.token_number);
            self.simple_key_allowed = false;
        } else {
            if self.flow_level == 0 {
                if !self.simple_key_allowed {
                    return Err(
                        self.error(self.mark, "mapping values are not allowed in this context")
                    );
                }
                self.roll_indent(
                    self.mark.column,
                    None,
                    TokenType::BlockMappingStart,
                    self.mark,
                )?;
            }
            self.simple_key_allowed = self.flow_level == 0;
        }
        let start = self.mark;
        self.skip();
        self.insert_token(None, Token::new(TokenType::Value, start, self.mark));
        Ok(())
    }

    fn fetch_anchor(&mut self, typ: TokenType) -> SResult<()> {
        self.save_simple_key()?;
        self.simple_key_allowed = false;
        let token = self.scan_anchor(typ)?;
        self.insert_token(None, token);
        Ok(())
    }

    fn fetch_tag(&mut self) -> SResult<()> {
        self.save_simple_key()?;
        self.simple_key_allowed = false;
        let token = self.scan_tag()?;
        self.insert_token(None, token);
        Ok(())
    }

    fn fetch_block_scalar(&mut self, literal: bool) -> SResult<()> {
        self.remove_simple_key()?;
        self.simple_key_allowed = true;
        let token = self.scan_block_scalar(literal)?;
        self.insert_token(None, token);
        Ok(())
    }

    fn fetch_flow_scalar(&mut self, single: bool) -> SResult<()> {
        self.save_simple_key()?;
        self.simple_key_allowed = false;
        let token = self.scan_flow_scalar(single)?;
        self.insert_token(None, token);
        Ok(())
    }

    fn fetch_plain_scalar(&mut self) -> SResult<()> {
        self.save_simple_key()?;
        self.simple_key_allowed = false;
        let token = self.scan_plain_scalar()?;
        self.insert_token(None, token);
        Ok(())
    }

    // ---- whitespace and comments ------------------------------------------------------

    fn scan_to_next_token(&mut self) -> SResult<()> {
        let scan_mark = self.mark;
        loop {
            // go-yaml's "allow a BOM to start a line" check looks at the start of its
            // internal buffer, not at the current position, so a BOM inside the text is
            // kept as content (the leading BOM is dropped by the reader).
            while self.cur() == ' '
                || ((self.flow_level > 0 || !self.simple_key_allowed) && self.cur() == '\t')
            {
                self.skip();
            }

            // A line comment right after `- ` that really heads the following content:
            //   - # The comment
            //     - Some data
            if !self.comments.is_empty() && self.tokens.len() > 1 {
                let a = self.tokens[self.tokens.len() - 2].typ;
                let b = self.tokens[self.tokens.len() - 1].typ;
                let at_break = is_break(self.cur());
                let mark = self.mark;
                let last = self.comments.len() - 1;
                let comment = &mut self.comments[last];
                if a == TokenType::BlockSequenceStart
                    && b == TokenType::BlockEntry
                    && !comment.line.is_empty()
                    && !at_break
                {
                    comment.head = std::mem::take(&mut comment.line);
                    if comment.start_mark.line == mark.line - 1 {
                        comment.token_mark = mark;
                    }
                }
            }

            if self.cur() == '#' {
                self.scan_comments(scan_mark);
            }

            if is_break(self.cur()) {
                self.skip_line();
                if self.flow_level == 0 {
                    self.simple_key_allowed = true;
                }
            } else {
                break;
            }
        }
        Ok(())
    }
}

/// Length of a UTF-8 sequence from its first byte (0 when invalid), like go-yaml's `width`.
fn utf8_width(b: u8) -> usize {
    if b & 0x80 == 0 {
        1
    } else if b & 0xE0 == 0xC0 {
        2
    } else if b & 0xF0 == 0xE0 {
        3
    } else if b & 0xF8 == 0xF0 {
        4
    } else {
        0
    }
}
