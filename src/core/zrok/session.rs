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

/// Outcome of [`delete_stale_shares`] for one token.
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
