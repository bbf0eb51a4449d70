//! An HTTP/1.1 client whose connections come from any [`Dialer`]: plain TCP, TLS over TCP, or an
//! OpenZiti stream (zrok backends run HTTP over OpenZiti connections, which reqwest cannot do).
//!
//! - hyper 1 (hyper-util's pooling client) with keep-alive reuse;
//! - TLS with rustls: the system roots (webpki-roots when the system has none), an optional extra
//!   CA file (PEM, one or more certificates), or no verification at all (`insecure_skip_verify`,
//!   warned about once);
//! - configured headers on every request (values are never logged);
//! - no redirects and no proxies unless configured (`allow_redirects`, `allow_environment_proxy`;
//!   see [`redirect`] and [`proxy`] for their rules);
//! - [`StreamableHttpClient`](rmcp::transport::streamable_http_client::StreamableHttpClient) so
//!   rmcp's streamable HTTP client transport runs over it (see [`streamable`]).

mod proxy;
mod redirect;
pub mod streamable;

use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Once, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, Uri};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::{CertificateDer, ServerName};

use crate::core::net::{BoxConn, Dialer};

/// Default limit for one response message (JSON body or SSE event).
pub(crate) const DEFAULT_MAX_MESSAGE_SIZE: usize = 16 * 1024 * 1024;

/// Client settings.
#[derive(Debug, Clone)]
pub struct HttpClientConfig {
    /// Set on every request, replacing any value the request carries under the same name
    /// (as the Go gateway does).
    pub headers: Vec<(String, String)>,
    /// Extra trusted CA certificates (PEM file, one or more certificates).
    pub ca_cert_file: Option<PathBuf>,
    /// Accept any server certificate. Dangerous; logged as a warning once.
    pub insecure_skip_verify: bool,
    /// Bound on dial + TLS handshake.
    pub connect_timeout: Duration,
    /// Largest response message (JSON body or one SSE event) accepted.
    pub max_message_size: usize,
    /// Speak HTTP/2 without negotiation (h2c over the dialer). Every request of a session then
    /// travels on one connection: over OpenZiti that keeps a session on one terminator when
    /// several gateways serve the same share.
    pub http2_prior_knowledge: bool,
    /// Follow redirects (`allow_redirects`).
    pub follow_redirects: bool,
    /// Use `HTTP_PROXY`/`HTTPS_PROXY`/`NO_PROXY` (`allow_environment_proxy`); only for clients
    /// without a dialer.
    pub environment_proxy: bool,
}

impl Default for HttpClientConfig {
    fn default() -> Self {
        Self {
            headers: Vec::new(),
            ca_cert_file: None,
            insecure_skip_verify: false,
            connect_timeout: Duration::from_secs(30),
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            http2_prior_knowledge: false,
            follow_redirects: false,
            environment_proxy: false,
        }
    }
}

/// Errors of [`HttpClient`].
#[derive(Debug, thiserror::Error)]
pub enum HttpClientError {
    #[error("invalid header {0:?} in client configuration")]
    InvalidHeader(String),
    #[error("CA certificate file {path}: {reason}")]
    CaFile { path: String, reason: String },
    #[error("TLS configuration: {0}")]
    Tls(String),
    #[error("invalid URL {0:?}")]
    InvalidUrl(String),
    #[error("HTTP request failed: {0}")]
    Request(String),
    #[error("building HTTP request: {0}")]
    Build(#[from] http::Error),
    #[error("reading HTTP response: {0}")]
    Body(#[from] hyper::Error),
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// Renders an error and its sources on one line (hyper's top-level messages say little).
pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = c.source();
    }
    s
}

/// A cloneable HTTP/1.1 client; clones share the connection pool.
#[derive(Clone)]
pub struct HttpClient {
    inner: hyper_util::client::legacy::Client<Connector, Full<Bytes>>,
    headers: Arc<HeaderMap>,
    max_message_size: usize,
    describe: Arc<str>,
    /// The `Mcp-Session-Id` the server assigned (streamable HTTP), once seen.
    session_seen: Arc<std::sync::OnceLock<String>>,
    /// Whether any request got an HTTP response (of any status) from the server.
    answered: Arc<std::sync::atomic::AtomicBool>,
    follow_redirects: bool,
    proxy: proxy::Shared,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("target", &self.describe)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl HttpClient {
    /// `dialer`: where every connection goes (the URL's host is then only the `Host` header and
    /// the TLS server name); `None` dials TCP to the URL's `host:port`.
    pub fn new(
        dialer: Option<Arc<dyn Dialer>>,
        cfg: HttpClientConfig,
    ) -> Result<Self, HttpClientError> {
        let mut headers = HeaderMap::new();
        for (k, v) in &cfg.headers {
            let name = HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| HttpClientError::InvalidHeader(k.clone()))?;
            let mut value =
                HeaderValue::from_str(v).map_err(|_| HttpClientError::InvalidHeader(k.clone()))?;
            value.set_sensitive(true);
            headers.append(name, value);
        }
        let tls = Arc::new(tls_config(&cfg)?);
        let describe: Arc<str> = dialer
            .as_ref()
            .map(|d| d.describe())
            .unwrap_or_else(|| "tcp".into())
            .into();
        let proxy: proxy::Shared = (cfg.environment_proxy && dialer.is_none())
            .then(|| Arc::new(proxy::EnvProxy::from_env()));
        let connector = Connector {
            dialer,
            tls: tokio_rustls::TlsConnector::from(tls),
            connect_timeout: cfg.connect_timeout,
            proxy: proxy.clone(),
        };
        let inner = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .http2_only(cfg.http2_prior_knowledge)
            .build(connector);
        Ok(Self {
            inner,
            headers: Arc::new(headers),
            max_message_size: cfg.max_message_size,
            describe,
            session_seen: Arc::default(),
            answered: Arc::default(),
            follow_redirects: cfg.follow_redirects,
            proxy,
        })
    }

    pub fn max_message_size(&self) -> usize {
        self.max_message_size
    }

    /// The `Mcp-Session-Id` a streamable-HTTP server assigned to this client's session, if any.
    pub(crate) fn session_seen(&self) -> Option<String> {
        self.session_seen.get().cloned()
    }

    /// Whether the server ever answered with an HTTP status (so it speaks HTTP, over this
    /// client's protocol version, even if it refused what was asked).
    pub fn answered(&self) -> bool {
        self.answered.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub(crate) fn saw_session(&self, id: &str) {
        let _ = self.session_seen.set(id.to_string());
    }

    /// Sends a request with the configured headers set on it (following redirects when
    /// configured to).
    pub async fn request(
        &self,
        req: Request<Full<Bytes>>,
    ) -> Result<Response<Incoming>, HttpClientError> {
        if self.follow_redirects {
            redirect::follow(self, req).await
        } else {
            self.send_one(req, true).await
        }
    }

    /// One request, no redirects; `configured`: set the configured headers on it.
    async fn send_one(
        &self,
        mut req: Request<Full<Bytes>>,
        configured: bool,
    ) -> Result<Response<Incoming>, HttpClientError> {
        // Like the Go gateway's header round-tripper (`req.Header.Set`): configured headers
        // replace what the request carries under the same name.
        if configured {
            for k in self.headers.keys() {
                req.headers_mut().remove(k);
            }
            for (k, v) in self.headers.iter() {
                req.headers_mut().append(k.clone(), v.clone());
            }
        }
        // A plain http request through a proxy carries the proxy's credentials itself.
        if let Some(p) = &self.proxy {
            if req.uri().scheme_str() == Some("http") {
                if let Some(auth) = p
                    .intercept(req.uri())
                    .as_ref()
                    .and_then(proxy::authorization)
                {
                    req.headers_mut()
                        .insert(http::header::PROXY_AUTHORIZATION, auth);
                }
            }
        }
        let r = self
            .inner
            .request(req)
            .await
            .map_err(|e| HttpClientError::Request(error_chain(&e)));
        if r.is_ok() {
            self.answered
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        r
    }
}

/// Parses and checks a URL for this client (http or https, with a host).
pub(crate) fn parse_uri(url: &str) -> Result<Uri, HttpClientError> {
    let uri: Uri = url
        .parse()
        .map_err(|_| HttpClientError::InvalidUrl(url.to_string()))?;
    match (uri.scheme_str(), uri.host()) {
        (Some("http" | "https"), Some(h)) if !h.is_empty() => Ok(uri),
        _ => Err(HttpClientError::InvalidUrl(url.to_string())),
    }
}

// ---------------------------------------------------------------------------------------------
// TLS

fn system_roots() -> Arc<Vec<CertificateDer<'static>>> {
    static ROOTS: OnceLock<Arc<Vec<CertificateDer<'static>>>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let res = rustls_native_certs::load_native_certs();
            if !res.errors.is_empty() {
                tracing::debug!(
                    "some system CA certificates could not be loaded: {:?}",
                    res.errors.len()
                );
            }
            Arc::new(res.certs)
        })
        .clone()
}

fn tls_config(cfg: &HttpClientConfig) -> Result<rustls::ClientConfig, HttpClientError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| HttpClientError::Tls(e.to_string()))?;
    let mut config = if cfg.insecure_skip_verify {
        static WARN: Once = Once::new();
        WARN.call_once(|| {
            tracing::warn!("insecure_skip_verify is set: TLS server certificates are NOT verified");
        });
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCert(provider)))
            .with_no_client_auth()
    } else {
        let mut roots = rustls::RootCertStore::empty();
        let (added, _) = roots.add_parsable_certificates(system_roots().iter().cloned());
        if added == 0 {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        if let Some(path) = &cfg.ca_cert_file {
            let err = |reason: String| HttpClientError::CaFile {
                path: path.display().to_string(),
                reason,
            };
            let pem = std::fs::read(path).map_err(|e| err(e.to_string()))?;
            let certs: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut pem.as_slice())
                .collect::<Result<_, _>>()
                .map_err(|e| err(format!("bad PEM: {e}")))?;
            if certs.is_empty() {
                return Err(err("no certificate in file".into()));
            }
            for c in certs {
                roots
                    .add(c)
                    .map_err(|e| err(format!("bad certificate: {e}")))?;
            }
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Accepts every certificate (for `insecure_skip_verify`). Signatures are still checked with the
/// provider's algorithms so the handshake stays well-formed.
#[derive(Debug)]
struct AcceptAnyCert(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

// ---------------------------------------------------------------------------------------------
// Connector

#[derive(Clone)]
struct Connector {
    dialer: Option<Arc<dyn Dialer>>,
    tls: tokio_rustls::TlsConnector,
    connect_timeout: Duration,
    proxy: proxy::Shared,
}

/// A dialed connection as hyper wants it; `proxied`: to a proxy that takes plain http requests
/// in absolute form.
pub(crate) struct HttpConn(TokioIo<BoxConn>, bool);

impl Connection for HttpConn {
    fn connected(&self) -> Connected {
        Connected::new().proxy(self.1)
    }
}

impl hyper::rt::Read for HttpConn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for HttpConn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }
}

impl Connector {
    async fn connect(self, uri: Uri) -> io::Result<HttpConn> {
        let bad = |m: &str| io::Error::new(io::ErrorKind::InvalidInput, m.to_string());
        let https = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => return Err(bad("URL scheme must be http or https")),
        };
        let host = uri
            .host()
            .ok_or_else(|| bad("URL has no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let via = self.proxy.as_ref().and_then(|p| p.intercept(&uri));
        let conn: BoxConn = match (&self.dialer, via) {
            (Some(d), _) => d.dial().await?,
            (None, Some(p)) => {
                tracing::debug!(
                    proxy = proxy::describe(p.uri()),
                    "connecting through a proxy"
                );
                let conn = proxy::connect(&p, &uri, https, &self.tls).await?;
                if !https {
                    return Ok(HttpConn(TokioIo::new(conn), true));
                }
                conn
            }
            (None, None) => {
                let s = tokio::net::TcpStream::connect((host.as_str(), port)).await?;
                let _ = s.set_nodelay(true);
                Box::pin(s)
            }
        };
        if !https {
            return Ok(HttpConn(TokioIo::new(conn), false));
        }
        let name = ServerName::try_from(host).map_err(|_| bad("invalid TLS server name"))?;
        let tls = self.tls.connect(name, conn).await?;
        Ok(HttpConn(TokioIo::new(Box::pin(tls)), false))
    }
}

impl tower::Service<Uri> for Connector {
    type Response = HttpConn;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<HttpConn>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let this = self.clone();
        let timeout = self.connect_timeout;
        Box::pin(async move {
            match tokio::time::timeout(timeout, this.connect(uri)).await {
                Ok(r) => r,
                Err(_) => Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("connect timed out after {timeout:?}"),
                )),
            }
        })
    }
}

/// For a 3xx answer that was not followed: ` (a redirect to <location>; ...)`, the location
/// without its query or fragment (they may carry credentials); empty otherwise.
pub(crate) fn redirect_note(status: http::StatusCode, headers: &HeaderMap) -> String {
    if !status.is_redirection() {
        return String::new();
    }
    let to = headers
        .get(http::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(|l| format!(" to '{}'", redirect::safe(l)))
        .unwrap_or_default();
    format!(" (a redirect{to}; HTTP backends follow redirects only with 'allow_redirects: true')")
}
