//! How clients reach the engine: HTTP (streamable HTTP at `/mcp` and `/`, legacy SSE at `/sse`, the
//! `tools/call` fast path in front of both) on any byte-stream [`Listener`], and stdio. On
//! loopback, `Host` and `Origin` are checked (DNS rebinding).

use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderMap;
use rmcp::transport::streamable_http_server::session::local::{LocalSessionManager, SessionConfig};
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};

use crate::core::engine::Engine;

pub(crate) mod fast;
mod http;
mod limits;
pub mod sse;
pub mod sse_transport;
pub mod stdio;
mod streamable;

pub use http::{serve, worker_threads};
pub(crate) use limits::ConnLimits;
use streamable::StreamableSessions;

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

    pub(crate) fn overlay() -> Self {
        ServeOptions {
            allowed_hosts: None,
            json_response: false,
            stateless: false,
            sse_keep_alive: Duration::from_secs(15),
        }
    }
}

pub(crate) fn host_allowed(allowed: &[String], headers: &HeaderMap) -> Result<(), &'static str> {
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .ok_or("missing Host header")?;
    if !allowed.iter().any(|a| a.eq_ignore_ascii_case(host)) {
        return Err("Host header not allowed");
    }
    if let Some(origin) = headers.get(axum::http::header::ORIGIN) {
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

/// What [`serve`] serves: the axum app (`/mcp` streamable HTTP, `/sse` legacy SSE), the
/// `/mcp` fast path in front of it, and the loopback `Host`/`Origin` check in front of both.
#[derive(Clone)]
pub struct HttpApp {
    router: axum::Router,
    fast: Arc<fast::FastFront>,
    /// `Some`: only these `Host`s (and their `Origin`s) are served (DNS rebinding).
    allowed_hosts: Option<Arc<Vec<String>>>,
    limits: ConnLimits,
    half_open: limits::HalfOpen,
}

/// The app for `engine`: streamable HTTP at `/mcp` and at `/`, legacy SSE at `/sse`.
pub fn router(engine: Arc<Engine>, opts: &ServeOptions) -> HttpApp {
    // Idle sessions are closed by `sweep`, which also sees fast-path activity.
    let session_cfg = {
        let mut c = SessionConfig::default();
        c.keep_alive = None;
        // No priming events on request-wise streams either (see `with_sse_retry` below).
        c.sse_retry = None;
        c
    };
    let mut mgr = LocalSessionManager::default();
    mgr.session_config = session_cfg;
    let mgr = StreamableSessions::new(engine.clone(), mgr);
    tokio::spawn(streamable::sweep(
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
        // No priming events (an empty `data:` line before the first message): the MCP Go SDK
        // v1.1.0, which the Go original uses, fails on them ("unexpected end of JSON input"), and
        // without an event store there is nothing to resume from anyway.
        .with_sse_retry(None)
        .with_max_request_body_bytes(engine.agg.max_message_size)
        .with_cancellation_token(engine.shutdown.child_token());
    let e = engine.clone();
    let mcp = StreamableHttpService::new(
        move || Ok(e.new_session("?", None, "streamable")),
        mgr.clone(),
        cfg,
    );
    let fast = Arc::new(fast::FastFront {
        engine: engine.clone(),
        sessions: (!opts.stateless).then(|| mgr.clone()),
    });
    // `/` as well: the Go original's newest clients POST to `http://mcp-backend` (v0.1.8).
    let router = axum::Router::new()
        .route_service("/", mcp.clone())
        .nest_service("/mcp", mcp)
        .merge(crate::core::front::sse::router(engine.clone(), opts));
    HttpApp {
        router,
        fast,
        allowed_hosts: opts.allowed_hosts.clone().map(Arc::new),
        limits: ConnLimits {
            header_read_timeout: engine.agg.header_read_timeout,
            max_half_open: engine.agg.max_half_open,
        },
        half_open: limits::HalfOpen::default(),
    }
}
