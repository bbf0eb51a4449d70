//! `GET /metrics` over HTTP/1.1: bound to loopback unless the operator allows another address
//! (as `--listen` needs `--allow-remote`), with the loopback `Host`/`Origin` check of the MCP
//! listener (DNS rebinding), a header-read timeout and a cap on open connections.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio_util::sync::CancellationToken;

use super::{MetricsBind, Observer};

/// Connections served at once; more are closed at accept.
const MAX_CONNS: usize = 32;
/// A request head must arrive within this time.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// No connection lives longer than this (scrapers reconnect).
const MAX_CONN_LIFE: Duration = Duration::from_secs(120);

pub(crate) struct MetricsListener {
    listener: tokio::net::TcpListener,
    /// `Some`: only these `Host`s (loopback).
    allowed_hosts: Option<Vec<String>>,
    pub url: String,
}

/// Bind `b.addr`, refusing a non-loopback address unless `b.allow_remote`.
pub(crate) async fn bind(b: &MetricsBind) -> Result<MetricsListener, String> {
    let what = format!("{} {}", b.source, b.addr);
    let listener = tokio::net::TcpListener::bind(&b.addr)
        .await
        .map_err(|e| format!("{what}: {e}"))?;
    let local = listener.local_addr().map_err(|e| format!("{what}: {e}"))?;
    let port = local.port();
    let allowed_hosts = if local.ip().is_loopback() {
        Some(vec![
            format!("127.0.0.1:{port}"),
            format!("localhost:{port}"),
            format!("[::1]:{port}"),
        ])
    } else if b.allow_remote {
        tracing::warn!("serving metrics on non-loopback address {local}");
        None
    } else {
        return Err(format!(
            "{what}: not a loopback address; /metrics names every backend and tool to anyone who can reach it. Serve it on loopback, or allow it with --metrics-allow-remote (metrics.allow_remote: true in the config)"
        ));
    };
    let host = match local {
        SocketAddr::V4(a) => a.to_string(),
        SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
    };
    Ok(MetricsListener {
        listener,
        allowed_hosts,
        url: format!("http://{host}/metrics"),
    })
}

/// Serve `/metrics` from `obs` until `stop`.
pub(crate) async fn serve(l: MetricsListener, obs: Arc<Observer>, stop: CancellationToken) {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNS));
    let hosts = Arc::new(l.allowed_hosts);
    loop {
        let (stream, _) = tokio::select! {
            _ = stop.cancelled() => return,
            r = l.listener.accept() => match r {
                Ok(a) => a,
                Err(e) => {
                    tracing::debug!("metrics accept: {e}");
                    // Out of descriptors, say: do not spin.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::debug!("metrics: too many connections, one closed");
            continue;
        };
        let (obs, hosts, stop) = (obs.clone(), hosts.clone(), stop.clone());
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                let resp = respond(&obs, hosts.as_deref(), &req);
                async move { Ok::<_, std::convert::Infallible>(resp) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(TokioIo::new(stream), svc);
            tokio::select! {
                _ = conn => {}
                _ = tokio::time::sleep(MAX_CONN_LIFE) => {}
                _ = stop.cancelled() => {}
            }
            drop(slot);
        });
    }
}

fn respond<B>(
    obs: &Observer,
    hosts: Option<&[String]>,
    req: &http::Request<B>,
) -> http::Response<Full<Bytes>> {
    let reply = |status: http::StatusCode, ctype: &str, body: String| {
        let mut r = http::Response::new(Full::new(Bytes::from(body)));
        *r.status_mut() = status;
        if let Ok(v) = http::HeaderValue::from_str(ctype) {
            r.headers_mut().insert(http::header::CONTENT_TYPE, v);
        }
        r
    };
    let text = "text/plain; charset=utf-8";
    if let Some(allowed) = hosts {
        if let Err(why) = crate::core::front::host_allowed(allowed, req.headers()) {
            return reply(http::StatusCode::FORBIDDEN, text, format!("{why}\n"));
        }
    }
    if req.uri().path() != "/metrics" {
        return reply(
            http::StatusCode::NOT_FOUND,
            text,
            "not found: try /metrics\n".into(),
        );
    }
    if req.method() != http::Method::GET && req.method() != http::Method::HEAD {
        return reply(
            http::StatusCode::METHOD_NOT_ALLOWED,
            text,
            "GET only\n".into(),
        );
    }
    reply(
        http::StatusCode::OK,
        "text/plain; version=0.0.4; charset=utf-8",
        obs.render(),
    )
}
