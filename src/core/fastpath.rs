//! The `tools/call` fast path: a client's `tools/call` frame is forwarded to the backend as raw
//! JSON with only its `id` and tool `name` rewritten, and the backend's response frame comes back
//! with only its `id` rewritten. Nothing is decoded into model types and re-encoded, and no SDK
//! service loop sits in between, which is where a gateway's added latency goes (BENCHMARKS.md).
//!
//! Everything else (initialize, lists, resources, prompts, progress, sampling, elicitation,
//! cancellation from the client, errors) stays on the rmcp path; the fast path only takes a call
//! when it can be exactly as transparent as the slow one (see `Session::fast_call`).
//!
//! Pieces: frame helpers (parse the few fields needed, build frames), [`RawLink`] (the raw side
//! of a backend connection: ids of fast requests and the waiters for their responses) and
//! [`MuxStdio`], the stdio transport that rmcp runs over: its writer is shared with the fast path
//! and its reader hands fast responses to their waiters instead of to rmcp.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use rmcp::service::{RoleClient, RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::Transport;
use serde::de::{MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::io::{AsyncBufReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::oneshot;

// ---------------------------------------------------------------------------------------------
// Frames

/// The envelope fields of a JSON-RPC message, borrowed from the frame.
#[derive(Deserialize)]
pub struct Head<'a> {
    #[serde(borrow, default)]
    pub jsonrpc: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub method: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub params: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub result: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub error: Option<&'a RawValue>,
}

impl<'a> Head<'a> {
    pub fn parse(frame: &'a [u8]) -> Option<Head<'a>> {
        serde_json::from_slice(frame).ok()
    }
}

/// A JSON-RPC id as the client sent it: a number or a string (null and others are refused).
pub fn valid_id(id: &RawValue) -> bool {
    let s = id.get();
    s.starts_with('"') || s.starts_with('-') || s.as_bytes().first().is_some_and(u8::is_ascii_digit)
}

/// The fields of `tools/call` params: the tool name, `_meta` split into its fields, and every
/// other field, raw.
pub struct CallParams<'a> {
    pub name: Cow<'a, str>,
    pub rest: Vec<(Cow<'a, str>, &'a RawValue)>,
    /// `_meta`'s fields other than `progressToken`, if `_meta` is present.
    pub meta: Option<Vec<(Cow<'a, str>, &'a RawValue)>>,
    /// `_meta.progressToken`, raw.
    pub progress: Option<&'a RawValue>,
}

/// The fields of a JSON object, raw, in order.
struct Fields<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de> Deserialize<'de> for Fields<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Fields<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
                let mut v = Vec::new();
                while let Some(Key(k)) = m.next_key::<Key<'de>>()? {
                    v.push((k, m.next_value::<&'de RawValue>()?));
                }
                Ok(Fields(v))
            }
        }
        d.deserialize_map(V)
    }
}

#[derive(Deserialize)]
struct Key<'a>(#[serde(borrow)] Cow<'a, str>);

impl<'de> Deserialize<'de> for CallParams<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CallParams<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("tools/call params")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
                let mut name = None;
                let mut rest = Vec::new();
                let mut meta = None;
                let mut progress = None;
                while let Some(Key(k)) = m.next_key::<Key<'de>>()? {
                    if k == "name" {
                        if name.is_some() {
                            return Err(serde::de::Error::duplicate_field("name"));
                        }
                        let Key(n) = m.next_value::<Key<'de>>()?;
                        name = Some(n);
                        continue;
                    }
                    if k == "_meta" {
                        if meta.is_some() {
                            return Err(serde::de::Error::duplicate_field("_meta"));
                        }
                        let Fields(mut f) = m.next_value::<Fields<'de>>()?;
                        if let Some(i) = f.iter().position(|(k, _)| k == "progressToken") {
                            progress = Some(f.remove(i).1);
                            if f.iter().any(|(k, _)| k == "progressToken") {
                                return Err(serde::de::Error::duplicate_field("progressToken"));
                            }
                        }
                        meta = Some(f);
                        continue;
                    }
                    let v: &'de RawValue = m.next_value()?;
                    rest.push((k, v));
                }
                let name = name.ok_or_else(|| serde::de::Error::missing_field("name"))?;
                Ok(CallParams {
                    name,
                    rest,
                    meta,
                    progress,
                })
            }
        }
        d.deserialize_map(V)
    }
}

impl<'a> CallParams<'a> {
    pub fn parse(params: &'a RawValue) -> Option<CallParams<'a>> {
        serde_json::from_str(params.get()).ok()
    }
}

fn push_json_str(out: &mut Vec<u8>, s: &str) {
    // serde_json never fails to serialize a str.
    let _ = serde_json::to_writer(&mut *out, s);
}

fn push_fields(out: &mut Vec<u8>, fields: &[(Cow<'_, str>, &RawValue)], mut first: bool) {
    for (k, v) in fields {
        if !first {
            out.push(b',');
        }
        first = false;
        push_json_str(out, k);
        out.push(b':');
        out.extend_from_slice(v.get().as_bytes());
    }
}

/// `{"jsonrpc":"2.0","id":"<id>","method":"tools/call","params":{"name":<tool>,...}}` with the
/// client's other params; `_meta` keeps its fields, and its `progressToken` becomes `<id>`.
pub fn call_frame(id: &str, tool: &str, p: &CallParams<'_>) -> Vec<u8> {
    let extra: usize = p
        .rest
        .iter()
        .chain(p.meta.iter().flatten())
        .map(|(k, v)| k.len() + v.get().len() + 4)
        .sum();
    let mut out = Vec::with_capacity(120 + 2 * id.len() + tool.len() + extra);
    out.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
    push_json_str(&mut out, id);
    out.extend_from_slice(br#","method":"tools/call","params":{"name":"#);
    push_json_str(&mut out, tool);
    if !p.rest.is_empty() {
        out.push(b',');
        push_fields(&mut out, &p.rest, true);
    }
    if p.meta.is_some() || p.progress.is_some() {
        out.extend_from_slice(br#","_meta":{"#);
        let mut first = true;
        if p.progress.is_some() {
            out.extend_from_slice(br#""progressToken":"#);
            push_json_str(&mut out, id);
            first = false;
        }
        push_fields(&mut out, p.meta.as_deref().unwrap_or(&[]), first);
        out.push(b'}');
    }
    out.extend_from_slice(b"}}");
    out
}

/// A backend's `notifications/progress` frame with its token replaced by the client's.
pub fn progress_to_client(frame: &[u8], client_token: &str) -> Option<Bytes> {
    let h = Head::parse(frame)?;
    let Fields(fields) = serde_json::from_str(h.params?.get()).ok()?;
    let mut out = Vec::with_capacity(frame.len() + client_token.len());
    out.extend_from_slice(
        br#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"#,
    );
    out.extend_from_slice(client_token.as_bytes());
    for (k, v) in &fields {
        if k == "progressToken" {
            continue;
        }
        out.push(b',');
        push_json_str(&mut out, k);
        out.push(b':');
        out.extend_from_slice(v.get().as_bytes());
    }
    out.extend_from_slice(b"}}");
    Some(Bytes::from(out))
}

/// The backend's response re-addressed to the client's request id, with what it says (for the
/// console's call records), or `None` when the frame is not a response. The frame is parsed once.
pub fn readdress(frame: &[u8], client_id: &str) -> Option<(Bytes, Outcome)> {
    let h = Head::parse(frame)?;
    let (key, body, outcome) = match (h.result, h.error) {
        (Some(r), None) => ("result", r, result_outcome(r)),
        (None, Some(e)) => ("error", e, error_outcome(e)),
        _ => return None,
    };
    let mut out = Vec::with_capacity(body.get().len() + client_id.len() + 32);
    out.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
    out.extend_from_slice(client_id.as_bytes());
    out.extend_from_slice(b",\"");
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":");
    out.extend_from_slice(body.get().as_bytes());
    out.push(b'}');
    Some((Bytes::from(out), outcome))
}

/// A JSON-RPC error response to `client_id`.
pub fn error_frame(client_id: &str, code: i32, message: &str) -> Bytes {
    let mut out = Vec::with_capacity(message.len() + client_id.len() + 64);
    out.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
    out.extend_from_slice(client_id.as_bytes());
    let _ = write!(
        VecWriter(&mut out),
        r#","error":{{"code":{code},"message":"#
    );
    push_json_str(&mut out, message);
    out.extend_from_slice(b"}}");
    Bytes::from(out)
}

/// `notifications/cancelled` for a fast request.
pub fn cancelled_frame(id: &str, reason: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(96 + id.len() + reason.len());
    out.extend_from_slice(
        br#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"#,
    );
    push_json_str(&mut out, id);
    out.extend_from_slice(br#","reason":"#);
    push_json_str(&mut out, reason);
    out.extend_from_slice(b"}}");
    out
}

struct VecWriter<'a>(&'a mut Vec<u8>);
impl std::fmt::Write for VecWriter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// What a client frame's response says, for the console's call records.
pub enum Outcome {
    Ok,
    ToolError(String),
    Error(i32, String),
}

#[derive(Deserialize)]
struct ToolResultHead<'a> {
    #[serde(rename = "isError", default)]
    is_error: Option<bool>,
    #[serde(borrow, default)]
    content: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct TextContent {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: Option<String>,
}

#[derive(Deserialize)]
struct ErrorBody {
    code: i32,
    message: String,
}

/// What a response's `error` says.
fn error_outcome(e: &RawValue) -> Outcome {
    match serde_json::from_str::<ErrorBody>(e.get()) {
        Ok(e) => Outcome::Error(e.code, e.message),
        Err(_) => Outcome::Error(-32603, "malformed error".into()),
    }
}

/// What a `tools/call` response's `result` says: a tool error (with its first text) or success.
fn result_outcome(r: &RawValue) -> Outcome {
    match serde_json::from_str::<ToolResultHead>(r.get()) {
        Ok(ToolResultHead {
            is_error: Some(true),
            content,
        }) => {
            let text = content
                .and_then(|c| serde_json::from_str::<Vec<TextContent>>(c.get()).ok())
                .and_then(|v| {
                    v.into_iter()
                        .find(|c| c.kind == "text")
                        .and_then(|c| c.text)
                });
            Outcome::ToolError(text.unwrap_or_else(|| "tool error".into()))
        }
        _ => Outcome::Ok,
    }
}

// ---------------------------------------------------------------------------------------------
// Raw link

/// Prefix of the request ids the fast path uses towards a backend. rmcp numbers its own
/// requests, so a string id with this prefix is never one of rmcp's.
pub const ID_PREFIX: &str = "mcpz-fast-";

type Writer = Arc<tokio::sync::Mutex<Pin<Box<dyn AsyncWrite + Send>>>>;

/// Progress notifications buffered per fast request; more are dropped (progress is advisory).
const PROGRESS_QUEUE: usize = 256;

struct Pending {
    done: oneshot::Sender<Bytes>,
    progress: Option<tokio::sync::mpsc::Sender<Bytes>>,
}

/// Where a fast request's frames arrive: its progress notifications, in wire order, then its
/// response. Progress sent before the response is always in `progress` when `done` fires.
pub struct Waiter {
    pub done: oneshot::Receiver<Bytes>,
    /// `None` when the request asked for no progress (the backend has no token to send it with).
    pub progress: Option<tokio::sync::mpsc::Receiver<Bytes>>,
}

/// Sends one frame over a message-oriented transport (a POST to a legacy SSE endpoint).
#[async_trait::async_trait]
pub trait PostFrame: Send + Sync {
    async fn post(&self, frame: Bytes) -> std::io::Result<()>;
}

enum Sink {
    /// A byte stream shared with rmcp's side of the transport (stdio).
    Pipe(Writer),
    Post(Arc<dyn PostFrame>),
}

/// The raw side of one backend connection.
pub struct RawLink {
    sink: Sink,
    pending: Mutex<Option<HashMap<u64, Pending>>>,
    next: AtomicU64,
}

impl RawLink {
    fn new(writer: Writer) -> Arc<RawLink> {
        Self::with_sink(Sink::Pipe(writer))
    }

    /// A link whose frames are sent by `post`; the transport's reader must hand every incoming
    /// frame to [`RawLink::deliver`] first and call [`RawLink::close`] when it ends.
    pub fn posting(post: Arc<dyn PostFrame>) -> Arc<RawLink> {
        Self::with_sink(Sink::Post(post))
    }

    fn with_sink(sink: Sink) -> Arc<RawLink> {
        Arc::new(RawLink {
            sink,
            pending: Mutex::new(Some(HashMap::new())),
            next: AtomicU64::new(1),
        })
    }

    /// The backend-side id of fast request `n`.
    pub fn id(n: u64) -> String {
        format!("{ID_PREFIX}{n}")
    }

    /// Register a fast request: its number, its backend-side id (also its progress token, if
    /// `progress`) and where its frames arrive. `None` when the backend is gone.
    pub fn register(&self, progress: bool) -> Option<(u64, String, Waiter)> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let (done, done_rx) = oneshot::channel();
        let (progress, progress_rx) = if progress {
            let (tx, rx) = tokio::sync::mpsc::channel(PROGRESS_QUEUE);
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()?
            .insert(n, Pending { done, progress });
        Some((
            n,
            Self::id(n),
            Waiter {
                done: done_rx,
                progress: progress_rx,
            },
        ))
    }

    /// Write one newline-terminated frame. Frames never interleave, and a write that is
    /// cancelled halfway is finished in the background, so the stream never carries half a frame.
    pub async fn write(&self, frame: &[u8]) -> std::io::Result<()> {
        let writer = match &self.sink {
            Sink::Pipe(w) => w,
            Sink::Post(p) => return p.post(Bytes::copy_from_slice(frame.trim_ascii_end())).await,
        };
        let guard = writer.clone().lock_owned().await;
        let mut w = PartialWrite {
            guard: Some(guard),
            frame,
            pos: 0,
        };
        while w.pos < w.frame.len() {
            let g = w.guard.as_mut().expect("held until done");
            match g.write(&w.frame[w.pos..]).await {
                Ok(0) => {
                    w.guard = None;
                    return Err(std::io::ErrorKind::WriteZero.into());
                }
                Ok(n) => w.pos += n,
                Err(e) => {
                    w.guard = None;
                    return Err(e);
                }
            }
        }
        let mut g = w.guard.take().expect("held until done");
        g.flush().await
    }

    /// Stop waiting for fast request `n` (answered elsewhere, timed out or abandoned).
    pub fn forget(&self, n: u64) {
        if let Some(p) = self
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
        {
            p.remove(&n);
        }
    }

    /// Deliver `frame` if it is a response or progress notification for a fast request;
    /// returns false if it is not one of ours.
    pub fn deliver(&self, frame: &[u8]) -> bool {
        // Cheap pre-check: a frame for a fast request names our prefix.
        if memchr(frame, ID_PREFIX.as_bytes()).is_none() {
            return false;
        }
        let Some(h) = Head::parse(frame) else {
            return false;
        };
        let fast_n = |raw: &RawValue| {
            serde_json::from_str::<Cow<str>>(raw.get())
                .ok()
                .and_then(|s| {
                    s.strip_prefix(ID_PREFIX)
                        .and_then(|n| n.parse::<u64>().ok())
                })
        };
        match h.method.as_deref() {
            None => {
                let Some(n) = h.id.and_then(fast_n) else {
                    return false;
                };
                let p = self
                    .pending
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .as_mut()
                    .and_then(|p| p.remove(&n));
                match p {
                    Some(p) => {
                        let _ = p.done.send(Bytes::copy_from_slice(frame));
                    }
                    None => tracing::debug!("response to an abandoned fast request {n} dropped"),
                }
                true
            }
            Some("notifications/progress") => {
                #[derive(Deserialize)]
                struct P<'a> {
                    #[serde(rename = "progressToken", borrow)]
                    token: &'a RawValue,
                }
                let Some(n) = h
                    .params
                    .and_then(|p| serde_json::from_str::<P>(p.get()).ok())
                    .and_then(|p| fast_n(p.token))
                else {
                    return false;
                };
                if let Some(p) = self
                    .pending
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .as_ref()
                    .and_then(|p| p.get(&n))
                    .and_then(|p| p.progress.as_ref())
                {
                    if p.try_send(Bytes::copy_from_slice(frame)).is_err() {
                        tracing::debug!("progress for fast request {n} dropped (queue full)");
                    }
                }
                true
            }
            Some(_) => false,
        }
    }

    /// The backend is gone: every waiter gets a closed channel.
    pub fn close(&self) {
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
    }
}

/// A frame being written; finished by a task of its own if dropped halfway.
struct PartialWrite<'a> {
    guard: Option<tokio::sync::OwnedMutexGuard<Pin<Box<dyn AsyncWrite + Send>>>>,
    frame: &'a [u8],
    pos: usize,
}

impl Drop for PartialWrite<'_> {
    fn drop(&mut self) {
        if let Some(mut g) = self.guard.take() {
            if self.pos > 0 && self.pos < self.frame.len() {
                let rest = self.frame[self.pos..].to_vec();
                if let Ok(rt) = tokio::runtime::Handle::try_current() {
                    rt.spawn(async move {
                        let _ = g.write_all(&rest).await;
                        let _ = g.flush().await;
                    });
                }
            }
        }
    }
}

fn memchr(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

// ---------------------------------------------------------------------------------------------
// Stdio transport

/// rmcp's transport to a stdio backend, sharing its writer with the fast path and handing fast
/// responses to their waiters. Frames are newline-delimited JSON, as MCP's stdio transport says.
pub struct MuxStdio<R> {
    reader: BufReader<R>,
    buf: Vec<u8>,
    discarding: bool,
    link: Arc<RawLink>,
    max: usize,
}

impl<R: tokio::io::AsyncRead + Unpin + Send + 'static> MuxStdio<R> {
    pub fn new<W: AsyncWrite + Send + 'static>(
        reader: R,
        writer: W,
        max: usize,
    ) -> (MuxStdio<R>, Arc<RawLink>) {
        let w: Writer = Arc::new(tokio::sync::Mutex::new(Box::pin(writer)));
        let link = RawLink::new(w);
        (
            MuxStdio {
                reader: BufReader::with_capacity(64 * 1024, reader),
                buf: Vec::with_capacity(4096),
                discarding: false,
                link: link.clone(),
                max,
            },
            link,
        )
    }
}

impl<R> Drop for MuxStdio<R> {
    fn drop(&mut self) {
        self.link.close();
    }
}

impl<R: tokio::io::AsyncRead + Unpin + Send + 'static> Transport<RoleClient> for MuxStdio<R> {
    type Error = std::io::Error;

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleClient>,
    ) -> impl std::future::Future<Output = Result<(), Self::Error>> + Send + 'static {
        let link = self.link.clone();
        let frame = serde_json::to_vec(&item).map(|mut v| {
            v.push(b'\n');
            v
        });
        async move {
            let frame = frame.map_err(std::io::Error::other)?;
            link.write(&frame).await
        }
    }

    /// Cancel safe: a partly read line stays in `buf` until the next call completes it.
    async fn receive(&mut self) -> Option<RxJsonRpcMessage<RoleClient>> {
        loop {
            match read_line(
                &mut self.reader,
                &mut self.buf,
                &mut self.discarding,
                self.max,
            )
            .await
            {
                Ok(Line::Complete) => {}
                Ok(Line::TooLong) => {
                    tracing::warn!("backend message larger than {} bytes; closing", self.max);
                    self.link.close();
                    return None;
                }
                Ok(Line::Eof) => {
                    self.link.close();
                    return None;
                }
                Err(e) => {
                    tracing::debug!("backend stdout: {e}");
                    self.link.close();
                    return None;
                }
            }
            let line = std::mem::take(&mut self.buf);
            let frame = trim(&line);
            if frame.is_empty() {
                self.buf = line;
                self.buf.clear();
                continue;
            }
            if frame.len() > self.max {
                tracing::warn!("backend message larger than {} bytes; closing", self.max);
                self.link.close();
                return None;
            }
            if self.link.deliver(frame) {
                self.buf = line;
                self.buf.clear();
                continue;
            }
            let parsed = serde_json::from_slice::<RxJsonRpcMessage<RoleClient>>(frame);
            self.buf = line;
            self.buf.clear();
            match parsed {
                Ok(m) => return Some(m),
                Err(e) => {
                    tracing::warn!("backend sent a frame that is not an MCP message: {e}");
                    continue;
                }
            }
        }
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        self.link.close();
        match &self.link.sink {
            Sink::Pipe(w) => w.lock().await.shutdown().await,
            Sink::Post(_) => Ok(()),
        }
    }
}

/// What [`read_line`] found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Line {
    /// `buf` holds one whole line, newline included.
    Complete,
    /// A line longer than the limit went by; it was consumed and dropped.
    TooLong,
    Eof,
}

/// Read one newline-terminated line, appending it to `buf`, never holding more than `max` bytes
/// of it: a longer line is read to its end and dropped. Cancel safe: what was read so far stays in
/// `buf` (or in `discarding`) for the next call.
pub(crate) async fn read_line<R: tokio::io::AsyncBufRead + Unpin>(
    r: &mut R,
    buf: &mut Vec<u8>,
    discarding: &mut bool,
    max: usize,
) -> std::io::Result<Line> {
    loop {
        let avail = r.fill_buf().await?;
        if avail.is_empty() {
            return Ok(Line::Eof);
        }
        let (take, done) = match avail.iter().position(|b| *b == b'\n') {
            Some(i) => (i + 1, true),
            None => (avail.len(), false),
        };
        if !*discarding {
            buf.extend_from_slice(&avail[..take]);
        }
        r.consume(take);
        if !*discarding && buf.len() > max.saturating_add(2) {
            *discarding = true;
            buf.clear();
        }
        if done {
            return Ok(if std::mem::take(discarding) {
                Line::TooLong
            } else {
                Line::Complete
            });
        }
    }
}

fn trim(line: &[u8]) -> &[u8] {
    let mut l = line;
    while let Some((last, rest)) = l.split_last() {
        if last.is_ascii_whitespace() {
            l = rest;
        } else {
            break;
        }
    }
    l
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_params_keep_everything_but_the_name() {
        let p: &RawValue = serde_json::from_str(
            r#"{"arguments":{"a":[1,2,{"b":"c\"d"}]},"name":"gw_echo","_meta":{"x":1}}"#,
        )
        .unwrap();
        let c = CallParams::parse(p).unwrap();
        assert_eq!(c.name, "gw_echo");
        assert!(c.progress.is_none());
        let f = call_frame("mcpz-fast-7", "echo", &c);
        let v: serde_json::Value = serde_json::from_slice(&f).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"jsonrpc":"2.0","id":"mcpz-fast-7","method":"tools/call",
                "params":{"name":"echo","arguments":{"a":[1,2,{"b":"c\"d"}]},"_meta":{"x":1}}})
        );
    }

    #[test]
    fn progress_token_and_escaped_names_are_seen() {
        let p: &RawValue = serde_json::from_str(
            r#"{"name":"a\u005fb","_meta":{"z":[1],"progressToken":"t"},"arguments":{}}"#,
        )
        .unwrap();
        let c = CallParams::parse(p).unwrap();
        assert_eq!(c.name, "a_b");
        assert_eq!(c.progress.unwrap().get(), r#""t""#);
        // The backend sees the fast id as the token; other _meta fields stay.
        let f: serde_json::Value =
            serde_json::from_slice(&call_frame("mcpz-fast-9", "b", &c)).unwrap();
        assert_eq!(
            f["params"],
            serde_json::json!({"name":"b","arguments":{},"_meta":{"progressToken":"mcpz-fast-9","z":[1]}})
        );
        // ... and the client gets its own token back.
        let back = progress_to_client(
            br#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"mcpz-fast-9","progress":1,"total":2,"message":"m"}}"#,
            c.progress.unwrap().get(),
        )
        .unwrap();
        let back: serde_json::Value = serde_json::from_slice(&back).unwrap();
        assert_eq!(
            back,
            serde_json::json!({"jsonrpc":"2.0","method":"notifications/progress",
                "params":{"progressToken":"t","progress":1,"total":2,"message":"m"}})
        );
        for bad in [
            r#"{"arguments":{}}"#,
            r#"{"name":1}"#,
            r#"{"name":"a","name":"b"}"#,
            r#"[1]"#,
            r#"{"name":"a","_meta":5}"#,
            r#"{"name":"a","_meta":{},"_meta":{}}"#,
        ] {
            let p: &RawValue = serde_json::from_str(bad).unwrap();
            assert!(CallParams::parse(p).is_none(), "{bad}");
        }
    }

    #[test]
    fn responses_are_readdressed_exactly() {
        let r = readdress(
            br#"{"jsonrpc":"2.0","id":"mcpz-fast-1","result":{"content":[{"type":"text","text":"hi"}]}}"#,
            r#""abc""#,
        )
        .unwrap();
        assert_eq!(
            &r.0[..],
            br#"{"jsonrpc":"2.0","id":"abc","result":{"content":[{"type":"text","text":"hi"}]}}"#
        );
        let e = readdress(
            br#"{"id":"mcpz-fast-1","jsonrpc":"2.0","error":{"code":-32602,"message":"no"}}"#,
            "5",
        )
        .unwrap();
        assert_eq!(
            &e.0[..],
            br#"{"jsonrpc":"2.0","id":5,"error":{"code":-32602,"message":"no"}}"#
        );
        assert!(matches!(e.1, Outcome::Error(-32602, m) if m == "no"));
        assert!(readdress(br#"{"jsonrpc":"2.0","id":1,"method":"x"}"#, "1").is_none());
        assert!(readdress(b"not json", "1").is_none());
    }

    #[test]
    fn outcomes() {
        let ok = br#"{"jsonrpc":"2.0","id":1,"result":{"content":[]}}"#;
        assert!(matches!(readdress(ok, "1").unwrap().1, Outcome::Ok));
        let te = br#"{"jsonrpc":"2.0","id":1,"result":{"isError":true,"content":[{"type":"text","text":"boom"}]}}"#;
        assert!(matches!(readdress(te, "1").unwrap().1, Outcome::ToolError(m) if m == "boom"));
        let f = error_frame("7", -32603, "backend \"b\" gone");
        let v: serde_json::Value = serde_json::from_slice(&f).unwrap();
        assert_eq!(v["error"]["message"], "backend \"b\" gone");
        assert_eq!(v["id"], 7);
        let c: serde_json::Value =
            serde_json::from_slice(&cancelled_frame("mcpz-fast-3", "timeout")).unwrap();
        assert_eq!(c["params"]["requestId"], "mcpz-fast-3");
    }

    /// Register a fast request on `link` and write its frame (built from its backend-side id).
    async fn request(
        link: &RawLink,
        build: impl FnOnce(&str) -> Vec<u8>,
    ) -> Result<(u64, Waiter), ()> {
        let (n, id, rx) = link.register(true).ok_or(())?;
        let mut frame = build(&id);
        frame.push(b'\n');
        if link.write(&frame).await.is_err() {
            link.forget(n);
            return Err(());
        }
        Ok((n, rx))
    }

    fn named(n: &str) -> CallParams<'_> {
        CallParams {
            name: n.into(),
            rest: vec![],
            meta: None,
            progress: None,
        }
    }

    #[test]
    fn ids() {
        for ok in ["1", "-3", "\"x\""] {
            assert!(valid_id(serde_json::from_str(ok).unwrap()), "{ok}");
        }
        for bad in ["null", "{}", "[1]", "true"] {
            assert!(!valid_id(serde_json::from_str(bad).unwrap()), "{bad}");
        }
    }

    #[tokio::test]
    async fn long_lines_are_dropped_without_being_held() {
        let (mut w, r) = tokio::io::duplex(64);
        let mut r = BufReader::with_capacity(8, r);
        tokio::spawn(async move {
            let long = vec![b'x'; 1000];
            for chunk in [
                &b"short\n"[..],
                &long,
                b"\nafter\n",
                b"tail-without-newline",
            ] {
                w.write_all(chunk).await.unwrap();
            }
        });
        let (mut buf, mut discarding) = (Vec::new(), false);
        let mut next = async || {
            buf.clear();
            let l = read_line(&mut r, &mut buf, &mut discarding, 100)
                .await
                .unwrap();
            assert!(buf.len() <= 102, "held {} bytes", buf.len());
            (l, String::from_utf8_lossy(&buf).into_owned())
        };
        assert_eq!(next().await, (Line::Complete, "short\n".into()));
        assert_eq!(next().await.0, Line::TooLong);
        assert_eq!(next().await, (Line::Complete, "after\n".into()));
        assert_eq!(next().await.0, Line::Eof);
    }

    #[tokio::test]
    async fn mux_routes_fast_responses_to_waiters_and_the_rest_to_rmcp() {
        let (backend_out, ours_in) = tokio::io::duplex(1 << 16);
        let (ours_out, backend_in) = tokio::io::duplex(1 << 16);
        let (mut t, link) = MuxStdio::new(ours_in, ours_out, 1 << 20);
        let mut backend_in = BufReader::new(backend_in);
        let (n, mut rx) = request(&link, |id| call_frame(id, "echo", &named("echo")))
            .await
            .unwrap();
        let mut line = String::new();
        backend_in.read_line(&mut line).await.unwrap();
        let sent: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(sent["id"], RawLink::id(n));
        let mut w = backend_out;
        // Progress for the fast request goes to its waiter, in order, before the response.
        for i in 0..2 {
            w.write_all(format!("{{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{{\"progressToken\":\"{}\",\"progress\":{i}}}}}\n", RawLink::id(n)).as_bytes())
                .await
                .unwrap();
        }
        // A notification, then the fast response split across writes, then an rmcp response.
        w.write_all(b"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{\"level\":\"info\",\"data\":\"x\"}}\n")
            .await
            .unwrap();
        let resp = format!(
            "{{\"jsonrpc\":\"2.0\",\"id\":\"{}\",\"result\":{{\"content\":[]}}}}\n",
            RawLink::id(n)
        );
        let (a, b) = resp.as_bytes().split_at(10);
        w.write_all(a).await.unwrap();
        let first = t.receive().await;
        assert!(matches!(
            first,
            Some(rmcp::model::JsonRpcMessage::Notification(_))
        ));
        w.write_all(b).await.unwrap();
        w.write_all(b"{\"jsonrpc\":\"2.0\",\"id\":4,\"result\":{}}\n")
            .await
            .unwrap();
        let second = t.receive().await;
        assert!(matches!(
            second,
            Some(rmcp::model::JsonRpcMessage::Response(_))
        ));
        let got = (&mut rx.done).await.unwrap();
        assert_eq!(std::str::from_utf8(&got).unwrap(), resp.trim_end());
        for i in 0..2 {
            let p = rx.progress.as_mut().unwrap().try_recv().unwrap();
            assert!(std::str::from_utf8(&p)
                .unwrap()
                .contains(&format!("\"progress\":{i}")));
        }
        assert!(rx.progress.as_mut().unwrap().try_recv().is_err());
        // The backend goes away: pending and future requests fail.
        let (_, rx2) = request(&link, |id| call_frame(id, "echo", &named("echo")))
            .await
            .unwrap();
        drop(w);
        assert!(t.receive().await.is_none());
        assert!(rx2.done.await.is_err());
        assert!(request(&link, |id| call_frame(id, "echo", &named("echo")))
            .await
            .is_err());
    }
}
