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
use rmcp::transport::streamable_http_server::session::local::{LocalSessionManager, SessionConfig};
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio_util::sync::CancellationToken;

use crate::core::engine::Engine;
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

/// The axum app: `/mcp` (streamable HTTP) and `/sse` (legacy SSE).
pub fn router(engine: Arc<Engine>, opts: &ServeOptions) -> axum::Router {
    let session_cfg = {
        let mut c = SessionConfig::default();
        c.keep_alive = Some(engine.agg.idle_timeout);
        c
    };
    let mut mgr = LocalSessionManager::default();
    mgr.session_config = session_cfg;
    let mgr = Arc::new(mgr);
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
