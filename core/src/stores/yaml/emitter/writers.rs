//! The emitter's writers: indentation, indicators, tags, the scalar styles (plain,
//! single- and double-quoted, literal, folded) and comments, as go-yaml writes them.

use super::super::scanner::{is_blank, is_break};
use super::analysis::is_printable;
use super::Emitter;

impl Emitter<'_> {
    pub(super) fn write_indent(&mut self) {
        let indent = self.indent.max(0);
        if !self.indention || self.column > indent || (self.column == indent && !self.whitespace) {
            self.put_break();
        }
        if self.foot_indent == indent {
            self.put_break();
        }
        while self.column < indent {
            self.put(' ');
        }
        self.whitespace = true;
        self.space_above = false;
        self.foot_indent = -1;
    }

    pub(super) fn write_indicator(
        &mut self,
        indicator: &str,
        need_whitespace: bool,
        is_whitespace: bool,
        is_indention: bool,
    ) {
        if need_whitespace && !self.whitespace {
            self.put(' ');
        }
        self.write_all(indicator);
        self.whitespace = is_whitespace;
        self.indention = self.indention && is_indention;
        self.open_ended = false;
    }

    pub(super) fn write_tag_handle(&mut self, value: &str) {
        if !self.whitespace {
            self.put(' ');
        }
        self.write_all(value);
        self.whitespace = false;
        self.indention = false;
    }

    pub(super) fn write_tag_content(&mut self, value: &str, need_whitespace: bool) {
        if need_whitespace && !self.whitespace {
            self.put(' ');
        }
        for c in value.chars() {
            let keep = c.is_ascii_alphanumeric()
                || matches!(
                    c,
                    '-' | ';'
                        | '/'
                        | '?'
                        | ':'
                        | '@'
                        | '&'
                        | '='
                        | '+'
                        | '$'
                        | ','
                        | '_'
                        | '.'
                        | '~'
                        | '*'
                        | '\''
                        | '('
                        | ')'
                        | '['
                        | ']'
                );
            if keep {
                self.write(c);
            } else {
                let mut buf = [0u8; 4];
                for &b in c.encode_utf8(&mut buf).as_bytes() {
                    self.put('%');
                    self.put(
                        std::char::from_digit((b >> 4) as u32, 16)
                            .unwrap_or('0')
                            .to_ascii_uppercase(),
                    );
                    self.put(
                        std::char::from_digit((b & 15) as u32, 16)
                            .unwrap_or('0')
                            .to_ascii_uppercase(),
                    );
                }
            }
        }
        self.whitespace = false;
        self.indention = false;
    }

    pub(super) fn write_plain_scalar(&mut self, value: &[char], allow_breaks: bool) {
        if !value.is_empty() && !self.whitespace {
            self.put(' ');
        }
        let mut spaces = false;
        let mut breaks = false;
        let mut i = 0;
        while i < value.len() {
            let c = value[i];
            if c == ' ' {
                let next_space = value.get(i + 1) == Some(&' ');
                if allow_breaks && !spaces && self.column > self.best_width && !next_space {
                    self.write_indent();
                } else {
                    self.write(c);
                }
                i += 1;
                spaces = true;
            } else if is_break(c) {
                if !breaks && c == '\n' {
                    self.put_break();
                }
                self.write_break(c);
                i += 1;
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                }
                // Copy the whole run up to the next space or break at once.
                let run = value[i..]
                    .iter()
                    .position(|&c| c == ' ' || is_break(c))
                    .map_or(value.len(), |n| i + n);
                self.out.extend(&value[i..run]);
                self.column += (run - i) as i64;
                i = run;
                self.indention = false;
                spaces = false;
                breaks = false;
            }
        }
        if !value.is_empty() {
            self.whitespace = false;
        }
        self.indention = false;
        if self.root_context {
            self.open_ended = true;
        }
    }

    pub(super) fn write_single_quoted_scalar(&mut self, value: &[char], allow_breaks: bool) {
        self.write_indicator("'", true, false, false);
        let mut spaces = false;
        let mut breaks = false;
        let mut i = 0;
        while i < value.len() {
            let c = value[i];
            if c == ' ' {
                let next_space = value.get(i + 1) == Some(&' ');
                if allow_breaks
                    && !spaces
                    && self.column > self.best_width
                    && i > 0
                    && i < value.len() - 1
                    && !next_space
                {
                    self.write_indent();
                } else {
                    self.write(c);
                }
                i += 1;
                spaces = true;
            } else if is_break(c) {
                if !breaks && c == '\n' {
                    self.put_break();
                }
                self.write_break(c);
                i += 1;
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                }
                if c == '\'' {
                    self.put('\'');
                }
                self.write(c);
                i += 1;
                self.indention = false;
                spaces = false;
                breaks = false;
            }
        }
        self.write_indicator("'", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    pub(super) fn write_double_quoted_scalar(&mut self, value: &[char], allow_breaks: bool) {
        let mut spaces = false;
        self.write_indicator("\"", true, false, false);
        // go-yaml's is_bom(value, i) ignores i: a value starting with a BOM has every
        // character escaped.
        let starts_with_bom = value.first() == Some(&'\u{FEFF}');
        let mut i = 0;
        while i < value.len() {
            let c = value[i];
            if !is_printable(c) || starts_with_bom || is_break(c) || c == '"' || c == '\\' {
                i += 1;
                self.put('\\');
                let v = c as u32;
                match v {
                    0x00 => self.put('0'),
                    0x07 => self.put('a'),
                    0x08 => self.put('b'),
                    0x09 => self.put('t'),
                    0x0A => self.put('n'),
                    0x0B => self.put('v'),
                    0x0C => self.put('f'),
                    0x0D => self.put('r'),
                    0x1B => self.put('e'),
                    0x22 => self.put('"'),
                    0x5C => self.put('\\'),
                    0x85 => self.put('N'),
                    0xA0 => self.put('_'),
                    0x2028 => self.put('L'),
                    0x2029 => self.put('P'),
                    _ => {
                        let (ind, w) = if v <= 0xFF {
                            ('x', 2)
                        } else if v <= 0xFFFF {
                            ('u', 4)
                        } else {
                            ('U', 8)
                        };
                        self.put(ind);
                        for k in (0..w).rev() {
                            let digit = (v >> (k * 4)) & 0xF;
                            self.put(
                                std::char::from_digit(digit, 16)
                                    .unwrap_or('0')
                                    .to_ascii_uppercase(),
                            );
                        }
                    }
                }
                spaces = false;
            } else if c == ' ' {
                if allow_breaks
                    && !spaces
                    && self.column > self.best_width
                    && i > 0
                    && i < value.len() - 1
                {
                    self.write_indent();
                    if value.get(i + 1) == Some(&' ') {
                        self.put('\\');
                    }
                } else {
                    self.write(c);
                }
                i += 1;
                spaces = true;
            } else {
                self.write(c);
                i += 1;
                spaces = false;
            }
        }
        self.write_indicator("\"", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    pub(super) fn write_block_scalar_hints(&mut self, value: &[char]) {
        if value.first().is_some_and(|&c| c == ' ' || is_break(c)) {
            let hint = std::char::from_digit(self.best_indent as u32, 10)
                .unwrap_or('2')
                .to_string();
            self.write_indicator(&hint, false, false, false);
        }
        self.open_ended = false;
        let mut chomp = None;
        if value.is_empty() {
            chomp = Some('-');
        } else {
            let i = value.len() - 1;
            if !is_break(value[i]) {
                chomp = Some('-');
            } else if i == 0 || is_break(value[i - 1]) {
                // Trailing line breaks to keep (`+`); go-yaml then marks the document
                // open-ended.
                chomp = Some('+');
                self.open_ended = true;
            }
        }
        if let Some(c) = chomp {
            self.write_indicator(&c.to_string(), false, false, false);
        }
    }

    pub(super) fn write_literal_scalar(&mut self, value: &[char]) {
        self.write_indicator("|", true, false, false);
        self.write_block_scalar_hints(value);
        // go-yaml v3.0.4 (go-yaml issue 755): the header line always ends here, with the
        // line comment or with a plain line break.
        if self.line_comment.is_empty() {
            self.put_break();
        } else {
            self.process_line_comment();
        }
        self.whitespace = true;
        let mut breaks = true;
        for &c in value {
            if is_break(c) {
                self.write_break(c);
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                }
                self.write(c);
                self.indention = false;
                breaks = false;
            }
        }
    }

    pub(super) fn write_folded_scalar(&mut self, value: &[char]) {
        self.write_indicator(">", true, false, false);
        self.write_block_scalar_hints(value);
        // go-yaml v3.0.4 (go-yaml issue 755): the header line always ends here, with the
        // line comment or with a plain line break.
        if self.line_comment.is_empty() {
            self.put_break();
        } else {
            self.process_line_comment();
        }
        self.whitespace = true;
        let mut breaks = true;
        let mut leading_spaces = true;
        let mut i = 0;
        while i < value.len() {
            let c = value[i];
            if is_break(c) {
                if !breaks && !leading_spaces && c == '\n' {
                    // go-yaml looks from the start of the value here (k starts at 0).
                    let mut k = 0;
                    while k < value.len() && is_break(value[k]) {
                        k += 1;
                    }
                    let at = value.get(k).copied().unwrap_or('\0');
                    if !(is_blank(at) || is_break(at) || at == '\0') {
                        self.put_break();
                    }
                }
                self.write_break(c);
                i += 1;
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                    leading_spaces = is_blank(c);
                }
                let next_space = value.get(i + 1) == Some(&' ');
                if !breaks && c == ' ' && !next_space && self.column > self.best_width {
                    self.write_indent();
                } else {
                    self.write(c);
                }
                i += 1;
                self.indention = false;
                breaks = false;
            }
        }
    }

    pub(super) fn write_comment(&mut self, comment: &str) {
        let mut breaks = false;
        let mut pound = false;
        for c in comment.chars() {
            if is_break(c) {
                self.write_break(c);
                breaks = true;
                pound = false;
            } else {
                if breaks {
                    self.write_indent();
                }
                if !pound {
                    if c != '#' {
                        self.put('#');
                        self.put(' ');
                    }
                    pound = true;
                }
                self.write(c);
                self.indention = false;
                breaks = false;
            }
        }
        if !breaks {
            self.put_break();
        }
        self.whitespace = true;
    }
}
