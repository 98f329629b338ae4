//! YAML event emitter: events to bytes, as go-yaml v3's `emitterc.go` writes them.
//!
//! sops's output is whatever go-yaml's emitter makes of the nodes sops builds, so this is a
//! close transcription of that state machine: the same indentation arithmetic (including
//! go-yaml's "+2 inside a sequence item" rule), the same scalar analysis and style choice,
//! the same comment placement and blank-line rules (`foot_indent`, `space_above`), the same
//! block-scalar indicators. Hand-written to match go-yaml byte for byte; anchors, aliases,
//! directives and canonical mode are left out because sops never emits them. This file
//! holds the state machine; the scalar analysis and the writers are in the submodules.

use std::borrow::Cow;

mod analysis;
mod writers;

use super::scanner::ScalarStyle;
use analysis::{analyze, analyze_graphic_ascii_bytes};

/// Event kinds the emitter accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EKind {
    StreamStart,
    StreamEnd,
    DocumentStart,
    DocumentEnd,
    Scalar,
    SequenceStart,
    SequenceEnd,
    MappingStart,
    MappingEnd,
}

/// One emitter event. `tag` is a long tag (`tag:yaml.org,2002:merge`) or empty.
#[derive(Clone, Debug)]
pub(crate) struct EEvent<'a> {
    pub kind: EKind,
    pub tag: String,
    /// A scalar's text, borrowed from the tree being written where it can be.
    pub value: Cow<'a, str>,
    pub implicit: bool,
    pub quoted_implicit: bool,
    pub style: ScalarStyle,
    pub flow: bool,
    pub head_comment: String,
    pub line_comment: String,
    pub foot_comment: String,
    pub tail_comment: String,
}

impl<'a> EEvent<'a> {
    pub(crate) fn new(kind: EKind) -> EEvent<'a> {
        EEvent {
            kind,
            tag: String::new(),
            value: Cow::Borrowed(""),
            implicit: true,
            quoted_implicit: false,
            style: ScalarStyle::Plain,
            flow: false,
            head_comment: String::new(),
            line_comment: String::new(),
            foot_comment: String::new(),
            tail_comment: String::new(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    StreamStart,
    FirstDocumentStart,
    DocumentStart,
    DocumentContent,
    DocumentEnd,
    FlowSequenceFirstItem,
    FlowSequenceTrailItem,
    FlowSequenceItem,
    FlowMappingFirstKey,
    FlowMappingTrailKey,
    FlowMappingKey,
    FlowMappingSimpleValue,
    FlowMappingValue,
    BlockSequenceFirstItem,
    BlockSequenceItem,
    BlockMappingFirstKey,
    BlockMappingKey,
    BlockMappingSimpleValue,
    BlockMappingValue,
    End,
}

#[derive(Default)]
struct ScalarData {
    value: Vec<char>,
    /// The same text as a string, for writing a plain scalar without spaces in one copy.
    text: String,
    multiline: bool,
    flow_plain_allowed: bool,
    block_plain_allowed: bool,
    single_quoted_allowed: bool,
    block_allowed: bool,
    style: Option<ScalarStyle>,
}

/// The emitter.
pub(crate) struct Emitter<'a> {
    pub out: String,
    best_indent: i64,
    best_width: i64,
    state: State,
    states: Vec<State>,
    events: Vec<EEvent<'a>>,
    events_head: usize,
    indents: Vec<i64>,
    tag_directives: Vec<(String, String)>,
    indent: i64,
    flow_level: i64,
    root_context: bool,
    sequence_context: bool,
    mapping_context: bool,
    simple_key_context: bool,
    line: i64,
    column: i64,
    whitespace: bool,
    indention: bool,
    open_ended: bool,
    space_above: bool,
    foot_indent: i64,
    tag_handle: String,
    tag_suffix: String,
    scalar: ScalarData,
    head_comment: String,
    line_comment: String,
    foot_comment: String,
    tail_comment: String,
    key_line_comment: String,
}

type EResult = Result<(), String>;

impl<'a> Emitter<'a> {
    /// An emitter with go-yaml's `SetIndent(indent)` semantics (out-of-range: 2).
    pub(crate) fn new(indent: i64) -> Emitter<'a> {
        Emitter {
            out: String::new(),
            best_indent: indent,
            best_width: -1,
            state: State::StreamStart,
            states: Vec::new(),
            events: Vec::new(),
            events_head: 0,
            indents: Vec::new(),
            tag_directives: Vec::new(),
            indent: -1,
            flow_level: 0,
            root_context: false,
            sequence_context: false,
            mapping_context: false,
            simple_key_context: false,
            line: 0,
            column: 0,
            whitespace: false,
            indention: false,
            open_ended: false,
            space_above: false,
            foot_indent: -1,
            tag_handle: String::new(),
            tag_suffix: String::new(),
            scalar: ScalarData::default(),
            head_comment: String::new(),
            line_comment: String::new(),
            foot_comment: String::new(),
            tail_comment: String::new(),
            key_line_comment: String::new(),
        }
    }

    /// go-yaml's encoder clears `open_ended` before the final STREAM-END.
    pub(crate) fn clear_open_ended(&mut self) {
        self.open_ended = false;
    }

    // ---- output primitives ------------------------------------------------------------

    fn put(&mut self, c: char) {
        self.out.push(c);
        self.column += 1;
    }

    fn put_break(&mut self) {
        self.out.push('\n');
        if self.column == 0 {
            self.space_above = true;
        }
        self.column = 0;
        self.line += 1;
        self.indention = true;
    }

    fn write(&mut self, c: char) {
        self.out.push(c);
        self.column += 1;
    }

    fn write_all(&mut self, s: &str) {
        for c in s.chars() {
            self.write(c);
        }
    }

    fn write_break(&mut self, c: char) {
        if c == '\n' {
            self.put_break();
        } else {
            self.write(c);
            if self.column == 0 {
                self.space_above = true;
            }
            self.column = 0;
            self.line += 1;
            self.indention = true;
        }
    }

    // ---- event loop -------------------------------------------------------------------

    pub(crate) fn emit(&mut self, event: EEvent<'a>) -> EResult {
        self.events.push(event);
        while !self.need_more_events() {
            // Move the event out instead of cloning it (the bulk of the emitter's time); the
            // look-ahead checks only read the kind left in its place.
            let kind = self.events[self.events_head].kind;
            let ev = std::mem::replace(&mut self.events[self.events_head], EEvent::new(kind));
            self.analyze_event(&ev);
            self.state_machine(&ev)?;
            self.events_head += 1;
        }
        // Processed events are never looked at again: drop them now and then so a large
        // document does not keep every event in memory.
        if self.events_head >= 1024 {
            self.events.drain(..self.events_head);
            self.events_head = 0;
        }
        Ok(())
    }

    fn need_more_events(&self) -> bool {
        if self.events_head == self.events.len() {
            return true;
        }
        let accumulate = match self.events[self.events_head].kind {
            EKind::DocumentStart => 1,
            EKind::SequenceStart => 2,
            EKind::MappingStart => 3,
            _ => return false,
        };
        if self.events.len() - self.events_head > accumulate {
            return false;
        }
        let mut level = 0i64;
        for ev in &self.events[self.events_head..] {
            match ev.kind {
                EKind::StreamStart
                | EKind::DocumentStart
                | EKind::SequenceStart
                | EKind::MappingStart => level += 1,
                EKind::StreamEnd | EKind::DocumentEnd | EKind::SequenceEnd | EKind::MappingEnd => {
                    level -= 1
                }
                _ => {}
            }
            if level == 0 {
                return false;
            }
        }
        true
    }

    fn increase_indent(&mut self, flow: bool, indentless: bool) {
        self.indents.push(self.indent);
        if self.indent < 0 {
            self.indent = if flow { self.best_indent } else { 0 };
        } else if !indentless {
            if self.states.last() == Some(&State::BlockSequenceItem) {
                // go-yaml: content of a `- ` item is indented by the indicator's width.
                self.indent += 2;
            } else {
                self.indent =
                    self.best_indent * ((self.indent + self.best_indent) / self.best_indent);
            }
        }
    }

    fn pop_indent(&mut self) {
        self.indent = self.indents.pop().unwrap_or(-1);
    }

    fn pop_state(&mut self) {
        self.state = self.states.pop().unwrap_or(State::End);
    }

    fn state_machine(&mut self, ev: &EEvent) -> EResult {
        match self.state {
            State::StreamStart => self.emit_stream_start(ev),
            State::FirstDocumentStart => self.emit_document_start(ev, true),
            State::DocumentStart => self.emit_document_start(ev, false),
            State::DocumentContent => self.emit_document_content(ev),
            State::DocumentEnd => self.emit_document_end(ev),
            State::FlowSequenceFirstItem => self.emit_flow_sequence_item(ev, true, false),
            State::FlowSequenceTrailItem => self.emit_flow_sequence_item(ev, false, true),
            State::FlowSequenceItem => self.emit_flow_sequence_item(ev, false, false),
            State::FlowMappingFirstKey => self.emit_flow_mapping_key(ev, true, false),
            State::FlowMappingTrailKey => self.emit_flow_mapping_key(ev, false, true),
            State::FlowMappingKey => self.emit_flow_mapping_key(ev, false, false),
            State::FlowMappingSimpleValue => self.emit_flow_mapping_value(ev, true),
            State::FlowMappingValue => self.emit_flow_mapping_value(ev, false),
            State::BlockSequenceFirstItem => self.emit_block_sequence_item(ev, true),
            State::BlockSequenceItem => self.emit_block_sequence_item(ev, false),
            State::BlockMappingFirstKey => self.emit_block_mapping_key(ev, true),
            State::BlockMappingKey => self.emit_block_mapping_key(ev, false),
            State::BlockMappingSimpleValue => self.emit_block_mapping_value(ev, true),
            State::BlockMappingValue => self.emit_block_mapping_value(ev, false),
            State::End => Err("expected nothing after STREAM-END".into()),
        }
    }

    fn emit_stream_start(&mut self, ev: &EEvent) -> EResult {
        if ev.kind != EKind::StreamStart {
            return Err("expected STREAM-START".into());
        }
        if self.best_indent < 2 || self.best_indent > 9 {
            self.best_indent = 2;
        }
        if self.best_width >= 0 && self.best_width <= self.best_indent * 2 {
            self.best_width = 80;
        }
        if self.best_width < 0 {
            self.best_width = (1 << 31) - 1;
        }
        self.indent = -1;
        self.line = 0;
        self.column = 0;
        self.whitespace = true;
        self.indention = true;
        self.space_above = true;
        self.foot_indent = -1;
        self.state = State::FirstDocumentStart;
        Ok(())
    }

    fn emit_document_start(&mut self, ev: &EEvent, first: bool) -> EResult {
        if ev.kind == EKind::DocumentStart {
            for (h, p) in [("!", "!"), ("!!", "tag:yaml.org,2002:")] {
                if !self.tag_directives.iter().any(|(hh, _)| hh == h) {
                    self.tag_directives.push((h.into(), p.into()));
                }
            }
            let mut implicit = ev.implicit;
            if !first {
                implicit = false;
            }
            if !implicit {
                self.write_indent();
                self.write_indicator("---", true, false, false);
                self.write_indent();
            }
            if !self.head_comment.is_empty() {
                self.process_head_comment();
                self.put_break();
            }
            self.state = State::DocumentContent;
            return Ok(());
        }
        if ev.kind == EKind::StreamEnd {
            if self.open_ended {
                self.write_indicator("...", true, false, false);
                self.write_indent();
            }
            self.state = State::End;
            return Ok(());
        }
        Err("expected DOCUMENT-START or STREAM-END".into())
    }

    fn emit_document_content(&mut self, ev: &EEvent) -> EResult {
        self.states.push(State::DocumentEnd);
        self.process_head_comment();
        self.emit_node(ev, true, false, false, false)?;
        self.process_line_comment();
        self.process_foot_comment();
        Ok(())
    }

    fn emit_document_end(&mut self, ev: &EEvent) -> EResult {
        if ev.kind != EKind::DocumentEnd {
            return Err("expected DOCUMENT-END".into());
        }
        self.foot_indent = 0;
        self.process_foot_comment();
        self.foot_indent = -1;
        self.write_indent();
        if !ev.implicit {
            self.write_indicator("...", true, false, false);
            self.write_indent();
        }
        self.state = State::DocumentStart;
        self.tag_directives.clear();
        Ok(())
    }

    fn comments_pending(&self) -> bool {
        !self.line_comment.is_empty()
            || !self.foot_comment.is_empty()
            || !self.tail_comment.is_empty()
    }

    fn emit_flow_sequence_item(&mut self, ev: &EEvent, first: bool, trail: bool) -> EResult {
        if first {
            self.write_indicator("[", true, true, false);
            self.increase_indent(true, false);
            self.flow_level += 1;
        }
        if ev.kind == EKind::SequenceEnd {
            self.flow_level -= 1;
            self.pop_indent();
            if self.column == 0 {
                self.write_indent();
            }
            self.write_indicator("]", false, false, false);
            self.process_line_comment();
            self.process_foot_comment();
            self.pop_state();
            return Ok(());
        }
        if !first && !trail {
            self.write_indicator(",", false, false, false);
        }
        self.process_head_comment();
        if self.column == 0 {
            self.write_indent();
        }
        if self.column > self.best_width {
            self.write_indent();
        }
        if self.comments_pending() {
            self.states.push(State::FlowSequenceTrailItem);
        } else {
            self.states.push(State::FlowSequenceItem);
        }
        self.emit_node(ev, false, true, false, false)?;
        if self.comments_pending() {
            self.write_indicator(",", false, false, false);
        }
        self.process_line_comment();
        self.process_foot_comment();
        Ok(())
    }

    fn emit_flow_mapping_key(&mut self, ev: &EEvent, first: bool, trail: bool) -> EResult {
        if first {
            self.write_indicator("{", true, true, false);
            self.increase_indent(true, false);
            self.flow_level += 1;
        }
        if ev.kind == EKind::MappingEnd {
            if (!self.head_comment.is_empty()
                || !self.foot_comment.is_empty()
                || !self.tail_comment.is_empty())
                && !first
                && !trail
            {
                self.write_indicator(",", false, false, false);
            }
            self.process_head_comment();
            self.flow_level -= 1;
            self.pop_indent();
            self.write_indicator("}", false, false, false);
            self.process_line_comment();
            self.process_foot_comment();
            self.pop_state();
            return Ok(());
        }
        if !first && !trail {
            self.write_indicator(",", false, false, false);
        }
        self.process_head_comment();
        if self.column == 0 {
            self.write_indent();
        }
        if self.column > self.best_width {
            self.write_indent();
        }
        if self.check_simple_key() {
            self.states.push(State::FlowMappingSimpleValue);
            return self.emit_node(ev, false, false, true, true);
        }
        self.write_indicator("?", true, false, false);
        self.states.push(State::FlowMappingValue);
        self.emit_node(ev, false, false, true, false)
    }

    fn emit_flow_mapping_value(&mut self, ev: &EEvent, simple: bool) -> EResult {
        if simple {
            self.write_indicator(":", false, false, false);
        } else {
            if self.column > self.best_width {
                self.write_indent();
            }
            self.write_indicator(":", true, false, false);
        }
        if self.comments_pending() {
            self.states.push(State::FlowMappingTrailKey);
        } else {
            self.states.push(State::FlowMappingKey);
        }
        self.emit_node(ev, false, false, true, false)?;
        if self.comments_pending() {
            self.write_indicator(",", false, false, false);
        }
        self.process_line_comment();
        self.process_foot_comment();
        Ok(())
    }

    fn emit_block_sequence_item(&mut self, ev: &EEvent, first: bool) -> EResult {
        if first {
            self.increase_indent(false, false);
        }
        if ev.kind == EKind::SequenceEnd {
            self.pop_indent();
            self.pop_state();
            return Ok(());
        }
        self.process_head_comment();
        self.write_indent();
        self.write_indicator("-", true, false, true);
        self.states.push(State::BlockSequenceItem);
        self.emit_node(ev, false, true, false, false)?;
        self.process_line_comment();
        self.process_foot_comment();
        Ok(())
    }

    fn emit_block_mapping_key(&mut self, ev: &EEvent, first: bool) -> EResult {
        if first {
            self.increase_indent(false, false);
        }
        self.process_head_comment();
        if ev.kind == EKind::MappingEnd {
            self.pop_indent();
            self.pop_state();
            return Ok(());
        }
        self.write_indent();
        if !self.line_comment.is_empty() {
            self.key_line_comment = std::mem::take(&mut self.line_comment);
        }
        if self.check_simple_key() {
            self.states.push(State::BlockMappingSimpleValue);
            return self.emit_node(ev, false, false, true, true);
        }
        self.write_indicator("?", true, false, true);
        self.states.push(State::BlockMappingValue);
        self.emit_node(ev, false, false, true, false)
    }

    fn emit_block_mapping_value(&mut self, ev: &EEvent, simple: bool) -> EResult {
        if simple {
            self.write_indicator(":", false, false, false);
        } else {
            self.write_indent();
            self.write_indicator(":", true, false, true);
        }
        if !self.key_line_comment.is_empty() {
            if ev.kind == EKind::Scalar {
                if self.line_comment.is_empty() {
                    self.line_comment = std::mem::take(&mut self.key_line_comment);
                }
            } else if !(ev.kind == EKind::SequenceStart && ev.flow)
                && (ev.kind == EKind::MappingStart || ev.kind == EKind::SequenceStart)
            {
                std::mem::swap(&mut self.line_comment, &mut self.key_line_comment);
                self.process_line_comment();
                std::mem::swap(&mut self.line_comment, &mut self.key_line_comment);
            }
        }
        self.states.push(State::BlockMappingKey);
        self.emit_node(ev, false, false, true, false)?;
        self.process_line_comment();
        self.process_foot_comment();
        Ok(())
    }

    fn emit_node(
        &mut self,
        ev: &EEvent,
        root: bool,
        sequence: bool,
        mapping: bool,
        simple_key: bool,
    ) -> EResult {
        self.root_context = root;
        self.sequence_context = sequence;
        self.mapping_context = mapping;
        self.simple_key_context = simple_key;
        match ev.kind {
            EKind::Scalar => self.emit_scalar(ev),
            EKind::SequenceStart => {
                self.process_tag();
                if self.flow_level > 0 || ev.flow || self.check_empty_sequence() {
                    self.state = State::FlowSequenceFirstItem;
                } else {
                    self.state = State::BlockSequenceFirstItem;
                }
                Ok(())
            }
            EKind::MappingStart => {
                self.process_tag();
                if self.flow_level > 0 || ev.flow || self.check_empty_mapping() {
                    self.state = State::FlowMappingFirstKey;
                } else {
                    self.state = State::BlockMappingFirstKey;
                }
                Ok(())
            }
            other => Err(format!(
                "expected SCALAR, SEQUENCE-START, MAPPING-START, or ALIAS, but got {other:?}"
            )),
        }
    }

    fn emit_scalar(&mut self, ev: &EEvent) -> EResult {
        self.select_scalar_style(ev)?;
        self.process_tag();
        self.increase_indent(true, false);
        self.process_scalar();
        self.pop_indent();
        self.pop_state();
        Ok(())
    }

    fn check_empty_sequence(&self) -> bool {
        self.events.len() - self.events_head >= 2
            && self.events[self.events_head].kind == EKind::SequenceStart
            && self.events[self.events_head + 1].kind == EKind::SequenceEnd
    }

    fn check_empty_mapping(&self) -> bool {
        self.events.len() - self.events_head >= 2
            && self.events[self.events_head].kind == EKind::MappingStart
            && self.events[self.events_head + 1].kind == EKind::MappingEnd
    }

    fn check_simple_key(&self) -> bool {
        let tag_len = self.tag_handle.len() + self.tag_suffix.len();
        let length = match self.events[self.events_head].kind {
            EKind::Scalar => {
                if self.scalar.multiline {
                    return false;
                }
                // go-yaml counts bytes here.
                tag_len + self.scalar.text.len()
            }
            EKind::SequenceStart => {
                if !self.check_empty_sequence() {
                    return false;
                }
                tag_len
            }
            EKind::MappingStart => {
                if !self.check_empty_mapping() {
                    return false;
                }
                tag_len
            }
            _ => return false,
        };
        length <= 128
    }

    fn select_scalar_style(&mut self, ev: &EEvent) -> EResult {
        let no_tag = self.tag_handle.is_empty() && self.tag_suffix.is_empty();
        if no_tag && !ev.implicit && !ev.quoted_implicit {
            return Err("neither tag nor implicit flags are specified".into());
        }
        let mut style = ev.style;
        if self.simple_key_context && self.scalar.multiline {
            style = ScalarStyle::DoubleQuoted;
        }
        if style == ScalarStyle::Plain {
            if (self.flow_level > 0 && !self.scalar.flow_plain_allowed)
                || (self.flow_level == 0 && !self.scalar.block_plain_allowed)
            {
                style = ScalarStyle::SingleQuoted;
            }
            if self.scalar.text.is_empty() && (self.flow_level > 0 || self.simple_key_context) {
                style = ScalarStyle::SingleQuoted;
            }
            if no_tag && !ev.implicit {
                style = ScalarStyle::SingleQuoted;
            }
        }
        if style == ScalarStyle::SingleQuoted && !self.scalar.single_quoted_allowed {
            style = ScalarStyle::DoubleQuoted;
        }
        if (style == ScalarStyle::Literal || style == ScalarStyle::Folded)
            && (!self.scalar.block_allowed || self.flow_level > 0 || self.simple_key_context)
        {
            style = ScalarStyle::DoubleQuoted;
        }
        if no_tag && !ev.quoted_implicit && style != ScalarStyle::Plain {
            self.tag_handle = "!".into();
        }
        self.scalar.style = Some(style);
        Ok(())
    }

    fn process_tag(&mut self) {
        if self.tag_handle.is_empty() && self.tag_suffix.is_empty() {
            return;
        }
        if !self.tag_handle.is_empty() {
            let handle = self.tag_handle.clone();
            self.write_tag_handle(&handle);
            if !self.tag_suffix.is_empty() {
                let suffix = self.tag_suffix.clone();
                self.write_tag_content(&suffix, false);
            }
        } else {
            self.write_indicator("!<", true, false, false);
            let suffix = self.tag_suffix.clone();
            self.write_tag_content(&suffix, false);
            self.write_indicator(">", false, false, false);
        }
    }

    /// True when [`Emitter::write_plain_scalar`] would copy the scalar's text unchanged:
    /// no breaks, and no space at which the line would be folded (each space is written
    /// as it is unless the column there is past the best width).
    fn plain_text_is_written_unchanged(&self, allow_breaks: bool) -> bool {
        let text = &self.scalar.text;
        // Bytes when ASCII (searching for a set of chars decodes every character).
        let ascii = text.is_ascii();
        let has_break = if ascii {
            memchr::memchr2(b'\n', b'\r', text.as_bytes()).is_some()
        } else {
            text.contains(['\n', '\r', '\u{85}', '\u{2028}', '\u{2029}'])
        };
        if has_break {
            return false;
        }
        let Some(last_space) = memchr::memrchr(b' ', text.as_bytes()) else {
            return true;
        };
        // (ASCII: byte offsets are columns.)
        let leading_space = i64::from(!text.is_empty() && !self.whitespace);
        !allow_breaks
            || (ascii && self.column + leading_space + last_space as i64 <= self.best_width)
    }

    fn process_scalar(&mut self) {
        let allow_breaks = !self.simple_key_context;
        let style = self.scalar.style.unwrap_or(ScalarStyle::Plain);
        if style == ScalarStyle::Plain && self.plain_text_is_written_unchanged(allow_breaks) {
            let text = std::mem::take(&mut self.scalar.text);
            if !text.is_empty() && !self.whitespace {
                self.put(' ');
            }
            self.out.push_str(&text);
            self.column += text.chars().count() as i64;
            if !text.is_empty() {
                self.whitespace = false;
            }
            self.indention = false;
            if self.root_context {
                self.open_ended = true;
            }
            self.scalar.text = text;
            return;
        }
        if self.scalar.value.is_empty() && !self.scalar.text.is_empty() {
            // The fast analysis did not need the characters; these writers do.
            self.scalar.value = self.scalar.text.chars().collect();
        }
        let value = std::mem::take(&mut self.scalar.value);
        match style {
            ScalarStyle::Plain => self.write_plain_scalar(&value, allow_breaks),
            ScalarStyle::SingleQuoted => self.write_single_quoted_scalar(&value, allow_breaks),
            ScalarStyle::DoubleQuoted => self.write_double_quoted_scalar(&value, allow_breaks),
            ScalarStyle::Literal => self.write_literal_scalar(&value),
            ScalarStyle::Folded => self.write_folded_scalar(&value),
        }
        self.scalar.value = value;
    }

    fn process_head_comment(&mut self) {
        if !self.tail_comment.is_empty() {
            self.write_indent();
            let c = std::mem::take(&mut self.tail_comment);
            self.write_comment(&c);
            self.foot_indent = self.indent.max(0);
        }
        if self.head_comment.is_empty() {
            return;
        }
        self.write_indent();
        let c = std::mem::take(&mut self.head_comment);
        self.write_comment(&c);
    }

    fn process_line_comment(&mut self) {
        if self.line_comment.is_empty() {
            return;
        }
        if !self.whitespace {
            self.put(' ');
        }
        let c = std::mem::take(&mut self.line_comment);
        self.write_comment(&c);
    }

    fn process_foot_comment(&mut self) {
        if self.foot_comment.is_empty() {
            return;
        }
        self.write_indent();
        let c = std::mem::take(&mut self.foot_comment);
        self.write_comment(&c);
        self.foot_indent = self.indent.max(0);
    }

    fn analyze_tag(&mut self, tag: &str) {
        for (handle, prefix) in &self.tag_directives {
            if let Some(rest) = tag.strip_prefix(prefix.as_str()) {
                self.tag_handle = handle.clone();
                self.tag_suffix = rest.to_string();
                return;
            }
        }
        self.tag_suffix = tag.to_string();
    }

    fn analyze_scalar(&mut self, value: &str) {
        self.scalar.text.clear();
        self.scalar.text.push_str(value);
        // ASCII text: bytes are characters, so the fast analysis needs no conversion, and
        // the characters are only collected if a writer needs them (see process_scalar).
        let fast = if value.is_ascii() {
            analyze_graphic_ascii_bytes(value.as_bytes())
        } else {
            None
        };
        let a = match fast {
            Some(a) => {
                self.scalar.value.clear();
                a
            }
            None => {
                let v: Vec<char> = value.chars().collect();
                let a = analyze(&v);
                self.scalar.value = v;
                a
            }
        };
        self.scalar.multiline = a.multiline;
        self.scalar.flow_plain_allowed = a.flow_plain_allowed;
        self.scalar.block_plain_allowed = a.block_plain_allowed;
        self.scalar.single_quoted_allowed = a.single_quoted_allowed;
        self.scalar.block_allowed = a.block_allowed;
    }

    fn analyze_event(&mut self, ev: &EEvent) {
        self.tag_handle.clear();
        self.tag_suffix.clear();
        self.scalar.value.clear();
        if !ev.head_comment.is_empty() {
            self.head_comment = ev.head_comment.clone();
        }
        if !ev.line_comment.is_empty() {
            self.line_comment = ev.line_comment.clone();
        }
        if !ev.foot_comment.is_empty() {
            self.foot_comment = ev.foot_comment.clone();
        }
        if !ev.tail_comment.is_empty() {
            self.tail_comment = ev.tail_comment.clone();
        }
        match ev.kind {
            EKind::Scalar => {
                if !ev.tag.is_empty() && !ev.implicit && !ev.quoted_implicit {
                    self.analyze_tag(&ev.tag);
                }
                self.analyze_scalar(&ev.value);
            }
            EKind::SequenceStart | EKind::MappingStart if !ev.tag.is_empty() && !ev.implicit => {
                self.analyze_tag(&ev.tag);
            }
            _ => {}
        }
    }
}
