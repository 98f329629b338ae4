//! Comment scanning: which of go-yaml's head, line and foot comments a `#` line becomes,
//! decided from the token queue, the indentation and the breaks just skipped, as in
//! go-yaml's `yaml_parser_scan_line_comment` and `yaml_parser_scan_comments`.

use super::{is_blank, is_break, is_breakz, Comment, Mark, Scanner, TokenType};

impl Scanner {
    pub(super) fn scan_line_comment(&mut self, token_mark: Mark) {
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
    pub(super) fn scan_comments(&mut self, scan_mark_in: Mark) {
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
}
