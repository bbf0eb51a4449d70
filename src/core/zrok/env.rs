//! The zrok2 environment on disk (`~/.zrok2`), read the way the zrok2 v2.0.x CLI reads it.
//!
//! Layout (zrok @v2.0.4: environment/env_v0_4):
//! * `metadata.json` `{"v":"v0.4"}` — without it (or with another version) the CLI silently treats
//!   the directory as empty. The Python SDK writes `"v2.0"`; that is tolerated here too.
//! * `config.json` — `api_endpoint`, `default_namespace`, `headless`, `super_network`.
//! * `environment.json` — `zrok_token` (account token), `ziti_identity` (envZId), `api_endpoint`.
//! * `identities/environment.json` — the OpenZiti identity used for binding and dialing; only its
//!   path is exposed here.
//!
//! Like the CLI, an unreadable or malformed `config.json`/`environment.json` does not fail the load:
//! the file counts as absent. [`Root::require_enabled`] then reports why in [`NotEnabled::reason`].

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::core::redact::token_prefix;

/// The endpoint used when nothing else is configured.
const DEFAULT_API_ENDPOINT: &str = "https://api-v2.zrok.io";
/// Environment variable overriding the configured endpoint (ignored once the environment is enabled).
const API_ENDPOINT_VAR: &str = "ZROK2_API_ENDPOINT";
/// Metadata version written by the Go CLI.
const METADATA_VERSION: &str = "v0.4";
/// Metadata version label used by the Python SDK (tolerated when reading).
const METADATA_VERSION_PY: &str = "v2.0";

/// Where the API endpoint came from (labels as printed by `zrok2 status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointSource {
    /// Built-in default.
    Binary,
    /// `config.json` `api_endpoint`.
    Config,
    /// The `ZROK2_API_ENDPOINT` environment variable.
    EnvVar,
    /// `environment.json` of an enabled environment (always wins).
    Environment,
}

impl EndpointSource {
    /// The label `zrok2 status` prints.
    pub fn label(self) -> &'static str {
        match self {
            EndpointSource::Binary => "binary",
            EndpointSource::Config => "config",
            EndpointSource::EnvVar => API_ENDPOINT_VAR,
            EndpointSource::Environment => "env",
        }
    }
}

impl fmt::Display for EndpointSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// The resolved API endpoint (trailing `/` removed) and its source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiEndpoint {
    pub url: String,
    pub source: EndpointSource,
}

/// `config.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Config {
    pub api_endpoint: String,
    pub default_namespace: String,
    pub headless: bool,
    pub super_network: bool,
}

/// `environment.json` of an enabled environment.
#[derive(Clone, PartialEq, Eq)]
pub struct Environment {
    account_token: String,
    env_zid: String,
    api_endpoint: String,
}

impl Environment {
    /// The account token (send as `X-TOKEN`; never log it).
    pub(crate) fn account_token(&self) -> &str {
        &self.account_token
    }
    /// The environment's Ziti identity id (`envZId`).
    pub fn env_zid(&self) -> &str {
        &self.env_zid
    }
    /// `api_endpoint` exactly as stored.
    pub fn api_endpoint(&self) -> &str {
        &self.api_endpoint
    }
}

impl fmt::Debug for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Environment")
            .field("account_token", &token_prefix(&self.account_token))
            .field("env_zid", &self.env_zid)
            .field("api_endpoint", &self.api_endpoint)
            .finish()
    }
}

#[derive(Deserialize)]
struct EnvironmentFile {
    #[serde(default)]
    zrok_token: String,
    #[serde(default)]
    ziti_identity: String,
    #[serde(default)]
    api_endpoint: String,
}

#[derive(Deserialize)]
struct MetadataFile {
    #[serde(default)]
    v: String,
}

/// The environment is not enabled (or not usable).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("zrok environment is not enabled")]
pub struct NotEnabled {
    root: PathBuf,
    reason: String,
}

impl NotEnabled {
    /// What to do about it.
    pub fn hint(&self) -> &'static str {
        "run 'zrok2 enable <token>' (or serve on loopback with --listen 127.0.0.1:0)"
    }
    /// Why the environment at [`NotEnabled::root`] counts as not enabled.
    pub fn reason(&self) -> &str {
        &self.reason
    }
    /// The directory that was looked at.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

/// A loaded `~/.zrok2` (possibly empty).
#[derive(Debug, Clone)]
pub struct Root {
    path: PathBuf,
    metadata_version: Option<String>,
    config: Option<Config>,
    environment: Option<Environment>,
    /// Why `environment` is `None`.
    not_enabled_reason: String,
    endpoint_var: Option<String>,
}

/// `$HOME/.zrok2`, or `None` when `HOME` is unset or empty.
fn default_root_dir() -> Option<PathBuf> {
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty())?;
    Some(PathBuf::from(home).join(".zrok2"))
}

impl Root {
    /// Load `$HOME/.zrok2` (with `ZROK2_API_ENDPOINT` from the process environment).
    pub fn load() -> Root {
        match default_root_dir() {
            Some(dir) => Root::load_from(dir),
            None => Root {
                path: PathBuf::from("~/.zrok2"),
                metadata_version: None,
                config: None,
                environment: None,
                not_enabled_reason: "HOME is not set".into(),
                endpoint_var: std::env::var(API_ENDPOINT_VAR).ok(),
            },
        }
    }

    /// Load a root directory given explicitly (e.g. `<some HOME>/.zrok2`), with
    /// `ZROK2_API_ENDPOINT` from the process environment.
    pub fn load_from(dir: impl Into<PathBuf>) -> Root {
        Root::load_with(dir, std::env::var(API_ENDPOINT_VAR).ok())
    }

    /// Load a root directory with an explicit value for `ZROK2_API_ENDPOINT` (for tests).
    pub fn load_with(dir: impl Into<PathBuf>, endpoint_var: Option<String>) -> Root {
        let path = dir.into();
        let mut root = Root {
            path,
            metadata_version: None,
            config: None,
            environment: None,
            not_enabled_reason: String::new(),
            endpoint_var,
        };
        let meta_path = root.path.join("metadata.json");
        let meta = match std::fs::read(&meta_path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                root.not_enabled_reason = format!("{} does not exist", meta_path.display());
                return root;
            }
            Err(e) => {
                root.not_enabled_reason = format!("cannot read {}: {e}", meta_path.display());
                return root;
            }
        };
        match serde_json::from_slice::<MetadataFile>(&meta) {
            Ok(m) if m.v == METADATA_VERSION || m.v == METADATA_VERSION_PY => {
                root.metadata_version = Some(m.v);
            }
            Ok(m) => {
                root.not_enabled_reason = format!(
                    "{} has version '{}', expected '{METADATA_VERSION}'",
                    meta_path.display(),
                    m.v
                );
                return root;
            }
            Err(e) => {
                root.not_enabled_reason = format!("{} is not valid JSON: {e}", meta_path.display());
                return root;
            }
        }

        if let Ok(b) = std::fs::read(root.path.join("config.json")) {
            root.config = serde_json::from_slice::<Config>(&b).ok();
        }

        let env_path = root.path.join("environment.json");
        match std::fs::read(&env_path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                root.not_enabled_reason = format!("{} does not exist", env_path.display());
            }
            Err(e) => {
                root.not_enabled_reason = format!("cannot read {}: {e}", env_path.display());
            }
            Ok(b) => match serde_json::from_slice::<EnvironmentFile>(&b) {
                Err(e) => {
                    root.not_enabled_reason =
                        format!("{} is not valid JSON: {e}", env_path.display());
                }
                Ok(f) if f.zrok_token.is_empty() || f.ziti_identity.is_empty() => {
                    root.not_enabled_reason = format!(
                        "{} has no zrok_token or no ziti_identity",
                        env_path.display()
                    );
                }
                Ok(f) => {
                    let mut api_endpoint = f.api_endpoint;
                    // The CLI's auto-rebase of v1 endpoints (it also rewrites the file; we only read).
                    if api_endpoint.starts_with("https://api.zrok.io") {
                        api_endpoint = DEFAULT_API_ENDPOINT.to_string();
                    }
                    root.environment = Some(Environment {
                        account_token: f.zrok_token,
                        env_zid: f.ziti_identity,
                        api_endpoint,
                    });
                }
            },
        }
        root
    }

    /// The root directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `metadata.json` `v`, when it is an accepted version.
    pub fn metadata_version(&self) -> Option<&str> {
        self.metadata_version.as_deref()
    }

    /// `config.json`, when present and valid.
    pub fn config(&self) -> Option<&Config> {
        self.config.as_ref()
    }

    #[cfg(test)]
    fn is_enabled(&self) -> bool {
        self.environment.is_some()
    }

    /// The enabled environment, if any.
    pub fn environment(&self) -> Option<&Environment> {
        self.environment.as_ref()
    }

    /// The enabled environment, or a [`NotEnabled`] error saying why not.
    pub fn require_enabled(&self) -> Result<&Environment, NotEnabled> {
        self.environment.as_ref().ok_or_else(|| NotEnabled {
            root: self.path.clone(),
            reason: self.not_enabled_reason.clone(),
        })
    }

    /// The OpenZiti identity file of the environment (`identities/environment.json`).
    pub fn identity_path(&self) -> PathBuf {
        self.path.join("identities").join("environment.json")
    }

    /// The API endpoint, resolved like `zrok2` (later rules win): built-in default, `config.json`,
    /// `ZROK2_API_ENDPOINT`, and for an enabled environment its `api_endpoint`. A trailing `/` is
    /// removed.
    pub fn api_endpoint(&self) -> ApiEndpoint {
        let mut url = DEFAULT_API_ENDPOINT.to_string();
        let mut source = EndpointSource::Binary;
        if let Some(c) = &self.config {
            if !c.api_endpoint.is_empty() {
                url = c.api_endpoint.clone();
                source = EndpointSource::Config;
            }
        }
        if let Some(v) = self.endpoint_var.as_deref().filter(|v| !v.is_empty()) {
            url = v.to_string();
            source = EndpointSource::EnvVar;
        }
        if let Some(e) = self
            .environment
            .as_ref()
            .filter(|e| !e.api_endpoint.is_empty())
        {
            url = e.api_endpoint.clone();
            source = EndpointSource::Environment;
        }
        while url.ends_with('/') {
            url.pop();
        }
        ApiEndpoint { url, source }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        let p = dir.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    /// A zrok root (metadata v0.4) holding `files`.
    fn root_v04(files: &[(&str, &str)]) -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        write(t.path(), "metadata.json", r#"{"v":"v0.4"}"#);
        for (name, text) in files {
            write(t.path(), name, text);
        }
        t
    }

    const ENV: &str = r#"{
  "zrok_token": "abcdefghijkl",
  "ziti_identity": "z9k8qwh32O",
  "api_endpoint": "http://127.0.0.1:18080/"
}"#;

    #[test]
    fn missing_dir_is_not_enabled() {
        let t = tempfile::tempdir().unwrap();
        let r = Root::load_with(t.path().join("nope"), None);
        assert!(!r.is_enabled());
        let e = r.require_enabled().unwrap_err();
        assert_eq!(e.to_string(), "zrok environment is not enabled");
        assert_eq!(
            e.hint(),
            "run 'zrok2 enable <token>' (or serve on loopback with --listen 127.0.0.1:0)"
        );
        assert!(e.reason().contains("metadata.json"), "{}", e.reason());
        let ep = r.api_endpoint();
        assert_eq!(ep.url, DEFAULT_API_ENDPOINT);
        assert_eq!(ep.source.label(), "binary");
    }

    #[test]
    fn enabled_environment() {
        let t = root_v04(&[("environment.json", ENV)]);
        let r = Root::load_with(t.path(), Some("http://ignored:1".into()));
        let e = r.require_enabled().unwrap();
        assert_eq!(e.account_token(), "abcdefghijkl");
        assert_eq!(e.env_zid(), "z9k8qwh32O");
        let ep = r.api_endpoint();
        assert_eq!(ep.url, "http://127.0.0.1:18080");
        assert_eq!(ep.source, EndpointSource::Environment);
        assert_eq!(ep.source.label(), "env");
        assert_eq!(
            r.identity_path(),
            t.path().join("identities/environment.json")
        );
        let dbg = format!("{r:?}");
        assert!(!dbg.contains("abcdefghijkl"), "{dbg}");
        assert!(dbg.contains("abcd…"), "{dbg}");
    }

    #[test]
    fn python_metadata_tolerated_other_versions_not() {
        let t = tempfile::tempdir().unwrap();
        write(t.path(), "metadata.json", r#"{"v":"v2.0"}"#);
        write(t.path(), "environment.json", ENV);
        assert!(Root::load_with(t.path(), None).is_enabled());
        write(t.path(), "metadata.json", r#"{"v":"v0.3"}"#);
        let r = Root::load_with(t.path(), None);
        assert!(!r.is_enabled());
        assert!(r.require_enabled().unwrap_err().reason().contains("v0.3"));
        write(t.path(), "metadata.json", "not json");
        assert!(!Root::load_with(t.path(), None).is_enabled());
    }

    #[test]
    fn endpoint_precedence_without_environment() {
        let t = root_v04(&[(
            "config.json",
            "{\n  \"api_endpoint\": \"https://zrok.example//\",\n  \"headless\": true\n}",
        )]);
        let r = Root::load_with(t.path(), None);
        assert!(r.config().unwrap().headless);
        assert_eq!(
            r.api_endpoint(),
            ApiEndpoint {
                url: "https://zrok.example".into(),
                source: EndpointSource::Config
            }
        );
        let r = Root::load_with(t.path(), Some("http://127.0.0.1:9/".into()));
        assert_eq!(r.api_endpoint().url, "http://127.0.0.1:9");
        assert_eq!(r.api_endpoint().source.label(), "ZROK2_API_ENDPOINT");
        // An empty variable does not count.
        let r = Root::load_with(t.path(), Some(String::new()));
        assert_eq!(r.api_endpoint().source, EndpointSource::Config);
    }

    #[test]
    fn malformed_files_count_as_absent() {
        let t = root_v04(&[("config.json", "{broken"), ("environment.json", "[]")]);
        let r = Root::load_with(t.path(), None);
        assert!(r.config().is_none());
        let e = r.require_enabled().unwrap_err();
        assert!(e.reason().contains("environment.json"), "{}", e.reason());
        write(
            t.path(),
            "environment.json",
            r#"{"zrok_token":"","ziti_identity":"x"}"#,
        );
        assert!(!Root::load_with(t.path(), None).is_enabled());
    }

    #[test]
    fn v1_endpoint_is_rebased() {
        let t = root_v04(&[(
            "environment.json",
            r#"{"zrok_token":"abcdefghijkl","ziti_identity":"z","api_endpoint":"https://api.zrok.io"}"#,
        )]);
        assert_eq!(
            Root::load_with(t.path(), None).api_endpoint().url,
            DEFAULT_API_ENDPOINT
        );
    }
}
