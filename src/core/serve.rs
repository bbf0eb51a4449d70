//! Serving MCP over HTTP on any byte-stream [`Listener`]: streamable HTTP at `/mcp` and legacy SSE
//! at `/sse` on the same listener. On loopback, `Host` and `Origin` are checked (DNS rebinding).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rmcp::model::{ClientJsonRpcMessage, GetExtensions, JsonRpcMessage, ServerJsonRpcMessage};
use rmcp::transport::streamable_http_server::session::local::{
    LocalSessionManager, LocalSessionManagerError, SessionConfig,
};
use rmcp::transport::streamable_http_server::session::{
    RestoreOutcome, ServerSseMessage, SessionId, SessionManager,
};
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio_util::sync::CancellationToken;

use crate::core::engine::{Engine, FastItem, TransportSessionId};

/// How long a fast `tools/call` may take to be answered as one JSON body; after that (or when
/// progress comes first) the answer is an SSE stream.
const FAST_JSON_WINDOW: Duration = Duration::from_millis(1000);
use crate::core::net::Listener;

#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// `Some(authorities)`: only these `Host` values (and matching `Origin`s) are accepted.
    /// `None`: no check (OpenZiti shares, where the Host is whatever the dialer chose).
    pub allowed_hosts: Option<Vec<String>>,
    pub json_response: bool,
    pub stateless: bool,
    pub sse_keep_alive: Duration,
}

impl ServeOptions {
    /// Options for a loopback TCP listener on `port`.
    pub fn loopback(port: u16) -> Self {
        ServeOptions {
            allowed_hosts: Some(vec![
                format!("127.0.0.1:{port}"),
                format!("localhost:{port}"),
                format!("[::1]:{port}"),
            ]),
            json_response: false,
            stateless: false,
            sse_keep_alive: Duration::from_secs(15),
        }
    }

    pub fn overlay() -> Self {
        ServeOptions {
            allowed_hosts: None,
            json_response: false,
            stateless: false,
            sse_keep_alive: Duration::from_secs(15),
        }
    }
}

fn host_allowed(allowed: &[String], headers: &HeaderMap) -> Result<(), &'static str> {
    let host = headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .ok_or("missing Host header")?;
    if !allowed.iter().any(|a| a.eq_ignore_ascii_case(host)) {
        return Err("Host header not allowed");
    }
    if let Some(origin) = headers.get(http::header::ORIGIN) {
        let origin = origin.to_str().map_err(|_| "bad Origin header")?;
        let ok = allowed.iter().any(|a| {
            origin.eq_ignore_ascii_case(&format!("http://{a}"))
                || origin.eq_ignore_ascii_case(&format!("https://{a}"))
        });
        if !ok {
            return Err("Origin not allowed");
        }
    }
    Ok(())
}

/// rmcp's local session manager, telling each session its `Mcp-Session-Id` (as a
/// [`TransportSessionId`] extension on the `initialize` request) so that the engine can route
/// fast-path calls and sweep idle sessions.
pub struct Sessions(LocalSessionManager);

type Local = LocalSessionManager;

impl SessionManager for Sessions {
    type Error = LocalSessionManagerError;
    type Transport = <Local as SessionManager>::Transport;

    async fn create_session(&self) -> Result<(SessionId, Self::Transport), Self::Error> {
        self.0.create_session().await
    }

    async fn initialize_session(
        &self,
        id: &SessionId,
        mut message: ClientJsonRpcMessage,
    ) -> Result<ServerJsonRpcMessage, Self::Error> {
        if let JsonRpcMessage::Request(r) = &mut message {
            r.request
                .extensions_mut()
                .insert(TransportSessionId(id.to_string()));
        }
        self.0.initialize_session(id, message).await
    }

    async fn has_session(&self, id: &SessionId) -> Result<bool, Self::Error> {
        self.0.has_session(id).await
    }

    async fn close_session(&self, id: &SessionId) -> Result<(), Self::Error> {
        self.0.close_session(id).await
    }

    async fn create_stream(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<impl futures::Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error>
    {
        self.0.create_stream(id, message).await
    }

    async fn accept_message(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<(), Self::Error> {
        self.0.accept_message(id, message).await
    }

    async fn create_standalone_stream(
        &self,
        id: &SessionId,
    ) -> Result<impl futures::Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error>
    {
        self.0.create_standalone_stream(id).await
    }

    async fn resume(
        &self,
        id: &SessionId,
        last_event_id: String,
    ) -> Result<impl futures::Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error>
    {
        self.0.resume(id, last_event_id).await
    }

    async fn restore_session(
        &self,
        id: SessionId,
    ) -> Result<RestoreOutcome<Self::Transport>, Self::Error> {
        self.0.restore_session(id).await
    }
}

/// The `/mcp` fast path, in front of the axum router (so that a fast `tools/call` pays for
/// neither routing nor middleware): `POST /mcp` with a `tools/call` the engine can take is
/// answered here (one `application/json` body, or an SSE stream when progress comes first); a
/// body that is not JSON gets a JSON-RPC parse error (-32700); everything else goes on to the
/// router (and rmcp's service) unchanged.
struct FastFront {
    engine: Arc<Engine>,
}

/// `/mcp` and the paths under it (axum's `nest_service("/mcp")`).
fn is_mcp_path(path: &str) -> bool {
    path.strip_prefix("/mcp")
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

impl FastFront {
    async fn handle(&self, req: Request, router: axum::Router) -> axum::response::Response {
        use tower::ServiceExt;
        let next = |req: Request| async move {
            match router.oneshot(req).await {
                Ok(r) => r,
                Err(e) => match e {},
            }
        };
        let engine = &self.engine;
        let h = req.headers();
        let json_in = h
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        let len = h
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        let (true, Some(len)) = (json_in, len) else {
            return next(req).await;
        };
        if len > engine.agg.max_message_size {
            return next(req).await;
        }
        let json_out = h
            .get(http::header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("application/json") || v.contains("*/*"));
        let key = h
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .filter(|_| json_out)
            .map(|sid| format!("mcp:{sid}"));
        let (parts, body) = req.into_parts();
        let bytes = match http_body_util::BodyExt::collect(http_body_util::Limited::new(body, len))
            .await
        {
            Ok(b) => b.to_bytes(),
            Err(_) => {
                return (StatusCode::BAD_REQUEST, "failed to read the request body").into_response()
            }
        };
        if let Some(mut call) = key.and_then(|k| engine.fast_call(&k, &bytes)) {
            use futures::StreamExt;
            // Answered quickly with nothing before the response: one JSON body. Otherwise
            // (progress first, or slow) an SSE stream, so that progress flows and the client
            // sees headers.
            let first = match tokio::select! {
                biased;
                item = call.next() => Ok(item),
                _ = crate::core::deadline::Deadline::after(FAST_JSON_WINDOW) => Err(()),
            } {
                Ok(Some(FastItem::Done(resp))) => {
                    return (
                        [(http::header::CONTENT_TYPE, "application/json")],
                        axum::body::Body::from(resp),
                    )
                        .into_response();
                }
                Ok(Some(FastItem::Progress(p))) => Some(p),
                Ok(None) => None,
                Err(_) => None,
            };
            let frames = futures::stream::iter(first).chain(call.map(|item| match item {
                FastItem::Progress(b) | FastItem::Done(b) => b,
            }));
            let events = frames.map(|b| {
                let mut e = Vec::with_capacity(b.len() + 24);
                e.extend_from_slice(b"event: message\ndata: ");
                e.extend_from_slice(&b);
                e.extend_from_slice(b"\n\n");
                Ok::<_, std::convert::Infallible>(bytes::Bytes::from(e))
            });
            return (
                [
                    (http::header::CONTENT_TYPE, "text/event-stream"),
                    (http::header::CACHE_CONTROL, "no-cache"),
                ],
                axum::body::Body::from_stream(events),
            )
                .into_response();
        }
        // Not for the fast path (checked first: a valid call needs no second parse).
        if serde_json::from_slice::<&serde_json::value::RawValue>(&bytes).is_err() {
            tracing::debug!("POST /mcp: body is not JSON");
            return (
                StatusCode::BAD_REQUEST,
                [(http::header::CONTENT_TYPE, "application/json")],
                r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error: the body is not JSON"}}"#,
            )
                .into_response();
        }
        next(Request::from_parts(parts, axum::body::Body::from(bytes))).await
    }
}

/// Close streamable-HTTP sessions that have been idle for `idle_timeout` or were ended (console),
/// checking a few times per timeout, until `stop`.
async fn sweep(engine: Arc<Engine>, mgr: Arc<Sessions>, stop: CancellationToken) {
    let idle = engine.agg.idle_timeout;
    let every = (idle / 4).clamp(Duration::from_millis(100), Duration::from_secs(30));
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        for key in engine.stale_transport_sessions(idle) {
            if let Some(sid) = key.strip_prefix("mcp:") {
                tracing::info!("closing streamable HTTP session {sid}: idle or ended");
                let _ = mgr.close_session(&SessionId::from(sid)).await;
            }
        }
    }
}

/// What [`serve`] serves: the axum app (`/mcp` streamable HTTP, `/sse` legacy SSE), the
/// `/mcp` fast path in front of it, and the loopback `Host`/`Origin` check in front of both.
#[derive(Clone)]
pub struct App {
    router: axum::Router,
    fast: Arc<FastFront>,
    /// `Some`: only these `Host`s (and their `Origin`s) are served (DNS rebinding).
    allowed_hosts: Option<Arc<Vec<String>>>,
}

/// The app for `engine`: `/mcp` (streamable HTTP) and `/sse` (legacy SSE).
pub fn router(engine: Arc<Engine>, opts: &ServeOptions) -> App {
    // Idle sessions are closed by `sweep`, which also sees fast-path activity.
    let session_cfg = {
        let mut c = SessionConfig::default();
        c.keep_alive = None;
        c
    };
    let mut mgr = LocalSessionManager::default();
    mgr.session_config = session_cfg;
    let mgr = Arc::new(Sessions(mgr));
    tokio::spawn(sweep(
        engine.clone(),
        mgr.clone(),
        engine.shutdown.child_token(),
    ));
    let cfg = StreamableHttpServerConfig::default()
        .disable_allowed_hosts()
        .disable_allowed_origins()
        .with_json_response(opts.json_response)
        .with_legacy_session_mode(!opts.stateless)
        .with_sse_keep_alive(Some(opts.sse_keep_alive))
        .with_max_request_body_bytes(engine.agg.max_message_size)
        .with_cancellation_token(engine.shutdown.child_token());
    let e = engine.clone();
    let mcp = StreamableHttpService::new(move || Ok(e.new_session("?", "streamable")), mgr, cfg);
    let fast = Arc::new(FastFront {
        engine: engine.clone(),
    });
    let router = axum::Router::new()
        .nest_service("/mcp", mcp)
        .merge(crate::core::sse_serve::router(engine.clone(), opts));
    App {
        router,
        fast,
        allowed_hosts: opts.allowed_hosts.clone().map(Arc::new),
    }
}

/// One connection's service: the `Host`/`Origin` check, the peer address for handlers, then
/// the fast path for `POST /mcp`, else the router.
#[derive(Clone)]
struct ConnService {
    app: App,
    remote: crate::core::sse::PeerAddr,
}

impl hyper::service::Service<http::Request<hyper::body::Incoming>> for ConnService {
    type Response = axum::response::Response;
    type Error = std::convert::Infallible;
    type Future = futures::future::BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn call(&self, req: http::Request<hyper::body::Incoming>) -> Self::Future {
        use tower::ServiceExt;
        if let Some(allowed) = &self.app.allowed_hosts {
            if let Err(why) = host_allowed(allowed, req.headers()) {
                tracing::warn!("refused request: {why}");
                let refused = (StatusCode::FORBIDDEN, why).into_response();
                return Box::pin(std::future::ready(Ok(refused)));
            }
        }
        let mut req = req.map(axum::body::Body::new);
        req.extensions_mut().insert(self.remote.clone());
        let router = self.app.router.clone();
        if req.method() == http::Method::POST && is_mcp_path(req.uri().path()) {
            let fast = self.app.fast.clone();
            Box::pin(async move { Ok(fast.handle(req, router).await) })
        } else {
            Box::pin(router.oneshot(req))
        }
    }
}

/// `MCPZ_WORKER_THREADS=N` (N > 0): runtime worker threads, and connection threads.
pub fn worker_threads() -> Option<usize> {
    std::env::var("MCPZ_WORKER_THREADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| *n > 0)
}

/// Threads that serve TCP connections: one current-thread runtime each, for the life of the
/// process (`MCPZ_WORKER_THREADS`, default one per CPU). A connection, the sessions it opens and
/// their backends' pipes all live on the thread that accepted it, so a call never hops between
/// threads: with tokio's work-stealing pool, waking the other workers cost more than the
/// gateway's own work per call (BENCHMARKS.md). Empty if no thread could be started.
fn conn_threads() -> &'static [tokio::runtime::Handle] {
    static THREADS: std::sync::OnceLock<Vec<tokio::runtime::Handle>> = std::sync::OnceLock::new();
    THREADS.get_or_init(|| {
        let n = worker_threads()
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        let mut handles = Vec::with_capacity(n);
        for i in 0..n {
            let (tx, rx) = std::sync::mpsc::channel();
            let spawned = std::thread::Builder::new()
                .name(format!("mcpz-conn-{i}"))
                .spawn(move || {
                    let rt = match tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    {
                        Ok(rt) => rt,
                        Err(e) => {
                            tracing::warn!("cannot start connection thread: {e}");
                            return;
                        }
                    };
                    let _ = tx.send(rt.handle().clone());
                    rt.block_on(std::future::pending::<()>());
                });
            if spawned.is_err() {
                break;
            }
            match rx.recv() {
                Ok(h) => handles.push(h),
                Err(_) => break,
            }
        }
        handles
    })
}

/// Serve one accepted connection (HTTP/1.1 or HTTP/2) on the current runtime.
fn spawn_conn(
    builder: &hyper_util::server::conn::auto::Builder<TokioExecutor>,
    graceful: &hyper_util::server::graceful::GracefulShutdown,
    io: impl crate::core::net::Conn,
    remote: String,
    app: &App,
) {
    let svc = ConnService {
        app: app.clone(),
        remote: crate::core::sse::PeerAddr(remote),
    };
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), svc);
    let conn = graceful.watch(conn.into_owned());
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!("http connection ended: {e}");
        }
    });
}

/// Serve `app` on `listener` until `stop` fires; then stop accepting and give open connections a
/// short, bounded grace period. A TCP listener is accepted on by every [`conn_threads`] thread.
pub async fn serve(listener: Box<dyn Listener>, app: App, stop: CancellationToken) {
    let threads = conn_threads();
    if let (Some(tcp), false) = (listener.std_tcp(), threads.is_empty()) {
        let mut joined = Vec::with_capacity(threads.len());
        for h in threads {
            match tcp.try_clone() {
                Ok(l) => {
                    let (app, stop) = (app.clone(), stop.clone());
                    // Registered with the thread's own runtime, inside it.
                    joined.push(h.spawn(async move {
                        match crate::core::net::TcpListener::from_std(l) {
                            Ok(l) => serve_any(Box::new(l), app, stop).await,
                            Err(e) => tracing::warn!("cannot accept on this thread: {e}"),
                        }
                    }));
                }
                Err(e) => tracing::warn!("cannot share the listener with a thread: {e}"),
            }
        }
        if !joined.is_empty() {
            // The threads hold their own handles to the socket.
            drop(tcp);
            drop(listener);
            for j in joined {
                let _ = j.await;
            }
            return;
        }
    }
    serve_any(listener, app, stop).await
}

/// Serve on any listener from the current runtime (connections run on it too).
async fn serve_any(mut listener: Box<dyn Listener>, app: App, stop: CancellationToken) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => break,
            a = listener.accept() => a,
        };
        let accepted = match accepted {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                if stop.is_cancelled() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        spawn_conn(&builder, &graceful, accepted.conn, accepted.remote, &app);
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), graceful.shutdown()).await;
}
