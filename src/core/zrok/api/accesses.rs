//! `POST /access`, `DELETE /unaccess` and `GET /accesses`.

use std::fmt;

use reqwest::Method;
use serde::{Deserialize, Serialize};

use super::{null_default, ApiError, Tok, ZrokClient};
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

impl fmt::Debug for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Access")
            .field("id", &self.id)
            .field("frontend_token", &Tok(&self.frontend_token))
            .field("env_z_id", &self.env_z_id)
            .field("share_token", &Tok(&self.share_token))
            .finish_non_exhaustive()
    }
}

/// `POST /access` result.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessGrant {
    pub frontend_token: String,
    pub backend_mode: String,
}

impl fmt::Debug for AccessGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessGrant")
            .field("frontend_token", &Tok(&self.frontend_token))
            .field("backend_mode", &self.backend_mode)
            .finish()
    }
}

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
        let r: AccessResponse = self
            .call_required(
                &op,
                Method::POST,
                self.url(&["access"]),
                Some(&req),
                &[share_token],
            )
            .await?;
        if r.frontend_token.is_empty() {
            return Err(ApiError::Decode {
                op,
                message: "no frontendToken in the response".into(),
            });
        }
        Ok(AccessGrant {
            frontend_token: r.frontend_token,
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
        self.call::<serde_json::Value>(
            &op,
            Method::DELETE,
            self.url(&["unaccess"]),
            Some(&req),
            &[share_token, frontend_token],
        )
        .await
        .map(|_| ())
    }

    /// `GET /accesses`, optionally only those held by `env_zid`.
    pub async fn list_accesses(&self, env_zid: Option<&str>) -> Result<Vec<Access>, ApiError> {
        let mut url = self.url(&["accesses"]);
        if let Some(e) = env_zid {
            url.query_pairs_mut().append_pair("envZId", e);
        }
        let r: AccessesResponse = self
            .call_required("list accesses", Method::GET, url, None::<&()>, &[])
            .await?;
        Ok(r.accesses)
    }
}
