//! Native OpenZiti edge client (pure Rust, tokio, no C SDK).
//!
//! Owns: identity files, the controller's edge client API, channels to edge routers, dialing and hosting services,
//! end-to-end encryption. Must not: log secrets (tokens are shortened by `ctrl::short`), panic on network input
//! (every decoder is bounded and checked), or depend on anything outside `core::net`.
//!
//! ```text
//! Context ──ctrl (HTTPS mTLS)──▶ controller: authenticate, services, sessions
//!    │
//!    ├─ RouterChannel (TLS + channel v2) per edge router, shared by all connections
//!    │     reader task ─▶ replies / latency / per-connection sinks
//!    │     writer task ◀─ queued messages
//!    ├─ dial(service)   ─▶ ZitiStream (AsyncRead + AsyncWrite)
//!    └─ listen(service) ─▶ ZitiListener ─▶ ZitiStream per incoming dial
//! ```
//!
//! Layout: `wire` (framing and constants), `crypto` (kx + secretstream), `identity`, `der`, `ctrl`, `channel`,
//! `conn` (streams and stats), `context` (dial), `listener` (bind/host), and the `net` adapters below.

pub(crate) mod channel;
pub(crate) mod conn;
pub(crate) mod context;
pub mod crypto;
pub(crate) mod ctrl;
pub mod der;
pub(crate) mod identity;
pub(crate) mod listener;
pub mod wire;

use std::io;

use async_trait::async_trait;

pub use conn::{ConnInfo, ConnState, Direction, ZitiStream};
pub use context::Context;
pub use identity::Identity;
pub use listener::{ListenOptions, ZitiListener};

use crate::core::net;

/// Everything that can go wrong talking to OpenZiti.
#[derive(Debug, thiserror::Error)]
pub enum ZitiError {
    #[error("ziti identity: {0}")]
    Identity(String),
    #[error("ziti tls: {0}")]
    Tls(String),
    #[error("ziti controller unreachable: {0}")]
    ControllerUnreachable(String),
    #[error("ziti controller refused authentication: {0}")]
    Unauthorized(String),
    #[error("ziti controller error {status}: {message}")]
    Controller { status: u16, message: String },
    #[error("ziti service {0:?} not found (or not visible to this identity)")]
    ServiceNotFound(String),
    #[error("ziti identity has no {kind} permission on service {service:?}")]
    NoPermission { service: String, kind: &'static str },
    #[error("ziti session expired or removed")]
    SessionExpired,
    #[error("ziti: no edge router available for service {0:?}")]
    NoEdgeRouters(String),
    #[error("ziti edge router: {0}")]
    Router(String),
    #[error("ziti edge router refused our API session: {0}")]
    RouterRejected(String),
    #[error("ziti: connection to edge router {0} lost")]
    RouterLost(String),
    #[error("ziti protocol: {0}")]
    Protocol(String),
    #[error("ziti frame: {0}")]
    Frame(#[from] wire::FrameError),
    #[error("ziti e2e encryption: {0}")]
    Crypto(#[from] crypto::CryptoError),
    #[error("ziti: service {0:?} requires end-to-end encryption but the peer sent no key")]
    EncryptionMissing(String),
    #[error("ziti dial failed: {0}")]
    DialFailed(String),
    #[error("ziti bind failed: {0}")]
    BindFailed(String),
    #[error("ziti: timed out {0}")]
    Timeout(String),
    #[error("ziti: closed")]
    Closed,
}

impl From<ZitiError> for io::Error {
    fn from(e: ZitiError) -> Self {
        let kind = match &e {
            ZitiError::Timeout(_) => io::ErrorKind::TimedOut,
            ZitiError::ServiceNotFound(_) => io::ErrorKind::NotFound,
            ZitiError::NoPermission { .. } | ZitiError::Unauthorized(_) => {
                io::ErrorKind::PermissionDenied
            }
            ZitiError::DialFailed(_) => io::ErrorKind::ConnectionRefused,
            ZitiError::RouterLost(_) => io::ErrorKind::ConnectionAborted,
            ZitiError::Closed => io::ErrorKind::NotConnected,
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, e)
    }
}

/// `net::Dialer` over OpenZiti: each `dial` opens a new connection to `service`.
pub struct ZitiDialer {
    pub ctx: Context,
    pub service: String,
}

#[async_trait]
impl net::Dialer for ZitiDialer {
    async fn dial(&self) -> io::Result<net::BoxConn> {
        // A share whose host has just started (or is re-binding after a router restart) can be
        // briefly without terminators: retry that case for a few seconds, nothing else.
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
        let mut wait = std::time::Duration::from_millis(100);
        loop {
            match self.ctx.dial(&self.service).await {
                Ok(s) => return Ok(Box::pin(s)),
                Err(e)
                    if e.to_string().contains("no terminators")
                        && tokio::time::Instant::now() + wait < deadline =>
                {
                    tracing::debug!(service = %crate::core::redact::token_prefix(&self.service), "no terminators yet; retrying");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(std::time::Duration::from_secs(1));
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    fn describe(&self) -> String {
        format!("ziti service {}", self.service)
    }
}

#[async_trait]
impl net::Listener for ZitiListener {
    async fn accept(&mut self) -> io::Result<net::Accepted> {
        let s = ZitiListener::accept(self).await?;
        let remote = if s.peer().is_empty() {
            format!("ziti conn {}", s.conn_id())
        } else {
            s.peer().to_string()
        };
        Ok(net::Accepted {
            conn: Box::pin(s),
            remote,
        })
    }

    fn describe(&self) -> String {
        format!("ziti service {}", self.service())
    }
}
