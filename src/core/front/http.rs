//! Serving an [`HttpApp`] on a listener: one connection service per connection (the `Host`/`Origin`
//! check, then the fast path or the router), HTTP/1.1 and HTTP/2, TCP connections spread over one
//! current-thread runtime per CPU.

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::IntoResponse;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio_util::sync::CancellationToken;

use crate::core::net::Listener;

use super::limits::Pending;
use super::{fast, host_allowed, HttpApp};

/// One connection's service: the `Host`/`Origin` check, the peer address for handlers, then
/// the fast path for `POST /mcp`, else the router.
#[derive(Clone)]
struct ConnService {
    app: HttpApp,
    remote: crate::core::net::PeerAddr,
    /// Given back at the first request head.
    pending: Arc<Pending>,
}

impl hyper::service::Service<http::Request<hyper::body::Incoming>> for ConnService {
    type Response = axum::response::Response;
    type Error = std::convert::Infallible;
    type Future = futures::future::BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn call(&self, req: http::Request<hyper::body::Incoming>) -> Self::Future {
        use tower::ServiceExt;
        self.pending.release();
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
        if req.method() == http::Method::POST && fast::is_mcp_path(req.uri().path()) {
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

/// Serve one accepted connection (HTTP/1.1 or HTTP/2) on the current runtime, within the app's
/// [`ConnLimits`](super::ConnLimits): closed at once beyond the half-open cap, and closed if no
/// request head arrives within the header-read timeout.
fn spawn_conn(
    builder: &hyper_util::server::conn::auto::Builder<TokioExecutor>,
    graceful: &hyper_util::server::graceful::GracefulShutdown,
    io: impl crate::core::net::Conn,
    remote: String,
    caller: Option<String>,
    app: &HttpApp,
) {
    let Some(pending) = app.half_open.admit(app.limits.max_half_open) else {
        tracing::debug!(%remote, "connection closed: too many connections without a request");
        return;
    };
    let svc = ConnService {
        app: app.clone(),
        remote: crate::core::net::PeerAddr { remote, caller },
        pending: pending.clone(),
    };
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), svc);
    let conn = graceful.watch(conn.into_owned());
    let first_head = app.limits.header_read_timeout;
    tokio::spawn(async move {
        let mut conn = std::pin::pin!(conn);
        let ended = tokio::select! {
            r = conn.as_mut() => Some(r),
            _ = tokio::time::sleep(first_head) => None,
        };
        let r = match ended {
            Some(r) => r,
            None if !pending.released() => {
                tracing::debug!("connection closed: no request within {first_head:?}");
                return;
            }
            None => conn.await,
        };
        drop(pending);
        if let Err(e) = r {
            tracing::debug!("http connection ended: {e}");
        }
    });
}

/// Serve `app` on `listener` until `stop` fires; then stop accepting and give open connections a
/// short, bounded grace period. A TCP listener is accepted on by every [`conn_threads`] thread.
pub async fn serve(listener: Box<dyn Listener>, app: HttpApp, stop: CancellationToken) {
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
async fn serve_any(mut listener: Box<dyn Listener>, app: HttpApp, stop: CancellationToken) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(app.limits.header_read_timeout);
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
        spawn_conn(
            &builder,
            &graceful,
            accepted.conn,
            accepted.remote,
            accepted.caller,
            &app,
        );
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), graceful.shutdown()).await;
}
