//! [`ZrokClient`]: one controller and one account token; how a call is sent and its answer read,
//! and the version calls.

use std::fmt;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use url::Url;

use super::error::error_message;
use super::{ApiError, Tok, CLIENT_VERSION, DEFAULT_TIMEOUT, MAX_BODY, MEDIA_TYPE};
use crate::core::redact::token_prefix;
use crate::core::zrok::env::{ApiEndpoint, Environment};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct VersionsResponse {
    #[serde(default)]
    controller_version: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct VersionCheckRequest<'a> {
    client_version: &'a str,
}

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

    /// Per-call timeout (connect + request + response body). Default 30 s.
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
    #[cfg(test)]
    pub(crate) fn base_url(&self) -> &str {
        self.base.as_str()
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    pub(super) fn url(&self, segments: &[&str]) -> Url {
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
    pub(super) async fn call<T: DeserializeOwned>(
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

    /// `POST /{path}` with a JSON body, answered with a JSON body.
    pub(super) async fn post<T: DeserializeOwned>(
        &self,
        op: &str,
        path: &str,
        body: &impl Serialize,
        scrub: &[&str],
    ) -> Result<T, ApiError> {
        let answer = self
            .call(op, Method::POST, self.url(&[path]), Some(body), scrub)
            .await?;
        required(op, answer)
    }

    /// `DELETE /{path}` with a JSON body (as `/unshare` and `/unaccess` take); any answer body
    /// must still be JSON, but is not used.
    pub(super) async fn delete(
        &self,
        op: &str,
        path: &str,
        body: &impl Serialize,
        scrub: &[&str],
    ) -> Result<(), ApiError> {
        self.call::<serde_json::Value>(op, Method::DELETE, self.url(&[path]), Some(body), scrub)
            .await
            .map(|_| ())
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
}

/// The decoded body of an answer that must have one.
pub(super) fn required<T>(op: &str, body: Option<T>) -> Result<T, ApiError> {
    body.ok_or_else(|| ApiError::Decode {
        op: op.to_string(),
        message: "empty response body".into(),
    })
}

/// `value`, unless the controller left the field `name` empty.
pub(super) fn non_empty(op: &str, name: &str, value: String) -> Result<String, ApiError> {
    if value.is_empty() {
        return Err(ApiError::Decode {
            op: op.to_string(),
            message: format!("no {name} in the response"),
        });
    }
    Ok(value)
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
