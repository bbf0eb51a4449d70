//! What an operator watches from outside: the audit log (one JSON line per call, docs/audit.md)
//! and Prometheus metrics (`/metrics`). Both hang off one [`Observer`] on the engine, told about
//! every finished call by the engine's recording sites (docs/architecture.md) and never asked
//! anything back: a call never waits on a disk or a scraper.
//!
//! - `audit`: the line format and the rotated, non-blocking file writer;
//! - `metrics`: counters and histograms with bounded labels, and their text encoding;
//! - `serve`: the loopback HTTP endpoint that serves them.
//!
//! Setup is two steps, so that a bad audit path or metrics address fails before any backend is
//! started: [`prepare`] opens the file and binds the listener, [`Prepared::attach`] hooks them to
//! the started engine.

use std::sync::Arc;
use std::time::Duration;

use rmcp::model::JsonObject;
use serde_json::value::RawValue;
use tokio_util::sync::CancellationToken;

use crate::core::config;
use crate::core::engine::Engine;
use crate::core::live::state::{CallOutcome, CallPath};
use crate::core::wire::frame::CallParams;

mod audit;
#[doc(hidden)]
pub mod bench;
mod metrics;
mod serve;

/// Why the gateway refused a call itself; the client learns only `unknown tool` (or the path
/// policy's tool error), the audit log and the metrics learn which rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Denied {
    /// No backend serves the name.
    UnknownTool,
    /// `backends[i].tools`, the backend's own filter, hides it.
    Filter(usize),
    /// `access[r]`, the caller's first matching rule, hides it.
    Access(usize),
    /// `backends[i].policy.paths` refused its path argument.
    Policy(usize),
}

impl Denied {
    /// The rule, as the config's field path (`access[1]`), or `unknown_tool`.
    pub(crate) fn rule(self) -> String {
        match self {
            Denied::UnknownTool => "unknown_tool".into(),
            Denied::Filter(i) => format!("backends[{i}].tools"),
            Denied::Access(r) => format!("access[{r}]"),
            Denied::Policy(i) => format!("backends[{i}].policy.paths"),
        }
    }
}

/// How a call ended, as the audit log and the metrics count it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Ok,
    ToolError,
    Error(i32),
    Timeout,
    Cancelled,
    Denied(Denied),
}

impl Outcome {
    /// The label values, in [`Outcome::index`] order.
    pub(crate) const LABELS: [&'static str; 6] = [
        "ok",
        "tool_error",
        "error",
        "timeout",
        "cancelled",
        "denied",
    ];

    pub(crate) fn of(o: &CallOutcome, denied: Option<Denied>) -> Outcome {
        if let Some(d) = denied {
            return Outcome::Denied(d);
        }
        match o {
            CallOutcome::Ok => Outcome::Ok,
            CallOutcome::ToolError(_) => Outcome::ToolError,
            CallOutcome::Error(c, _) => Outcome::Error(*c),
            CallOutcome::Timeout => Outcome::Timeout,
            CallOutcome::Cancelled => Outcome::Cancelled,
            CallOutcome::Denied(_) => Outcome::Error(crate::core::engine::INVALID_PARAMS),
        }
    }

    pub(crate) fn index(self) -> usize {
        match self {
            Outcome::Ok => 0,
            Outcome::ToolError => 1,
            Outcome::Error(_) => 2,
            Outcome::Timeout => 3,
            Outcome::Cancelled => 4,
            Outcome::Denied(_) => 5,
        }
    }

    pub(crate) fn label(self) -> &'static str {
        Self::LABELS[self.index()]
    }
}

/// One finished call, borrowed from the recording site.
pub(crate) struct CallInfo<'a> {
    /// The engine's session id (`s3-1a2b3c`), as the logs and the console show it.
    pub session: &'a str,
    /// The caller's name (`local`, an OpenZiti identity).
    pub caller: &'a str,
    /// The backend's id; `None` when no backend serves the name.
    pub backend: Option<&'a str>,
    /// `tools/call`, `prompts/get`, `resources/read`.
    pub method: &'a str,
    /// The exposed tool or prompt name, or the resource URI.
    pub target: &'a str,
    pub duration: Duration,
    pub outcome: Outcome,
    pub path: CallPath,
}

/// A call's arguments, as the recording site has them.
pub(crate) enum Args<'a> {
    None,
    /// Decoded (the rmcp path).
    Json(&'a JsonObject),
    /// Raw JSON text (the fast path): read here only while the audit log is on.
    Raw(&'a RawValue),
}

impl<'a> Args<'a> {
    /// The `arguments` of the fast path's raw `tools/call` params.
    pub(crate) fn of_call(p: &'a CallParams<'_>) -> Args<'a> {
        match p.rest.iter().find(|(k, _)| k == "arguments") {
            Some((_, v)) => Args::Raw(v),
            None => Args::None,
        }
    }
}

/// What the observer keeps of a call's request, taken when the call starts (on the fast path
/// the request frame is gone when the call ends). Nothing is allocated while the audit log is
/// off.
#[derive(Debug, Default)]
pub(crate) struct Detail {
    denied: Option<Denied>,
    audit: Option<Box<audit::Request>>,
}

impl Detail {
    /// The same call, refused by the gateway for `why`.
    pub(crate) fn denied(mut self, why: Denied) -> Detail {
        self.denied = Some(why);
        self
    }

    /// How the call counts: `o`, unless the gateway refused it.
    pub(crate) fn outcome(&self, o: &CallOutcome) -> Outcome {
        Outcome::of(o, self.denied)
    }
}

/// The engine's observer: the audit log and the metrics, each when configured.
pub struct Observer {
    audit: Option<audit::AuditLog>,
    metrics: Option<metrics::Metrics>,
    metrics_url: Option<String>,
}

impl Observer {
    /// Whether the audit log is on (it needs the caller and the request; metrics do not).
    pub(crate) fn audits(&self) -> bool {
        self.audit.is_some()
    }

    /// What the audit log needs of a call of the backend's tool `original` (`None`: no backend
    /// serves the name) with `args`.
    pub(crate) fn detail(&self, original: Option<&str>, args: Args<'_>) -> Detail {
        Detail {
            denied: None,
            audit: self.audit.as_ref().map(|a| a.request(original, args)),
        }
    }

    /// A finished (or refused) call.
    pub(crate) fn call(&self, c: &CallInfo<'_>, d: &Detail) {
        if let Some(m) = &self.metrics {
            m.call(c);
        }
        if let Some(a) = &self.audit {
            a.write(c, d.audit.as_deref());
        }
    }

    /// Count a restart of backend `id` (`mcpz_backend_restarts_total`).
    pub fn backend_restarted(&self, id: &str) {
        if let Some(m) = &self.metrics {
            m.backend_restarted(id);
        }
    }

    /// Hand the audit lines still pending to the writer thread.
    pub(crate) fn flush(&self) {
        if let Some(a) = &self.audit {
            a.flush();
        }
    }

    /// `http://ADDR/metrics`, when metrics are served.
    pub fn metrics_url(&self) -> Option<&str> {
        self.metrics_url.as_deref()
    }

    /// The Prometheus text exposition of every metric.
    pub(crate) fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        if let Some(m) = &self.metrics {
            m.encode(&mut out, self.audit.as_ref().map(|a| a.dropped()));
        }
        out
    }
}

/// Where to serve `/metrics`, and where the address came from (for messages).
pub struct MetricsBind {
    pub addr: String,
    pub allow_remote: bool,
    /// `--metrics` or `metrics.listen (FILE)`.
    pub source: String,
}

/// The audit file and the metrics listener, open but not yet attached to an engine.
pub struct Prepared {
    audit: Option<(audit::AuditLog, tracing_appender::non_blocking::WorkerGuard)>,
    metrics: Option<serve::MetricsListener>,
}

/// Open the audit file and bind the metrics listener. Errors name the key or flag.
pub async fn prepare(
    audit: Option<&config::Audit>,
    metrics: Option<&MetricsBind>,
) -> Result<Prepared, String> {
    let audit = audit.map(audit::AuditLog::open).transpose()?;
    let metrics = match metrics {
        Some(b) => Some(serve::bind(b).await?),
        None => None,
    };
    Ok(Prepared { audit, metrics })
}

/// Keeps the audit writer flushing and the metrics endpoint serving; dropping it writes out
/// the pending and queued audit lines (for at most a second) and stops the endpoint.
pub struct OpsGuard {
    observer: Arc<Observer>,
    /// Dropped after `drop` has handed over the last lines: the writer thread writes them out.
    _audit: Option<tracing_appender::non_blocking::WorkerGuard>,
    stop: CancellationToken,
}

impl Drop for OpsGuard {
    fn drop(&mut self) {
        self.stop.cancel();
        self.observer.flush();
    }
}

impl Prepared {
    /// Whether anything is configured at all.
    pub fn is_empty(&self) -> bool {
        self.audit.is_none() && self.metrics.is_none()
    }

    /// Hook the audit log and the metrics to `engine` and start serving `/metrics` (until the
    /// engine shuts down or the guard is dropped).
    pub fn attach(self, engine: &Arc<Engine>) -> OpsGuard {
        let stop = engine.shutdown.child_token();
        let (audit, guard) = match self.audit {
            Some((a, g)) => (Some(a), Some(g)),
            None => (None, None),
        };
        let metrics_url = self.metrics.as_ref().map(|l| l.url.clone());
        let ids: Vec<String> = engine
            .catalog()
            .backends
            .iter()
            .map(|b| b.id().to_string())
            .collect();
        let metrics = self
            .metrics
            .is_some()
            .then(|| metrics::Metrics::new(engine.hub.clone(), ids));
        let observer = Arc::new(Observer {
            audit,
            metrics,
            metrics_url,
        });
        engine.observe(observer.clone());
        if let Some(l) = self.metrics {
            tracing::info!(metrics_url = %l.url, "serving metrics");
            tokio::spawn(serve::serve(l, observer.clone(), stop.clone()));
        }
        if observer.audits() {
            let (obs, stop) = (observer.clone(), stop.clone());
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(audit::FLUSH_EVERY);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        _ = tick.tick() => obs.flush(),
                    }
                }
            });
        }
        OpsGuard {
            observer,
            _audit: guard,
            stop,
        }
    }
}
