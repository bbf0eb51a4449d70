//! Serving MCP over HTTP on any byte-stream [`Listener`]: streamable HTTP at `/mcp` and legacy SSE
//! at `/sse` on the same listener. On loopback, `Host` and `Origin` are checked (DNS rebinding).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::IntoResponse;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
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

/// `POST /mcp` with a `tools/call` the engine can take on its fast path: answered here (one
/// `application/json` body, or an SSE stream when progress comes first); a body that is not JSON
/// gets a JSON-RPC parse error (-32700); everything else goes on to rmcp's service unchanged.
async fn fast_mcp(engine: Arc<Engine>, req: Request, next: Next) -> axum::response::Response {
    if req.method() != http::Method::POST {
        return next.run(req).await;
    }
    let h = req.headers();
    let sid = h
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let json_in = h
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let json_out = h
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json") || v.contains("*/*"));
    let len = h
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let (true, Some(len)) = (json_in, len) else {
        return next.run(req).await;
    };
    if len > engine.agg.max_message_size {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let bytes =
        match http_body_util::BodyExt::collect(http_body_util::Limited::new(body, len)).await {
            Ok(b) => b.to_bytes(),
            Err(_) => {
                return (StatusCode::BAD_REQUEST, "failed to read the request body").into_response()
            }
        };
    if serde_json::from_slice::<&serde_json::value::RawValue>(&bytes).is_err() {
        tracing::debug!("POST /mcp: body is not JSON");
        return (
            StatusCode::BAD_REQUEST,
            [(http::header::CONTENT_TYPE, "application/json")],
            r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error: the body is not JSON"}}"#,
        )
            .into_response();
    }
    let Some(sid) = sid.filter(|_| json_out) else {
        return next
            .run(Request::from_parts(parts, axum::body::Body::from(bytes)))
            .await;
    };
    let key = format!("mcp:{sid}");
    if let Some(mut call) = engine.fast_call(&key, &bytes) {
        use futures::StreamExt;
        // Answered quickly with nothing before the response: one JSON body. Otherwise (progress
        // first, or slow) an SSE stream, so that progress flows and the client sees headers.
        let first = match tokio::time::timeout(FAST_JSON_WINDOW, call.next()).await {
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
    next.run(Request::from_parts(parts, axum::body::Body::from(bytes)))
        .await
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

/// The axum app: `/mcp` (streamable HTTP) and `/sse` (legacy SSE).
pub fn router(engine: Arc<Engine>, opts: &ServeOptions) -> axum::Router {
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
    let fe = engine.clone();
    let mcp = tower::ServiceBuilder::new()
        .layer(axum::middleware::from_fn(
            move |req: Request, next: Next| fast_mcp(fe.clone(), req, next),
        ))
        .service(mcp);
    let mut app = axum::Router::new().nest_service("/mcp", mcp);
    app = app.merge(crate::core::sse_serve::router(engine.clone(), opts));
    if let Some(allowed) = opts.allowed_hosts.clone() {
        let allowed = Arc::new(allowed);
        app = app.layer(axum::middleware::from_fn(
            move |req: Request, next: Next| {
                let allowed = allowed.clone();
                async move {
                    match host_allowed(&allowed, req.headers()) {
                        Ok(()) => next.run(req).await,
                        Err(why) => {
                            tracing::warn!("refused request: {why}");
                            (StatusCode::FORBIDDEN, why).into_response()
                        }
                    }
                }
            },
        ));
    }
    app
}

/// Serve `app` on `listener` until `stop` fires; then stop accepting and give open connections a
/// short, bounded grace period.
pub async fn serve(mut listener: Box<dyn Listener>, app: axum::Router, stop: CancellationToken) {
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
        let remote = crate::core::sse::PeerAddr(accepted.remote.clone());
        let svc = app.clone().layer(axum::Extension(remote));
        let svc = TowerToHyperService::new(svc);
        let conn = builder.serve_connection_with_upgrades(TokioIo::new(accepted.conn), svc);
        let conn = graceful.watch(conn.into_owned());
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!("http connection ended: {e}");
            }
        });
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), graceful.shutdown()).await;
}
