//! Typed client for the zrok v2 controller REST API (`{endpoint}/api/v2`).
//!
//! Transport rules (verified against a zrok2 v2.0.4 controller): `X-TOKEN` carries the account
//! token; bodies are sent as `application/zrok.v1+json` (any other content type gets a 500 "no
//! consumer registered"); `Accept` is `application/zrok.v1+json` (with `Accept: application/json`
//! alone the controller's handler panics and drops the connection); `DELETE /unshare` and
//! `DELETE /unaccess` carry JSON bodies. Handler errors come as bare JSON strings or empty bodies,
//! framework errors as `{"code","message"}`.
//!
//! Every call has a timeout; response bodies are size-limited; tokens never appear in `Debug` output
//! or error messages beyond a short prefix.

use std::fmt;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use url::Url;

use super::env::{ApiEndpoint, Environment};
use super::ShareName;
use crate::core::redact::token_prefix;

/// The media type of the zrok v2 API.
pub const MEDIA_TYPE: &str = "application/zrok.v1+json";
/// The version this client reports in `POST /clientVersionCheck` (the controller's default pattern
/// accepts `^(refs/(heads|tags)/)?v2\.0`).
pub const CLIENT_VERSION: &str = concat!("v2.0.4 [mcpz ", env!("CARGO_PKG_VERSION"), "]");
/// Default per-call timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest response body accepted.
pub const MAX_BODY: usize = 16 << 20;

/// Share modes, backend modes and permission modes as the API spells them.
pub mod modes {
    pub const SHARE_PRIVATE: &str = "private";
    pub const SHARE_PUBLIC: &str = "public";
    pub const BACKEND_PROXY: &str = "proxy";
    pub const PERMISSION_OPEN: &str = "open";
    pub const PERMISSION_CLOSED: &str = "closed";
    pub const AUTH_NONE: &str = "none";
}

// ------------------------------------------------------------------------------------------------
// Errors
// ------------------------------------------------------------------------------------------------

/// A failed API call. `op` names the operation (share tokens appear only as a prefix); `message`
/// is the controller's message (possibly empty: many handler errors have no body).
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("invalid zrok API endpoint '{endpoint}': {reason}")]
    InvalidEndpoint { endpoint: String, reason: String },
    #[error("zrok controller rejected client version '{version}'{}", msg(message))]
    VersionRejected { version: String, message: String },
    #[error("{op}: bad request (400){}", msg(message))]
    BadRequest { op: String, message: String },
    #[error("{op}: unauthorized (401){}", msg(message))]
    Unauthorized { op: String, message: String },
    #[error("{op}: not found (404){}", msg(message))]
    NotFound { op: String, message: String },
    #[error("{op}: conflict (409){}", msg(message))]
    Conflict { op: String, message: String },
    #[error("{op}: unsupported media type (415){}", msg(message))]
    UnsupportedMediaType { op: String, message: String },
    #[error("{op}: invalid request (422){}", msg(message))]
    Unprocessable { op: String, message: String },
    #[error("{op}: zrok controller error ({status}){}", msg(message))]
    Server {
        op: String,
        status: u16,
        message: String,
    },
    #[error("{op}: unexpected HTTP status {status}{}", msg(message))]
    UnexpectedStatus {
        op: String,
        status: u16,
        message: String,
    },
    #[error("{op}: no answer from the zrok controller within {}s", after.as_secs_f32())]
    Timeout { op: String, after: Duration },
    #[error("{op}: cannot reach the zrok controller at {endpoint}: {message}")]
    Transport {
        op: String,
        endpoint: String,
        message: String,
    },
    #[error("{op}: unexpected response from the zrok controller: {message}")]
    Decode { op: String, message: String },
}

fn msg(m: &str) -> String {
    if m.is_empty() {
        String::new()
    } else {
        format!(": {m}")
    }
}

impl ApiError {
    /// The HTTP status, for errors that carry one.
    pub fn status(&self) -> Option<u16> {
        Some(match self {
            ApiError::VersionRejected { .. } | ApiError::BadRequest { .. } => 400,
            ApiError::Unauthorized { .. } => 401,
            ApiError::NotFound { .. } => 404,
            ApiError::Conflict { .. } => 409,
            ApiError::UnsupportedMediaType { .. } => 415,
            ApiError::Unprocessable { .. } => 422,
            ApiError::Server { status, .. } | ApiError::UnexpectedStatus { status, .. } => *status,
            _ => return None,
        })
    }

    /// The controller's message, if the error carries one.
    pub fn message(&self) -> Option<&str> {
        match self {
            ApiError::VersionRejected { message, .. }
            | ApiError::BadRequest { message, .. }
            | ApiError::Unauthorized { message, .. }
            | ApiError::NotFound { message, .. }
            | ApiError::Conflict { message, .. }
            | ApiError::UnsupportedMediaType { message, .. }
            | ApiError::Unprocessable { message, .. }
            | ApiError::Server { message, .. }
            | ApiError::UnexpectedStatus { message, .. } => Some(message),
            _ => None,
        }
    }

    fn from_status(op: String, status: StatusCode, message: String) -> ApiError {
        match status.as_u16() {
            400 => ApiError::BadRequest { op, message },
            401 => ApiError::Unauthorized { op, message },
            404 => ApiError::NotFound { op, message },
            409 => ApiError::Conflict { op, message },
            415 => ApiError::UnsupportedMediaType { op, message },
            422 => ApiError::Unprocessable { op, message },
            s @ 500..=599 => ApiError::Server {
                op,
                status: s,
                message,
            },
            s => ApiError::UnexpectedStatus {
                op,
                status: s,
                message,
            },
        }
    }
}

/// Extract the controller's message from an error body: a bare JSON string, go-openapi's
/// `{"code","message"}`, or (anything else) the text itself, shortened.
fn error_message(body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct Framework {
        message: String,
    }
    let text = if let Ok(s) = serde_json::from_slice::<String>(body) {
        s
    } else if let Ok(f) = serde_json::from_slice::<Framework>(body) {
        f.message
    } else {
        String::from_utf8_lossy(body).into_owned()
    };
    let text: String = text
        .trim()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.chars().count() > 300 {
        let mut t: String = text.chars().take(300).collect();
        t.push('…');
        t
    } else {
        text
    }
}

// ------------------------------------------------------------------------------------------------
// Response types (typed subsets; unknown fields are ignored, `null` arrays read as empty)
// ------------------------------------------------------------------------------------------------

fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Shows a token as its prefix in `Debug` output.
struct Tok<'a>(&'a str);
impl fmt::Debug for Tok<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&token_prefix(self.0))
    }
}

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
    pub fn frontends(&self) -> impl Iterator<Item = &Frontend> {
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

impl fmt::Debug for Share {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Share")
            .field("share_token", &Tok(&self.share_token))
            .field("z_id", &self.z_id)
            .field("env_z_id", &self.env_z_id)
            .field("share_mode", &self.share_mode)
            .field("backend_mode", &self.backend_mode)
            .field("target", &self.target)
            .field("limited", &self.limited)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
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

impl fmt::Debug for Frontend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Frontend")
            .field("id", &self.id)
            .field("frontend_token", &Tok(&self.frontend_token))
            .field("share_token", &Tok(&self.share_token))
            .field("backend_mode", &self.backend_mode)
            .field("z_id", &self.z_id)
            .finish_non_exhaustive()
    }
}

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
#[serde(rename_all = "camelCase")]
struct AccessResponse {
    #[serde(default)]
    frontend_token: String,
    #[serde(default)]
    backend_mode: String,
}

#[derive(Deserialize)]
struct SharesResponse {
    #[serde(default, deserialize_with = "null_default")]
    shares: Vec<Share>,
}

#[derive(Deserialize)]
struct AccessesResponse {
    #[serde(default, deserialize_with = "null_default")]
    accesses: Vec<Access>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct VersionsResponse {
    #[serde(default)]
    controller_version: String,
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
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UnshareRequest<'a> {
    env_z_id: &'a str,
    share_token: &'a str,
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

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct VersionCheckRequest<'a> {
    client_version: &'a str,
}

// ------------------------------------------------------------------------------------------------
// Client
// ------------------------------------------------------------------------------------------------

/// A client for one controller and one account token. Cheap to clone.
#[derive(Clone)]
pub struct ZrokClient {
    http: reqwest::Client,
    /// `{scheme}://{host}[:port]/api/v2` (no trailing `/`).
    base: Url,
    /// The endpoint as given (for messages).
    endpoint: String,
    token: String,
    timeout: Duration,
    client_version: String,
}

impl fmt::Debug for ZrokClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ZrokClient")
            .field("base", &self.base.as_str())
            .field("token", &Tok(&self.token))
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Secrets that must not appear in error messages, replaced by their prefix.
struct Scrub<'a>(&'a [&'a str]);
impl Scrub<'_> {
    fn apply(&self, mut s: String) -> String {
        for t in self.0 {
            if t.len() >= 3 && s.contains(t) {
                s = s.replace(t, &token_prefix(t));
            }
        }
        s
    }
}

impl ZrokClient {
    /// A client for `endpoint` (e.g. `http://127.0.0.1:18080`) authenticating with `account_token`.
    ///
    /// Like the zrok2 CLI, only the scheme, host and port of `endpoint` are used; requests go to
    /// `/api/v2/…`. No request is made here.
    pub fn new(endpoint: &str, account_token: impl Into<String>) -> Result<ZrokClient, ApiError> {
        let invalid = |reason: String| ApiError::InvalidEndpoint {
            endpoint: endpoint.to_string(),
            reason,
        };
        let url = Url::parse(endpoint).map_err(|e| invalid(e.to_string()))?;
        if url.scheme() != "http" && url.scheme() != "https" {
            return Err(invalid(format!(
                "scheme '{}' is not http or https",
                url.scheme()
            )));
        }
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| invalid("no host".into()))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid("credentials in the URL are not supported".into()));
        }
        let base = match url.port() {
            Some(p) => format!("{}://{host}:{p}/api/v2", url.scheme()),
            None => format!("{}://{host}/api/v2", url.scheme()),
        };
        let base = Url::parse(&base).map_err(|e| invalid(e.to_string()))?;
        let mut c = ZrokClient {
            http: reqwest::Client::new(),
            base,
            endpoint: endpoint.trim_end_matches('/').to_string(),
            token: account_token.into(),
            timeout: DEFAULT_TIMEOUT,
            client_version: CLIENT_VERSION.to_string(),
        };
        c.http = c.build_http()?;
        Ok(c)
    }

    /// A client for an enabled environment and its resolved endpoint.
    pub fn for_environment(
        endpoint: &ApiEndpoint,
        env: &Environment,
    ) -> Result<ZrokClient, ApiError> {
        ZrokClient::new(&endpoint.url, env.account_token())
    }

    /// Per-call timeout (connect + request + response body). Default [`DEFAULT_TIMEOUT`].
    pub fn with_timeout(mut self, timeout: Duration) -> Result<ZrokClient, ApiError> {
        self.timeout = timeout;
        self.http = self.build_http()?;
        Ok(self)
    }

    /// The version string sent by [`ZrokClient::client_version_check`].
    pub fn with_client_version(mut self, version: impl Into<String>) -> ZrokClient {
        self.client_version = version.into();
        self
    }

    fn build_http(&self) -> Result<reqwest::Client, ApiError> {
        reqwest::Client::builder()
            .timeout(self.timeout)
            .connect_timeout(self.timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("mcpz/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ApiError::InvalidEndpoint {
                endpoint: self.endpoint.clone(),
                reason: format!("cannot build HTTP client: {e}"),
            })
    }

    /// `{scheme}://{host}[:port]/api/v2`.
    pub fn base_url(&self) -> &str {
        self.base.as_str()
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    fn url(&self, segments: &[&str]) -> Url {
        let mut u = self.base.clone();
        if let Ok(mut p) = u.path_segments_mut() {
            p.pop_if_empty();
            p.extend(segments);
        }
        u
    }

    /// Send one request and return the status and (size-limited) body.
    async fn send(
        &self,
        op: &str,
        method: Method,
        url: Url,
        body: Option<Vec<u8>>,
        auth: bool,
    ) -> Result<(StatusCode, Vec<u8>), ApiError> {
        let mut req = self
            .http
            .request(method, url)
            .header(reqwest::header::ACCEPT, MEDIA_TYPE);
        if auth {
            req = req.header("X-TOKEN", &self.token);
        }
        if let Some(b) = body {
            req = req
                .header(reqwest::header::CONTENT_TYPE, MEDIA_TYPE)
                .body(b);
        }
        let fut = async {
            let mut resp = req.send().await?;
            let status = resp.status();
            let mut buf = Vec::new();
            while let Some(chunk) = resp.chunk().await? {
                if buf.len() + chunk.len() > MAX_BODY {
                    return Ok(Err(status));
                }
                buf.extend_from_slice(&chunk);
            }
            Ok(Ok((status, buf)))
        };
        // reqwest's own timeout covers the whole call; this outer bound is a second guard.
        let res: Result<Result<_, StatusCode>, reqwest::Error> =
            match tokio::time::timeout(self.timeout + Duration::from_secs(1), fut).await {
                Ok(r) => r,
                Err(_) => {
                    return Err(ApiError::Timeout {
                        op: op.to_string(),
                        after: self.timeout,
                    })
                }
            };
        match res {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(status)) => Err(ApiError::Decode {
                op: op.to_string(),
                message: format!("response body (status {status}) larger than {MAX_BODY} bytes"),
            }),
            Err(e) if e.is_timeout() => Err(ApiError::Timeout {
                op: op.to_string(),
                after: self.timeout,
            }),
            Err(e) => Err(ApiError::Transport {
                op: op.to_string(),
                endpoint: self.endpoint.clone(),
                message: describe_reqwest(e),
            }),
        }
    }

    /// A call that expects 2xx and a JSON (or empty) body.
    async fn call<T: DeserializeOwned>(
        &self,
        op: &str,
        method: Method,
        url: Url,
        body: Option<&impl Serialize>,
        scrub: &[&str],
    ) -> Result<Option<T>, ApiError> {
        let body = match body {
            Some(b) => Some(serde_json::to_vec(b).map_err(|e| ApiError::Decode {
                op: op.to_string(),
                message: format!("cannot encode request: {e}"),
            })?),
            None => None,
        };
        let (status, bytes) = self.send(op, method, url, body, true).await?;
        let scrub_list: Vec<&str> = scrub
            .iter()
            .copied()
            .chain(std::iter::once(self.token.as_str()))
            .collect();
        let scrub = Scrub(&scrub_list);
        if !status.is_success() {
            return Err(ApiError::from_status(
                op.to_string(),
                status,
                scrub.apply(error_message(&bytes)),
            ));
        }
        if bytes.iter().all(|b| b.is_ascii_whitespace()) {
            return Ok(None);
        }
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| ApiError::Decode {
                op: op.to_string(),
                message: format!("invalid JSON (status {status}): {e}"),
            })
    }

    async fn call_required<T: DeserializeOwned>(
        &self,
        op: &str,
        method: Method,
        url: Url,
        body: Option<&impl Serialize>,
        scrub: &[&str],
    ) -> Result<T, ApiError> {
        self.call(op, method, url, body, scrub)
            .await?
            .ok_or_else(|| ApiError::Decode {
                op: op.to_string(),
                message: "empty response body".into(),
            })
    }

    /// `POST /clientVersionCheck` (no auth). `Ok(())` when the controller accepts this client's
    /// version; [`ApiError::VersionRejected`] with the controller's message when it does not.
    pub async fn client_version_check(&self) -> Result<(), ApiError> {
        let op = "client version check";
        let body = serde_json::to_vec(&VersionCheckRequest {
            client_version: &self.client_version,
        })
        .unwrap_or_default();
        let (status, bytes) = self
            .send(
                op,
                Method::POST,
                self.url(&["clientVersionCheck"]),
                Some(body),
                false,
            )
            .await?;
        if status.is_success() {
            return Ok(());
        }
        let message = Scrub(&[self.token.as_str()]).apply(error_message(&bytes));
        if status == StatusCode::BAD_REQUEST {
            return Err(ApiError::VersionRejected {
                version: self.client_version.clone(),
                message,
            });
        }
        Err(ApiError::from_status(op.to_string(), status, message))
    }

    /// `GET /versions` (no auth): the controller's version string.
    pub async fn controller_version(&self) -> Result<String, ApiError> {
        let op = "controller version";
        let (status, bytes) = self
            .send(op, Method::GET, self.url(&["versions"]), None, false)
            .await?;
        if !status.is_success() {
            return Err(ApiError::from_status(
                op.to_string(),
                status,
                error_message(&bytes),
            ));
        }
        serde_json::from_slice::<VersionsResponse>(&bytes)
            .map(|v| v.controller_version)
            .map_err(|e| ApiError::Decode {
                op: op.to_string(),
                message: format!("invalid JSON: {e}"),
            })
    }

    /// `POST /share`: a private share (backend mode `proxy`, permission mode `open`, auth scheme
    /// `none`) in environment `env_zid`. With `name`, the share gets that token and persists until
    /// deleted (409 [`ApiError::Conflict`] if the name is taken anywhere on the instance).
    /// Returns the share token.
    pub async fn share(&self, env_zid: &str, name: Option<&ShareName>) -> Result<String, ApiError> {
        let op = match name {
            Some(n) => format!("create share {}", token_prefix(n.as_str())),
            None => "create share".to_string(),
        };
        let req = ShareRequest {
            env_z_id: env_zid,
            share_mode: modes::SHARE_PRIVATE,
            backend_mode: modes::BACKEND_PROXY,
            permission_mode: modes::PERMISSION_OPEN,
            auth_scheme: modes::AUTH_NONE,
            private_share_token: name.map(|n| n.as_str()),
        };
        let scrub: Vec<&str> = name.map(|n| n.as_str()).into_iter().collect();
        let r: ShareResponse = self
            .call_required(&op, Method::POST, self.url(&["share"]), Some(&req), &scrub)
            .await?;
        if r.share_token.is_empty() {
            return Err(ApiError::Decode {
                op,
                message: "no shareToken in the response".into(),
            });
        }
        Ok(r.share_token)
    }

    /// `DELETE /unshare`. `env_zid` must be the environment that owns the share (404 otherwise).
    pub async fn unshare(&self, env_zid: &str, share_token: &str) -> Result<(), ApiError> {
        let op = format!("delete share {}", token_prefix(share_token));
        let req = UnshareRequest {
            env_z_id: env_zid,
            share_token,
        };
        self.call::<serde_json::Value>(
            &op,
            Method::DELETE,
            self.url(&["unshare"]),
            Some(&req),
            &[share_token],
        )
        .await
        .map(|_| ())
    }

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

    /// `GET /overview`.
    pub async fn overview(&self) -> Result<Overview, ApiError> {
        self.call_required::<Overview>(
            "overview",
            Method::GET,
            self.url(&["overview"]),
            None::<&()>,
            &[],
        )
        .await
    }

    /// `GET /detail/share/{token}` (404 if unknown or owned by another account).
    pub async fn share_detail(&self, share_token: &str) -> Result<Share, ApiError> {
        let op = format!("share detail {}", token_prefix(share_token));
        self.call_required::<Share>(
            &op,
            Method::GET,
            self.url(&["detail", "share", share_token]),
            None::<&()>,
            &[share_token],
        )
        .await
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
        let r: SharesResponse = self
            .call_required("list shares", Method::GET, url, None::<&()>, &[])
            .await?;
        Ok(r.shares)
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

/// A transport error without its URL (which may hold a share token), with its causes.
fn describe_reqwest(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut s = e.to_string();
    let mut src = std::error::Error::source(&e);
    while let Some(c) = src {
        let cs = c.to_string();
        if !s.contains(&cs) {
            s.push_str(": ");
            s.push_str(&cs);
        }
        src = c.source();
    }
    s
}
