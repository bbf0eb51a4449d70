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

/// The transports tried on a share, in order: (HTTP/2 prior knowledge, URL, protocol).
/// HTTP/2 first (mcpz servers): the whole session rides one OpenZiti connection, so it stays on
/// one terminator when several gateways serve the share; streamable HTTP when the far end serves
/// it (one request and one response per call), else legacy SSE. HTTP/1.1 otherwise (the Go
/// original, which opens a connection per concurrent request): streamable HTTP at `/` (its
/// newest releases), else legacy SSE at `/sse` (v0.1.3).
const LADDER: [(bool, &str, HttpProtocol); 4] = [
    (true, BACKEND_MCP_URL, HttpProtocol::Streamable),
    (true, BACKEND_SSE_URL, HttpProtocol::Sse),
    (false, BACKEND_ROOT_URL, HttpProtocol::Streamable),
    (false, BACKEND_SSE_URL, HttpProtocol::Sse),
];

/// Releases a zrok access when the backend connection that holds it is dropped.
struct AccessGuard {
    overlay: Arc<Overlay>,
    share: String,
    frontend: String,
    registry: Option<ShareRegistry>,
    /// Counts this access in `overlay.releases` from its creation, so that shutdown also waits
    /// for a connection a task still holds for a moment after its session ended (a watcher that
    /// has not yet seen the end): the release is spawned before this token goes.
    _held: tokio_util::task::task_tracker::TaskTrackerToken,
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
    /// Per share token, the rung of [`LADDER`] that last connected (tried first next time).
    pub known: std::sync::Mutex<std::collections::HashMap<String, usize>>,
}

impl ZrokBackends {
    fn known_rung(&self, share_token: &str) -> Option<usize> {
        let known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        known.get(share_token).copied()
    }

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
            _held: o.releases.token(),
        };
        // The access just created a dial policy: refresh what we know of the service.
        o.ctx.service(share_token, true).await.map_err(|e| {
            BackendError::Other(format!("share {}: {e}", token_prefix(share_token)))
        })?;
        let dialer: Arc<dyn crate::core::net::Dialer> = Arc::new(ZitiDialer {
            ctx: o.ctx.clone(),
            service: share_token.to_string(),
        });
        // The rung that last worked on this share first: a gateway's sessions to a Go original's
        // share go straight to HTTP/1.1 instead of failing over HTTP/2 again, every session.
        let known = self.known_rung(share_token);
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
            let mut skip_h2 = false;
            let order = known
                .into_iter()
                .chain((0..LADDER.len()).filter(|&i| Some(i) != known));
            for i in order {
                let (h2, url, protocol) = LADDER[i];
                if h2 && skip_h2 {
                    continue;
                }
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
                match http_backend::connect_with(backend.clone_for_retry(), client, url, protocol)
                    .await
                {
                    Ok((service, raw)) => {
                        self.known
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .insert(share_token.to_string(), i);
                        return Ok(ZrokConnection {
                            service,
                            keep: Box::new(guard),
                            raw,
                        });
                    }
                    Err(e) => {
                        let v = if h2 { "HTTP/2" } else { "HTTP/1.1" };
                        tracing::debug!(share = %token_prefix(share_token), "{v} {url} not served ({e})");
                        last = Some(e);
                        answered |= probe.answered();
                        // A server that does not speak HTTP/2 at all (the Go original) fails
                        // before any HTTP status: go straight to HTTP/1.1 instead of dialing
                        // it again.
                        skip_h2 |= h2 && !probe.answered();
                        // What worked before got no HTTP answer: the dial failed, not the
                        // protocol (a new access's dial policy not yet at the router). Try it
                        // again after the wait instead of walking the ladder; the last round
                        // walks it (the server may have changed).
                        if Some(i) == known && !probe.answered() && round + 1 < DIAL_ROUNDS {
                            break;
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
            tracing::warn!("some zrok accesses were still held or being released after 10s");
        }
        t.reopen();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::zrok::{Root, ShareAccess};

    /// `who`'s zrok home in the testnet of `MCPZ_TESTNET_ENV`.
    fn testnet_root(who: &str) -> Root {
        let path = std::env::var("MCPZ_TESTNET_ENV")
            .expect("needs the real network: run scripts/test-network (MCPZ_TESTNET_ENV)");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let key = format!("ZROK_HOME_{}=", who.to_uppercase());
        let home = text
            .lines()
            .find_map(|l| l.strip_prefix(key.as_str()))
            .unwrap_or_else(|| panic!("{path} has no {key}"));
        Root::load_from(std::path::Path::new(home).join(".zrok2"))
    }

    /// A connection a task still holds after its session ended (a watcher that has not yet seen
    /// the end) keeps shutdown's drain waiting; once it goes, the drain returns only after its
    /// access is released at the controller. (Before, the drain could return first and the
    /// process exit with the access still open.)
    #[tokio::test]
    #[ignore = "needs the real network: scripts/test-network"]
    async fn network_drain_waits_for_an_access_still_held() {
        let o = Overlay::open(&testnet_root("bob")).await.unwrap();
        let env = o.env.env_zid().to_string();
        let share = o.api.share(&env, None, &ShareAccess::Open).await.unwrap();
        let result = async {
            let grant = o.api.access(&env, &share).await.unwrap();
            let backends = ZrokBackends {
                overlay: o.clone(),
                connect_timeout: Duration::from_secs(5),
                max_message_size: 1 << 20,
                registry: None,
                known: Default::default(),
            };
            let guard = AccessGuard {
                overlay: o.clone(),
                share: share.clone(),
                frontend: grant.frontend_token.clone(),
                registry: None,
                _held: o.releases.token(),
            };
            let (release, released) = tokio::sync::oneshot::channel::<()>();
            let holder = tokio::spawn(async move {
                let _ = released.await;
                drop(guard);
            });
            let drain = backends.drain();
            tokio::pin!(drain);
            assert!(
                futures::poll!(&mut drain).is_pending(),
                "the drain returned while a connection still held its access"
            );
            release.send(()).unwrap();
            tokio::time::timeout(Duration::from_secs(30), drain)
                .await
                .expect("the drain returns once the access is released");
            holder.await.unwrap();
            let left: Vec<String> = o
                .api
                .overview()
                .await
                .unwrap()
                .frontends()
                .map(|f| f.frontend_token.clone())
                .collect();
            assert!(
                !left.contains(&grant.frontend_token),
                "the access is still open after the drain: {left:?}"
            );
        };
        let r = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(result)).await;
        o.api.unshare(&env, &share).await.unwrap();
        if let Err(p) = r {
            std::panic::resume_unwind(p);
        }
    }
}
