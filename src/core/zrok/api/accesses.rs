//! `POST /access`, `DELETE /unaccess` and `GET /accesses`.

use reqwest::Method;
use serde::{Deserialize, Serialize};

use super::client::{non_empty, required};
use super::{null_default, ApiError, ZrokClient};
use crate::core::redact::token_prefix;

/// An access as `GET /accesses` describes it.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Access {
    pub id: i64,
    pub frontend_token: String,
    pub env_z_id: String,
    pub share_token: String,
    pub backend_mode: String,
    pub bind_address: String,
    pub description: String,
    pub limited: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

debug_with_tokens!(
    Access {
        id,
        frontend_token: token,
        env_z_id,
        share_token: token
    },
    finish_non_exhaustive
);

/// `POST /access` result.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessGrant {
    pub frontend_token: String,
    pub backend_mode: String,
}

debug_with_tokens!(
    AccessGrant {
        frontend_token: token,
        backend_mode
    },
    finish
);

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AccessResponse {
    #[serde(default)]
    frontend_token: String,
    #[serde(default)]
    backend_mode: String,
}

#[derive(Deserialize)]
struct AccessesResponse {
    #[serde(default, deserialize_with = "null_default")]
    accesses: Vec<Access>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AccessRequest<'a> {
    env_z_id: &'a str,
    share_token: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UnaccessRequest<'a> {
    frontend_token: &'a str,
    env_z_id: &'a str,
    share_token: &'a str,
}

impl ZrokClient {
    /// `POST /access`: access `share_token` from environment `env_zid`.
    pub async fn access(&self, env_zid: &str, share_token: &str) -> Result<AccessGrant, ApiError> {
        let op = format!("access share {}", token_prefix(share_token));
        let req = AccessRequest {
            env_z_id: env_zid,
            share_token,
        };
        let r: AccessResponse = self.post(&op, "access", &req, &[share_token]).await?;
        Ok(AccessGrant {
            frontend_token: non_empty(&op, "frontendToken", r.frontend_token)?,
            backend_mode: r.backend_mode,
        })
    }

    /// `DELETE /unaccess`. Pass the share token the access was made for: the controller finds the
    /// Ziti dial policy by it and would leak the policy otherwise.
    pub async fn unaccess(
        &self,
        env_zid: &str,
        share_token: &str,
        frontend_token: &str,
    ) -> Result<(), ApiError> {
        let op = format!(
            "delete access {} to share {}",
            token_prefix(frontend_token),
            token_prefix(share_token)
        );
        let req = UnaccessRequest {
            frontend_token,
            env_z_id: env_zid,
            share_token,
        };
        self.delete(&op, "unaccess", &req, &[share_token, frontend_token])
            .await
    }

    /// `GET /accesses`, optionally only those held by `env_zid`.
    pub async fn list_accesses(&self, env_zid: Option<&str>) -> Result<Vec<Access>, ApiError> {
        let mut url = self.url(&["accesses"]);
        if let Some(e) = env_zid {
            url.query_pairs_mut().append_pair("envZId", e);
        }
        let op = "list accesses";
        let r: AccessesResponse =
            required(op, self.call(op, Method::GET, url, None::<&()>, &[]).await?)?;
        Ok(r.accesses)
    }
}
