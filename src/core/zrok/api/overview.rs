//! `GET /overview`: the account's environments with their shares and frontends.

use reqwest::Method;
use serde::Deserialize;

use super::client::required;
use super::{null_default, ApiError, Share, ZrokClient};

/// `GET /overview`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Overview {
    pub account_limited: bool,
    #[serde(deserialize_with = "null_default")]
    pub environments: Vec<EnvironmentOverview>,
}

impl Overview {
    /// Every share of the account, over all environments.
    pub fn shares(&self) -> impl Iterator<Item = &Share> {
        self.environments.iter().flat_map(|e| e.shares.iter())
    }
    /// Every frontend (access) held by the account's environments.
    pub(crate) fn frontends(&self) -> impl Iterator<Item = &Frontend> {
        self.environments.iter().flat_map(|e| e.frontends.iter())
    }
    pub fn find_share(&self, share_token: &str) -> Option<&Share> {
        self.shares().find(|s| s.share_token == share_token)
    }
    pub fn find_frontend(&self, frontend_token: &str) -> Option<&Frontend> {
        self.frontends()
            .find(|f| f.frontend_token == frontend_token)
    }
    pub fn environment(&self, env_zid: &str) -> Option<&EnvironmentOverview> {
        self.environments
            .iter()
            .find(|e| e.environment.z_id == env_zid)
    }
}

/// One environment of the account with its shares and frontends.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct EnvironmentOverview {
    pub environment: EnvironmentInfo,
    #[serde(deserialize_with = "null_default")]
    pub shares: Vec<Share>,
    #[serde(deserialize_with = "null_default")]
    pub frontends: Vec<Frontend>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct EnvironmentInfo {
    /// envZId.
    pub z_id: String,
    pub description: String,
    pub host: String,
    pub address: String,
    pub limited: bool,
    /// Unix milliseconds.
    pub created_at: i64,
    pub updated_at: i64,
}

/// A frontend (an access held by one of the account's environments), from `GET /overview`.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Frontend {
    pub id: i64,
    pub frontend_token: String,
    pub share_token: String,
    pub backend_mode: String,
    pub bind_address: String,
    pub description: String,
    /// The environment holding the access.
    pub z_id: String,
    pub created_at: i64,
    pub updated_at: i64,
}

debug_with_tokens!(
    Frontend {
        id,
        frontend_token: token,
        share_token: token,
        backend_mode,
        z_id
    },
    finish_non_exhaustive
);

impl ZrokClient {
    /// `GET /overview`.
    pub async fn overview(&self) -> Result<Overview, ApiError> {
        let op = "overview";
        let answer = self.call(op, Method::GET, self.url(&["overview"]), None::<&()>, &[]);
        required(op, answer.await?)
    }
}
