//! zrok backends: one zrok access per backend connection, MCP over an OpenZiti connection to
//! the share (streamable HTTP or legacy SSE over HTTP/2 to mcpz servers, legacy SSE over HTTP/1.1
//! to the Go original).

use std::sync::Arc;
use std::time::Duration;

use crate::core::backend::http as http_backend;
use crate::core::backend::http_client::HttpClientConfig;
use crate::core::backend::{BackendClient, BackendError, ZrokConnection, ZrokConnector};
use crate::core::config::HttpProtocol;
use crate::core::overlay::{Overlay, BACKEND_MCP_URL, BACKEND_ROOT_URL, BACKEND_SSE_URL};
use crate::core::redact::token_prefix;
use crate::core::ziti::ZitiDialer;
use crate::core::zrok::state::ShareRegistry;

/// Rounds of the transport ladder when no transport got an HTTP answer, and the first wait
/// between them (doubled each time): 0.25 s and 0.5 s.
const DIAL_ROUNDS: u32 = 3;
const DIAL_RETRY: Duration = Duration::from_millis(250);

/// Releases a zrok access when the backend connection that holds it is dropped.
struct AccessGuard {
    overlay: Arc<Overlay>,
    share: String,
    frontend: String,
    registry: Option<ShareRegistry>,
}

impl Drop for AccessGuard {
    fn drop(&mut self) {
        let overlay = self.overlay.clone();
        let share = std::mem::take(&mut self.share);
        let frontend = std::mem::take(&mut self.frontend);
        let prefix = token_prefix(&share);
        let registry = self.registry.take();
        let release = async move {
            match overlay
                .api
                .unaccess(overlay.env.env_zid(), &share, &frontend)
                .await
            {
                Ok(()) => {}
                Err(e) if e.status() == Some(404) => {}
                Err(e) => {
                    // Left recorded: the next start of this gateway releases it.
                    tracing::warn!(share = %token_prefix(&share), "could not release access: {e}");
                    return;
                }
            }
            if let Some(r) = registry {
                if let Err(e) = r.forget_access(&frontend) {
                    tracing::warn!("share registry: {e}");
                }
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
pub(crate) struct ZrokBackends {
    pub overlay: Arc<Overlay>,
    pub connect_timeout: Duration,
    pub max_message_size: usize,
    /// Where accesses are recorded until released, so that the next start of the same gateway
    /// releases what a crash left behind ([`ZrokBackends::reclaim`]).
    pub registry: Option<ShareRegistry>,
}

impl ZrokBackends {
    /// Release the accesses an earlier run of the same gateway left behind (`kill -9`).
    pub(crate) async fn reclaim(&self) {
        let Some(reg) = &self.registry else { return };
        crate::core::zrok::log_reclaimed(
            crate::core::zrok::delete_stale_accesses(&self.overlay.api, reg).await,
            ("released", "release", "an access"),
        );
    }
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
                // A closed share refuses accounts that are neither its owner nor granted.
                let hint = if matches!(e, crate::core::zrok::ApiError::Unauthorized { .. }) {
                    "; the share may be closed to this account: its owner grants access with \
                     zrok.share.access_grants (gateway) or --access-grant (bridge, mcp-tools create)"
                } else {
                    ""
                };
                BackendError::Other(format!(
                    "zrok access to {}: {e}{hint}",
                    token_prefix(share_token)
                ))
            })?;
        if let Some(r) = &self.registry {
            if let Err(e) = r.record_access(share_token, &grant.frontend_token) {
                tracing::warn!("share registry: {e}");
            }
        }
        let guard = AccessGuard {
            overlay: o.clone(),
            share: share_token.to_string(),
            frontend: grant.frontend_token.clone(),
            registry: self.registry.clone(),
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
        // end serves it (one request and one response per call), else legacy SSE. HTTP/1.1
        // otherwise (the Go original, which opens a connection per concurrent request):
        // streamable HTTP at `/` (its newest releases), else legacy SSE at `/sse` (v0.1.3).
        let h2_tries = [
            (BACKEND_MCP_URL, HttpProtocol::Streamable),
            (BACKEND_SSE_URL, HttpProtocol::Sse),
        ];
        let h1_tries = [
            (BACKEND_ROOT_URL, HttpProtocol::Streamable),
            (BACKEND_SSE_URL, HttpProtocol::Sse),
        ];
        // A share whose access was just made can close the first dials before any HTTP is
        // spoken (the router learns of the new dial policy a moment later): when no attempt of a
        // round got an HTTP answer, the round is tried again after a short wait (bounded).
        let mut last = None;
        for round in 0..DIAL_ROUNDS {
            if round > 0 {
                let wait = DIAL_RETRY * 2u32.pow(round - 1);
                tracing::debug!(share = %token_prefix(share_token), "no HTTP answer on any transport; trying again in {wait:?}");
                tokio::time::sleep(wait).await;
            }
            let mut answered = false;
            for (h2, tries) in [(true, &h2_tries[..]), (false, &h1_tries[..])] {
                for &(url, protocol) in tries {
                    let settings = HttpClientConfig {
                        http2_prior_knowledge: h2,
                        ..http_backend::settings(
                            &Default::default(),
                            None,
                            self.connect_timeout,
                            self.max_message_size,
                        )
                    };
                    let client = http_backend::client(Some(dialer.clone()), settings)?;
                    let probe = client.clone();
                    match http_backend::connect_with(
                        backend.clone_for_retry(),
                        client,
                        url,
                        protocol,
                    )
                    .await
                    {
                        Ok((service, raw)) => {
                            return Ok(ZrokConnection {
                                service,
                                keep: Box::new(guard),
                                raw,
                            })
                        }
                        Err(e) => {
                            let v = if h2 { "HTTP/2" } else { "HTTP/1.1" };
                            tracing::debug!(share = %token_prefix(share_token), "{v} {url} not served ({e})");
                            last = Some(e);
                            answered |= probe.answered();
                            // A server that does not speak HTTP/2 at all (the Go original) fails
                            // before any HTTP status: go straight to HTTP/1.1 instead of dialing
                            // it again.
                            if h2 && !probe.answered() {
                                break;
                            }
                        }
                    }
                }
            }
            if answered {
                break;
            }
        }
        Err(last.unwrap_or_else(|| BackendError::Other("no transport to try".into())))
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
