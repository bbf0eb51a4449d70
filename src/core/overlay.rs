//! The zrok overlay: serving the engine on a private share (ephemeral or managed) and reaching
//! zrok backends, both over the native OpenZiti client.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::core::backend::{BackendClient, BackendError, ZrokConnection, ZrokConnector};
use crate::core::config::HttpProtocol;
use crate::core::http_backend;
use crate::core::redact::token_prefix;
use crate::core::state::ShareState;
use crate::core::ziti::{Context, ListenOptions, ZitiDialer, ZitiListener};
use crate::core::zrok::{self, GatewayKey, Root, ShareName, ShareRegistry, ZrokClient};

/// What a zrok client dials: the Go original's clients use this base URL over the overlay.
pub const BACKEND_SSE_URL: &str = "http://mcp-backend/sse";
/// Where an mcpz server on a share serves streamable HTTP (the Host is not checked on shares).
pub const BACKEND_MCP_URL: &str = "http://mcp-backend/mcp";

/// Why the overlay could not be opened or used.
#[derive(Debug, thiserror::Error)]
pub enum OverlayError {
    #[error("{0}")]
    Zrok(#[from] zrok::ZrokError),
    #[error("zrok identity {path}: {error}")]
    Identity { path: String, error: String },
    #[error("{0}")]
    Api(#[from] zrok::ApiError),
    #[error("OpenZiti: {0}")]
    Ziti(String),
    #[error("{0}")]
    Other(String),
}

impl OverlayError {
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            OverlayError::Zrok(e) => e.hint(),
            _ => None,
        }
    }
}

/// An enabled zrok environment: its REST client and the OpenZiti context of its identity.
pub struct Overlay {
    pub api: ZrokClient,
    pub env: zrok::Environment,
    pub ctx: Context,
    pub endpoint: String,
    /// Access releases in flight (awaited at shutdown).
    releases: tokio_util::task::TaskTracker,
}

impl Overlay {
    /// Open the environment in `~/.zrok2` (or `root`), check the controller accepts us, and load
    /// the environment's OpenZiti identity.
    pub async fn open(root: &Root) -> Result<Arc<Overlay>, OverlayError> {
        let (api, env) = zrok::connect(root).await?;
        let path = root.identity_path();
        let ctx = Context::from_file(&path).map_err(|e| OverlayError::Identity {
            path: path.display().to_string(),
            error: e.to_string(),
        })?;
        let endpoint = env.api_endpoint().to_string();
        Ok(Arc::new(Overlay {
            api,
            env,
            ctx,
            endpoint,
            releases: tokio_util::task::TaskTracker::new(),
        }))
    }

    /// Bind `token`'s service (waits for the first terminator).
    pub async fn listen(&self, token: &str) -> Result<ZitiListener, OverlayError> {
        let opts = ListenOptions {
            wait_for_first: Duration::from_secs(30),
            ..ListenOptions::default()
        };
        self.ctx.listen(token, opts).await.map_err(|e| {
            OverlayError::Ziti(format!("listen on share {}: {e}", token_prefix(token)))
        })
    }

    /// This environment's shares, for the console.
    pub async fn shares(&self, running: Option<&str>) -> Result<Vec<ShareState>, OverlayError> {
        let o = self.api.overview().await?;
        Ok(o.shares()
            .filter(|s| s.env_z_id == self.env.env_zid() && s.share_mode == "private")
            .map(|s| ShareState {
                token: s.share_token.clone(),
                kind: if Some(s.share_token.as_str()) == running {
                    "running".into()
                } else {
                    "persistent".into()
                },
                backend_mode: s.backend_mode.clone(),
                created_at: (s.created_at > 0)
                    .then(|| SystemTime::UNIX_EPOCH + Duration::from_millis(s.created_at as u64)),
            })
            .collect())
    }
}

/// A share this process serves. Ephemeral shares are deleted by [`Served::close`] (and recorded in
/// the registry until then, so a crash leaves a record the next start cleans up).
pub struct Served {
    pub token: String,
    pub ephemeral: bool,
    pub listener: Option<ZitiListener>,
    overlay: Arc<Overlay>,
    registry: Option<ShareRegistry>,
}

impl Served {
    /// Create (ephemeral, `managed == None`) or adopt (`managed`) a share and bind it.
    /// On any failure after creating a share, the share is deleted again.
    pub async fn start(
        overlay: Arc<Overlay>,
        managed: Option<String>,
        key: GatewayKey,
    ) -> Result<Served, OverlayError> {
        if let Some(token) = managed {
            let listener = overlay.listen(&token).await?;
            return Ok(Served {
                token,
                ephemeral: false,
                listener: Some(listener),
                overlay,
                registry: None,
            });
        }
        let registry = ShareRegistry::default_path()
            .map(|p| ShareRegistry::new(p, key, overlay.env.env_zid()));
        if let Some(reg) = &registry {
            match zrok::delete_stale_shares(&overlay.api, reg).await {
                Ok(outcomes) => {
                    for o in outcomes {
                        match o.result {
                            Ok(true) => {
                                tracing::info!(share = %o.token_prefix, "deleted a share left behind by an earlier run")
                            }
                            Ok(false) => {}
                            Err(e) => {
                                tracing::warn!(share = %o.token_prefix, "could not delete a share left behind by an earlier run: {e}")
                            }
                        }
                    }
                }
                Err(e) => tracing::warn!("share registry: {e}"),
            }
        }
        let token = overlay.api.share(overlay.env.env_zid(), None).await?;
        if let Some(reg) = &registry {
            if let Err(e) = reg.record(&token) {
                tracing::warn!("share registry: {e}");
            }
        }
        let mut served = Served {
            token: token.clone(),
            ephemeral: true,
            listener: None,
            overlay: overlay.clone(),
            registry,
        };
        match overlay.listen(&token).await {
            Ok(l) => {
                served.listener = Some(l);
                Ok(served)
            }
            Err(e) => {
                served.close().await;
                Err(e)
            }
        }
    }

    /// Stop listening and, for an ephemeral share, delete it.
    pub async fn close(mut self) {
        drop(self.listener.take());
        if self.ephemeral {
            match self
                .overlay
                .api
                .unshare(self.overlay.env.env_zid(), &self.token)
                .await
            {
                Ok(()) => tracing::info!(share = %token_prefix(&self.token), "share deleted"),
                Err(e) => {
                    tracing::warn!(share = %token_prefix(&self.token), "could not delete share: {e}")
                }
            }
            if let Some(r) = &self.registry {
                let _ = r.forget(&self.token);
            }
        }
    }
}

/// Releases a zrok access when the backend connection that holds it is dropped.
struct AccessGuard {
    overlay: Arc<Overlay>,
    share: String,
    frontend: String,
}

impl Drop for AccessGuard {
    fn drop(&mut self) {
        let overlay = self.overlay.clone();
        let share = std::mem::take(&mut self.share);
        let frontend = std::mem::take(&mut self.frontend);
        let prefix = token_prefix(&share);
        let release = async move {
            if let Err(e) = overlay
                .api
                .unaccess(overlay.env.env_zid(), &share, &frontend)
                .await
            {
                tracing::warn!(share = %token_prefix(&share), "could not release access: {e}");
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(_) => {
                self.overlay.releases.spawn(release);
            }
            Err(_) => tracing::warn!(share = %prefix, "access not released: no runtime"),
        }
    }
}

/// zrok backends: one access per connection, MCP (legacy SSE, as the Go original serves) over an
/// OpenZiti connection to the share.
pub struct ZrokBackends {
    pub overlay: Arc<Overlay>,
    pub connect_timeout: Duration,
    pub max_message_size: usize,
}

#[async_trait::async_trait]
impl ZrokConnector for ZrokBackends {
    async fn connect(
        &self,
        share_token: &str,
        backend: BackendClient,
    ) -> Result<ZrokConnection, BackendError> {
        let o = &self.overlay;
        let grant = o
            .api
            .access(o.env.env_zid(), share_token)
            .await
            .map_err(|e| {
                BackendError::Other(format!("zrok access to {}: {e}", token_prefix(share_token)))
            })?;
        let guard = AccessGuard {
            overlay: o.clone(),
            share: share_token.to_string(),
            frontend: grant.frontend_token.clone(),
        };
        // The access just created a dial policy: refresh what we know of the service.
        o.ctx.service(share_token, true).await.map_err(|e| {
            BackendError::Other(format!("share {}: {e}", token_prefix(share_token)))
        })?;
        let dialer: Arc<dyn crate::core::net::Dialer> = Arc::new(ZitiDialer {
            ctx: o.ctx.clone(),
            service: share_token.to_string(),
        });
        // HTTP/2 first (mcpz servers): the whole session rides one OpenZiti connection, so it stays
        // on one terminator when several gateways serve the share; streamable HTTP when the far
        // end serves it (one request and one response per call), else legacy SSE. HTTP/1.1 legacy
        // SSE otherwise (the Go original), which opens a connection per concurrent request.
        for (url, protocol) in [
            (BACKEND_MCP_URL, HttpProtocol::Streamable),
            (BACKEND_SSE_URL, HttpProtocol::Sse),
        ] {
            let h2 = http_backend::client(
                Some(dialer.clone()),
                &Default::default(),
                None,
                self.connect_timeout,
                self.max_message_size,
                true,
            )?;
            let probe = backend.clone_for_retry();
            match http_backend::connect_with(probe, h2, url, protocol).await {
                Ok((service, raw)) => {
                    return Ok(ZrokConnection {
                        service,
                        keep: Box::new(guard),
                        raw,
                    })
                }
                Err(e) => {
                    tracing::debug!(share = %token_prefix(share_token), "HTTP/2 {url} not served ({e})");
                    // A server that does not speak HTTP/2 at all (the Go original) fails before
                    // any HTTP status: go straight to HTTP/1.1 instead of dialing it again.
                    if !spoke_http(&e) {
                        break;
                    }
                }
            }
        }
        let h1 = http_backend::client(
            Some(dialer),
            &Default::default(),
            None,
            self.connect_timeout,
            self.max_message_size,
            false,
        )?;
        let (service, raw) =
            http_backend::connect_with(backend, h1, BACKEND_SSE_URL, HttpProtocol::Sse).await?;
        Ok(ZrokConnection {
            service,
            keep: Box::new(guard),
            raw,
        })
    }

    async fn drain(&self) {
        let t = &self.overlay.releases;
        t.close();
        if tokio::time::timeout(Duration::from_secs(10), t.wait())
            .await
            .is_err()
        {
            tracing::warn!("some zrok accesses were not released within 10s");
        }
        t.reopen();
    }
}

/// Whether a failed connect got as far as an HTTP status from the server.
fn spoke_http(e: &BackendError) -> bool {
    let m = e.to_string();
    [
        "HTTP 4",
        "HTTP 5",
        "404",
        "405",
        "Not Found",
        "Method Not Allowed",
    ]
    .iter()
    .any(|p| m.contains(p))
}

/// Create a persistent share (`name` = chosen token, else random); returns the token.
pub async fn create_persistent(
    overlay: &Overlay,
    name: Option<&str>,
) -> Result<String, OverlayError> {
    let name = match name {
        Some(n) => Some(ShareName::parse(n).map_err(|e| OverlayError::Other(e.to_string()))?),
        None => None,
    };
    Ok(overlay
        .api
        .share(overlay.env.env_zid(), name.as_ref())
        .await?)
}

/// Delete a persistent share of this environment.
pub async fn delete_share(overlay: &Overlay, token: &str) -> Result<(), OverlayError> {
    let detail = overlay.api.share_detail(token).await?;
    Ok(overlay.api.unshare(&detail.env_z_id, token).await?)
}
