//! Directives (`%YAML`, `%TAG`), anchors, aliases and tags, as go-yaml scans them.

use super::{
    is_alpha, is_blank, is_blankz, is_break, is_breakz, utf8_width, Mark, SResult, Scanner, Token,
    TokenType,
};

impl Scanner {
    pub(super) fn scan_directive(&mut self) -> SResult<Token> {
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

    pub(super) fn scan_directive_name(&mut self, start: Mark) -> SResult<String> {
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

    pub(super) fn scan_version_directive_value(&mut self, start: Mark) -> SResult<(i32, i32)> {
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

    pub(super) fn scan_version_directive_number(&mut self, start: Mark) -> SResult<i32> {
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

    pub(super) fn scan_tag_directive_value(&mut self, start: Mark) -> SResult<(String, String)> {
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

    pub(super) fn scan_anchor(&mut self, typ: TokenType) -> SResult<Token> {
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

    pub(super) fn scan_tag(&mut self) -> SResult<Token> {
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

    pub(super) fn scan_tag_handle(&mut self, directive: bool, start: Mark) -> SResult<String> {
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

    pub(super) fn scan_tag_uri(
        &mut self,
        directive: bool,
        head: &str,
        start: Mark,
    ) -> SResult<String> {
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

    pub(super) fn scan_uri_escapes(
        &mut self,
        _directive: bool,
        start: Mark,
        s: &mut String,
    ) -> SResult<()> {
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
}
