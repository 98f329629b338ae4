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
//! hand-written to match go-yaml byte for byte.

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

    fn scan_line_comment(&mut self, token_mark: Mark) {
        if self.newlines > 0 {
            return;
        }
        let mut start_mark = Mark::default();
        let mut text = String::new();
        let mut peek = 0usize;
        while peek < 512 {
            let c = self.at(peek);
            if is_blank(c) {
                peek += 1;
                continue;
            }
            if c == '#' {
                let seen = self.mark.index + peek as i64;
                loop {
                    if is_breakz(self.cur()) {
                        if self.mark.index >= seen {
                            break;
                        }
                        self.skip_line();
                    } else if self.mark.index >= seen {
                        if text.is_empty() {
                            start_mark = self.mark;
                        }
                        self.read(&mut text);
                    } else {
                        self.skip();
                    }
                }
            }
            break;
        }
        if !text.is_empty() {
            self.comments.push(Comment {
                token_mark,
                start_mark,
                line: text,
                ..Comment::default()
            });
        }
    }

    /// Reads a run of comment lines and splits it into foot comments of what precedes and
    /// a head comment of what follows, by indentation and empty lines (go-yaml's rules).
    fn scan_comments(&mut self, scan_mark_in: Mark) {
        let mut scan_mark = scan_mark_in;
        let mut token = &self.tokens[self.tokens.len() - 1];
        if token.typ == TokenType::FlowEntry && self.tokens.len() > 1 {
            token = &self.tokens[self.tokens.len() - 2];
        }
        let token_typ = token.typ;
        let mut token_mark = token.start_mark;
        let mut start_mark = Mark::default();
        let mut next_indent = self.indent.max(0);
        let mut recent_empty = false;
        let mut first_empty = self.newlines <= 1;
        let mut line = self.mark.line;
        let mut column = self.mark.column;
        let mut text = String::new();

        // The line where a comment must start to still be a foot of the prior content.
        let mut foot_line = -1;
        if scan_mark.line > 0 {
            foot_line = self.mark.line - self.newlines + 1;
            if self.newlines == 0 && self.mark.column > 1 {
                foot_line += 1;
            }
        }

        let mut peek: i64 = 0;
        while peek < 512 {
            column += 1;
            let c = self.at(peek as usize);
            if is_blank(c) {
                peek += 1;
                continue;
            }
            let close_flow = self.flow_level > 0 && (c == ']' || c == '}');
            if close_flow || is_breakz(c) {
                if close_flow || !recent_empty {
                    if close_flow
                        || (first_empty
                            && ((start_mark.line == foot_line && token_typ != TokenType::Value)
                                || start_mark.column - 1 < next_indent))
                    {
                        // The first part of the run is a foot of the prior token.
                        if !text.is_empty() {
                            if start_mark.column - 1 < next_indent {
                                // Dedented: unrelated to the prior token.
                                token_mark = start_mark;
                            }
                            let end = Mark {
                                index: self.mark.index + peek,
                                line,
                                column,
                            };
                            self.comments.push(Comment {
                                scan_mark,
                                token_mark,
                                start_mark,
                                end_mark: end,
                                foot: std::mem::take(&mut text),
                                ..Comment::default()
                            });
                            scan_mark = end;
                            token_mark = scan_mark;
                        }
                    } else if !text.is_empty() && c != '\0' {
                        text.push('\n');
                    }
                }
                if !is_break(c) {
                    break;
                }
                first_empty = false;
                recent_empty = true;
                column = 0;
                line += 1;
                peek += 1;
                continue;
            }

            if !text.is_empty()
                && (close_flow || (column - 1 < next_indent && column != start_mark.column))
            {
                // A comment at another indentation is a foot of the preceding data.
                let end = Mark {
                    index: self.mark.index + peek,
                    line,
                    column,
                };
                self.comments.push(Comment {
                    scan_mark,
                    token_mark,
                    start_mark,
                    end_mark: end,
                    foot: std::mem::take(&mut text),
                    ..Comment::default()
                });
                scan_mark = end;
                token_mark = scan_mark;
            }

            if c != '#' {
                break;
            }

            if text.is_empty() {
                start_mark = Mark {
                    index: self.mark.index + peek,
                    line,
                    column,
                };
            } else {
                text.push('\n');
            }
            recent_empty = false;

            // Consume up to and including the comment line (not its line break).
            let seen = self.mark.index + peek;
            loop {
                if is_breakz(self.cur()) {
                    if self.mark.index >= seen {
                        break;
                    }
                    self.skip_line();
                } else if self.mark.index >= seen {
                    self.read(&mut text);
                } else {
                    self.skip();
                }
            }

            // go-yaml resets peek to 0 here and its loop then increments it, so the line
            // break right after the comment is never looked at.
            peek = 1;
            column = 0;
            line = self.mark.line;
            next_indent = self.indent.max(0);
        }

        if !text.is_empty() {
            self.comments.push(Comment {
                scan_mark,
                token_mark: start_mark,
                start_mark,
                end_mark: Mark {
                    index: self.mark.index + peek - 1,
                    line,
                    column,
                },
                head: text,
                ..Comment::default()
            });
        }
    }

    // ---- directives, anchors, tags ----------------------------------------------------

    fn scan_directive(&mut self) -> SResult<Token> {
        let start = self.mark;
        self.skip();
        let name = self.scan_directive_name(start)?;
        let mut token;
        if name == "YAML" {
            let (major, minor) = self.scan_version_directive_value(start)?;
            token = Token::new(TokenType::VersionDirective, start, self.mark);
            token.major = major;
            token.minor = minor;
        } else if name == "TAG" {
            let (handle, prefix) = self.scan_tag_directive_value(start)?;
            token = Token::new(TokenType::TagDirective, start, self.mark);
            token.value = handle;
            token.prefix = prefix;
        } else {
            return Err(self.error(start, "found unknown directive name"));
        }
        while is_blank(self.cur()) {
            self.skip();
        }
        if self.cur() == '#' {
            // go-yaml discards comments on directive lines.
            while !is_breakz(self.cur()) {
                self.skip();
            }
        }
        if !is_breakz(self.cur()) {
            return Err(self.error(start, "did not find expected comment or line break"));
        }
        if is_break(self.cur()) {
            self.skip_line();
        }
        Ok(token)
    }

    fn scan_directive_name(&mut self, start: Mark) -> SResult<String> {
        let mut s = String::new();
        while is_alpha(self.cur()) {
            self.read(&mut s);
        }
        if s.is_empty() {
            return Err(self.error(start, "could not find expected directive name"));
        }
        if !is_blankz(self.cur()) {
            return Err(self.error(start, "found unexpected non-alphabetical character"));
        }
        Ok(s)
    }

    fn scan_version_directive_value(&mut self, start: Mark) -> SResult<(i32, i32)> {
        while is_blank(self.cur()) {
            self.skip();
        }
        let major = self.scan_version_directive_number(start)?;
        if self.cur() != '.' {
            return Err(self.error(start, "did not find expected digit or '.' character"));
        }
        self.skip();
        let minor = self.scan_version_directive_number(start)?;
        Ok((major, minor))
    }

    fn scan_version_directive_number(&mut self, start: Mark) -> SResult<i32> {
        let mut value = 0i32;
        let mut length = 0;
        while self.cur().is_ascii_digit() {
            length += 1;
            if length > 2 {
                return Err(self.error(start, "found extremely long version number"));
            }
            value = value * 10 + (self.cur() as i32 - '0' as i32);
            self.skip();
        }
        if length == 0 {
            return Err(self.error(start, "did not find expected version number"));
        }
        Ok(value)
    }

    fn scan_tag_directive_value(&mut self, start: Mark) -> SResult<(String, String)> {
        while is_blank(self.cur()) {
            self.skip();
        }
        let handle = self.scan_tag_handle(true, start)?;
        if !is_blank(self.cur()) {
            return Err(self.error(start, "did not find expected whitespace"));
        }
        while is_blank(self.cur()) {
            self.skip();
        }
        let prefix = self.scan_tag_uri(true, "", start)?;
        if !is_blankz(self.cur()) {
            return Err(self.error(start, "did not find expected whitespace or line break"));
        }
        Ok((handle, prefix))
    }

    fn scan_anchor(&mut self, typ: TokenType) -> SResult<Token> {
        let start = self.mark;
        self.skip();
        let mut s = String::new();
        while is_alpha(self.cur()) {
            self.read(&mut s);
        }
        let end = self.mark;
        let c = self.cur();
        if s.is_empty()
            || !(is_blankz(c) || matches!(c, '?' | ':' | ',' | ']' | '}' | '%' | '@' | '`'))
        {
            let _ = if typ == TokenType::Anchor {
                "while scanning an anchor"
            } else {
                "while scanning an alias"
            };
            return Err(self.error(
                start,
                "did not find expected alphabetic or numeric character",
            ));
        }
        let mut token = Token::new(typ, start, end);
        token.value = s;
        Ok(token)
    }

    fn scan_tag(&mut self) -> SResult<Token> {
        let start = self.mark;
        let mut handle;
        let suffix;
        if self.at(1) == '<' {
            handle = String::new();
            self.skip();
            self.skip();
            suffix = self.scan_tag_uri(false, "", start)?;
            if self.cur() != '>' {
                return Err(self.error(start, "did not find the expected '>'"));
            }
            self.skip();
        } else {
            handle = self.scan_tag_handle(false, start)?;
            let hc: Vec<char> = handle.chars().collect();
            if hc[0] == '!' && hc.len() > 1 && hc[hc.len() - 1] == '!' {
                suffix = self.scan_tag_uri(false, "", start)?;
            } else {
                let s = self.scan_tag_uri(false, &handle, start)?;
                handle = "!".to_string();
                if s.is_empty() {
                    // The `!` tag: handle '' and suffix '!'.
                    suffix = handle;
                    handle = String::new();
                } else {
                    suffix = s;
                }
            }
        }
        if !is_blankz(self.cur()) {
            return Err(self.error(start, "did not find expected whitespace or line break"));
        }
        let mut token = Token::new(TokenType::Tag, start, self.mark);
        token.value = handle;
        token.suffix = suffix;
        Ok(token)
    }

    fn scan_tag_handle(&mut self, directive: bool, start: Mark) -> SResult<String> {
        if self.cur() != '!' {
            return Err(self.error(start, "did not find expected '!'"));
        }
        let mut s = String::new();
        self.read(&mut s);
        while is_alpha(self.cur()) {
            self.read(&mut s);
        }
        if self.cur() == '!' {
            self.read(&mut s);
        } else if directive && s != "!" {
            return Err(self.error(start, "did not find expected '!'"));
        }
        Ok(s)
    }

    fn scan_tag_uri(&mut self, directive: bool, head: &str, start: Mark) -> SResult<String> {
        let mut s = String::new();
        let mut has_tag = !head.is_empty();
        if head.chars().count() > 1 {
            s.extend(head.chars().skip(1));
        }
        loop {
            let c = self.cur();
            let ok = is_alpha(c)
                || matches!(
                    c,
                    ';' | '/'
                        | '?'
                        | ':'
                        | '@'
                        | '&'
                        | '='
                        | '+'
                        | '$'
                        | ','
                        | '.'
                        | '!'
                        | '~'
                        | '*'
                        | '\''
                        | '('
                        | ')'
                        | '['
                        | ']'
                        | '%'
                );
            if !ok {
                break;
            }
            if c == '%' {
                self.scan_uri_escapes(directive, start, &mut s)?;
            } else {
                self.read(&mut s);
            }
            has_tag = true;
        }
        if !has_tag {
            return Err(self.error(start, "did not find expected tag URI"));
        }
        Ok(s)
    }

    fn scan_uri_escapes(&mut self, _directive: bool, start: Mark, s: &mut String) -> SResult<()> {
        let mut bytes = Vec::new();
        let mut w: i32 = 1024;
        while w > 0 {
            let (c0, c1, c2) = (self.at(0), self.at(1), self.at(2));
            if !(c0 == '%' && c1.is_ascii_hexdigit() && c2.is_ascii_hexdigit()) {
                return Err(self.error(start, "did not find URI escaped octet"));
            }
            let octet = (c1.to_digit(16).unwrap_or(0) * 16 + c2.to_digit(16).unwrap_or(0)) as u8;
            if w == 1024 {
                w = utf8_width(octet) as i32;
                if w == 0 {
                    return Err(self.error(start, "found an incorrect leading UTF-8 octet"));
                }
            } else if octet & 0xC0 != 0x80 {
                return Err(self.error(start, "found an incorrect trailing UTF-8 octet"));
            }
            bytes.push(octet);
            self.skip();
            self.skip();
            self.skip();
            w -= 1;
        }
        match String::from_utf8(bytes) {
            Ok(t) => s.push_str(&t),
            Err(e) => s.push_str(&String::from_utf8_lossy(e.as_bytes())),
        }
        Ok(())
    }

    // ---- scalars ----------------------------------------------------------------------

    fn scan_block_scalar(&mut self, literal: bool) -> SResult<Token> {
        let start = self.mark;
        self.skip();
        let mut chomping = 0i32;
        let mut increment = 0i64;
        let c = self.cur();
        if c == '+' || c == '-' {
            chomping = if c == '+' { 1 } else { -1 };
            self.skip();
            if self.cur().is_ascii_digit() {
                if self.cur() == '0' {
                    return Err(self.error(start, "found an indentation indicator equal to 0"));
                }
                increment = (self.cur() as i64) - ('0' as i64);
                self.skip();
            }
        } else if c.is_ascii_digit() {
            if c == '0' {
                return Err(self.error(start, "found an indentation indicator equal to 0"));
            }
            increment = (c as i64) - ('0' as i64);
            self.skip();
            let c = self.cur();
            if c == '+' || c == '-' {
                chomping = if c == '+' { 1 } else { -1 };
                self.skip();
            }
        }

        while is_blank(self.cur()) {
            self.skip();
        }
        if self.cur() == '#' {
            self.scan_line_comment(start);
            while !is_breakz(self.cur()) {
                self.skip();
            }
        }
        if !is_breakz(self.cur()) {
            return Err(self.error(start, "did not find expected comment or line break"));
        }
        if is_break(self.cur()) {
            self.skip_line();
        }
        let mut end = self.mark;

        let mut indent = 0i64;
        if increment > 0 {
            indent = if self.indent >= 0 {
                self.indent + increment
            } else {
                increment
            };
        }

        let mut s = String::new();
        let mut leading_break = String::new();
        let mut trailing_breaks = String::new();
        self.scan_block_scalar_breaks(&mut indent, &mut trailing_breaks, start, &mut end)?;

        let mut leading_blank = false;
        while self.mark.column == indent && self.cur() != '\0' {
            let trailing_blank = is_blank(self.cur());
            if !literal && !leading_blank && !trailing_blank && leading_break.starts_with('\n') {
                if trailing_breaks.is_empty() {
                    s.push(' ');
                }
            } else {
                s.push_str(&leading_break);
            }
            leading_break.clear();
            s.push_str(&trailing_breaks);
            trailing_breaks.clear();

            leading_blank = is_blank(self.cur());
            while !is_breakz(self.cur()) {
                self.read(&mut s);
            }
            self.read_line(&mut leading_break);
            self.scan_block_scalar_breaks(&mut indent, &mut trailing_breaks, start, &mut end)?;
        }

        if chomping != -1 {
            s.push_str(&leading_break);
        }
        if chomping == 1 {
            s.push_str(&trailing_breaks);
        }
        let mut token = Token::new(TokenType::Scalar, start, end);
        token.value = s;
        token.style = if literal {
            ScalarStyle::Literal
        } else {
            ScalarStyle::Folded
        };
        Ok(token)
    }

    fn scan_block_scalar_breaks(
        &mut self,
        indent: &mut i64,
        breaks: &mut String,
        start: Mark,
        end: &mut Mark,
    ) -> SResult<()> {
        *end = self.mark;
        let mut max_indent = 0i64;
        loop {
            while (*indent == 0 || self.mark.column < *indent) && self.cur() == ' ' {
                self.skip();
            }
            if self.mark.column > max_indent {
                max_indent = self.mark.column;
            }
            if (*indent == 0 || self.mark.column < *indent) && self.cur() == '\t' {
                return Err(self.error(
                    start,
                    "found a tab character where an indentation space is expected",
                ));
            }
            if !is_break(self.cur()) {
                break;
            }
            self.read_line(breaks);
            *end = self.mark;
        }
        if *indent == 0 {
            *indent = max_indent;
            if *indent < self.indent + 1 {
                *indent = self.indent + 1;
            }
            if *indent < 1 {
                *indent = 1;
            }
        }
        Ok(())
    }

    fn scan_flow_scalar(&mut self, single: bool) -> SResult<Token> {
        let start = self.mark;
        self.skip();
        let mut s = String::new();
        let mut leading_break = String::new();
        let mut trailing_breaks = String::new();
        let mut whitespaces = String::new();
        loop {
            if self.mark.column == 0
                && ((self.at(0) == '-' && self.at(1) == '-' && self.at(2) == '-')
                    || (self.at(0) == '.' && self.at(1) == '.' && self.at(2) == '.'))
                && is_blankz(self.at(3))
            {
                return Err(self.error(start, "found unexpected document indicator"));
            }
            if self.cur() == '\0' {
                return Err(self.error(start, "found unexpected end of stream"));
            }

            let mut leading_blanks = false;
            while !is_blankz(self.cur()) {
                let c = self.cur();
                if single && c == '\'' && self.at(1) == '\'' {
                    s.push('\'');
                    self.skip();
                    self.skip();
                } else if (single && c == '\'') || (!single && c == '"') {
                    // The closing quote.
                    break;
                } else if !single && c == '\\' && is_break(self.at(1)) {
                    self.skip();
                    self.skip_line();
                    leading_blanks = true;
                    break;
                } else if !single && c == '\\' {
                    let mut code_length = 0;
                    match self.at(1) {
                        '0' => s.push('\0'),
                        'a' => s.push('\x07'),
                        'b' => s.push('\x08'),
                        't' | '\t' => s.push('\t'),
                        'n' => s.push('\n'),
                        'v' => s.push('\x0B'),
                        'f' => s.push('\x0C'),
                        'r' => s.push('\r'),
                        'e' => s.push('\x1B'),
                        ' ' => s.push(' '),
                        '"' => s.push('"'),
                        '\'' => s.push('\''),
                        '\\' => s.push('\\'),
                        'N' => s.push('\u{85}'),
                        '_' => s.push('\u{A0}'),
                        'L' => s.push('\u{2028}'),
                        'P' => s.push('\u{2029}'),
                        'x' => code_length = 2,
                        'u' => code_length = 4,
                        'U' => code_length = 8,
                        _ => return Err(self.error(start, "found unknown escape character")),
                    }
                    self.skip();
                    self.skip();
                    if code_length > 0 {
                        let mut value: u32 = 0;
                        for k in 0..code_length {
                            let h = self.at(k);
                            match h.to_digit(16) {
                                Some(d) if h.is_ascii() => value = (value << 4) + d,
                                _ => {
                                    return Err(self
                                        .error(start, "did not find expected hexdecimal number"))
                                }
                            }
                        }
                        match char::from_u32(value) {
                            Some(ch) if value <= 0x10FFFF => s.push(ch),
                            _ => {
                                return Err(self
                                    .error(start, "found invalid Unicode character escape code"))
                            }
                        }
                        for _ in 0..code_length {
                            self.skip();
                        }
                    }
                } else {
                    self.read(&mut s);
                }
            }

            let c = self.cur();
            if single {
                if c == '\'' {
                    break;
                }
            } else if c == '"' {
                break;
            }

            while is_blank(self.cur()) || is_break(self.cur()) {
                if is_blank(self.cur()) {
                    if !leading_blanks {
                        self.read(&mut whitespaces);
                    } else {
                        self.skip();
                    }
                } else if !leading_blanks {
                    whitespaces.clear();
                    self.read_line(&mut leading_break);
                    leading_blanks = true;
                } else {
                    self.read_line(&mut trailing_breaks);
                }
            }

            if leading_blanks {
                if leading_break.starts_with('\n') {
                    if trailing_breaks.is_empty() {
                        s.push(' ');
                    } else {
                        s.push_str(&trailing_breaks);
                    }
                } else {
                    s.push_str(&leading_break);
                    s.push_str(&trailing_breaks);
                }
                trailing_breaks.clear();
                leading_break.clear();
            } else {
                s.push_str(&whitespaces);
                whitespaces.clear();
            }
        }
        self.skip();
        let mut token = Token::new(TokenType::Scalar, start, self.mark);
        token.value = s;
        token.style = if single {
            ScalarStyle::SingleQuoted
        } else {
            ScalarStyle::DoubleQuoted
        };
        Ok(token)
    }

    fn scan_plain_scalar(&mut self) -> SResult<Token> {
        let mut s = String::new();
        let mut leading_break = String::new();
        let mut trailing_breaks = String::new();
        let mut whitespaces = String::new();
        let mut leading_blanks = false;
        let indent = self.indent + 1;
        let start = self.mark;
        let mut end = self.mark;
        loop {
            if self.mark.column == 0
                && ((self.at(0) == '-' && self.at(1) == '-' && self.at(2) == '-')
                    || (self.at(0) == '.' && self.at(1) == '.' && self.at(2) == '.'))
                && is_blankz(self.at(3))
            {
                break;
            }
            if self.cur() == '#' {
                break;
            }
            while !is_blankz(self.cur()) {
                let c = self.cur();
                if (c == ':' && is_blankz(self.at(1)))
                    || (self.flow_level > 0 && matches!(c, ',' | '?' | '[' | ']' | '{' | '}'))
                {
                    break;
                }
                if leading_blanks || !whitespaces.is_empty() {
                    if leading_blanks {
                        if leading_break.starts_with('\n') {
                            if trailing_breaks.is_empty() {
                                s.push(' ');
                            } else {
                                s.push_str(&trailing_breaks);
                            }
                        } else {
                            s.push_str(&leading_break);
                            s.push_str(&trailing_breaks);
                        }
                        trailing_breaks.clear();
                        leading_break.clear();
                        leading_blanks = false;
                    } else {
                        s.push_str(&whitespaces);
                        whitespaces.clear();
                    }
                }
                if self.flow_level == 0 && c.is_ascii() {
                    // Copy the ASCII run up to the next blank, break, or ':' before a
                    // blank at once (see plain_run_end): nothing in it can end the scalar
                    // in block context (an ENC[...] value, or words, is one run).
                    let start = self.pos;
                    let stop = super::plain_run::plain_run_end(self.buf.as_bytes(), start);
                    // (Empty at a ':' before ':' or a character that is not ASCII: that
                    // ':' is read alone below.)
                    if stop > start {
                        let run = self.buf.get(start..stop).unwrap_or_default();
                        s.push_str(run);
                        let n = (stop - start) as i64;
                        self.pos = stop;
                        self.mark.index += n;
                        self.mark.column += n;
                        self.newlines = 0;
                        end = self.mark;
                        continue;
                    }
                }
                self.read(&mut s);
                end = self.mark;
            }
            if !(is_blank(self.cur()) || is_break(self.cur())) {
                break;
            }
            while is_blank(self.cur()) || is_break(self.cur()) {
                if is_blank(self.cur()) {
                    if leading_blanks && self.mark.column < indent && self.cur() == '\t' {
                        return Err(
                            self.error(start, "found a tab character that violates indentation")
                        );
                    }
                    if !leading_blanks {
                        self.read(&mut whitespaces);
                    } else {
                        self.skip();
                    }
                } else if !leading_blanks {
                    whitespaces.clear();
                    self.read_line(&mut leading_break);
                    leading_blanks = true;
                } else {
                    self.read_line(&mut trailing_breaks);
                }
            }
            if self.flow_level == 0 && self.mark.column < indent {
                break;
            }
        }
        let mut token = Token::new(TokenType::Scalar, start, end);
        token.value = s;
        token.style = ScalarStyle::Plain;
        if leading_blanks {
            self.simple_key_allowed = true;
        }
        Ok(token)
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
