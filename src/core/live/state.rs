//! Live state the engine publishes for the console and for tests.
//!
//! The engine keeps a [`Snapshot`] on a `tokio::sync::watch` channel (replaced whole, at most every
//! few hundred milliseconds or on a structural change) and sends [`Event`]s on a
//! `tokio::sync::broadcast` channel as things happen. Consumers never block the engine: a lagging
//! broadcast receiver loses old events, never stalls a call.

use std::time::{Duration, SystemTime};

use serde::Serialize;

/// Where the gateway is reachable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Serving {
    /// Serving on a loopback (or other) TCP address.
    Loopback { mcp_url: String, sse_url: String },
    /// Serving on a zrok private share.
    Zrok {
        api_endpoint: String,
        share_token: String,
        /// True when the share was created by this process and will be deleted on exit.
        ephemeral: bool,
    },
    /// Not serving yet.
    Starting,
}

/// Transport kind of a backend, for display.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum TransportKind {
    Stdio,
    Http,
    Https,
    Zrok,
}

impl TransportKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TransportKind::Stdio => "stdio",
            TransportKind::Http => "http",
            TransportKind::Https => "https",
            TransportKind::Zrok => "zrok",
        }
    }
}

/// Health of a backend as seen by the gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum BackendStatus {
    /// Connecting / discovering at start or on restart.
    Starting,
    /// Discovery succeeded; sessions can use it.
    Ready,
    /// Ready, but recent calls failed (last error kept in `last_error`).
    Degraded,
    /// Discovery failed or the backend is unusable.
    Failed,
    /// Stopped on shutdown.
    Stopped,
}

impl BackendStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            BackendStatus::Starting => "starting",
            BackendStatus::Ready => "ready",
            BackendStatus::Degraded => "degraded",
            BackendStatus::Failed => "failed",
            BackendStatus::Stopped => "stopped",
        }
    }
}

/// Latency summary over a bounded window of recent calls.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Latency {
    pub p50: Option<Duration>,
    pub p95: Option<Duration>,
    pub max: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BackendState {
    pub id: String,
    pub name: Option<String>,
    pub transport: TransportKind,
    /// Command line, endpoint URL or share token prefix, for display (never secrets).
    pub target: String,
    pub status: BackendStatus,
    pub tools_exposed: usize,
    pub tools_total: usize,
    pub resources: usize,
    pub prompts: usize,
    /// Sessions currently holding a connection to this backend.
    pub sessions: usize,
    pub calls: u64,
    pub errors: u64,
    pub latency: Latency,
    pub last_error: Option<String>,
    /// Server info reported by the backend at initialize (`name version`).
    pub server_info: Option<String>,
    pub protocol_version: Option<String>,
    /// Connections of this backend restored after they died (`aggregator.restart`), over all
    /// sessions.
    pub restarts: u64,
    /// Sessions whose connection to this backend is down: being restarted, or given up.
    pub restarting: usize,
    pub failed_sessions: usize,
    /// Round trip of the last health ping a connection of this backend answered.
    pub last_ping: Option<Duration>,
}

impl BackendState {
    /// A backend about to be discovered.
    pub fn starting(
        id: &str,
        name: Option<String>,
        transport: TransportKind,
        target: String,
    ) -> Self {
        BackendState {
            id: id.to_string(),
            name,
            transport,
            target,
            status: BackendStatus::Starting,
            tools_exposed: 0,
            tools_total: 0,
            resources: 0,
            prompts: 0,
            sessions: 0,
            calls: 0,
            errors: 0,
            latency: Latency::default(),
            last_error: None,
            server_info: None,
            protocol_version: None,
            restarts: 0,
            restarting: 0,
            failed_sessions: 0,
            last_ping: None,
        }
    }

    /// The status that follows from the sessions' connections: failed while some session gave
    /// up on it, degraded while some session restarts it, else ready (a backend that is
    /// starting or stopped keeps that).
    pub(crate) fn settle(&mut self) {
        if matches!(
            self.status,
            BackendStatus::Starting | BackendStatus::Stopped
        ) {
            return;
        }
        self.status = if self.failed_sessions > 0 {
            BackendStatus::Failed
        } else if self.restarting > 0 {
            BackendStatus::Degraded
        } else {
            BackendStatus::Ready
        };
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionState {
    pub id: String,
    /// Client name and version from initialize, if known.
    pub client: Option<String>,
    /// Remote peer (`127.0.0.1:50123`, or the OpenZiti caller).
    pub remote: String,
    /// Who is calling: the OpenZiti identity, `local` (loopback, stdio), or `?` until known.
    pub caller: String,
    /// `streamable`, `sse` or `stdio`.
    pub transport: String,
    pub protocol_version: Option<String>,
    pub opened_at: SystemTime,
    pub last_activity: SystemTime,
    pub calls: u64,
    pub errors: u64,
    /// Last tool called (namespaced), if any.
    pub last_call: Option<String>,
}

/// Why a tool is visible or hidden.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum ToolFilter {
    /// No filter configured for the backend.
    Unfiltered,
    /// Allowed by this allow-list pattern.
    AllowedBy(String),
    /// Not matched by any allow-list pattern.
    NotAllowed,
    /// Denied by this deny-list pattern.
    DeniedBy(String),
}

impl ToolFilter {
    pub fn exposed(&self) -> bool {
        matches!(self, ToolFilter::Unfiltered | ToolFilter::AllowedBy(_))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolState {
    /// Namespaced name as clients see it (`<backend><sep><tool>`).
    pub name: String,
    /// Name at the backend.
    pub original: String,
    pub backend: String,
    pub description: Option<String>,
    /// JSON schema of the input, as the backend gave it.
    pub input_schema: serde_json::Value,
    pub filter: ToolFilter,
    pub calls: u64,
    pub errors: u64,
    pub latency: Latency,
}

impl ToolState {
    /// Tool `original` of `backend`, exposed as `name`: unfiltered, without description or
    /// schema, nothing counted.
    pub fn bare(name: &str, original: &str, backend: &str) -> ToolState {
        ToolState {
            name: name.to_string(),
            original: original.to_string(),
            backend: backend.to_string(),
            description: None,
            input_schema: serde_json::json!({}),
            filter: ToolFilter::Unfiltered,
            calls: 0,
            errors: 0,
            latency: Default::default(),
        }
    }
}

/// A zrok share known to this process (running or persistent in the environment).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShareState {
    pub token: String,
    /// `running` (this gateway serves it), `persistent` (exists in the environment).
    pub kind: String,
    pub backend_mode: String,
    pub created_at: Option<SystemTime>,
}

/// The listener of the zrok share, as its watchdog sees it (`resilience:`; present while the
/// watchdog runs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ListenerState {
    /// Established OpenZiti terminators of the current listener.
    pub terminators: usize,
    /// 0 for the listener the share started with, +1 per rebuild by the watchdog.
    pub generation: u64,
    /// Failed recoveries in a row (back to 0 once the listener is healthy).
    pub rebuild_failures: u32,
    /// Connections accepted on the share, over every generation.
    pub accepted: u64,
    /// The last accepted connection (the start of serving until the first one).
    pub last_accept: SystemTime,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GatewayInfo {
    pub name: String,
    pub version: String,
    pub separator: String,
    pub serving: Serving,
    pub started_at: SystemTime,
    /// The share listener's health (zrok share with the watchdog on), else `None`.
    pub listener: Option<ListenerState>,
    /// Counts the configuration reloads applied since start.
    pub config_generation: u64,
    /// The last reload asked for (applied or refused), if any.
    pub last_reload: Option<ReloadState>,
}

/// The outcome of a configuration reload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReloadState {
    pub at: SystemTime,
    /// False: refused, the running configuration kept.
    pub ok: bool,
    /// What changed, or every error.
    pub message: String,
}

/// The whole published state at one instant.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Snapshot {
    pub gateway: GatewayInfo,
    pub backends: Vec<BackendState>,
    pub sessions: Vec<SessionState>,
    pub tools: Vec<ToolState>,
    pub shares: Vec<ShareState>,
    pub total_calls: u64,
    pub total_errors: u64,
}

impl Snapshot {
    pub fn empty(name: &str, version: &str, separator: &str) -> Self {
        Snapshot {
            gateway: GatewayInfo {
                name: name.to_string(),
                version: version.to_string(),
                separator: separator.to_string(),
                serving: Serving::Starting,
                started_at: SystemTime::now(),
                listener: None,
                config_generation: 0,
                last_reload: None,
            },
            backends: Vec::new(),
            sessions: Vec::new(),
            tools: Vec::new(),
            shares: Vec::new(),
            total_calls: 0,
            total_errors: 0,
        }
    }
}

/// Outcome of one call through the gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum CallOutcome {
    /// The backend answered with a result (`is_error: false`).
    Ok,
    /// The backend answered with a tool result marked `is_error: true`.
    ToolError(String),
    /// JSON-RPC error from the backend or the gateway (code, message).
    Error(i32, String),
    /// `call_timeout` expired; the backend was sent `notifications/cancelled`.
    Timeout,
    /// The client cancelled.
    Cancelled,
    /// The gateway refused the call itself, by this rule (`unknown_tool`, `backends[0].tools`,
    /// `access[1]`); the client was told `unknown tool`.
    Denied(String),
}

impl CallOutcome {
    pub fn is_ok(&self) -> bool {
        matches!(self, CallOutcome::Ok)
    }
}

/// Which path a call took through the gateway (docs/architecture.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub enum CallPath {
    /// Decoded and forwarded by the rmcp service (every method).
    #[default]
    Full,
    /// A `tools/call` forwarded as a raw frame.
    Fast,
}

impl CallPath {
    pub fn as_str(self) -> &'static str {
        match self {
            CallPath::Full => "rmcp",
            CallPath::Fast => "fast",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallEvent {
    pub at: SystemTime,
    pub session: String,
    /// Who called: the session's OpenZiti identity, `local`, or `console`.
    pub caller: String,
    pub backend: String,
    /// MCP method (`tools/call`, `resources/read`, `prompts/get`, ...).
    pub method: String,
    /// Namespaced tool / prompt name, or resource URI.
    pub target: String,
    pub duration: Duration,
    pub outcome: CallOutcome,
    pub path: CallPath,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogLine {
    pub at: SystemTime,
    pub level: LogLevel,
    /// tracing target (module path) or `backend:<id>` for captured child stderr.
    pub target: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Event {
    SessionOpened {
        id: String,
        remote: String,
        transport: String,
    },
    SessionClosed {
        id: String,
        reason: String,
    },
    Call(CallEvent),
    BackendStatus {
        id: String,
        status: BackendStatus,
        error: Option<String>,
    },
    /// The configuration was reloaded (`ok`), or a reload was refused and the running
    /// configuration kept; `message` says what changed or every error.
    Reload {
        ok: bool,
        message: String,
    },
    Log(LogLine),
}
