//! The list filter for `text/event-stream` answers, fed chunk by chunk.
//!
//! The stream is read as the WHATWG `EventSource` parser reads it (lines end
//! in CRLF, LF or CR; `:` starts a comment; `data:` lines join with `\n`; a
//! blank line ends an event; one leading BOM is skipped), so what is decided
//! on is what the client will dispatch. Each complete event is judged on its
//! data, whatever its `event:` type (a client may treat any type as a
//! message):
//! - no data, or only whitespace: passed on byte for byte (priming events,
//!   keep-alives, `retry:`);
//! - a JSON-RPC request or notification: passed on byte for byte;
//! - the response to the list request: filtered, and the event written anew
//!   with its other lines (`id:`, `event:`, `retry:`, comments) in their
//!   order and the one `data:` line in place of the first;
//! - anything else (not JSON, a batch, a response to another request, a
//!   second response): an error, and the stream stops there.
//!
//! [`SseListFilter::without_responses`] guards a stream that must carry no
//! response at all (the legacy GET stream) the same way.
//!
//! An event is held until its blank line (it cannot be judged before its
//! data is complete), at most `max_event` bytes; events already complete
//! are never held back. Each byte is copied into the buffer once and scanned
//! once, so a stream of many small chunks costs no more than one big one.

use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};
use serde_json::Value;

use super::{
    error_response, filter_response, is_response, parse_message, Allowed, ListFilterError,
    ListMethod,
};

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// One line of the event being read, by offsets into the buffer.
#[derive(Debug, Clone, Copy)]
struct Line {
    start: usize,
    content_end: usize,
    data: bool,
}

/// The list request whose answer is filtered.
struct ListRequest {
    method: ListMethod,
    request_id: Value,
    allowed: Box<Allowed>,
}

/// Filters one SSE answer to a list request (see the module doc), or
/// guards a stream that must carry no response at all.
pub struct SseListFilter {
    /// `None`: no response may pass ([`SseListFilter::without_responses`]).
    list: Option<ListRequest>,
    max_event: usize,
    /// The raw bytes of the event being read, and what follows it.
    buf: BytesMut,
    /// Where the next line starts in `buf` (everything before it is split
    /// into `lines`).
    line_start: usize,
    lines: Vec<Line>,
    /// The event's data so far, each line followed by `\n`.
    data: Vec<u8>,
    has_data: bool,
    /// The last line ended in CR at the end of the input seen so far: a LF
    /// next belongs to that line ending.
    after_cr: bool,
    /// No line of the stream has been read yet (where a BOM may be).
    at_stream_start: bool,
    /// The last event passed on was written anew, its line endings too.
    rewrote_last: bool,
    answered: bool,
    failed: Option<ListFilterError>,
}

impl SseListFilter {
    /// A filter for the answer to list request `request_id`, holding no
    /// event longer than `max_event` bytes.
    pub fn new(
        method: ListMethod,
        request_id: Value,
        allowed: Box<Allowed>,
        max_event: usize,
    ) -> SseListFilter {
        let list = ListRequest {
            method,
            request_id,
            allowed,
        };
        SseListFilter::expecting(Some(list), max_event)
    }

    /// A filter for a stream on which every JSON-RPC response is refused,
    /// requests and notifications passing: the legacy GET stream, where the
    /// server must send none. The SDK client settles whichever pending
    /// request a response's id names, wherever it arrives, so a `tools/list`
    /// answer slipped onto the GET stream would reach it unfiltered.
    pub fn without_responses(max_event: usize) -> SseListFilter {
        SseListFilter::expecting(None, max_event)
    }

    fn expecting(list: Option<ListRequest>, max_event: usize) -> SseListFilter {
        SseListFilter {
            list,
            max_event,
            buf: BytesMut::new(),
            line_start: 0,
            lines: Vec::new(),
            data: Vec::new(),
            has_data: false,
            after_cr: false,
            at_stream_start: true,
            rewrote_last: false,
            answered: false,
            failed: None,
        }
    }

    /// Whether the response to the list request has been passed on.
    pub fn answered(&self) -> bool {
        self.answered
    }

    /// Feed the next chunk; what may be passed on now (possibly nothing).
    /// After an error every call returns it again.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Bytes, ListFilterError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let result = self.read(chunk);
        if let Err(e) = &result {
            self.failed = Some(e.clone());
        }
        result
    }

    /// The stream ended. An event without its closing blank line is dropped,
    /// as a client's parser drops it, so it is never passed on unjudged.
    pub fn finish(&mut self) -> Result<Bytes, ListFilterError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        self.buf.clear();
        self.lines.clear();
        self.data.clear();
        Ok(Bytes::new())
    }

    /// The event that tells the client its list request failed: a JSON-RPC
    /// error for its id, or nothing once the response was passed on (a
    /// second response would contradict the first).
    pub fn error_event(&self, err: &ListFilterError) -> Bytes {
        let Some(list) = self.list.as_ref().filter(|_| !self.answered) else {
            return Bytes::new();
        };
        let body = error_response(&list.request_id, err);
        let mut out = BytesMut::with_capacity(body.len() + 32);
        out.extend_from_slice(b"event: message\ndata: ");
        out.extend_from_slice(&body);
        out.extend_from_slice(b"\n\n");
        out.freeze()
    }

    fn read(&mut self, chunk: &[u8]) -> Result<Bytes, ListFilterError> {
        self.buf.extend_from_slice(chunk);
        let mut out = BytesMut::new();
        let mut scan = self.line_start;
        loop {
            if self.after_cr && scan < self.buf.len() {
                self.after_cr = false;
                if self.buf[scan] == b'\n' {
                    if scan == 0 {
                        // The CR ended the event already passed on; its LF
                        // goes after it, unless that event was written anew
                        // with its own line endings.
                        let lf = self.buf.split_to(1);
                        if !self.rewrote_last {
                            out.extend_from_slice(&lf);
                        }
                        continue;
                    }
                    scan += 1;
                    self.line_start = scan;
                }
            }
            let Some(offset) = self.buf[scan..]
                .iter()
                .position(|b| *b == b'\n' || *b == b'\r')
            else {
                break;
            };
            let content_end = scan + offset;
            let mut end = content_end + 1;
            if self.buf[content_end] == b'\r' {
                match self.buf.get(end) {
                    Some(b'\n') => end += 1,
                    Some(_) => {}
                    None => self.after_cr = true,
                }
            }
            let blank = self.add_line(content_end);
            scan = end;
            self.line_start = end;
            if blank {
                let event = self.buf.split_to(end);
                scan = 0;
                self.line_start = 0;
                self.dispatch(event, &mut out)?;
            }
        }
        if self.buf.len() > self.max_event {
            return Err(self.too_large());
        }
        Ok(out.freeze())
    }

    /// Read the line from `line_start` to `content_end`; whether it is blank
    /// (it ends the event).
    fn add_line(&mut self, content_end: usize) -> bool {
        let start = self.line_start;
        let mut from = start;
        if std::mem::take(&mut self.at_stream_start)
            && self.buf[start..content_end].starts_with(BOM)
        {
            from += BOM.len();
        }
        let line = &self.buf[from..content_end];
        if line.is_empty() {
            return true;
        }
        let (field, value) = match line.iter().position(|b| *b == b':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &line[line.len()..]),
        };
        // A comment has an empty field name, so it is never `data`.
        let data = field == b"data";
        if data {
            self.data.extend_from_slice(value);
            self.data.push(b'\n');
            self.has_data = true;
        }
        self.lines.push(Line {
            start,
            content_end,
            data,
        });
        false
    }

    fn dispatch(&mut self, event: BytesMut, out: &mut BytesMut) -> Result<(), ListFilterError> {
        let lines = std::mem::take(&mut self.lines);
        let mut data = std::mem::take(&mut self.data);
        let has_data = std::mem::take(&mut self.has_data);
        if event.len() > self.max_event {
            return Err(self.too_large());
        }
        data.pop();
        self.rewrote_last = false;
        if !has_data || data.iter().all(u8::is_ascii_whitespace) {
            out.extend_from_slice(&event);
            return Ok(());
        }
        let mut message = parse_message(&data)?;
        if !is_response(&message) {
            out.extend_from_slice(&event);
            return Ok(());
        }
        let Some(list) = &self.list else {
            return Err(ListFilterError::UnexpectedResponse);
        };
        // A POST's stream carries the answer to that request only. The SDK
        // client takes any response there as that answer (it rewrites the
        // id), so one for another request is refused, not passed; a second
        // one could contradict the filtered first.
        if self.answered {
            return Err(ListFilterError::DuplicateResponse {
                method: list.method.method(),
            });
        }
        filter_response(list.method, &list.request_id, &mut message, &*list.allowed)?;
        self.answered = true;
        self.rewrote_last = true;
        let json = Value::Object(message).to_string();
        let mut written = false;
        for line in &lines {
            if !line.data {
                out.extend_from_slice(&event[line.start..line.content_end]);
                out.extend_from_slice(b"\n");
            } else if !std::mem::replace(&mut written, true) {
                // serde_json escapes every control character, so the
                // message is one line.
                out.extend_from_slice(b"data: ");
                out.extend_from_slice(json.as_bytes());
                out.extend_from_slice(b"\n");
            }
        }
        out.extend_from_slice(b"\n");
        Ok(())
    }

    fn too_large(&self) -> ListFilterError {
        ListFilterError::EventTooLarge {
            stream: self.list.as_ref().map_or("server", |l| l.method.method()),
            limit: self.max_event,
        }
    }
}

/// A response body passed through an [`SseListFilter`]. A filter error ends
/// the body after the filter's [`SseListFilter::error_event`], so the client
/// reads a JSON-RPC error for its request instead of waiting for an answer;
/// the upstream's body is dropped with it.
pub struct FilteredSseBody<B> {
    inner: B,
    filter: SseListFilter,
    done: bool,
}

impl<B> FilteredSseBody<B> {
    pub fn new(inner: B, filter: SseListFilter) -> FilteredSseBody<B> {
        FilteredSseBody {
            inner,
            filter,
            done: false,
        }
    }

    fn failed(&mut self, err: &ListFilterError) -> Poll<Option<Result<Frame<Bytes>, B::Error>>>
    where
        B: Body,
    {
        tracing::warn!(error = %err, "MCP list answer refused");
        self.done = true;
        let event = self.filter.error_event(err);
        Poll::Ready((!event.is_empty()).then(|| Ok(Frame::data(event))))
    }
}

impl<B> Body for FilteredSseBody<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        loop {
            if self.done {
                return Poll::Ready(None);
            }
            let frame = match ready!(Pin::new(&mut self.inner).poll_frame(cx)) {
                Some(Ok(frame)) => frame,
                Some(Err(e)) => return Poll::Ready(Some(Err(e))),
                None => {
                    self.done = true;
                    return match self.filter.finish() {
                        Ok(rest) if !rest.is_empty() => Poll::Ready(Some(Ok(Frame::data(rest)))),
                        Ok(_) => Poll::Ready(None),
                        Err(e) => self.failed(&e),
                    };
                }
            };
            let data = match frame.into_data() {
                Ok(data) => data,
                // Trailers carry no events.
                Err(other) => return Poll::Ready(Some(Ok(other))),
            };
            match self.filter.push(&data) {
                Ok(out) if out.is_empty() => continue,
                Ok(out) => return Poll::Ready(Some(Ok(Frame::data(out)))),
                Err(e) => return self.failed(&e),
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }

    fn size_hint(&self) -> SizeHint {
        // Filtering changes the length.
        SizeHint::default()
    }
}

#[cfg(test)]
#[path = "sse_tests.rs"]
mod tests;
