//! The validated configuration: its types, their defaults, and `Debug` output that hides secrets.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use super::values::glob_match;
use crate::core::live::state::{ToolFilter as FilterResult, TransportKind};

/// Default aggregator name reported to MCP clients.
const DEFAULT_NAME: &str = "mcp-gateway";
const DEFAULT_VERSION: &str = "1.0.0";
pub(super) const DEFAULT_SEPARATOR: &str = "_";
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(60);
/// mcpz extension: idle client sessions are closed after this long.
const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// mcpz extension: largest JSON-RPC message accepted, in bytes (16 MiB).
const DEFAULT_MAX_MESSAGE_SIZE: usize = 16 * 1024 * 1024;
const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_MAX_HALF_OPEN: usize = 1024;
const DEFAULT_HEALTH_INTERVAL: Duration = Duration::from_secs(30);
const DEFAULT_HEALTH_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_RESTART_ATTEMPTS: u32 = 5;
const DEFAULT_RESTART_BACKOFF: Duration = Duration::from_millis(500);
const DEFAULT_RESTART_MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Same default as the Go gateway's `DefaultOrchestratorConfig`.
const DEFAULT_ORCHESTRATOR_SOCKET: &str = "/var/run/mcp-orchestrator/orchestrator.sock";
const DEFAULT_HEARTBEAT_INTERVAL: Duration = Duration::from_secs(30);
/// mcpz extension (upstream: a fixed 5 s): wait between attempts to reach the orchestrator.
const DEFAULT_RECONNECT_INTERVAL: Duration = Duration::from_secs(5);
/// Upstream's `resilience:` defaults (v0.1.8, gateway/config.go).
const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(10);
const DEFAULT_ZERO_ESTABLISHED_GRACE: Duration = Duration::from_secs(90);
const DEFAULT_MAX_REBUILD_FAILURES: u32 = 5;
const DEFAULT_ALIVE_INTERVAL: Duration = Duration::from_secs(5 * 60);

/// A validated gateway configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub aggregator: Aggregator,
    /// At least one; ids are unique.
    pub backends: Vec<Backend>,
    /// Managed mode: serve on this existing zrok share instead of creating one.
    pub share_token: Option<String>,
    /// Orchestrator IPC: used in managed mode (`share_token` or `--share-token`), as in the Go
    /// gateway, and with `--listen` (mcpz extension); ignored when serving on a new share.
    pub orchestrator: Option<Orchestrator>,
    pub log_file: Option<PathBuf>,
    /// mcpz extension: which tools each caller may see and call (first matching rule wins; a
    /// caller no rule matches gets every tool the backends expose).
    pub access: Vec<AccessRule>,
    /// `zrok.share`: whether to serve on a zrok share, and who may access a new one.
    pub zrok_share: ZrokShare,
    /// `resilience`: the share-listener watchdog and the alive log line.
    pub resilience: Resilience,
    /// mcpz extension: `audit:`, one JSON line per call in a rotated file (docs/audit.md).
    pub audit: Option<Audit>,
    /// mcpz extension: `metrics:`, a Prometheus `/metrics` endpoint.
    pub metrics: Option<Metrics>,
    /// File name used in messages (the path as given to [`load`](super::load), or the `source` given to [`parse`](super::parse)).
    pub source: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aggregator {
    /// Server name reported to MCP clients.
    pub name: String,
    /// Server version reported to MCP clients.
    pub version: String,
    /// Between backend id and tool name in namespaced tool names (`fs_read_file`).
    pub separator: String,
    /// `aggregator.connection.connect_timeout`.
    pub connect_timeout: Duration,
    /// `aggregator.connection.call_timeout`.
    pub call_timeout: Duration,
    /// `session_idle_timeout` (upstream's name, top level) or `aggregator.session.idle_timeout`
    /// (mcpz's). Zero: sessions never end for being idle (as upstream).
    pub idle_timeout: Duration,
    /// `aggregator.max_message_size` in bytes (mcpz extension).
    pub max_message_size: usize,
    /// `aggregator.listener.header_read_timeout` (mcpz extension): how long a connection may
    /// take to deliver a request head (its first one counted from the accept).
    pub header_read_timeout: Duration,
    /// `aggregator.listener.max_half_open` (mcpz extension): connections that may wait for
    /// their first request head at once; more are closed at accept.
    pub max_half_open: usize,
    /// `aggregator.health` (mcpz extension): how idle backend connections are checked.
    pub health: Health,
    /// `aggregator.restart` (mcpz extension): how a backend connection that died is restored.
    pub restart: Restart,
}

/// `aggregator.health`: every backend connection of every session that has been idle for
/// `interval` is sent an MCP `ping`; one not answered within `timeout` counts as dead (its
/// process is terminated) and is restarted as [`Restart`] says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Health {
    /// Zero: no health checks.
    pub interval: Duration,
    pub timeout: Duration,
}

impl Default for Health {
    fn default() -> Self {
        Health {
            interval: DEFAULT_HEALTH_INTERVAL,
            timeout: DEFAULT_HEALTH_TIMEOUT,
        }
    }
}

/// `aggregator.restart`: a backend connection that dies (its process exits, its HTTP or zrok
/// connection ends, or it fails a health check) is reconnected for its session after `backoff`,
/// doubled after each failed attempt up to `max_backoff`. After `max_attempts` attempts in a
/// row without a connection that stayed up for `max_backoff`, the backend is marked failed for
/// that session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Restart {
    /// Zero: never restart (a dead backend stays down for the session).
    pub max_attempts: u32,
    pub backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for Restart {
    fn default() -> Self {
        Restart {
            max_attempts: DEFAULT_RESTART_ATTEMPTS,
            backoff: DEFAULT_RESTART_BACKOFF,
            max_backoff: DEFAULT_RESTART_MAX_BACKOFF,
        }
    }
}

impl Restart {
    /// The wait before attempt `n` (1-based): `backoff * 2^(n-1)`, at most `max_backoff`.
    pub fn delay(&self, n: u32) -> Duration {
        let factor = 1u32.checked_shl(n.saturating_sub(1)).unwrap_or(u32::MAX);
        self.backoff
            .checked_mul(factor)
            .unwrap_or(Duration::MAX)
            .min(self.max_backoff)
    }
}

impl Aggregator {
    /// The idle timeout to enforce: `Duration::MAX` (never) when configured as zero.
    pub fn effective_idle_timeout(&self) -> Duration {
        if self.idle_timeout.is_zero() {
            Duration::MAX
        } else {
            self.idle_timeout
        }
    }
}

impl Default for Aggregator {
    fn default() -> Self {
        Aggregator {
            name: DEFAULT_NAME.into(),
            version: DEFAULT_VERSION.into(),
            separator: DEFAULT_SEPARATOR.into(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            call_timeout: DEFAULT_CALL_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            max_half_open: DEFAULT_MAX_HALF_OPEN,
            health: Health::default(),
            restart: Restart::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backend {
    /// Unique; prefixes this backend's tool names. Only `A-Z a-z 0-9 _ - .`.
    pub id: String,
    /// Human-readable name for display (the Go gateway uses the id when unset).
    pub name: Option<String>,
    pub transport: Transport,
    pub tools: ToolFilter,
    /// Upstream's argument-aware path policy (`policy.paths`).
    pub policy: Vec<PathRule>,
}

/// How to reach a backend. `type: http` and `type: https` both become [`Transport::Http`]; the
/// endpoint's scheme tells them apart ([`Transport::kind`]).
#[derive(Clone, PartialEq, Eq)]
pub enum Transport {
    /// Spawn a local process and speak MCP over its stdin/stdout.
    Stdio {
        command: String,
        args: Vec<String>,
        /// Added to the gateway's own environment for the child. Values are secret-ish: never
        /// shown by `Debug`.
        env: BTreeMap<String, String>,
        /// `env_policy` (upstream's name): whether the child also inherits the gateway's own
        /// environment.
        env_policy: EnvPolicy,
        working_dir: Option<PathBuf>,
    },
    /// A remote MCP server over HTTP(S).
    Http {
        endpoint: url::Url,
        protocol: HttpProtocol,
        /// Sent with every request. Values are secret (auth tokens): never shown by `Debug`.
        headers: BTreeMap<String, String>,
        /// Only with an https endpoint.
        tls: Option<Tls>,
        /// True when a plain http:// endpoint was explicitly allowed.
        allow_insecure: bool,
        /// `allow_redirects` (upstream's opt-in): follow 3xx answers (at most 10; configured
        /// headers and credentials go to the endpoint's own host only; never https to http).
        allow_redirects: bool,
        /// `allow_environment_proxy` (upstream's opt-in): use `HTTP_PROXY` / `HTTPS_PROXY` /
        /// `NO_PROXY` from the gateway's environment (loopback is never proxied, as in Go).
        allow_environment_proxy: bool,
    },
    /// A remote mcp-bridge (or other MCP SSE server) on a private zrok share.
    Zrok { share_token: String },
}

impl Transport {
    pub fn kind(&self) -> TransportKind {
        match self {
            Transport::Stdio { .. } => TransportKind::Stdio,
            Transport::Http { endpoint, .. } if endpoint.scheme() == "https" => {
                TransportKind::Https
            }
            Transport::Http { .. } => TransportKind::Http,
            Transport::Zrok { .. } => TransportKind::Zrok,
        }
    }
}

const REDACTED: &str = "<redacted>";

struct Redacted<'a>(&'a BTreeMap<String, String>);

impl fmt::Debug for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.keys().map(|k| (k, REDACTED)))
            .finish()
    }
}

/// Endpoint without password, query or fragment (they may carry credentials).
struct SafeUrl<'a>(&'a url::Url);

impl fmt::Debug for SafeUrl<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut u = self.0.clone();
        if u.password().is_some() {
            let _ = u.set_password(Some(REDACTED));
        }
        if u.query().is_some() {
            u.set_query(Some(REDACTED));
        }
        u.set_fragment(None);
        write!(f, "\"{u}\"")
    }
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Transport::Stdio {
                command,
                args,
                env,
                env_policy,
                working_dir,
            } => f
                .debug_struct("Stdio")
                .field("command", command)
                .field("args", args)
                .field("env", &Redacted(env))
                .field("env_policy", env_policy)
                .field("working_dir", working_dir)
                .finish(),
            Transport::Http {
                endpoint,
                protocol,
                headers,
                tls,
                allow_insecure,
                allow_redirects,
                allow_environment_proxy,
            } => f
                .debug_struct("Http")
                .field("endpoint", &SafeUrl(endpoint))
                .field("protocol", protocol)
                .field("headers", &Redacted(headers))
                .field("tls", tls)
                .field("allow_insecure", allow_insecure)
                .field("allow_redirects", allow_redirects)
                .field("allow_environment_proxy", allow_environment_proxy)
                .finish(),
            Transport::Zrok { share_token } => f
                .debug_struct("Zrok")
                .field("share_token", share_token)
                .finish(),
        }
    }
}

/// `transport.env_policy` of a stdio backend (upstream's key and values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EnvPolicy {
    /// The gateway's own environment plus the configured `env` (configured entries win). The
    /// default, and the behaviour before the key existed.
    #[default]
    Additive,
    /// Exactly the configured `env`, nothing inherited (not even `PATH` or `HOME`), as upstream
    /// does. The command itself is still looked up on the gateway's `PATH`.
    Closed,
}

impl EnvPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            EnvPolicy::Additive => "additive",
            EnvPolicy::Closed => "closed",
        }
    }
}

/// MCP HTTP transport flavour. The Go gateway's default (and ours) is [`HttpProtocol::Sse`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HttpProtocol {
    /// Legacy HTTP+SSE transport (MCP 2024-11-05): GET an event stream, POST to the announced URL.
    #[default]
    Sse,
    /// Streamable HTTP transport (MCP 2025-03-26 and later).
    Streamable,
}

impl HttpProtocol {
    pub fn as_str(self) -> &'static str {
        match self {
            HttpProtocol::Sse => "sse",
            HttpProtocol::Streamable => "streamable",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tls {
    /// Extra CA certificates (PEM), added to the system roots. Checked readable at load.
    pub ca_cert_file: Option<PathBuf>,
    /// Skip certificate verification (development only; produces a warning).
    pub insecure_skip_verify: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterMode {
    /// Only tools matching a pattern are exposed.
    Allow,
    /// All tools except those matching a pattern are exposed.
    Deny,
}

impl FilterMode {
    pub fn as_str(self) -> &'static str {
        match self {
            FilterMode::Allow => "allow",
            FilterMode::Deny => "deny",
        }
    }
}

/// `zrok.share` (upstream's keys): serve on a share (`enabled`, default true); a share the
/// gateway creates is closed (its owner's account only) plus `access_grants` (account emails).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZrokShare {
    pub enabled: bool,
    pub access_grants: Vec<String>,
}

impl Default for ZrokShare {
    fn default() -> Self {
        ZrokShare {
            enabled: true,
            access_grants: Vec::new(),
        }
    }
}

/// One `policy.paths` rule: calls of `tool` (the backend's own name) must name, in `argument`, a
/// path inside one of `roots` (resolved with symlinks followed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathRule {
    pub tool: String,
    pub argument: String,
    pub roots: Vec<String>,
}

/// One `access:` rule: the callers it is for and the tools they may use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessRule {
    /// Glob patterns on the caller's name: its OpenZiti identity (a zrok environment's identity
    /// on a share), or `local` for loopback and stdio clients.
    pub callers: Vec<String>,
    /// Applied to the exposed (namespaced) tool name, after the backend's own filter.
    pub tools: ToolFilter,
}

impl AccessRule {
    pub fn matches(&self, caller: &str) -> bool {
        self.callers.iter().any(|p| glob_match(p, caller))
    }
}

/// Which tools of a backend are exposed. An empty list means no filtering (as in Go).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolFilter {
    pub mode: FilterMode,
    /// Glob patterns: `*` any run of characters, `?` exactly one character.
    pub list: Vec<String>,
}

impl ToolFilter {
    /// No filtering: every tool is exposed.
    pub fn none() -> Self {
        ToolFilter {
            mode: FilterMode::Deny,
            list: Vec::new(),
        }
    }

    pub fn is_none(&self) -> bool {
        self.list.is_empty()
    }

    /// Decides for one tool (its name at the backend). Deny mode with no matching pattern gives
    /// `Unfiltered` (exposed, no pattern applied).
    pub fn check(&self, tool: &str) -> FilterResult {
        if self.list.is_empty() {
            return FilterResult::Unfiltered;
        }
        let hit = self.list.iter().find(|p| glob_match(p, tool));
        match (self.mode, hit) {
            (FilterMode::Allow, Some(p)) => FilterResult::AllowedBy(p.clone()),
            (FilterMode::Allow, None) => FilterResult::NotAllowed,
            (FilterMode::Deny, Some(p)) => FilterResult::DeniedBy(p.clone()),
            (FilterMode::Deny, None) => FilterResult::Unfiltered,
        }
    }
}

impl Default for ToolFilter {
    fn default() -> Self {
        ToolFilter::none()
    }
}

/// `audit:` (mcpz extension): where the audit log goes and what it keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audit {
    /// `audit.file`: the current file's name; rotated files are named after it
    /// (`audit.2026-12-03.jsonl` for `audit.jsonl`), and with rotation it is a link to the newest.
    pub file: PathBuf,
    pub rotation: Rotation,
    /// `audit.max_files`: rotated files kept (the oldest are deleted); 0 keeps every file.
    pub max_files: usize,
    /// `audit.arguments`: log the arguments' values too (default: their keys only).
    pub arguments: bool,
}

/// `audit.rotation`: when a new audit file is started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Rotation {
    #[default]
    Daily,
    Hourly,
    Never,
}

impl Rotation {
    pub const NAMES: &'static [&'static str] = &["daily", "hourly", "never"];
}

/// `metrics:` (mcpz extension): where `/metrics` is served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metrics {
    /// `metrics.listen`: a TCP address (loopback unless `allow_remote`).
    pub listen: String,
    /// `metrics.allow_remote`: allow a non-loopback `listen` address.
    pub allow_remote: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Orchestrator {
    pub socket_path: PathBuf,
    pub heartbeat_interval: Duration,
    /// mcpz extension: wait between attempts to (re)connect.
    pub reconnect_interval: Duration,
}

impl Default for Orchestrator {
    fn default() -> Self {
        Orchestrator {
            socket_path: DEFAULT_ORCHESTRATOR_SOCKET.into(),
            heartbeat_interval: DEFAULT_HEARTBEAT_INTERVAL,
            reconnect_interval: DEFAULT_RECONNECT_INTERVAL,
        }
    }
}

/// `resilience:` (upstream's keys, v0.1.8): the watchdog that rebuilds a share's listener whose
/// OpenZiti terminators stay gone, and the periodic `gateway alive` log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resilience {
    /// `watchdog_enabled`: off means no watchdog and no alive line (upstream's old behaviour).
    pub watchdog_enabled: bool,
    /// `poll_interval`: how often the listener's health is read.
    pub poll_interval: Duration,
    /// `zero_established_grace`: how long the listener may have no established terminator
    /// before it is rebuilt (the OpenZiti client's own re-binding gets this long first).
    pub zero_established_grace: Duration,
    /// `max_rebuild_failures`: failed recoveries in a row before escalating.
    pub max_rebuild_failures: u32,
    /// `heartbeat_interval`: the alive log line's interval; zero: no alive line.
    pub heartbeat_interval: Duration,
}

impl Default for Resilience {
    fn default() -> Self {
        Resilience {
            watchdog_enabled: true,
            poll_interval: DEFAULT_POLL_INTERVAL,
            zero_established_grace: DEFAULT_ZERO_ESTABLISHED_GRACE,
            max_rebuild_failures: DEFAULT_MAX_REBUILD_FAILURES,
            heartbeat_interval: DEFAULT_ALIVE_INTERVAL,
        }
    }
}
