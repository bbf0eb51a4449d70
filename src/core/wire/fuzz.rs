//! Entry points for the fuzz targets in `fuzz/` (not API: hidden from the docs, may change at any
//! time). The frame and SSE functions are crate-private; these thin wrappers hand their results
//! out as plain bytes and strings, so that the fuzz crate can check properties without the crate's
//! internal types becoming public. Nothing here changes what the wrapped functions do.

use serde_json::value::RawValue;

use super::{frame, sse};

/// The envelope fields [`frame::Head::parse`] found, as raw JSON text (`jsonrpc` and `method`
/// decoded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub jsonrpc: Option<String>,
    pub id: Option<String>,
    pub method: Option<String>,
    pub params: Option<String>,
    pub result: Option<String>,
    pub error: Option<String>,
}

/// [`frame::Head::parse`].
pub fn head(frame: &[u8]) -> Option<Head> {
    let raw = |v: Option<&RawValue>| v.map(|v| v.get().to_string());
    frame::Head::parse(frame).map(|h| Head {
        jsonrpc: h.jsonrpc.map(|s| s.into_owned()),
        id: raw(h.id),
        method: h.method.map(|s| s.into_owned()),
        params: raw(h.params),
        result: raw(h.result),
        error: raw(h.error),
    })
}

/// [`frame::valid_id`].
pub fn valid_id(id: &RawValue) -> bool {
    frame::valid_id(id)
}

/// What [`frame::readdress`] read from a response: `("ok", None, "")`, `("tool_error", None,
/// text)` or `("error", Some(code), message)`.
pub type Outcome = (&'static str, Option<i32>, String);

/// [`frame::readdress`]: the re-addressed frame and what it says.
pub fn readdress(frame: &[u8], client_id: &str) -> Option<(Vec<u8>, Outcome)> {
    frame::readdress(frame, client_id).map(|(b, o)| {
        let o = match o {
            frame::Outcome::Ok => ("ok", None, String::new()),
            frame::Outcome::ToolError(t) => ("tool_error", None, t),
            frame::Outcome::Error(c, m) => ("error", Some(c), m),
        };
        (b.to_vec(), o)
    })
}

/// [`frame::progress_to_client`].
pub fn progress_to_client(frame: &[u8], client_token: &str) -> Option<Vec<u8>> {
    frame::progress_to_client(frame, client_token).map(|b| b.to_vec())
}

/// [`frame::check_body`]; the error as `(is_batch, the JSON-RPC error frame to answer with)`.
pub fn check_body(body: &[u8]) -> Result<(), (bool, Vec<u8>)> {
    frame::check_body(body).map_err(|e| (e == frame::BodyError::Batch, e.frame().to_vec()))
}

/// [`frame::MAX_DEPTH`].
pub const MAX_DEPTH: usize = frame::MAX_DEPTH;

/// [`frame::error_frame`].
pub fn error_frame(client_id: &str, code: i32, message: &str) -> Vec<u8> {
    frame::error_frame(client_id, code, message).to_vec()
}

/// [`frame::cancelled_frame`].
pub fn cancelled_frame(id: &str, reason: &str) -> Vec<u8> {
    frame::cancelled_frame(id, reason)
}

/// One decoded SSE event: `(event, data, id, retry)`.
pub type SseEvent = (Option<String>, Option<String>, Option<String>, Option<u64>);

/// Decode `chunks` (pushed one by one, then finished) with an [`sse::SseDecoder`] of
/// `max_event_size`: the events, then the error that stopped decoding, if any.
pub fn sse_decode(chunks: &[&[u8]], max_event_size: usize) -> (Vec<SseEvent>, Option<String>) {
    let mut d = sse::SseDecoder::new(max_event_size);
    let mut events = Vec::new();
    let mut take = |d: &mut sse::SseDecoder| {
        while let Some(e) = d.next_event() {
            events.push((e.event, e.data, e.id, e.retry));
        }
    };
    for c in chunks {
        if let Err(e) = d.push(c) {
            take(&mut d);
            return (events, Some(e.to_string()));
        }
        take(&mut d);
    }
    let err = d.finish().err().map(|e| e.to_string());
    take(&mut d);
    (events, err)
}

/// [`sse::encode_event`].
pub fn sse_encode_event(name: &str, data: &str) -> Vec<u8> {
    sse::encode_event(name, data).to_vec()
}
