//! Block (`|`, `>`), quoted and plain scalars, as go-yaml scans them: folding, escapes
//! and the end of a plain scalar are hand-written to match it byte for byte.

use super::{
    is_blank, is_blankz, is_break, is_breakz, Mark, SResult, ScalarStyle, Scanner, Token, TokenType,
};

impl Scanner {
    pub(super) fn scan_block_scalar(&mut self, literal: bool) -> SResult<Token> {
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

    pub(super) fn scan_block_scalar_breaks(
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

    pub(super) fn scan_flow_scalar(&mut self, single: bool) -> SResult<Token> {
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

    pub(super) fn scan_plain_scalar(&mut self) -> SResult<Token> {
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
                    let stop = super::super::plain_run::plain_run_end(self.buf.as_bytes(), start);
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
