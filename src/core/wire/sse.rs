//! A bounded, incremental Server-Sent Events decoder and a tiny encoder.
//!
//! The decoder follows the WHATWG event-stream rules that matter for MCP: lines end in `\n`, `\r\n`
//! or `\r`; `:` starts a comment; `event`, `data`, `id` and `retry` fields; consecutive `data`
//! lines are joined with `\n`; an empty line dispatches the event. Events that carry no field at
//! all (comment-only keepalives) are not yielded. One event (all of its lines) may not exceed
//! `max_event_size` bytes: the decoder fails instead of buffering without bound.

use std::collections::VecDeque;
use std::fmt;

use bytes::{Buf, Bytes, BytesMut};
use futures::{Stream, StreamExt};

/// One decoded event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SseEvent {
    pub event: Option<String>,
    pub data: Option<String>,
    pub id: Option<String>,
    pub retry: Option<u64>,
}

impl SseEvent {
    fn is_empty(&self) -> bool {
        self.event.is_none() && self.data.is_none() && self.id.is_none() && self.retry.is_none()
    }

    /// The event type, `message` when the stream named none.
    pub fn kind(&self) -> &str {
        self.event.as_deref().unwrap_or("message")
    }
}

impl From<SseEvent> for sse_stream::Sse {
    fn from(e: SseEvent) -> Self {
        sse_stream::Sse {
            event: e.event,
            data: e.data,
            id: e.id,
            retry: e.retry,
        }
    }
}

/// Why decoding stopped.
#[derive(Debug)]
pub(crate) enum SseDecodeError {
    /// One event grew past the limit.
    TooLarge { limit: usize },
    /// A line was not valid UTF-8.
    Utf8,
    /// The underlying body failed.
    Body(Box<dyn std::error::Error + Send + Sync>),
}

impl fmt::Display for SseDecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge { limit } => write!(f, "SSE event larger than {limit} bytes"),
            Self::Utf8 => write!(f, "SSE stream is not valid UTF-8"),
            Self::Body(e) => write!(f, "SSE stream failed: {e}"),
        }
    }
}

impl std::error::Error for SseDecodeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Body(e) => Some(e.as_ref()),
            _ => None,
        }
    }
}

/// Incremental decoder: feed bytes with [`SseDecoder::push`], take events with
/// [`SseDecoder::next_event`].
#[derive(Debug)]
pub(crate) struct SseDecoder {
    max_event_size: usize,
    buf: BytesMut,
    /// Prefix of `buf` already known to hold no line end.
    scanned: usize,
    /// Bytes consumed by the current (not yet dispatched) event.
    event_bytes: usize,
    cur: SseEvent,
    data: Option<String>,
    /// The previous chunk ended in `\r`: a leading `\n` in the next chunk belongs to it.
    skip_lf: bool,
    ready: VecDeque<SseEvent>,
}

impl SseDecoder {
    pub fn new(max_event_size: usize) -> Self {
        Self {
            max_event_size,
            buf: BytesMut::new(),
            scanned: 0,
            event_bytes: 0,
            cur: SseEvent::default(),
            data: None,
            skip_lf: false,
            ready: VecDeque::new(),
        }
    }

    /// Feeds bytes; decoded events queue up for [`Self::next_event`].
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), SseDecodeError> {
        let mut chunk = chunk;
        if self.skip_lf && !chunk.is_empty() {
            self.skip_lf = false;
            if chunk[0] == b'\n' {
                chunk = &chunk[1..];
            }
        }
        self.buf.extend_from_slice(chunk);
        while let Some(pos) = self.buf[self.scanned..]
            .iter()
            .position(|&b| b == b'\n' || b == b'\r')
            .map(|p| p + self.scanned)
        {
            self.scanned = 0;
            let line = self.buf.split_to(pos);
            let term = self.buf[0];
            self.buf.advance(1);
            if term == b'\r' {
                if self.buf.is_empty() {
                    self.skip_lf = true;
                } else if self.buf[0] == b'\n' {
                    self.buf.advance(1);
                }
            }
            self.event_bytes = self.event_bytes.saturating_add(line.len() + 1);
            if self.event_bytes > self.max_event_size {
                return Err(SseDecodeError::TooLarge {
                    limit: self.max_event_size,
                });
            }
            self.line(&line)?;
        }
        // The rest holds no line end: do not scan it again on the next push.
        self.scanned = self.buf.len();
        if self.event_bytes.saturating_add(self.buf.len()) > self.max_event_size {
            return Err(SseDecodeError::TooLarge {
                limit: self.max_event_size,
            });
        }
        Ok(())
    }

    /// Ends the input: an unterminated final event is dispatched (like the Go SDK does).
    pub fn finish(&mut self) -> Result<(), SseDecodeError> {
        if !self.buf.is_empty() {
            self.scanned = 0;
            let line = self.buf.split();
            self.line(&line)?;
        }
        self.dispatch();
        Ok(())
    }

    pub(crate) fn next_event(&mut self) -> Option<SseEvent> {
        self.ready.pop_front()
    }

    fn dispatch(&mut self) {
        self.cur.data = self.data.take();
        let ev = std::mem::take(&mut self.cur);
        self.event_bytes = 0;
        if !ev.is_empty() {
            self.ready.push_back(ev);
        }
    }

    fn line(&mut self, line: &[u8]) -> Result<(), SseDecodeError> {
        if line.is_empty() {
            self.dispatch();
            return Ok(());
        }
        if line[0] == b':' {
            return Ok(());
        }
        let line = std::str::from_utf8(line).map_err(|_| SseDecodeError::Utf8)?;
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "event" => self.cur.event = Some(value.to_string()),
            "data" => match &mut self.data {
                Some(d) => {
                    d.push('\n');
                    d.push_str(value);
                }
                None => self.data = Some(value.to_string()),
            },
            "id" if !value.contains('\0') => self.cur.id = Some(value.to_string()),
            "retry" => self.cur.retry = value.parse::<u64>().ok().or(self.cur.retry),
            _ => {}
        }
        Ok(())
    }
}

/// Decodes a byte stream into a stream of events; a body error or an oversized event ends it
/// with one error item.
pub(crate) fn decode_stream<S, E>(
    body: S,
    max_event_size: usize,
) -> impl Stream<Item = Result<SseEvent, SseDecodeError>> + Send + 'static
where
    S: Stream<Item = Result<Bytes, E>> + Send + 'static,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let state = (Box::pin(body), SseDecoder::new(max_event_size), false);
    futures::stream::unfold(state, |(mut body, mut dec, mut done)| async move {
        loop {
            if let Some(ev) = dec.next_event() {
                return Some((Ok(ev), (body, dec, done)));
            }
            if done {
                return None;
            }
            match body.next().await {
                Some(Ok(chunk)) => {
                    if let Err(e) = dec.push(&chunk) {
                        return Some((Err(e), (body, dec, true)));
                    }
                }
                Some(Err(e)) => {
                    return Some((Err(SseDecodeError::Body(e.into())), (body, dec, true)));
                }
                None => {
                    done = true;
                    if let Err(e) = dec.finish() {
                        return Some((Err(e), (body, dec, true)));
                    }
                }
            }
        }
    })
}

/// Encodes one event the way the Go SDK's `writeEvent` does: `event: NAME\n`, then one
/// `data: ...` line per line of data, then a blank line.
pub(crate) fn encode_event(name: &str, data: &str) -> Bytes {
    let mut out = String::with_capacity(name.len() + data.len() + 16);
    if !name.is_empty() {
        out.push_str("event: ");
        out.push_str(name);
        out.push('\n');
    }
    let mut any = false;
    for line in data.split('\n') {
        any = true;
        out.push_str("data: ");
        out.push_str(line.strip_suffix('\r').unwrap_or(line));
        out.push('\n');
    }
    if !any {
        out.push_str("data: \n");
    }
    out.push('\n');
    Bytes::from(out)
}

/// An SSE comment line (ignored by every client): used as a keepalive.
pub(crate) fn encode_comment(text: &str) -> Bytes {
    Bytes::from(format!(": {text}\n\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(input: &[&[u8]], max: usize) -> Result<Vec<SseEvent>, SseDecodeError> {
        let mut d = SseDecoder::new(max);
        let mut out = vec![];
        for c in input {
            d.push(c)?;
            while let Some(e) = d.next_event() {
                out.push(e);
            }
        }
        d.finish()?;
        while let Some(e) = d.next_event() {
            out.push(e);
        }
        Ok(out)
    }

    #[test]
    fn endpoint_then_message() {
        let evs = all(
            &[
                b"event: endpoint\ndata: /sse?sessionid=AB\n\n: keepalive\n\nevent: mess",
                b"age\r\ndata: {\"a\":1}\r",
                b"\n\r\n",
            ],
            1024,
        )
        .unwrap();
        assert_eq!(evs.len(), 2);
        assert_eq!(evs[0].kind(), "endpoint");
        assert_eq!(evs[0].data.as_deref(), Some("/sse?sessionid=AB"));
        assert_eq!(evs[1].kind(), "message");
        assert_eq!(evs[1].data.as_deref(), Some("{\"a\":1}"));
    }

    #[test]
    fn multiline_data_and_default_kind() {
        let evs = all(&[b"data: a\ndata:b\n\n"], 1024).unwrap();
        assert_eq!(evs[0].kind(), "message");
        assert_eq!(evs[0].data.as_deref(), Some("a\nb"));
    }

    #[test]
    fn oversize_is_an_error() {
        assert!(matches!(
            all(&[b"data: 0123456789012345678901234567890123456789"], 16),
            Err(SseDecodeError::TooLarge { .. })
        ));
        assert!(matches!(
            all(&[b"data: 0123456789\ndata: 0123456789\n\n"], 16),
            Err(SseDecodeError::TooLarge { .. })
        ));
    }

    #[test]
    fn bad_utf8_is_an_error() {
        assert!(matches!(
            all(&[b"data: \xff\xfe\n\n"], 64),
            Err(SseDecodeError::Utf8)
        ));
    }

    #[test]
    fn encode_roundtrip() {
        let b = encode_event("message", "x\ny");
        assert_eq!(&b[..], b"event: message\ndata: x\ndata: y\n\n");
        let evs = all(&[&b], 64).unwrap();
        assert_eq!(evs[0].data.as_deref(), Some("x\ny"));
    }
}
