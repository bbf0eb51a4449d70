//! zrok v2: the local environment (`~/.zrok2`), a typed REST client for the controller, and a
//! registry of the ephemeral shares this gateway created (so a crash does not leak them).

pub mod api;
pub mod env;
pub mod state;

#[cfg(test)]
mod api_tests;

use std::fmt;

pub use api::{ApiError, ZrokClient};
pub use env::{ApiEndpoint, EndpointSource, Environment, NotEnabled, Root};
pub use state::{GatewayKey, ShareRegistry};

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

/// A chosen name for a persistent private share (the controller's `privateShareToken`).
///
/// zrok requires `^[a-z0-9-]{3,32}$`; names are global across the controller instance.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ShareName(String);

/// A share name that does not satisfy `[a-z0-9-]{3,32}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid share name '{name}': {problem}; a share name is 3 to 32 characters from a-z, 0-9 and '-'")]
pub struct InvalidShareName {
    name: String,
    problem: String,
}

impl ShareName {
    const MIN_LEN: usize = 3;
    const MAX_LEN: usize = 32;

    /// Check a name before any request is made.
    pub fn parse(name: &str) -> Result<ShareName, InvalidShareName> {
        let shown: String = name.chars().take(40).collect();
        let bad = |problem: String| InvalidShareName {
            name: shown.clone(),
            problem,
        };
        let n = name.chars().count();
        if n < Self::MIN_LEN {
            return Err(bad(format!("too short ({n} characters)")));
        }
        if n > Self::MAX_LEN {
            return Err(bad(format!("too long ({n} characters)")));
        }
        if let Some(c) = name
            .chars()
            .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
        {
            return Err(bad(format!("character {c:?} is not allowed")));
        }
        Ok(ShareName(name.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ShareName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ShareName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ShareName({})",
            crate::core::redact::token_prefix(&self.0)
        )
    }
}

impl std::str::FromStr for ShareName {
    type Err = InvalidShareName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ShareName::parse(s)
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn share_names() {
        for ok in ["abc", "my-gateway", "a1-b2", &"x".repeat(32), "---"] {
            assert!(ShareName::parse(ok).is_ok(), "{ok}");
        }
        let e = ShareName::parse("ab").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid share name 'ab': too short (2 characters); a share name is 3 to 32 characters from a-z, 0-9 and '-'"
        );
        assert!(ShareName::parse(&"x".repeat(33))
            .unwrap_err()
            .to_string()
            .contains("too long (33 characters)"));
        assert!(ShareName::parse("My-gw")
            .unwrap_err()
            .to_string()
            .contains("character 'M' is not allowed"));
        assert!(ShareName::parse("my_gw").is_err());
        assert!(ShareName::parse("my gw").is_err());
        assert!(ShareName::parse("héllo").is_err());
        assert!("my-gw".parse::<ShareName>().is_ok());
    }
}
