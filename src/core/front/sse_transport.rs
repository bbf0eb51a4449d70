//! Legacy MCP HTTP+SSE transport (protocol revision 2024-11-05), wire-compatible with the MCP Go
//! SDK's `SSEHandler` / `SSEClientTransport` that the Go mcp-gateway uses.
//!
//! Wire format (as the Go SDK v1.1.0 emits it, `mcp/sse.go`):
//! - `GET /sse` answers `200`, `Content-Type: text/event-stream`, and first writes
//!   `event: endpoint\ndata: /sse?sessionid=<26 base32 chars>\n\n` (the GET path with the query
//!   replaced by `sessionid=`).
//! - `POST /sse?sessionid=…` with one JSON-RPC message answers `202 Accepted` (empty body);
//!   missing `sessionid` → `400`, unknown session → `404`, unparsable body → `400`
//!   (`text/plain` bodies, as Go's `http.Error` writes them). We add `413` for oversize bodies,
//!   and answer a body that is not one JSON-RPC message (not JSON, nested too deep, a batch)
//!   with `400` and a JSON-RPC error (`-32700` / `-32600`) as the body.
//! - Every server→client message is `event: message\ndata: <json>\n\n` on the GET stream.
//! - Keepalives (our addition; the Go SDK sends none) are SSE comments (`: keepalive`), which the
//!   Go, Python and TypeScript clients all ignore.
//! - The session ends when the GET stream closes; the rmcp service then sees its transport close
//!   (`receive` yields `None`), its serve loop quits and in-flight request contexts are cancelled.
//!
//! Use:
//! ```ignore
//! let on_connect: SseConnect = Arc::new(move |transport, info| {
//!     let handler = handler.clone();
//!     tokio::spawn(async move {
//!         if let Ok(svc) = rmcp::serve_server(handler, transport).await {
//!             let _ = svc.waiting().await; // returns when the client goes away
//!         }
//!     });
//! });
//! let router = sse_router(SseServerConfig::default(), on_connect);
//! tokio::spawn(serve(listener /* any net::Listener */, router, shutdown_token));
//! ```

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, OriginalUri, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use bytes::Bytes;
use http_body_util::BodyExt;
use rand::Rng;
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use rmcp::service::RoleServer;
use rmcp::transport::Transport;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::core::net::{Listener, PeerAddr};
use crate::core::wire::sse as codec;

/// Default limit for one JSON-RPC message (POST body, or one SSE event on the client side).
pub(crate) const DEFAULT_MAX_MESSAGE_SIZE: usize = 16 * 1024 * 1024;

/// Name of the session id query parameter (the Go SDK's spelling).
pub(crate) const SESSION_PARAM: &str = "sessionid";

/// Depth of the per-session queues (the Go SDK buffers 100 incoming messages).
const QUEUE_DEPTH: usize = 100;

/// Configuration of the legacy SSE server.
#[derive(Debug, Clone)]
pub struct SseServerConfig {
    /// Interval of `: keepalive` comments on an idle stream; `None` sends none.
    pub keep_alive: Option<Duration>,
    /// Largest accepted POST body; larger ones get `413`.
    pub max_message_size: usize,
    /// Path of the event stream (`/sse`).
    pub sse_path: String,
    /// Path clients POST to; the Go SDK uses the GET path itself (`/sse`), so that is the
    /// default. POST is always accepted on `sse_path` too.
    pub post_path: String,
    /// Takes a POSTed frame off the rmcp path when it returns `Some` (called with the session id
    /// and the frame); the response frame it resolves to goes out on the session's stream.
    pub fast: Option<FastHook>,
}

/// The frames answering a frame taken off the rmcp path (notifications, then the response).
/// Dropped unfinished when the session closes.
pub(crate) type FastReply = std::pin::Pin<Box<dyn futures::Stream<Item = Bytes> + Send>>;

/// See [`SseServerConfig::fast`].
#[derive(Clone)]
pub struct FastHook(pub Arc<FastFn>);

/// Called with the session id and a POSTed frame.
pub(crate) type FastFn = dyn Fn(&str, &[u8]) -> Option<FastReply> + Send + Sync;

impl std::fmt::Debug for FastHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FastHook")
    }
}

/// What goes out on a session's event stream.
enum Out {
    Msg(Box<ServerJsonRpcMessage>),
    Raw(Bytes),
}

impl Default for SseServerConfig {
    fn default() -> Self {
        Self {
            keep_alive: Some(Duration::from_secs(15)),
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            sse_path: "/sse".into(),
            post_path: "/sse".into(),
            fast: None,
        }
    }
}

/// Facts about one new session.
#[derive(Debug, Clone)]
pub struct SseSessionInfo {
    pub session_id: String,
    /// The peer (`127.0.0.1:50123`, an OpenZiti identity) when the server knows it.
    pub remote: Option<String>,
    /// The OpenZiti identity that opened the stream; `None` on TCP.
    pub caller: Option<String>,
}

/// Called once per `GET /sse` with a ready transport; the callee spawns
/// `rmcp::serve_server(handler, transport)` (or drops the transport to refuse).
pub type SseConnect = Arc<dyn Fn(SseTransport, SseSessionInfo) + Send + Sync>;

/// The server half of one SSE session as an rmcp transport.
///
/// `receive` yields the POSTed messages and ends when the GET stream is gone (client left) or the
/// transport is closed; `send` writes `event: message` to the stream. Closing or dropping it
/// ends the GET stream once the queued messages are written.
pub struct SseTransport {
    session_id: String,
    incoming: mpsc::Receiver<ClientJsonRpcMessage>,
    outgoing: mpsc::Sender<Out>,
    closed: CancellationToken,
}

impl SseTransport {
    pub fn session_id(&self) -> &str {
        &self.session_id
    }
}

impl Drop for SseTransport {
    fn drop(&mut self) {
        self.closed.cancel();
    }
}

fn session_gone() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::BrokenPipe, "SSE session closed")
}

impl Transport<RoleServer> for SseTransport {
    type Error = std::io::Error;

    fn send(
        &mut self,
        item: ServerJsonRpcMessage,
    ) -> impl std::future::Future<Output = Result<(), Self::Error>> + Send + 'static {
        let tx = self.outgoing.clone();
        let closed = self.closed.clone();
        async move {
            tokio::select! {
                r = tx.send(Out::Msg(Box::new(item))) => r.map_err(|_| session_gone()),
                _ = closed.cancelled() => Err(session_gone()),
            }
        }
    }

    async fn receive(&mut self) -> Option<ClientJsonRpcMessage> {
        tokio::select! {
            m = self.incoming.recv() => m,
            _ = self.closed.cancelled() => None,
        }
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        self.closed.cancel();
        Ok(())
    }
}

struct SessionEntry {
    /// Who opened the stream: POSTs from anyone else are refused as unknown sessions.
    caller: Option<String>,
    incoming: mpsc::Sender<ClientJsonRpcMessage>,
    outgoing: mpsc::Sender<Out>,
    closed: CancellationToken,
}

type SseSessions = Arc<Mutex<HashMap<String, SessionEntry>>>;

#[derive(Clone)]
struct AppState {
    cfg: Arc<SseServerConfig>,
    sessions: SseSessions,
    on_connect: SseConnect,
}

/// The legacy SSE router: `GET`/`POST` on `cfg.sse_path`, `POST` on `cfg.post_path`.
/// Mount it at the root or `nest` it; the advertised endpoint follows the original request path.
pub fn sse_router(cfg: SseServerConfig, on_connect: SseConnect) -> Router {
    let sse_path = cfg.sse_path.clone();
    let post_path = cfg.post_path.clone();
    let state = AppState {
        cfg: Arc::new(cfg),
        sessions: Arc::new(Mutex::new(HashMap::new())),
        on_connect,
    };
    let mut router = Router::new().route(&sse_path, get(handle_get).post(handle_post));
    if post_path != sse_path {
        router = router.route(&post_path, post(handle_post));
    }
    router.with_state(state)
}

/// A random session id in the Go SDK's format (`crypto/rand.Text`: 26 base32 characters).
fn new_session_id() -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut rng = rand::rng();
    (0..26)
        .map(|_| ALPHABET[rng.random_range(0..32)] as char)
        .collect()
}

/// `http.Error` as Go writes it.
fn plain_error(status: StatusCode, msg: &str) -> Response {
    let mut r = (status, format!("{msg}\n")).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

/// Removes the session and cancels it when the GET body is dropped (client gone or stream done).
struct SessionGuard {
    id: String,
    sessions: SseSessions,
    closed: CancellationToken,
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        self.closed.cancel();
        if let Ok(mut s) = self.sessions.lock() {
            s.remove(&self.id);
        }
        tracing::debug!(session = %self.id, "sse session ended");
    }
}

struct StreamState {
    first: Option<Bytes>,
    out: mpsc::Receiver<Out>,
    closed: CancellationToken,
    keep_alive: Option<tokio::time::Interval>,
    _guard: SessionGuard,
}

async fn tick(iv: &mut Option<tokio::time::Interval>) {
    match iv {
        Some(iv) => {
            iv.tick().await;
        }
        None => std::future::pending().await,
    }
}

async fn handle_get(State(st): State<AppState>, req: Request) -> Response {
    let id = new_session_id();
    let path = req
        .extensions()
        .get::<OriginalUri>()
        .map(|u| u.0.path().to_string())
        .unwrap_or_else(|| req.uri().path().to_string());
    let prefix = path.strip_suffix(st.cfg.sse_path.as_str()).unwrap_or("");
    let endpoint = format!("{prefix}{}?{SESSION_PARAM}={id}", st.cfg.post_path);
    let caller = req
        .extensions()
        .get::<PeerAddr>()
        .and_then(|p| p.caller.clone());
    let remote = req
        .extensions()
        .get::<PeerAddr>()
        .map(|p| p.remote.clone())
        .or_else(|| {
            req.extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.to_string())
        });

    let (in_tx, in_rx) = mpsc::channel(QUEUE_DEPTH);
    let (out_tx, out_rx) = mpsc::channel(QUEUE_DEPTH);
    let closed = CancellationToken::new();
    if let Ok(mut s) = st.sessions.lock() {
        s.insert(
            id.clone(),
            SessionEntry {
                caller: caller.clone(),
                incoming: in_tx,
                outgoing: out_tx.clone(),
                closed: closed.clone(),
            },
        );
    }
    let guard = SessionGuard {
        id: id.clone(),
        sessions: st.sessions.clone(),
        closed: closed.clone(),
    };
    tracing::debug!(session = %id, remote = remote.as_deref().unwrap_or("?"), "sse session started");

    let transport = SseTransport {
        session_id: id.clone(),
        incoming: in_rx,
        outgoing: out_tx,
        closed: closed.clone(),
    };
    (st.on_connect)(
        transport,
        SseSessionInfo {
            session_id: id,
            remote,
            caller,
        },
    );

    let keep_alive = st.cfg.keep_alive.filter(|d| !d.is_zero()).map(|d| {
        let mut iv = tokio::time::interval_at(tokio::time::Instant::now() + d, d);
        iv.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        iv
    });
    let state = StreamState {
        first: Some(codec::encode_event("endpoint", &endpoint)),
        out: out_rx,
        closed,
        keep_alive,
        _guard: guard,
    };
    let stream = futures::stream::unfold(state, |mut s| async move {
        if let Some(b) = s.first.take() {
            return Some((Ok::<Bytes, Infallible>(b), s));
        }
        loop {
            let item = tokio::select! {
                biased;
                m = s.out.recv() => match m {
                    Some(Out::Msg(msg)) => match serde_json::to_string(&msg) {
                        Ok(json) => codec::encode_event("message", &json),
                        Err(e) => {
                            tracing::warn!("cannot encode outgoing message: {e}");
                            continue;
                        }
                    },
                    Some(Out::Raw(frame)) => match std::str::from_utf8(&frame) {
                        Ok(json) => codec::encode_event("message", json),
                        Err(_) => {
                            tracing::warn!("dropping a non-UTF-8 frame");
                            continue;
                        }
                    },
                    None => return None,
                },
                _ = s.closed.cancelled() => return None,
                _ = tick(&mut s.keep_alive) => codec::encode_comment("keepalive"),
            };
            if let Some(iv) = s.keep_alive.as_mut() {
                iv.reset();
            }
            return Some((Ok(item), s));
        }
    });

    let mut resp = Response::new(Body::from_stream(stream));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::CONNECTION, HeaderValue::from_static("keep-alive"));
    resp
}

async fn handle_post(State(st): State<AppState>, req: Request) -> Response {
    let sid = req.uri().query().and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == SESSION_PARAM)
            .map(|(_, v)| v.into_owned())
    });
    let Some(sid) = sid.filter(|s| !s.is_empty()) else {
        return plain_error(StatusCode::BAD_REQUEST, "sessionid must be provided");
    };
    let caller = req
        .extensions()
        .get::<PeerAddr>()
        .and_then(|p| p.caller.clone());
    let entry = st.sessions.lock().ok().and_then(|s| {
        s.get(&sid)
            // Another identity holding the session id is no owner of it: unknown session.
            .filter(|e| e.caller == caller)
            .map(|e| (e.incoming.clone(), e.outgoing.clone(), e.closed.clone()))
    });
    let Some((incoming, outgoing, closed)) = entry else {
        return plain_error(StatusCode::NOT_FOUND, "session not found");
    };

    let limit = st.cfg.max_message_size;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return plain_error(StatusCode::PAYLOAD_TOO_LARGE, "message too large");
    }
    let body = match http_body_util::Limited::new(req.into_body(), limit)
        .collect()
        .await
    {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                return plain_error(StatusCode::PAYLOAD_TOO_LARGE, "message too large");
            }
            return plain_error(StatusCode::BAD_REQUEST, "failed to read body");
        }
    };
    if let Some(mut reply) = st.cfg.fast.as_ref().and_then(|h| (h.0)(&sid, &body)) {
        tokio::spawn(async move {
            use futures::StreamExt;
            loop {
                tokio::select! {
                    r = reply.next() => match r {
                        Some(frame) => {
                            tokio::select! {
                                r = outgoing.send(Out::Raw(frame)) => if r.is_err() { break },
                                _ = closed.cancelled() => break,
                            }
                        }
                        None => break,
                    },
                    // The session is gone: dropping the call tells the backend.
                    _ = closed.cancelled() => break,
                }
            }
        });
        return StatusCode::ACCEPTED.into_response();
    }
    // 400 as the Go SDK answers, with a JSON-RPC error as the body.
    if let Err(e) = crate::core::wire::frame::check_body(&body) {
        tracing::debug!(session = %sid, "POST body refused: {e:?}");
        return crate::core::front::fast::json_rpc_refusal(&e);
    }
    let msg: ClientJsonRpcMessage = match serde_json::from_slice(&body) {
        Ok(m) => m,
        Err(e) => {
            tracing::debug!(session = %sid, "unparsable POST body: {e}");
            return plain_error(StatusCode::BAD_REQUEST, "failed to parse body");
        }
    };
    tokio::select! {
        r = incoming.send(msg) => match r {
            Ok(()) => StatusCode::ACCEPTED.into_response(),
            Err(_) => plain_error(StatusCode::BAD_REQUEST, "session closed"),
        },
        _ = closed.cancelled() => plain_error(StatusCode::BAD_REQUEST, "session closed"),
    }
}

/// Serves `router` on any [`Listener`] (TCP, OpenZiti) with HTTP/1.1, inserting [`PeerAddr`]
/// into every request, until `shutdown` is cancelled; open connections are then dropped.
pub async fn serve<L: Listener>(
    mut listener: L,
    router: Router,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    use hyper_util::rt::TokioIo;
    let mut conns = tokio::task::JoinSet::new();
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            a = listener.accept() => a,
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
        };
        let accepted = match accepted {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!("accept on {} failed: {e}", listener.describe());
                // Do not spin on a persistent error.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let peer = PeerAddr {
            remote: accepted.remote,
            caller: accepted.caller,
        };
        let svc = router.clone().layer(axum::Extension(peer));
        let svc = hyper_util::service::TowerToHyperService::new(svc);
        conns.spawn(async move {
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(Duration::from_secs(30))
                .serve_connection(TokioIo::new(accepted.conn), svc)
                .await
            {
                tracing::debug!("http connection ended: {e}");
            }
        });
    }
    conns.abort_all();
    Ok(())
}
