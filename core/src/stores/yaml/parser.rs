//! YAML event parser: tokens to events, attaching scanned comments to events.
//!
//! Follows the state machine of go-yaml v3's `parserc.go` (libyaml's grammar plus go-yaml's
//! head/line/foot/stem comment handling) so that every event carries the same comments
//! go-yaml gives it. Hand-written to match go-yaml byte for byte.

use super::scanner::{Mark, ScalarStyle, Scanner, SyntaxError, Token, TokenType};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EventType {
    StreamStart,
    StreamEnd,
    DocumentStart,
    DocumentEnd,
    Alias,
    Scalar,
    SequenceStart,
    SequenceEnd,
    MappingStart,
    MappingEnd,
}

#[derive(Clone, Debug)]
pub(crate) struct Event {
    pub typ: EventType,
    pub start_mark: Mark,
    pub anchor: String,
    pub tag: String,
    pub value: String,
    pub style: ScalarStyle,
    /// Flow style for sequences and mappings.
    pub flow: bool,
    pub head_comment: String,
    pub line_comment: String,
    pub foot_comment: String,
}

impl Event {
    fn new(typ: EventType, start_mark: Mark) -> Event {
        Event {
            typ,
            start_mark,
            anchor: String::new(),
            tag: String::new(),
            value: String::new(),
            style: ScalarStyle::Plain,
            flow: false,
            head_comment: String::new(),
            line_comment: String::new(),
            foot_comment: String::new(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    StreamStart,
    ImplicitDocumentStart,
    DocumentStart,
    DocumentContent,
    DocumentEnd,
    BlockNode,
    BlockSequenceFirstEntry,
    BlockSequenceEntry,
    IndentlessSequenceEntry,
    BlockMappingFirstKey,
    BlockMappingKey,
    BlockMappingValue,
    FlowSequenceFirstEntry,
    FlowSequenceEntry,
    FlowSequenceEntryMappingKey,
    FlowSequenceEntryMappingValue,
    FlowSequenceEntryMappingEnd,
    FlowMappingFirstKey,
    FlowMappingKey,
    FlowMappingValue,
    FlowMappingEmptyValue,
    End,
}

type PResult<T> = Result<T, SyntaxError>;

/// The event parser.
pub(crate) struct Parser {
    sc: Scanner,
    state: State,
    states: Vec<State>,
    marks: Vec<Mark>,
    tag_directives: Vec<(String, String)>,
    head_comment: String,
    line_comment: String,
    foot_comment: String,
    stem_comment: String,
    done: bool,
}

fn parser_error(problem: &str, problem_mark: Mark) -> SyntaxError {
    SyntaxError {
        scanner: false,
        context_line: 0,
        problem_line: problem_mark.line,
        problem: problem.to_string(),
    }
}

fn parser_error_context(context_mark: Mark, problem: &str, problem_mark: Mark) -> SyntaxError {
    SyntaxError {
        scanner: false,
        context_line: context_mark.line,
        problem_line: problem_mark.line,
        problem: problem.to_string(),
    }
}

fn append_comment(dst: &mut String, src: &str) {
    if !dst.is_empty() {
        dst.push('\n');
    }
    dst.push_str(src);
}

impl Parser {
    /// [`Scanner::wipe`], and the comments waiting for a node.
    pub(crate) fn wipe(&mut self) {
        self.sc.wipe();
        for text in [
            &mut self.head_comment,
            &mut self.line_comment,
            &mut self.foot_comment,
            &mut self.stem_comment,
        ] {
            crate::tree::wipe_text(text);
        }
    }

    pub(crate) fn new(text: String) -> Parser {
        Parser {
            sc: Scanner::new(text),
            state: State::StreamStart,
            states: Vec::new(),
            marks: Vec::new(),
            tag_directives: Vec::new(),
            head_comment: String::new(),
            line_comment: String::new(),
            foot_comment: String::new(),
            stem_comment: String::new(),
            done: false,
        }
    }

    /// Peeks at the next token (by index in the scanner's queue), first moving every
    /// comment that belongs before it into the parser's pending comments.
    fn peek(&mut self) -> PResult<usize> {
        self.sc.fetch_more_tokens()?;
        let idx = self.sc.tokens_head;
        self.unfold_comments(idx);
        Ok(idx)
    }

    fn tok(&self, idx: usize) -> &Token {
        &self.sc.tokens[idx]
    }

    fn unfold_comments(&mut self, idx: usize) {
        let token_typ = self.sc.tokens[idx].typ;
        let token_index = self.sc.tokens[idx].start_mark.index;
        while self.sc.comments_head < self.sc.comments.len()
            && token_index >= self.sc.comments[self.sc.comments_head].token_mark.index
        {
            let head = self.sc.comments_head;
            if !self.sc.comments[head].head.is_empty() {
                if token_typ == TokenType::BlockEnd {
                    // No heads on ends: keep the head for a follow-up token.
                    break;
                }
                let text = std::mem::take(&mut self.sc.comments[head].head);
                append_comment(&mut self.head_comment, &text);
            }
            if !self.sc.comments[head].foot.is_empty() {
                let text = std::mem::take(&mut self.sc.comments[head].foot);
                append_comment(&mut self.foot_comment, &text);
            }
            if !self.sc.comments[head].line.is_empty() {
                let text = std::mem::take(&mut self.sc.comments[head].line);
                append_comment(&mut self.line_comment, &text);
            }
            // go-yaml zeroes consumed comments; the scanner relies on the zero marks.
            self.sc.comments[head] = Default::default();
            self.sc.comments_head += 1;
        }
    }

    fn skip(&mut self) {
        self.sc.skip_token();
    }

    fn set_event_comments(&mut self, event: &mut Event) {
        event.head_comment = std::mem::take(&mut self.head_comment);
        event.line_comment = std::mem::take(&mut self.line_comment);
        event.foot_comment = std::mem::take(&mut self.foot_comment);
        self.stem_comment.clear();
    }

    fn pop_state(&mut self) {
        self.state = self.states.pop().unwrap_or(State::End);
    }

    /// The next event, or None after the stream end.
    pub(crate) fn next_event(&mut self) -> PResult<Option<Event>> {
        if self.done || self.sc.stream_end_produced || self.state == State::End {
            return Ok(None);
        }
        let ev = self.state_machine()?;
        if ev.typ == EventType::StreamEnd {
            self.done = true;
        }
        Ok(Some(ev))
    }

    fn state_machine(&mut self) -> PResult<Event> {
        match self.state {
            State::StreamStart => self.parse_stream_start(),
            State::ImplicitDocumentStart => self.parse_document_start(true),
            State::DocumentStart => self.parse_document_start(false),
            State::DocumentContent => self.parse_document_content(),
            State::DocumentEnd => self.parse_document_end(),
            State::BlockNode => self.parse_node(true, false),
            State::BlockSequenceFirstEntry => self.parse_block_sequence_entry(true),
            State::BlockSequenceEntry => self.parse_block_sequence_entry(false),
            State::IndentlessSequenceEntry => self.parse_indentless_sequence_entry(),
            State::BlockMappingFirstKey => self.parse_block_mapping_key(true),
            State::BlockMappingKey => self.parse_block_mapping_key(false),
            State::BlockMappingValue => self.parse_block_mapping_value(),
            State::FlowSequenceFirstEntry => self.parse_flow_sequence_entry(true),
            State::FlowSequenceEntry => self.parse_flow_sequence_entry(false),
            State::FlowSequenceEntryMappingKey => self.parse_flow_sequence_entry_mapping_key(),
            State::FlowSequenceEntryMappingValue => self.parse_flow_sequence_entry_mapping_value(),
            State::FlowSequenceEntryMappingEnd => self.parse_flow_sequence_entry_mapping_end(),
            State::FlowMappingFirstKey => self.parse_flow_mapping_key(true),
            State::FlowMappingKey => self.parse_flow_mapping_key(false),
            State::FlowMappingValue => self.parse_flow_mapping_value(false),
            State::FlowMappingEmptyValue => self.parse_flow_mapping_value(true),
            State::End => Err(parser_error("no more events", Mark::default())),
        }
    }

    fn parse_stream_start(&mut self) -> PResult<Event> {
        let t = self.peek()?;
        let tok = self.tok(t);
        if tok.typ != TokenType::StreamStart {
            return Err(parser_error(
                "did not find expected <stream-start>",
                tok.start_mark,
            ));
        }
        let ev = Event::new(EventType::StreamStart, tok.start_mark);
        self.state = State::ImplicitDocumentStart;
        self.skip();
        Ok(ev)
    }

    fn parse_document_start(&mut self, implicit: bool) -> PResult<Event> {
        let mut t = self.peek()?;
        if !implicit {
            while self.tok(t).typ == TokenType::DocumentEnd {
                self.skip();
                t = self.peek()?;
            }
        }
        let typ = self.tok(t).typ;
        if implicit
            && typ != TokenType::VersionDirective
            && typ != TokenType::TagDirective
            && typ != TokenType::DocumentStart
            && typ != TokenType::StreamEnd
        {
            self.process_directives()?;
            self.states.push(State::DocumentEnd);
            self.state = State::BlockNode;

            // Split the pending head comment at its last empty line: the part before goes
            // to the document, the rest to the first node.
            let mut head_comment = String::new();
            let hc: Vec<char> = self.head_comment.chars().collect();
            if !hc.is_empty() {
                let mut i = hc.len() - 1;
                while i > 0 {
                    if hc[i] == '\n' {
                        if i == hc.len() - 1 {
                            head_comment = hc[..i].iter().collect();
                            self.head_comment = hc[i + 1..].iter().collect();
                            break;
                        } else if hc[i - 1] == '\n' {
                            head_comment = hc[..i - 1].iter().collect();
                            self.head_comment = hc[i + 1..].iter().collect();
                            break;
                        }
                    }
                    i -= 1;
                }
            }
            let mut ev = Event::new(EventType::DocumentStart, self.tok(t).start_mark);
            ev.head_comment = head_comment;
            return Ok(ev);
        }
        if typ != TokenType::StreamEnd {
            let start_mark = self.tok(t).start_mark;
            self.process_directives()?;
            let t = self.peek()?;
            if self.tok(t).typ != TokenType::DocumentStart {
                return Err(parser_error(
                    "did not find expected <document start>",
                    self.tok(t).start_mark,
                ));
            }
            self.states.push(State::DocumentEnd);
            self.state = State::DocumentContent;
            let ev = Event::new(EventType::DocumentStart, start_mark);
            self.skip();
            return Ok(ev);
        }
        self.state = State::End;
        let ev = Event::new(EventType::StreamEnd, self.tok(t).start_mark);
        self.skip();
        Ok(ev)
    }

    fn parse_document_content(&mut self) -> PResult<Event> {
        let t = self.peek()?;
        let typ = self.tok(t).typ;
        if matches!(
            typ,
            TokenType::VersionDirective
                | TokenType::TagDirective
                | TokenType::DocumentStart
                | TokenType::DocumentEnd
                | TokenType::StreamEnd
        ) {
            self.pop_state();
            return Ok(Event::new(EventType::Scalar, self.tok(t).start_mark));
        }
        self.parse_node(true, false)
    }

    fn parse_document_end(&mut self) -> PResult<Event> {
        let t = self.peek()?;
        let start_mark = self.tok(t).start_mark;
        if self.tok(t).typ == TokenType::DocumentEnd {
            self.skip();
        }
        self.tag_directives.clear();
        self.state = State::DocumentStart;
        let mut ev = Event::new(EventType::DocumentEnd, start_mark);
        self.set_event_comments(&mut ev);
        if !ev.head_comment.is_empty() && ev.foot_comment.is_empty() {
            ev.foot_comment = std::mem::take(&mut ev.head_comment);
        }
        Ok(ev)
    }

    fn parse_node(&mut self, block: bool, indentless_sequence: bool) -> PResult<Event> {
        let mut t = self.peek()?;
        if self.tok(t).typ == TokenType::Alias {
            self.pop_state();
            let mut ev = Event::new(EventType::Alias, self.tok(t).start_mark);
            ev.anchor = self.tok(t).value.clone();
            self.set_event_comments(&mut ev);
            self.skip();
            return Ok(ev);
        }

        let mut start_mark = self.tok(t).start_mark;
        let mut tag_token = false;
        let mut tag_handle = String::new();
        let mut tag_suffix = String::new();
        let mut anchor = String::new();
        let mut tag_mark = Mark::default();
        if self.tok(t).typ == TokenType::Anchor {
            anchor = self.tok(t).value.clone();
            start_mark = self.tok(t).start_mark;
            self.skip();
            t = self.peek()?;
            if self.tok(t).typ == TokenType::Tag {
                tag_token = true;
                tag_handle = self.tok(t).value.clone();
                tag_suffix = self.tok(t).suffix.clone();
                tag_mark = self.tok(t).start_mark;
                self.skip();
                t = self.peek()?;
            }
        } else if self.tok(t).typ == TokenType::Tag {
            tag_token = true;
            tag_handle = self.tok(t).value.clone();
            tag_suffix = self.tok(t).suffix.clone();
            start_mark = self.tok(t).start_mark;
            tag_mark = self.tok(t).start_mark;
            self.skip();
            t = self.peek()?;
            if self.tok(t).typ == TokenType::Anchor {
                anchor = self.tok(t).value.clone();
                self.skip();
                t = self.peek()?;
            }
        }

        let mut tag = String::new();
        if tag_token {
            if tag_handle.is_empty() {
                tag = tag_suffix;
            } else {
                match self.tag_directives.iter().find(|(h, _)| *h == tag_handle) {
                    Some((_, prefix)) => {
                        tag = format!("{prefix}{tag_suffix}");
                    }
                    None => {
                        return Err(parser_error_context(
                            start_mark,
                            "found undefined tag handle",
                            tag_mark,
                        ));
                    }
                }
            }
        }

        let typ = self.tok(t).typ;
        if indentless_sequence && typ == TokenType::BlockEntry {
            self.state = State::IndentlessSequenceEntry;
            let mut ev = Event::new(EventType::SequenceStart, start_mark);
            ev.anchor = anchor;
            ev.tag = tag;
            return Ok(ev);
        }
        if typ == TokenType::Scalar {
            self.pop_state();
            let mut ev = Event::new(EventType::Scalar, start_mark);
            ev.anchor = anchor;
            ev.tag = tag;
            // The parser never looks at a scalar token again: move its text out.
            ev.value = std::mem::take(&mut self.sc.tokens[t].value);
            ev.style = self.tok(t).style;
            self.set_event_comments(&mut ev);
            self.skip();
            return Ok(ev);
        }
        if typ == TokenType::FlowSequenceStart {
            self.state = State::FlowSequenceFirstEntry;
            let mut ev = Event::new(EventType::SequenceStart, start_mark);
            ev.anchor = anchor;
            ev.tag = tag;
            ev.flow = true;
            self.set_event_comments(&mut ev);
            return Ok(ev);
        }
        if typ == TokenType::FlowMappingStart {
            self.state = State::FlowMappingFirstKey;
            let mut ev = Event::new(EventType::MappingStart, start_mark);
            ev.anchor = anchor;
            ev.tag = tag;
            ev.flow = true;
            self.set_event_comments(&mut ev);
            return Ok(ev);
        }
        if block && typ == TokenType::BlockSequenceStart {
            self.state = State::BlockSequenceFirstEntry;
            let mut ev = Event::new(EventType::SequenceStart, start_mark);
            ev.anchor = anchor;
            ev.tag = tag;
            if !self.stem_comment.is_empty() {
                ev.head_comment = std::mem::take(&mut self.stem_comment);
            }
            return Ok(ev);
        }
        if block && typ == TokenType::BlockMappingStart {
            self.state = State::BlockMappingFirstKey;
            let mut ev = Event::new(EventType::MappingStart, start_mark);
            ev.anchor = anchor;
            ev.tag = tag;
            if !self.stem_comment.is_empty() {
                ev.head_comment = std::mem::take(&mut self.stem_comment);
            }
            return Ok(ev);
        }
        if !anchor.is_empty() || !tag.is_empty() {
            self.pop_state();
            let mut ev = Event::new(EventType::Scalar, start_mark);
            ev.anchor = anchor;
            ev.tag = tag;
            return Ok(ev);
        }
        Err(parser_error_context(
            start_mark,
            "did not find expected node content",
            self.tok(t).start_mark,
        ))
    }

    /// When a collection starts under a sequence entry, the head comment gathered before
    /// the entry belongs to that collection as a whole (go-yaml's "stem" comment).
    fn split_stem_comment(&mut self, stem_len: usize) -> PResult<()> {
        if stem_len == 0 {
            return Ok(());
        }
        let t = self.peek()?;
        let typ = self.tok(t).typ;
        if typ != TokenType::BlockSequenceStart && typ != TokenType::BlockMappingStart {
            return Ok(());
        }
        let hc = std::mem::take(&mut self.head_comment);
        self.stem_comment = hc.get(..stem_len).unwrap_or(&hc).to_string();
        if hc.len() > stem_len {
            self.head_comment = hc.get(stem_len + 1..).unwrap_or("").to_string();
        }
        Ok(())
    }

    fn parse_block_sequence_entry(&mut self, first: bool) -> PResult<Event> {
        if first {
            let t = self.peek()?;
            self.marks.push(self.tok(t).start_mark);
            self.skip();
        }
        let mut t = self.peek()?;
        if self.tok(t).typ == TokenType::BlockEntry {
            let mark = self.tok(t).end_mark;
            let prior_head_len = self.head_comment.len();
            self.skip();
            self.split_stem_comment(prior_head_len)?;
            t = self.peek()?;
            let typ = self.tok(t).typ;
            if typ != TokenType::BlockEntry && typ != TokenType::BlockEnd {
                self.states.push(State::BlockSequenceEntry);
                return self.parse_node(true, false);
            }
            self.state = State::BlockSequenceEntry;
            return Ok(Event::new(EventType::Scalar, mark));
        }
        if self.tok(t).typ == TokenType::BlockEnd {
            self.pop_state();
            self.marks.pop();
            let ev = Event::new(EventType::SequenceEnd, self.tok(t).start_mark);
            self.skip();
            return Ok(ev);
        }
        let context_mark = self.marks.pop().unwrap_or_default();
        Err(parser_error_context(
            context_mark,
            "did not find expected '-' indicator",
            self.tok(t).start_mark,
        ))
    }

    fn parse_indentless_sequence_entry(&mut self) -> PResult<Event> {
        let mut t = self.peek()?;
        if self.tok(t).typ == TokenType::BlockEntry {
            let mark = self.tok(t).end_mark;
            let prior_head_len = self.head_comment.len();
            self.skip();
            self.split_stem_comment(prior_head_len)?;
            t = self.peek()?;
            let typ = self.tok(t).typ;
            if typ != TokenType::BlockEntry
                && typ != TokenType::Key
                && typ != TokenType::Value
                && typ != TokenType::BlockEnd
            {
                self.states.push(State::IndentlessSequenceEntry);
                return self.parse_node(true, false);
            }
            self.state = State::IndentlessSequenceEntry;
            return Ok(Event::new(EventType::Scalar, mark));
        }
        self.pop_state();
        Ok(Event::new(EventType::SequenceEnd, self.tok(t).start_mark))
    }

    fn parse_block_mapping_key(&mut self, first: bool) -> PResult<Event> {
        if first {
            let t = self.peek()?;
            self.marks.push(self.tok(t).start_mark);
            self.skip();
        }
        let mut t = self.peek()?;
        // (go-yaml's TAIL-COMMENT event is never produced by its parser.)
        if self.tok(t).typ == TokenType::Key {
            let mark = self.tok(t).end_mark;
            self.skip();
            t = self.peek()?;
            let typ = self.tok(t).typ;
            if typ != TokenType::Key && typ != TokenType::Value && typ != TokenType::BlockEnd {
                self.states.push(State::BlockMappingValue);
                return self.parse_node(true, true);
            }
            self.state = State::BlockMappingValue;
            return Ok(Event::new(EventType::Scalar, mark));
        } else if self.tok(t).typ == TokenType::BlockEnd {
            self.pop_state();
            self.marks.pop();
            let mut ev = Event::new(EventType::MappingEnd, self.tok(t).start_mark);
            self.set_event_comments(&mut ev);
            self.skip();
            return Ok(ev);
        }
        let context_mark = self.marks.pop().unwrap_or_default();
        Err(parser_error_context(
            context_mark,
            "did not find expected key",
            self.tok(t).start_mark,
        ))
    }

    fn parse_block_mapping_value(&mut self) -> PResult<Event> {
        let mut t = self.peek()?;
        if self.tok(t).typ == TokenType::Value {
            let mark = self.tok(t).end_mark;
            self.skip();
            t = self.peek()?;
            let typ = self.tok(t).typ;
            if typ != TokenType::Key && typ != TokenType::Value && typ != TokenType::BlockEnd {
                self.states.push(State::BlockMappingKey);
                return self.parse_node(true, true);
            }
            self.state = State::BlockMappingKey;
            return Ok(Event::new(EventType::Scalar, mark));
        }
        self.state = State::BlockMappingKey;
        Ok(Event::new(EventType::Scalar, self.tok(t).start_mark))
    }

    fn parse_flow_sequence_entry(&mut self, first: bool) -> PResult<Event> {
        if first {
            let t = self.peek()?;
            self.marks.push(self.tok(t).start_mark);
            self.skip();
        }
        let mut t = self.peek()?;
        if self.tok(t).typ != TokenType::FlowSequenceEnd {
            if !first {
                if self.tok(t).typ == TokenType::FlowEntry {
                    self.skip();
                    t = self.peek()?;
                } else {
                    let context_mark = self.marks.pop().unwrap_or_default();
                    return Err(parser_error_context(
                        context_mark,
                        "did not find expected ',' or ']'",
                        self.tok(t).start_mark,
                    ));
                }
            }
            if self.tok(t).typ == TokenType::Key {
                self.state = State::FlowSequenceEntryMappingKey;
                let mut ev = Event::new(EventType::MappingStart, self.tok(t).start_mark);
                ev.flow = true;
                self.skip();
                return Ok(ev);
            } else if self.tok(t).typ != TokenType::FlowSequenceEnd {
                self.states.push(State::FlowSequenceEntry);
                return self.parse_node(false, false);
            }
        }
        self.pop_state();
        self.marks.pop();
        let mut ev = Event::new(EventType::SequenceEnd, self.tok(t).start_mark);
        self.set_event_comments(&mut ev);
        self.skip();
        Ok(ev)
    }

    fn parse_flow_sequence_entry_mapping_key(&mut self) -> PResult<Event> {
        let t = self.peek()?;
        let typ = self.tok(t).typ;
        if typ != TokenType::Value
            && typ != TokenType::FlowEntry
            && typ != TokenType::FlowSequenceEnd
        {
            self.states.push(State::FlowSequenceEntryMappingValue);
            return self.parse_node(false, false);
        }
        let mark = self.tok(t).end_mark;
        self.skip();
        self.state = State::FlowSequenceEntryMappingValue;
        Ok(Event::new(EventType::Scalar, mark))
    }

    fn parse_flow_sequence_entry_mapping_value(&mut self) -> PResult<Event> {
        let mut t = self.peek()?;
        if self.tok(t).typ == TokenType::Value {
            self.skip();
            t = self.peek()?;
            let typ = self.tok(t).typ;
            if typ != TokenType::FlowEntry && typ != TokenType::FlowSequenceEnd {
                self.states.push(State::FlowSequenceEntryMappingEnd);
                return self.parse_node(false, false);
            }
        }
        self.state = State::FlowSequenceEntryMappingEnd;
        Ok(Event::new(EventType::Scalar, self.tok(t).start_mark))
    }

    fn parse_flow_sequence_entry_mapping_end(&mut self) -> PResult<Event> {
        let t = self.peek()?;
        self.state = State::FlowSequenceEntry;
        Ok(Event::new(EventType::MappingEnd, self.tok(t).start_mark))
    }

    fn parse_flow_mapping_key(&mut self, first: bool) -> PResult<Event> {
        if first {
            let t = self.peek()?;
            self.marks.push(self.tok(t).start_mark);
            self.skip();
        }
        let mut t = self.peek()?;
        if self.tok(t).typ != TokenType::FlowMappingEnd {
            if !first {
                if self.tok(t).typ == TokenType::FlowEntry {
                    self.skip();
                    t = self.peek()?;
                } else {
                    let context_mark = self.marks.pop().unwrap_or_default();
                    return Err(parser_error_context(
                        context_mark,
                        "did not find expected ',' or '}'",
                        self.tok(t).start_mark,
                    ));
                }
            }
            if self.tok(t).typ == TokenType::Key {
                self.skip();
                t = self.peek()?;
                let typ = self.tok(t).typ;
                if typ != TokenType::Value
                    && typ != TokenType::FlowEntry
                    && typ != TokenType::FlowMappingEnd
                {
                    self.states.push(State::FlowMappingValue);
                    return self.parse_node(false, false);
                }
                self.state = State::FlowMappingValue;
                return Ok(Event::new(EventType::Scalar, self.tok(t).start_mark));
            } else if self.tok(t).typ != TokenType::FlowMappingEnd {
                self.states.push(State::FlowMappingEmptyValue);
                return self.parse_node(false, false);
            }
        }
        self.pop_state();
        self.marks.pop();
        let mut ev = Event::new(EventType::MappingEnd, self.tok(t).start_mark);
        self.set_event_comments(&mut ev);
        self.skip();
        Ok(ev)
    }

    fn parse_flow_mapping_value(&mut self, empty: bool) -> PResult<Event> {
        let mut t = self.peek()?;
        if empty {
            self.state = State::FlowMappingKey;
            return Ok(Event::new(EventType::Scalar, self.tok(t).start_mark));
        }
        if self.tok(t).typ == TokenType::Value {
            self.skip();
            t = self.peek()?;
            let typ = self.tok(t).typ;
            if typ != TokenType::FlowEntry && typ != TokenType::FlowMappingEnd {
                self.states.push(State::FlowMappingKey);
                return self.parse_node(false, false);
            }
        }
        self.state = State::FlowMappingKey;
        Ok(Event::new(EventType::Scalar, self.tok(t).start_mark))
    }

    fn process_directives(&mut self) -> PResult<()> {
        let mut t = self.peek()?;
        let mut have_version = false;
        loop {
            let typ = self.tok(t).typ;
            if typ == TokenType::VersionDirective {
                if have_version {
                    return Err(parser_error(
                        "found duplicate %YAML directive",
                        self.tok(t).start_mark,
                    ));
                }
                if self.tok(t).major != 1 || self.tok(t).minor != 1 {
                    return Err(parser_error(
                        "found incompatible YAML document",
                        self.tok(t).start_mark,
                    ));
                }
                have_version = true;
            } else if typ == TokenType::TagDirective {
                let handle = self.tok(t).value.clone();
                let prefix = self.tok(t).prefix.clone();
                if self.tag_directives.iter().any(|(h, _)| *h == handle) {
                    return Err(parser_error(
                        "found duplicate %TAG directive",
                        self.tok(t).start_mark,
                    ));
                }
                self.tag_directives.push((handle, prefix));
            } else {
                break;
            }
            self.skip();
            t = self.peek()?;
        }
        for (h, p) in [("!", "!"), ("!!", "tag:yaml.org,2002:")] {
            if !self.tag_directives.iter().any(|(hh, _)| hh == h) {
                self.tag_directives.push((h.to_string(), p.to_string()));
            }
        }
        Ok(())
    }
}
