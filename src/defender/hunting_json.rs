//! An incremental decoder of a hunting answer's JSON, fed chunk by chunk as the body arrives.
//!
//! A hunting result can be 100,000 rows and 124 MB; reading it whole before converting it would
//! make the service's memory grow with the result. The answer is one object,
//! `{"Schema":[...],"Results":[{...},...],"Stats":{...}}` from Defender or
//! `{"@odata.context":"...","schema":[...],"results":[...]}` from Graph, so the decoder walks
//! the top-level keys itself, parses the small values (schema, statistics) whole with
//! serde_json, and hands out the elements of the results array one at a time. It only ever
//! holds the unread part of the current chunk plus the one value being completed. Keys are
//! matched case-insensitively and in any order; unknown keys are skipped.

use serde_json::{Map, Value};

use super::models::HuntingColumn;

/// Largest single value (one row, the schema, the statistics) the decoder will hold. A row this
/// large could not travel in a 4 MiB gRPC message anyway.
pub(crate) const MAX_VALUE_BYTES: usize = 32 * 1024 * 1024;

/// One piece of a hunting answer, in the order the backend sent it.
#[derive(Clone, Debug, PartialEq)]
pub enum HuntingEvent {
    /// The columns (`Schema` / `schema`).
    Schema(Vec<HuntingColumn>),
    /// One row: column name to value (`Results` / `results` element).
    Row(Map<String, Value>),
    /// Execution statistics (Defender XDR's `Stats`).
    Stats(Value),
}

/// Which top-level member a value belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Member {
    Schema,
    Results,
    Stats,
    Other,
}

impl Member {
    fn from_key(key: &str) -> Self {
        if key.eq_ignore_ascii_case("schema") {
            Self::Schema
        } else if key.eq_ignore_ascii_case("results") {
            Self::Results
        } else if key.eq_ignore_ascii_case("stats") {
            Self::Stats
        } else {
            Self::Other
        }
    }
}

/// Where the decoder is in the answer's grammar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Before the opening `{`.
    Start,
    /// After `{` or `,`: a key (or `}` right after `{`).
    Key { first: bool },
    /// Scanning a key string.
    InKey,
    /// After a key: `:`.
    Colon(Member),
    /// After `:`: the value.
    Value(Member),
    /// Scanning a whole value.
    InValue(Member),
    /// After a member's value: `,` or `}`.
    AfterMember,
    /// Inside the results array: an element (or `]` right after `[`).
    Item { first: bool },
    /// Scanning one row.
    InItem,
    /// After a row: `,` or `]`.
    AfterItem,
    /// After the closing `}`.
    Done,
}

/// Resumable scan for the end of one JSON value, so a value split over many chunks is scanned
/// once, not once per chunk.
#[derive(Clone, Copy, Debug, Default)]
struct Scan {
    /// Where the value starts in the buffer.
    start: usize,
    /// Next byte to look at.
    at: usize,
    depth: u32,
    in_string: bool,
    escaped: bool,
    /// A number or `true`/`false`/`null`: ends at a delimiter.
    literal: bool,
}

impl Scan {
    fn new(buf: &[u8], start: usize) -> Self {
        let mut scan = Self {
            start,
            at: start + 1,
            ..Self::default()
        };
        match buf.get(start) {
            Some(b'"') => scan.in_string = true,
            Some(b'{' | b'[') => scan.depth = 1,
            _ => scan.literal = true,
        }
        scan
    }

    /// Advances over `buf`; the value's end (exclusive) once it is complete.
    fn advance(&mut self, buf: &[u8]) -> Option<usize> {
        while self.at < buf.len() {
            let b = buf[self.at];
            self.at += 1;
            if self.literal {
                if matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\r' | b'\n') {
                    self.at -= 1;
                    return Some(self.at);
                }
            } else if self.in_string {
                if self.escaped {
                    self.escaped = false;
                } else if b == b'\\' {
                    self.escaped = true;
                } else if b == b'"' {
                    self.in_string = false;
                    if self.depth == 0 {
                        return Some(self.at);
                    }
                }
            } else {
                match b {
                    b'"' => self.in_string = true,
                    b'{' | b'[' => self.depth += 1,
                    b'}' | b']' => {
                        self.depth = self.depth.saturating_sub(1);
                        if self.depth == 0 {
                            return Some(self.at);
                        }
                    }
                    _ => {}
                }
            }
        }
        None
    }

    fn shift(&mut self, by: usize) {
        self.start -= by;
        self.at -= by;
    }
}

/// Why an answer could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DecodeError(String);

/// The decoder. Feed it chunks with [`HuntingDecoder::feed`], take events with
/// [`HuntingDecoder::next_event`] until it returns `None`, and at the end of the body call
/// [`HuntingDecoder::finish`].
#[derive(Debug)]
pub(crate) struct HuntingDecoder {
    buf: Vec<u8>,
    /// Bytes before this are consumed.
    pos: usize,
    state: State,
    scan: Scan,
}

impl Default for HuntingDecoder {
    fn default() -> Self {
        Self {
            buf: Vec::new(),
            pos: 0,
            state: State::Start,
            scan: Scan::default(),
        }
    }
}

impl HuntingDecoder {
    /// Appends the next chunk of the body, first dropping what has been consumed.
    pub(crate) fn feed(&mut self, chunk: &[u8]) {
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            if matches!(self.state, State::InKey | State::InValue(_) | State::InItem) {
                self.scan.shift(self.pos);
            }
            self.pos = 0;
        }
        self.buf.extend_from_slice(chunk);
    }

    /// The next complete event, `Ok(None)` when more input is needed.
    pub(crate) fn next_event(&mut self) -> Result<Option<HuntingEvent>, DecodeError> {
        loop {
            match self.state {
                State::Start => match self.next_byte() {
                    None => return Ok(None),
                    Some(b'{') => self.state = State::Key { first: true },
                    Some(b) => return Err(unexpected(b, "`{` opening the answer")),
                },
                State::Key { first } => match self.peek_byte() {
                    None => return Ok(None),
                    Some(b'}') if first => {
                        self.pos += 1;
                        self.state = State::Done;
                    }
                    Some(b'"') => self.begin_scan(State::InKey),
                    Some(b) => return Err(unexpected(b, "a member name")),
                },
                State::InKey => {
                    let Some(end) = self.scan_value()? else {
                        return Ok(None);
                    };
                    let key: String = serde_json::from_slice(&self.buf[self.scan.start..end])
                        .map_err(|e| DecodeError(format!("bad member name: {e}")))?;
                    self.pos = end;
                    self.state = State::Colon(Member::from_key(&key));
                }
                State::Colon(member) => match self.next_byte() {
                    None => return Ok(None),
                    Some(b':') => self.state = State::Value(member),
                    Some(b) => return Err(unexpected(b, "`:`")),
                },
                State::Value(member) => match self.peek_byte() {
                    None => return Ok(None),
                    Some(b'[') if member == Member::Results => {
                        self.pos += 1;
                        self.state = State::Item { first: true };
                    }
                    Some(_) => self.begin_scan(State::InValue(member)),
                },
                State::InValue(member) => {
                    let Some(end) = self.scan_value()? else {
                        return Ok(None);
                    };
                    let raw = &self.buf[self.scan.start..end];
                    let event = match member {
                        Member::Schema => Some(HuntingEvent::Schema(
                            serde_json::from_slice::<Option<Vec<HuntingColumn>>>(raw)
                                .map_err(|e| DecodeError(format!("bad schema: {e}")))?
                                .unwrap_or_default(),
                        )),
                        Member::Stats => Some(HuntingEvent::Stats(
                            serde_json::from_slice(raw)
                                .map_err(|e| DecodeError(format!("bad statistics: {e}")))?,
                        )),
                        // `"Results": null`, or a member we do not use: check it is JSON, skip it.
                        Member::Results | Member::Other => {
                            serde_json::from_slice::<serde::de::IgnoredAny>(raw)
                                .map_err(|e| DecodeError(format!("bad value: {e}")))?;
                            None
                        }
                    };
                    self.pos = end;
                    self.state = State::AfterMember;
                    if event.is_some() {
                        return Ok(event);
                    }
                }
                State::AfterMember => match self.next_byte() {
                    None => return Ok(None),
                    Some(b',') => self.state = State::Key { first: false },
                    Some(b'}') => self.state = State::Done,
                    Some(b) => return Err(unexpected(b, "`,` or `}` after a member")),
                },
                State::Item { first } => match self.peek_byte() {
                    None => return Ok(None),
                    Some(b']') if first => {
                        self.pos += 1;
                        self.state = State::AfterMember;
                    }
                    Some(b'{') => self.begin_scan(State::InItem),
                    Some(b) => return Err(unexpected(b, "a result row object")),
                },
                State::InItem => {
                    let Some(end) = self.scan_value()? else {
                        return Ok(None);
                    };
                    let row: Map<String, Value> =
                        serde_json::from_slice(&self.buf[self.scan.start..end])
                            .map_err(|e| DecodeError(format!("bad result row: {e}")))?;
                    self.pos = end;
                    self.state = State::AfterItem;
                    return Ok(Some(HuntingEvent::Row(row)));
                }
                State::AfterItem => match self.next_byte() {
                    None => return Ok(None),
                    Some(b',') => self.state = State::Item { first: false },
                    Some(b']') => self.state = State::AfterMember,
                    Some(b) => return Err(unexpected(b, "`,` or `]` after a row")),
                },
                State::Done => {
                    return match self.next_byte() {
                        None => Ok(None),
                        Some(b) => Err(unexpected(b, "the end of the answer")),
                    };
                }
            }
        }
    }

    /// Checks, at the end of the body, that the answer was complete.
    pub(crate) fn finish(&mut self) -> Result<(), DecodeError> {
        if self.state == State::Done && self.peek_byte().is_none() {
            Ok(())
        } else {
            Err(DecodeError(
                "the answer ended before its closing `}` (cut short?)".into(),
            ))
        }
    }

    /// Bytes held (unread input plus the value being completed).
    #[cfg(test)]
    fn held(&self) -> usize {
        self.buf.len()
    }

    fn skip_whitespace(&mut self) {
        while self
            .buf
            .get(self.pos)
            .is_some_and(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
        {
            self.pos += 1;
        }
    }

    fn peek_byte(&mut self) -> Option<u8> {
        self.skip_whitespace();
        self.buf.get(self.pos).copied()
    }

    fn next_byte(&mut self) -> Option<u8> {
        let b = self.peek_byte()?;
        self.pos += 1;
        Some(b)
    }

    fn begin_scan(&mut self, state: State) {
        self.scan = Scan::new(&self.buf, self.pos);
        self.state = state;
    }

    fn scan_value(&mut self) -> Result<Option<usize>, DecodeError> {
        let end = self.scan.advance(&self.buf);
        if end.is_none() && self.buf.len() - self.scan.start > MAX_VALUE_BYTES {
            return Err(DecodeError(format!(
                "a single value of the answer is larger than {MAX_VALUE_BYTES} bytes"
            )));
        }
        Ok(end)
    }
}

fn unexpected(b: u8, wanted: &str) -> DecodeError {
    let shown = if b.is_ascii_graphic() {
        format!("`{}`", b as char)
    } else {
        format!("byte 0x{b:02x}")
    };
    DecodeError(format!("expected {wanted}, found {shown}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Feeds `body` in chunks of `size` bytes and collects every event.
    fn decode_in_chunks(body: &[u8], size: usize) -> Result<Vec<HuntingEvent>, DecodeError> {
        let mut decoder = HuntingDecoder::default();
        let mut events = Vec::new();
        for chunk in body.chunks(size.max(1)) {
            decoder.feed(chunk);
            while let Some(event) = decoder.next_event()? {
                events.push(event);
            }
        }
        decoder.finish()?;
        Ok(events)
    }

    fn rows(events: &[HuntingEvent]) -> Vec<&Map<String, Value>> {
        events
            .iter()
            .filter_map(|e| match e {
                HuntingEvent::Row(r) => Some(r),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn defender_sample_decodes_identically_at_every_chunk_size() {
        let body = include_bytes!("testdata/advanced_hunting_response.json");
        let whole = decode_in_chunks(body, body.len()).expect("whole");
        assert!(
            matches!(&whole[0], HuntingEvent::Schema(cols) if cols.len() == 4 && cols[0].r#type == "DateTime")
        );
        assert_eq!(rows(&whole).len(), 2);
        assert_eq!(rows(&whole)[1]["FileName"], "csc.exe");
        for size in [1, 2, 3, 7, 64] {
            assert_eq!(
                decode_in_chunks(body, size).expect("chunked"),
                whole,
                "chunk size {size}"
            );
        }
    }

    #[test]
    fn xdr_statistics_come_out_in_order() {
        let body = include_bytes!("testdata/advanced_hunting_response_xdr.json");
        let events = decode_in_chunks(body, 5).expect("decode");
        assert!(
            matches!(&events[0], HuntingEvent::Stats(s) if s["ExecutionTime"] == json!(4.621215))
        );
        assert!(matches!(&events[1], HuntingEvent::Schema(c) if c.len() == 3));
        assert_eq!(rows(&events).len(), 2);
    }

    #[test]
    fn graph_shape_with_lower_case_keys_and_odata_context_decodes() {
        let body = br#"{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#x","schema":[{"name":"A","type":"String"},{"name":"N","type":"Int64"}],"results":[{"A":"x, \"quoted\" ] }","N":9007199254740993},{"A":null,"N":-1}]}"#;
        let events = decode_in_chunks(body, 4).expect("decode");
        assert!(matches!(&events[0], HuntingEvent::Schema(c) if c[1].name == "N"));
        let rows = rows(&events);
        assert_eq!(rows[0]["A"], "x, \"quoted\" ] }");
        assert_eq!(rows[0]["N"].as_u64(), Some(9_007_199_254_740_993));
        assert_eq!(rows[1]["N"], -1);
    }

    #[test]
    fn empty_results_and_null_members_are_fine() {
        let events =
            decode_in_chunks(br#" { "Schema" : [ ] , "Results" : [ ] } "#, 3).expect("decode");
        assert_eq!(events, vec![HuntingEvent::Schema(vec![])]);
        let events = decode_in_chunks(
            br#"{"Schema":null,"Results":null,"x":[1,{"y":true}],"z":false}"#,
            2,
        )
        .expect("decode");
        assert_eq!(events, vec![HuntingEvent::Schema(vec![])]);
        assert!(decode_in_chunks(b"{}", 1).expect("empty object").is_empty());
    }

    #[test]
    fn a_body_cut_short_is_an_error_not_a_shorter_result() {
        let body = include_bytes!("testdata/advanced_hunting_response.json");
        let cut = &body[..body.len() - 20];
        assert!(decode_in_chunks(cut, 16).is_err());
        assert!(decode_in_chunks(b"", 16).is_err());
    }

    #[test]
    fn malformed_answers_are_refused() {
        for body in [
            &b"[1,2]"[..],
            br#"{"Schema":[],"Results":[1]}"#,
            br#"{"Schema":[] "Results":[]}"#,
            br#"{"Schema":[],"Results":[{"a":1} {"a":2}]}"#,
            br#"{"Schema":[{"Name":1}]}"#,
            br#"{"Schema":[]} trailing"#,
            br#"{"Results":[{"a":tru}]}"#,
        ] {
            assert!(
                decode_in_chunks(body, 3).is_err(),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn memory_held_stays_near_one_row_however_long_the_results() {
        let mut decoder = HuntingDecoder::default();
        decoder.feed(br#"{"Schema":[{"Name":"A","Type":"String"}],"Results":["#);
        let mut seen = 0;
        let mut max_held = 0;
        let row = br#"{"A":"0123456789012345678901234567890123456789"},"#;
        for _ in 0..20_000 {
            decoder.feed(row);
            while let Some(event) = decoder.next_event().expect("decode") {
                if matches!(event, HuntingEvent::Row(_)) {
                    seen += 1;
                }
            }
            max_held = max_held.max(decoder.held());
        }
        decoder.feed(br#"{"A":"last"}]}"#);
        while let Some(event) = decoder.next_event().expect("decode") {
            if matches!(event, HuntingEvent::Row(_)) {
                seen += 1;
            }
        }
        decoder.finish().expect("complete");
        assert_eq!(seen, 20_001);
        assert!(max_held < 4 * row.len(), "held {max_held} bytes");
    }

    #[test]
    fn an_oversized_value_is_refused_instead_of_buffered() {
        let mut decoder = HuntingDecoder::default();
        decoder.feed(br#"{"Results":[{"A":""#);
        let filler = vec![b'x'; 1024 * 1024];
        let mut failed = false;
        for _ in 0..(MAX_VALUE_BYTES / filler.len() + 2) {
            decoder.feed(&filler);
            if decoder.next_event().is_err() {
                failed = true;
                break;
            }
        }
        assert!(failed);
    }
}
