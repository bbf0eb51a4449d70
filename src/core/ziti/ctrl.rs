//! Edge client REST API (openziti/edge-api, `/edge/client/v1`): certificate authentication, API session
//! keep-alive, service lookup, Dial/Bind sessions. HTTPS with mutual TLS; trusts only the identity's CA.
//! The API session token travels in the `zt-session` header and is never logged beyond a short prefix.

use std::time::Duration;

use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::identity::Identity;
use super::ZitiError;

/// How long one controller request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// Header carrying the API session token (edge-api `zt-session`).
pub const SESSION_HEADER: &str = "zt-session";

/// A service as the controller shows it to this identity.
#[derive(Debug, Clone, Deserialize)]
pub struct Service {
    pub id: String,
    pub name: String,
    #[serde(rename = "encryptionRequired", default)]
    pub encryption_required: bool,
    #[serde(default)]
    pub permissions: Vec<String>,
}

impl Service {
    pub fn can(&self, kind: SessionKind) -> bool {
        self.permissions.iter().any(|p| p == kind.as_str())
    }
}

/// Dial or Bind (edge-api `DialBind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionKind {
    Dial,
    Bind,
}

impl SessionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionKind::Dial => "Dial",
            SessionKind::Bind => "Bind",
        }
    }
}

/// An edge router the session may use.
#[derive(Debug, Clone, Deserialize)]
pub struct EdgeRouter {
    #[serde(default)]
    pub name: String,
    #[serde(rename = "supportedProtocols", default)]
    pub supported_protocols: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    pub urls: std::collections::BTreeMap<String, String>,
}

impl EdgeRouter {
    /// The router's `tls:` address as `host:port`, if it offers one.
    pub fn tls_addr(&self) -> Option<String> {
        let u = self
            .supported_protocols
            .get("tls")
            .or_else(|| self.urls.get("tls"))?;
        let rest = u
            .strip_prefix("tls://")
            .or_else(|| u.strip_prefix("tls:"))?;
        Some(rest.to_string())
    }
}

/// A network session: the token routers accept for Connect/Bind, and the routers to use.
#[derive(Clone, Deserialize)]
pub struct NetworkSession {
    pub id: String,
    pub token: String,
    #[serde(rename = "edgeRouters", default)]
    pub edge_routers: Vec<EdgeRouter>,
}

impl std::fmt::Debug for NetworkSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetworkSession")
            .field("id", &self.id)
            .field("token", &short(&self.token))
            .field("edge_routers", &self.edge_routers)
            .finish()
    }
}

/// Replace every occurrence of `secret` in a peer's message by its short form (routers echo tokens back in
/// some error texts).
pub fn scrub(text: &str, secret: &str) -> String {
    if secret.len() < 8 {
        return text.to_string();
    }
    text.replace(secret, &short(secret))
}

/// First few characters of a secret, for logs.
pub fn short(secret: &str) -> String {
    let p: String = secret.chars().take(6).collect();
    format!("{p}…")
}

#[derive(Clone)]
struct ApiSession {
    token: String,
    /// When to stop trusting the token and authenticate again.
    refresh_at: Instant,
    identity_id: String,
    identity_name: String,
}

#[derive(Deserialize)]
struct Envelope<T> {
    data: T,
}

#[derive(Deserialize)]
struct ApiSessionDetail {
    token: String,
    #[serde(rename = "expirationSeconds", default)]
    expiration_seconds: Option<i64>,
    #[serde(rename = "identityId", default)]
    identity_id: Option<String>,
    #[serde(default)]
    identity: Option<IdentityRef>,
}

#[derive(Deserialize)]
struct IdentityRef {
    #[serde(default)]
    name: String,
}

#[derive(Deserialize, Default)]
struct ErrorEnvelope {
    #[serde(default)]
    error: ApiError,
}

#[derive(Deserialize, Default)]
struct ApiError {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

/// Controller client for one identity.
pub struct Controller {
    http: reqwest::Client,
    base: String,
    session: Mutex<Option<ApiSession>>,
}

impl Controller {
    pub fn new(identity: &Identity) -> Result<Self, ZitiError> {
        let tls = identity.tls_config(vec![b"http/1.1".to_vec()])?;
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured((*tls).clone())
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(Duration::from_secs(10))
            .no_proxy()
            .build()
            .map_err(|e| ZitiError::Tls(format!("building controller client: {e}")))?;
        let base = identity.api.as_str().trim_end_matches('/').to_string();
        Ok(Controller {
            http,
            base,
            session: Mutex::new(None),
        })
    }

    async fn error_of(resp: reqwest::Response, what: &str) -> ZitiError {
        let status = resp.status();
        let env: ErrorEnvelope = resp.json().await.unwrap_or_default();
        let detail = if env.error.message.is_empty() {
            env.error.code.clone()
        } else {
            format!("{}: {}", env.error.code, env.error.message)
        };
        match status {
            StatusCode::UNAUTHORIZED => ZitiError::Unauthorized(format!("{what}: {detail}")),
            _ => ZitiError::Controller {
                status: status.as_u16(),
                message: format!("{what}: {detail}"),
            },
        }
    }

    /// Authenticate with the identity certificate (`POST /authenticate?method=cert`).
    pub async fn authenticate(&self) -> Result<String, ZitiError> {
        let body = json!({
            "sdkInfo": {"type": "mcpz-rust", "version": env!("CARGO_PKG_VERSION"), "appId": "mcpz"},
            "envInfo": {"os": std::env::consts::OS, "arch": std::env::consts::ARCH},
            "configTypes": [],
        });
        let resp = self
            .http
            .post(format!("{}/authenticate?method=cert", self.base))
            .json(&body)
            .send()
            .await
            .map_err(|e| ZitiError::ControllerUnreachable(format!("{}: {e}", self.base)))?;
        if !resp.status().is_success() {
            return Err(Self::error_of(resp, "authenticate").await);
        }
        let header_token = resp
            .headers()
            .get(SESSION_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let env: Envelope<ApiSessionDetail> = resp
            .json()
            .await
            .map_err(|e| ZitiError::Protocol(format!("authenticate response: {e}")))?;
        let token = header_token.unwrap_or(env.data.token);
        let secs = env
            .data
            .expiration_seconds
            .unwrap_or(1800)
            .clamp(30, 86_400) as u64;
        let s = ApiSession {
            token: token.clone(),
            refresh_at: Instant::now() + Duration::from_secs(secs * 2 / 3),
            identity_id: env.data.identity_id.unwrap_or_default(),
            identity_name: env.data.identity.map(|i| i.name).unwrap_or_default(),
        };
        tracing::debug!(token = %short(&token), expires_in = secs, "ziti api session established");
        *self.session.lock().await = Some(s);
        Ok(token)
    }

    /// The current API session token, authenticating first if there is none or it is due for refresh.
    pub async fn api_token(&self) -> Result<String, ZitiError> {
        {
            let g = self.session.lock().await;
            if let Some(s) = g.as_ref() {
                if Instant::now() < s.refresh_at {
                    return Ok(s.token.clone());
                }
            }
        }
        self.authenticate().await
    }

    /// The identity id of the current API session (empty until authenticated).
    pub async fn identity_id(&self) -> String {
        self.session
            .lock()
            .await
            .as_ref()
            .map(|s| s.identity_id.clone())
            .unwrap_or_default()
    }

    /// The identity name of the current API session (empty until authenticated): what dials
    /// send as `CallerId`, as the OpenZiti SDKs do.
    pub async fn identity_name(&self) -> String {
        self.session
            .lock()
            .await
            .as_ref()
            .map(|s| s.identity_name.clone())
            .unwrap_or_default()
    }

    /// Keep the API session alive (`GET /current-api-session` extends it); re-authenticate if it is gone.
    pub async fn keepalive(&self) -> Result<(), ZitiError> {
        let token = self.api_token().await?;
        let resp = self
            .http
            .get(format!("{}/current-api-session", self.base))
            .header(SESSION_HEADER, &token)
            .send()
            .await
            .map_err(|e| ZitiError::ControllerUnreachable(format!("{}: {e}", self.base)))?;
        if resp.status() == StatusCode::UNAUTHORIZED {
            self.authenticate().await?;
            return Ok(());
        }
        if !resp.status().is_success() {
            return Err(Self::error_of(resp, "current-api-session").await);
        }
        let env: Envelope<ApiSessionDetail> = resp
            .json()
            .await
            .map_err(|e| ZitiError::Protocol(format!("current-api-session response: {e}")))?;
        let secs = env
            .data
            .expiration_seconds
            .unwrap_or(1800)
            .clamp(30, 86_400) as u64;
        if let Some(s) = self.session.lock().await.as_mut() {
            if s.token == token {
                s.refresh_at = Instant::now() + Duration::from_secs(secs * 2 / 3);
            }
        }
        Ok(())
    }

    /// Forget the API session so that the next call authenticates again.
    pub async fn invalidate(&self) {
        *self.session.lock().await = None;
    }

    /// Send an authenticated request; on 401 authenticate once more and retry.
    async fn call(
        &self,
        what: &str,
        build: impl Fn(&reqwest::Client, &str) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, ZitiError> {
        for attempt in 0..2 {
            let token = self.api_token().await?;
            let resp = build(&self.http, &self.base)
                .header(SESSION_HEADER, &token)
                .send()
                .await
                .map_err(|e| ZitiError::ControllerUnreachable(format!("{}: {e}", self.base)))?;
            if resp.status() == StatusCode::UNAUTHORIZED && attempt == 0 {
                tracing::debug!(what, "api session rejected, authenticating again");
                self.invalidate().await;
                continue;
            }
            if !resp.status().is_success() {
                return Err(Self::error_of(resp, what).await);
            }
            return Ok(resp);
        }
        Err(ZitiError::Unauthorized(format!(
            "{what}: api session rejected twice"
        )))
    }

    /// Find a service by exact name.
    pub async fn service(&self, name: &str) -> Result<Service, ZitiError> {
        let filter = format!(
            "name=\"{}\"",
            name.replace('\\', "\\\\").replace('"', "\\\"")
        );
        let mut url = url::Url::parse(&format!("{}/services", self.base))
            .map_err(|e| ZitiError::Identity(format!("ztAPI: {e}")))?;
        url.query_pairs_mut()
            .append_pair("filter", &filter)
            .append_pair("limit", "10");
        let resp = self
            .call("list services", |c, _| c.get(url.clone()))
            .await?;
        let env: Envelope<Vec<Service>> = resp
            .json()
            .await
            .map_err(|e| ZitiError::Protocol(format!("services response: {e}")))?;
        env.data
            .into_iter()
            .find(|s| s.name == name)
            .ok_or_else(|| ZitiError::ServiceNotFound(name.to_string()))
    }

    /// Create a Dial or Bind network session for a service.
    pub async fn create_session(
        &self,
        service: &Service,
        kind: SessionKind,
    ) -> Result<NetworkSession, ZitiError> {
        let body = json!({"serviceId": service.id, "type": kind.as_str()});
        let resp = self
            .call("create session", |c, b| {
                c.post(format!("{b}/sessions")).json(&body)
            })
            .await?;
        let env: Envelope<NetworkSession> = resp
            .json()
            .await
            .map_err(|e| ZitiError::Protocol(format!("session response: {e}")))?;
        Ok(env.data)
    }

    /// Re-read a session (fresh router list), `GET /sessions/{id}`.
    pub async fn refresh_session(&self, id: &str) -> Result<NetworkSession, ZitiError> {
        let resp = self
            .call("get session", |c, b| c.get(format!("{b}/sessions/{id}")))
            .await
            .map_err(|e| match e {
                ZitiError::Controller { status: 404, .. } => ZitiError::SessionExpired,
                e => e,
            })?;
        let env: Envelope<NetworkSession> = resp
            .json()
            .await
            .map_err(|e| ZitiError::Protocol(format!("session response: {e}")))?;
        Ok(env.data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn router_addresses() {
        let r: EdgeRouter = serde_json::from_str(
            r#"{"name":"r1","supportedProtocols":{"tls":"tls:127.0.0.1:3022"},"urls":{"tls":"tls://old:1"}}"#,
        )
        .unwrap();
        assert_eq!(r.tls_addr().as_deref(), Some("127.0.0.1:3022"));
        let r: EdgeRouter =
            serde_json::from_str(r#"{"name":"r1","urls":{"tls":"tls://h:9"}}"#).unwrap();
        assert_eq!(r.tls_addr().as_deref(), Some("h:9"));
        let r: EdgeRouter =
            serde_json::from_str(r#"{"name":"r1","urls":{"wss":"wss://h:9"}}"#).unwrap();
        assert_eq!(r.tls_addr(), None);
    }

    #[test]
    fn scrub_hides_tokens_in_peer_messages() {
        let t = "0123456789abcdef-secret";
        let m = scrub(&format!("no api session found for token [{t}]"), t);
        assert!(!m.contains(t), "{m}");
        assert!(m.contains("012345…"), "{m}");
    }

    #[test]
    fn session_debug_hides_token() {
        let s = NetworkSession {
            id: "id".into(),
            token: "0123456789abcdef".into(),
            edge_routers: vec![],
        };
        let d = format!("{s:?}");
        assert!(!d.contains("0123456789abcdef"), "{d}");
    }
}
