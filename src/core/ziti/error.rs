//! [`ZitiError`], and how it maps onto `io::ErrorKind` for the byte-stream interfaces.

use std::io;

use super::{crypto, wire};

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
