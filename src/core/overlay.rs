//! The zrok overlay: serving the engine on a private share (ephemeral or managed) and reaching
//! zrok backends, both over the native OpenZiti client.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::core::live::state::ShareState;
use crate::core::redact::token_prefix;
use crate::core::ziti::{Context, ListenOptions, ZitiListener};
use crate::core::zrok::{
    self, GatewayKey, Root, ShareAccess, ShareName, ShareRegistry, ZrokClient,
};

/// What a zrok client dials: the Go original's clients use this base URL over the overlay.
pub(crate) const BACKEND_SSE_URL: &str = "http://mcp-backend/sse";
/// Where an mcpz server on a share serves streamable HTTP (the Host is not checked on shares).
pub(crate) const BACKEND_MCP_URL: &str = "http://mcp-backend/mcp";
/// Where the Go original's newest servers serve streamable HTTP (and where its newest clients
/// POST); mcpz serves it there too.
pub(crate) const BACKEND_ROOT_URL: &str = "http://mcp-backend/";

/// Why the overlay could not be opened or used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum OverlayError {
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
pub(crate) struct Overlay {
    pub api: ZrokClient,
    pub env: zrok::Environment,
    pub ctx: Context,
    pub endpoint: String,
    /// Accesses held by live connections and their releases in flight: shutdown waits (bounded)
    /// until every connection holding one is gone and its release is done.
    pub(crate) releases: tokio_util::task::TaskTracker,
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
pub(crate) struct Served {
    pub token: String,
    pub ephemeral: bool,
    pub listener: Option<ZitiListener>,
    overlay: Arc<Overlay>,
    registry: Option<ShareRegistry>,
}

impl Served {
    /// Create (ephemeral, `managed == None`, with `access`: closed to all but the owner and the
    /// grants, unless open) or adopt (`managed`) a share and bind it.
    /// On any failure after creating a share, the share is deleted again.
    pub async fn start(
        overlay: Arc<Overlay>,
        managed: Option<String>,
        key: GatewayKey,
        access: &ShareAccess,
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
            zrok::log_reclaimed(
                zrok::delete_stale_shares(&overlay.api, reg).await,
                ("deleted", "delete", "a share"),
            );
        }
        let token = overlay
            .api
            .share(overlay.env.env_zid(), None, access)
            .await?;
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

/// Create a persistent share (`name` = chosen token, else random); returns the token.
pub(crate) async fn create_persistent(
    overlay: &Overlay,
    name: Option<&str>,
    access: &ShareAccess,
) -> Result<String, OverlayError> {
    let name = match name {
        Some(n) => Some(ShareName::parse(n).map_err(|e| OverlayError::Other(e.to_string()))?),
        None => None,
    };
    Ok(overlay
        .api
        .share(overlay.env.env_zid(), name.as_ref(), access)
        .await?)
}

/// Delete a persistent share of this environment.
pub(crate) async fn delete_share(overlay: &Overlay, token: &str) -> Result<(), OverlayError> {
    let detail = overlay.api.share_detail(token).await?;
    Ok(overlay.api.unshare(&detail.env_z_id, token).await?)
}
