//! `POST /share`, `DELETE /unshare`, `GET /detail/share/{token}` and `GET /shares`.

use reqwest::Method;
use serde::{Deserialize, Serialize};

use super::client::{non_empty, required};
use super::{modes, null_default, ApiError, ZrokClient};
use crate::core::redact::token_prefix;
use crate::core::zrok::ShareName;

/// A share as `GET /overview`, `GET /detail/share/{token}` and `GET /shares` describe it.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Share {
    pub share_token: String,
    /// The Ziti service id.
    pub z_id: String,
    /// The owning environment.
    pub env_z_id: String,
    pub share_mode: String,
    pub backend_mode: String,
    pub target: String,
    #[serde(deserialize_with = "null_default")]
    pub frontend_endpoints: Vec<String>,
    pub limited: bool,
    /// Unix milliseconds.
    pub created_at: i64,
    pub updated_at: i64,
}

debug_with_tokens!(
    Share {
        share_token: token,
        z_id,
        env_z_id,
        share_mode,
        backend_mode,
        target,
        limited,
        created_at
    },
    finish_non_exhaustive
);

/// Who may access a new share: any account that holds the token (`open`), or only the owner's
/// account and the accounts (emails) granted (`closed`, upstream's default since v0.1.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShareAccess {
    Open,
    Closed { grants: Vec<String> },
}

impl ShareAccess {
    fn mode(&self) -> &'static str {
        match self {
            ShareAccess::Open => modes::PERMISSION_OPEN,
            ShareAccess::Closed { .. } => modes::PERMISSION_CLOSED,
        }
    }

    fn grants(&self) -> &[String] {
        match self {
            ShareAccess::Open => &[],
            ShareAccess::Closed { grants } => grants,
        }
    }
}

/// Filters for `GET /shares`.
#[derive(Debug, Clone, Default)]
pub struct ShareQuery {
    pub env_zid: Option<String>,
    pub share_mode: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ShareResponse {
    #[serde(default)]
    share_token: String,
}

#[derive(Deserialize)]
struct SharesResponse {
    #[serde(default, deserialize_with = "null_default")]
    shares: Vec<Share>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ShareRequest<'a> {
    env_z_id: &'a str,
    share_mode: &'a str,
    backend_mode: &'a str,
    permission_mode: &'a str,
    auth_scheme: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    private_share_token: Option<&'a str>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    access_grants: &'a [String],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UnshareRequest<'a> {
    env_z_id: &'a str,
    share_token: &'a str,
}

impl ZrokClient {
    /// `POST /share`: a private share (backend mode `proxy`, auth scheme `none`, permission mode
    /// and grants from `access`) in environment `env_zid`. With `name`, the share gets that token
    /// and persists until deleted (409 [`ApiError::Conflict`] if the name is taken anywhere on the
    /// instance). Returns the share token.
    pub async fn share(
        &self,
        env_zid: &str,
        name: Option<&ShareName>,
        access: &ShareAccess,
    ) -> Result<String, ApiError> {
        let op = match name {
            Some(n) => format!("create share {}", token_prefix(n.as_str())),
            None => "create share".to_string(),
        };
        let req = ShareRequest {
            env_z_id: env_zid,
            share_mode: modes::SHARE_PRIVATE,
            backend_mode: modes::BACKEND_PROXY,
            permission_mode: access.mode(),
            auth_scheme: modes::AUTH_NONE,
            private_share_token: name.map(|n| n.as_str()),
            access_grants: access.grants(),
        };
        let scrub: Vec<&str> = name.map(|n| n.as_str()).into_iter().collect();
        let r: ShareResponse = self.post(&op, "share", &req, &scrub).await?;
        non_empty(&op, "shareToken", r.share_token)
    }

    /// `DELETE /unshare`. `env_zid` must be the environment that owns the share (404 otherwise).
    pub async fn unshare(&self, env_zid: &str, share_token: &str) -> Result<(), ApiError> {
        let op = format!("delete share {}", token_prefix(share_token));
        let req = UnshareRequest {
            env_z_id: env_zid,
            share_token,
        };
        self.delete(&op, "unshare", &req, &[share_token]).await
    }

    /// `GET /detail/share/{token}` (404 if unknown or owned by another account).
    pub async fn share_detail(&self, share_token: &str) -> Result<Share, ApiError> {
        let op = format!("share detail {}", token_prefix(share_token));
        let url = self.url(&["detail", "share", share_token]);
        let answer = self
            .call(&op, Method::GET, url, None::<&()>, &[share_token])
            .await?;
        required(&op, answer)
    }

    /// `GET /shares` with filters.
    pub async fn list_shares(&self, query: &ShareQuery) -> Result<Vec<Share>, ApiError> {
        let mut url = self.url(&["shares"]);
        {
            let mut q = url.query_pairs_mut();
            if let Some(e) = &query.env_zid {
                q.append_pair("envZId", e);
            }
            if let Some(m) = &query.share_mode {
                q.append_pair("shareMode", m);
            }
        }
        if url.query() == Some("") {
            url.set_query(None);
        }
        let op = "list shares";
        let r: SharesResponse =
            required(op, self.call(op, Method::GET, url, None::<&()>, &[]).await?)?;
        Ok(r.shares)
    }
}
