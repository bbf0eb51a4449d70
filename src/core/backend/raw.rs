//! The raw side of a backend connection, for the `tools/call` fast path: [`RawLink`] holds the
//! ids of fast requests and the waiters for their responses, and [`MuxStdio`] is the stdio
//! transport rmcp runs over: its writer is shared with the fast path and its reader hands fast
//! responses to their waiters instead of to rmcp.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use rmcp::service::{RoleClient, RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::Transport;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::oneshot;

use crate::core::wire::frame::Head;
use crate::core::wire::lines::{LineReader, Next};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;

// ---------------------------------------------------------------------------------------------
// Raw link

/// Prefix of the request ids the fast path uses towards a backend. rmcp numbers its own
/// requests, so a string id with this prefix is never one of rmcp's.
pub(crate) const ID_PREFIX: &str = "mcpz-fast-";

type Writer = Arc<tokio::sync::Mutex<Pin<Box<dyn AsyncWrite + Send>>>>;

/// Progress notifications buffered per fast request; more are dropped (progress is advisory).
const PROGRESS_QUEUE: usize = 256;

struct Pending {
    done: oneshot::Sender<Bytes>,
    progress: Option<tokio::sync::mpsc::Sender<Bytes>>,
}

/// Where a fast request's frames arrive: its progress notifications, in wire order, then its
/// response. Progress sent before the response is always in `progress` when `done` fires.
pub(crate) struct Waiter {
    pub done: oneshot::Receiver<Bytes>,
    /// `None` when the request asked for no progress (the backend has no token to send it with).
    pub progress: Option<tokio::sync::mpsc::Receiver<Bytes>>,
}

/// Sends one frame over a message-oriented transport (a POST to a legacy SSE endpoint).
#[async_trait::async_trait]
pub(crate) trait PostFrame: Send + Sync {
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
    pub(crate) fn posting(post: Arc<dyn PostFrame>) -> Arc<RawLink> {
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
    pub(crate) fn register(&self, progress: bool) -> Option<(u64, String, Waiter)> {
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

    /// Ask the backend `method` (with `params`, a JSON value) as a request of the link's own and
    /// wait for its answer frame. The request is forgotten if no answer comes (a failed write,
    /// the future dropped on a timeout).
    pub(crate) async fn request(
        &self,
        method: &str,
        params: Option<&str>,
    ) -> std::io::Result<Bytes> {
        let closed = || std::io::Error::new(std::io::ErrorKind::BrokenPipe, "connection closed");
        let (n, theirs, waiter) = self.register(false).ok_or_else(closed)?;
        /// Forgets the request unless its answer came.
        struct Forget<'a>(&'a RawLink, u64, bool);
        impl Drop for Forget<'_> {
            fn drop(&mut self) {
                if !self.2 {
                    self.0.forget(self.1);
                }
            }
        }
        let mut guard = Forget(self, n, false);
        let mut frame = format!(r#"{{"jsonrpc":"2.0","id":"{theirs}","method":"{method}""#);
        if let Some(p) = params {
            frame.push_str(r#","params":"#);
            frame.push_str(p);
        }
        frame.push_str("}\n");
        self.write(frame.as_bytes()).await?;
        let answer = waiter.done.await.map_err(|_| closed())?;
        guard.2 = true;
        Ok(answer)
    }

    /// Stop waiting for fast request `n` (answered elsewhere, timed out or abandoned).
    pub(crate) fn forget(&self, n: u64) {
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
    pub(crate) fn deliver(&self, frame: &[u8]) -> bool {
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
pub(crate) struct MuxStdio<R> {
    lines: LineReader<R>,
    link: Arc<RawLink>,
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
                lines: LineReader::new(reader, max),
                link: link.clone(),
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

    /// Cancel safe (see [`LineReader::next`]).
    async fn receive(&mut self) -> Option<RxJsonRpcMessage<RoleClient>> {
        loop {
            let frame = match self.lines.next().await {
                Ok(Next::Frame(f)) => f,
                Ok(Next::TooLong) => {
                    let max = self.lines.max();
                    tracing::warn!("backend message larger than {max} bytes; closing");
                    self.link.close();
                    return None;
                }
                Ok(Next::Eof) => {
                    self.link.close();
                    return None;
                }
                Err(e) => {
                    tracing::debug!("backend stdout: {e}");
                    self.link.close();
                    return None;
                }
            };
            if self.link.deliver(frame) {
                continue;
            }
            match serde_json::from_slice::<RxJsonRpcMessage<RoleClient>>(frame) {
                Ok(m) => return Some(m),
                Err(e) => tracing::warn!("backend sent a frame that is not an MCP message: {e}"),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::wire::frame::{call_frame, CallParams};
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

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
