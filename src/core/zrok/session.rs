//! What the gateway does with zrok as a whole: [`connect`] to the controller of the enabled
//! environment, and [`delete_stale_shares`] left by an earlier run.

use super::{ApiError, Environment, NotEnabled, Root, ShareRegistry, ZrokClient};

/// Why [`connect`] failed.
#[derive(Debug, thiserror::Error)]
pub enum ZrokError {
    #[error(transparent)]
    NotEnabled(#[from] NotEnabled),
    #[error(transparent)]
    Api(#[from] ApiError),
}

impl ZrokError {
    /// What the user can do about it, when there is something.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            ZrokError::NotEnabled(e) => Some(e.hint()),
            ZrokError::Api(ApiError::VersionRejected { .. }) => {
                Some("the zrok controller does not accept this zrok v2.0 client version")
            }
            ZrokError::Api(_) => None,
        }
    }
}

/// The enabled environment of `root` and a client for its controller, after the controller accepted
/// this client's version (what the zrok2 SDK does before every use of the API).
pub async fn connect(root: &Root) -> Result<(ZrokClient, Environment), ZrokError> {
    let env = root.require_enabled()?;
    let client = ZrokClient::for_environment(&root.api_endpoint(), env)?;
    client.client_version_check().await?;
    Ok((client, env.clone()))
}

/// Release the accesses a previous run of this gateway created and never released (e.g. after
/// `kill -9`), and forget them. Accesses that cannot be released now stay recorded.
pub async fn delete_stale_accesses(
    client: &ZrokClient,
    registry: &ShareRegistry,
) -> std::io::Result<Vec<StaleShareOutcome>> {
    let mut out = Vec::new();
    for (share, frontend) in registry.stale_accesses()? {
        let result = match client.unaccess(registry.env_zid(), &share, &frontend).await {
            Ok(()) => Ok(true),
            Err(e) if e.status() == Some(404) => Ok(false),
            Err(e) => Err(e),
        };
        if result.is_ok() {
            registry.forget_access(&frontend)?;
        }
        out.push(StaleShareOutcome {
            token_prefix: crate::core::redact::token_prefix(&share),
            result,
        });
    }
    Ok(out)
}

/// Logs what [`delete_stale_shares`] or [`delete_stale_accesses`] did; `words`: (done, do, what),
/// e.g. `("deleted", "delete", "a share")`.
pub fn log_reclaimed(
    outcomes: std::io::Result<Vec<StaleShareOutcome>>,
    (done, act, what): (&str, &str, &str),
) {
    match outcomes {
        Ok(outcomes) => {
            for o in outcomes {
                match o.result {
                    Ok(true) => {
                        tracing::info!(share = %o.token_prefix, "{done} {what} left behind by an earlier run")
                    }
                    Ok(false) => {}
                    Err(e) => {
                        tracing::warn!(share = %o.token_prefix, "could not {act} {what} left behind by an earlier run: {e}")
                    }
                }
            }
        }
        Err(e) => tracing::warn!("share registry: {e}"),
    }
}

/// Outcome of [`delete_stale_shares`] (or [`delete_stale_accesses`]) for one token.
#[derive(Debug)]
pub struct StaleShareOutcome {
    /// Short prefix of the share token.
    pub token_prefix: String,
    /// `Ok(true)`: deleted; `Ok(false)`: already gone (404); `Err`: left in the registry for next time.
    pub result: Result<bool, ApiError>,
}

/// Delete the shares a previous run of this gateway created and never deleted (e.g. after
/// `kill -9`), and forget them. Shares that cannot be deleted now stay recorded.
pub async fn delete_stale_shares(
    client: &ZrokClient,
    registry: &ShareRegistry,
) -> std::io::Result<Vec<StaleShareOutcome>> {
    let mut out = Vec::new();
    for token in registry.stale()? {
        let result = match client.unshare(registry.env_zid(), &token).await {
            Ok(()) => Ok(true),
            Err(e) if e.status() == Some(404) => Ok(false),
            Err(e) => Err(e),
        };
        if result.is_ok() {
            registry.forget(&token)?;
        }
        out.push(StaleShareOutcome {
            token_prefix: crate::core::redact::token_prefix(&token),
            result,
        });
    }
    Ok(out)
}
