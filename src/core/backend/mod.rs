#![allow(deprecated)]
// Sampling, roots, logging and subscribe are deprecated upstream but still spoken by clients: a proxy must carry them.

//! Connections to MCP backends (stdio subprocesses, HTTP/HTTPS servers, zrok shares) and the client
//! handler that carries a backend's notifications and server-to-client requests back to the session
//! that owns the connection.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rmcp::model::ServerPeerInfo;
use rmcp::service::RunningService;
use rmcp::{Peer, RoleClient};

use crate::core::config;
use process::{ChildGuard, Registry};

mod client;
mod downstream;
pub mod http;
pub mod http_client;
mod lazy;
pub mod process;
pub mod raw;
pub mod sse;
mod stderr;
pub mod zrok;

pub(crate) use client::BackendClient;
pub(crate) use downstream::ordered;
pub(crate) use downstream::{Downstream, ListChanged, StderrFn, WakeFn};

/// Why a backend could not be reached.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("cannot start '{command}': {source}")]
    Spawn {
        command: String,
        source: std::io::Error,
    },
    #[error("connect/initialize did not finish within {0:?}")]
    ConnectTimeout(Duration),
    #[error("initialize failed: {0}")]
    Initialize(String),
    #[error("{0}")]
    Other(String),
}

impl BackendError {
    /// An initialize failure. For a transport error, its cause (rmcp's own message names the
    /// transport's Rust type: `Transport [long::generic<Type>] error: ...`).
    pub(crate) fn initialize(e: rmcp::service::ClientInitializeError) -> Self {
        use rmcp::service::ClientInitializeError as E;
        BackendError::Initialize(match e {
            E::TransportError { error, context } => {
                format!("sending: {}, when {context}", error.error)
            }
            e => e.to_string(),
        })
    }
}

/// What a connection needs from its environment.
#[derive(Clone)]
pub struct ConnectEnv {
    pub registry: Registry,
    pub connect_timeout: Duration,
    pub max_message_size: usize,
    /// Called with each stderr line of a stdio backend (`backend id`, line).
    pub on_stderr: Option<StderrFn>,
    /// Opens MCP client transports to zrok shares; `None` when no zrok environment is available.
    pub zrok: Option<Arc<dyn ZrokConnector>>,
}

/// A connected MCP session to a zrok share.
pub struct ZrokConnection {
    pub service: RunningService<RoleClient, BackendClient>,
    /// Keeps the access alive until dropped.
    pub keep: Box<dyn Send + Sync>,
    /// The raw side of the connection for the fast path, when the transport has one.
    pub raw: Option<Arc<crate::core::backend::raw::RawLink>>,
}

/// Supplies a connected MCP transport to a zrok share; keeps the access alive until dropped.
#[async_trait::async_trait]
pub trait ZrokConnector: Send + Sync {
    async fn connect(
        &self,
        share_token: &str,
        backend: BackendClient,
    ) -> Result<ZrokConnection, BackendError>;

    /// Wait (bounded) until every access released by dropped connections is gone at the controller.
    async fn drain(&self) {}
}

/// A live connection to one backend.
pub struct BackendConn {
    pub idx: usize,
    pub id: String,
    /// The rmcp client (a stdio backend's starts on first need, `lazy.rs`).
    client: lazy::Client,
    pub info: Option<ServerPeerInfo>,
    /// The stdio subprocess, if any (terminated on drop).
    pub child: Option<ChildGuard>,
    /// Anything else that must live as long as the connection (a zrok access).
    _keep: Option<Box<dyn Send + Sync>>,
    /// The raw side of the connection for the `tools/call` fast path (stdio backends).
    pub raw: Option<Arc<crate::core::backend::raw::RawLink>>,
    /// Cancelled when the transport ends (the backend closed it, its process exited).
    pub closed: tokio_util::sync::CancellationToken,
    /// When the connection was made.
    pub connected_at: Instant,
    use_: Use,
}

/// Whether a connection is in use, and since when it has not been (health checks ping only
/// idle connections).
#[derive(Default)]
struct Use {
    busy: AtomicUsize,
    /// Milliseconds after `connected_at` of the last request's start or end.
    last: AtomicU64,
}

/// A request in flight on a connection; the connection counts as used until it is dropped.
pub(crate) struct InUse(Arc<BackendConn>);

impl Drop for InUse {
    fn drop(&mut self) {
        self.0.use_.busy.fetch_sub(1, Ordering::Relaxed);
        self.0.touch();
    }
}

impl BackendConn {
    /// The rmcp peer, its client started first if need be; `None` when the connection closed.
    pub async fn peer(&self) -> Option<&Peer<RoleClient>> {
        self.client.service().await.map(|s| s.peer())
    }

    /// Stop the rmcp client (or what stands in for it): the session ended.
    pub(crate) fn stop_client(&self) {
        self.client.abort();
    }

    /// An MCP `ping`, answered within `timeout`: over the raw link while the rmcp client does not
    /// run (so a health check does not start it), else over rmcp. An error answer is an answer.
    pub(crate) async fn ping(&self, timeout: Duration) -> Result<(), String> {
        if let (None, Some(link)) = (self.client.started(), &self.raw) {
            return match tokio::time::timeout(timeout, link.request("ping", None)).await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(format!("health ping failed: {e}")),
                Err(_) => Err(timed_out(timeout)),
            };
        }
        let peer = self.peer().await.ok_or("connection closed")?;
        let ping = peer.send_request(rmcp::model::ClientRequest::PingRequest(Default::default()));
        match tokio::time::timeout(timeout, ping).await {
            Ok(Ok(_)) | Ok(Err(rmcp::ServiceError::McpError(_))) => Ok(()),
            Ok(Err(e)) => Err(format!("health ping failed: {e}")),
            Err(_) => Err(timed_out(timeout)),
        }
    }

    /// Count a request in flight until the guard is dropped.
    pub(crate) fn in_use(self: &Arc<Self>) -> InUse {
        self.use_.busy.fetch_add(1, Ordering::Relaxed);
        self.touch();
        InUse(self.clone())
    }

    fn touch(&self) {
        let ms = self.connected_at.elapsed().as_millis() as u64;
        self.use_.last.store(ms, Ordering::Relaxed);
    }

    /// How long no request has been in flight (zero while one is).
    pub(crate) fn idle_for(&self) -> Duration {
        if self.use_.busy.load(Ordering::Relaxed) > 0 {
            return Duration::ZERO;
        }
        let last = Duration::from_millis(self.use_.last.load(Ordering::Relaxed));
        self.connected_at.elapsed().saturating_sub(last)
    }

    /// End the connection now, as if the backend had died: requests in flight fail at once and
    /// the process group (if any) is killed (a health check found it hung).
    pub(crate) fn abort(&self) {
        if let Some(c) = &self.child {
            c.kill();
        }
        self.client.abort();
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(|c| c.pid())
    }

    /// Close the MCP session and terminate the subprocess (bounded).
    pub async fn close(self) {
        let BackendConn { client, child, .. } = self;
        client.close(Duration::from_secs(2)).await;
        if let Some(c) = child {
            c.terminate().await;
        }
    }
}

/// Connect to `backend`, bounded by `env.connect_timeout` (spawn + initialize).
pub async fn connect(
    idx: usize,
    backend: &config::Backend,
    down: Arc<Downstream>,
    env: &ConnectEnv,
) -> Result<BackendConn, BackendError> {
    let handler = BackendClient {
        idx,
        id: backend.id.clone(),
        down,
        closed: Default::default(),
    };
    let timeout = env.connect_timeout;
    let fut = connect_inner(handler, backend, env);
    match tokio::time::timeout(timeout, fut).await {
        Ok(r) => r,
        Err(_) => Err(BackendError::ConnectTimeout(timeout)),
    }
}

async fn connect_inner(
    handler: BackendClient,
    backend: &config::Backend,
    env: &ConnectEnv,
) -> Result<BackendConn, BackendError> {
    let idx = handler.idx;
    let id = backend.id.clone();
    let (client, info, closed, raw, child, keep) = match &backend.transport {
        config::Transport::Stdio {
            command,
            args,
            env: vars,
            env_policy,
            working_dir,
        } => {
            let spec = process::Spawn {
                command: command.clone(),
                args: args.clone(),
                env: vars.clone(),
                inherit_env: *env_policy == config::EnvPolicy::Additive,
                working_dir: working_dir.clone(),
            };
            let on_line = env.on_stderr.clone().map(|f| {
                let id = id.clone();
                Arc::new(move |line: &str| f(&id, line)) as process::LineFn
            });
            let spawned = process::spawn(&spec, &id, &env.registry, on_line).map_err(|e| {
                BackendError::Spawn {
                    command: command.clone(),
                    source: e,
                }
            })?;
            let guard = spawned.guard;
            // If initialize fails, `guard` drops here and terminates the group.
            let (mux, raw) =
                raw::MuxStdio::new(spawned.stdout, spawned.stdin, env.max_message_size);
            let transport = ordered(mux, &handler);
            let closed = handler.closed.clone();
            let (client, info) = lazy::connect(handler, transport, &raw).await?;
            (client, Some(info), closed, Some(raw), Some(guard), None)
        }
        config::Transport::Http {
            endpoint,
            protocol,
            headers,
            tls,
            allow_redirects,
            allow_environment_proxy,
            ..
        } => {
            let settings = http_client::HttpClientConfig {
                follow_redirects: *allow_redirects,
                environment_proxy: *allow_environment_proxy,
                ..http::settings(
                    headers,
                    tls.as_ref(),
                    env.connect_timeout,
                    env.max_message_size,
                )
            };
            let client = http::client(None, settings)?;
            let (service, raw) =
                http::connect_with(handler, client, endpoint.as_str(), *protocol).await?;
            running(service, raw, None, None)
        }
        config::Transport::Zrok { share_token } => {
            let Some(z) = &env.zrok else {
                return Err(BackendError::Other(
                    "zrok environment is not enabled (run 'zrok2 enable <token>')".into(),
                ));
            };
            let ZrokConnection { service, keep, raw } = z.connect(share_token, handler).await?;
            running(service, raw, None, Some(keep))
        }
    };
    Ok(BackendConn {
        idx,
        id,
        client,
        info,
        child,
        _keep: keep,
        raw,
        closed,
        connected_at: Instant::now(),
        use_: Use::default(),
    })
}

/// What a connection whose rmcp client runs from the start is made of.
fn running(
    service: RunningService<RoleClient, BackendClient>,
    raw: Option<Arc<raw::RawLink>>,
    child: Option<ChildGuard>,
    keep: Option<Box<dyn Send + Sync>>,
) -> Parts {
    let info = service.peer().peer_info().map(|i| (*i).clone());
    let closed = service.service().closed.clone();
    (
        lazy::Client::running(service),
        info,
        closed,
        raw,
        child,
        keep,
    )
}

type Parts = (
    lazy::Client,
    Option<ServerPeerInfo>,
    tokio_util::sync::CancellationToken,
    Option<Arc<raw::RawLink>>,
    Option<ChildGuard>,
    Option<Box<dyn Send + Sync>>,
);

fn timed_out(timeout: Duration) -> String {
    format!("no answer to a health ping within {timeout:?} (aggregator.health.timeout)")
}

#[cfg(test)]
mod tests {
    #[test]
    fn initialize_errors_lose_rmcp_type_names() {
        type Mux = super::raw::MuxStdio<tokio::io::DuplexStream>;
        let error = rmcp::transport::DynamicTransportError::new::<Mux, rmcp::RoleClient>(
            std::io::Error::other("Client error: refused"),
        );
        let e =
            super::BackendError::initialize(rmcp::service::ClientInitializeError::TransportError {
                error,
                context: "send initialize request".into(),
            });
        assert_eq!(
            e.to_string(),
            "initialize failed: sending: Client error: refused, when send initialize request"
        );
    }
}
