//! zrok backends: one zrok access per backend connection, MCP over an OpenZiti connection to
//! the share (streamable HTTP or legacy SSE over HTTP/2 to mcpz servers, legacy SSE over HTTP/1.1
//! to the Go original).

use std::sync::Arc;
use std::time::Duration;

use crate::core::backend::http as http_backend;
use crate::core::backend::{BackendClient, BackendError, ZrokConnection, ZrokConnector};
use crate::core::config::HttpProtocol;
use crate::core::overlay::{Overlay, BACKEND_MCP_URL, BACKEND_SSE_URL};
use crate::core::redact::token_prefix;
use crate::core::ziti::ZitiDialer;

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
