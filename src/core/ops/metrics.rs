//! Prometheus metrics, with a hand-written registry and text encoder: every series is a fixed
//! array of atomics (per backend, per tool) made once, so counting a call is a hash lookup
//! under a read lock and three atomic adds, without allocating; the text format needs a few
//! dozen lines (docs/audit.md lists the metrics).
//!
//! Labels are bounded: backends are the configured ones, and a tool becomes a label only when
//! it is in the catalog the backends advertised (the hub's tools), at most [`MAX_TOOL_SERIES`]
//! in all; every other name a client sends is counted under `tool="(other)"`, and a call no
//! backend serves under `backend="(none)"`. Error codes are not labels (the audit log has them).
//!
//! Sessions, backend status and where the gateway serves are read from the hub when scraped.

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use super::{CallInfo, Outcome};
use crate::core::live::hub::Hub;
use crate::core::live::state::{BackendStatus, CallPath, Serving};

/// Tool series at most (over all backends); names beyond count as `(other)`.
pub(crate) const MAX_TOOL_SERIES: usize = 2048;
/// The label of tool names that are not in the catalog.
pub(crate) const OTHER_TOOL: &str = "(other)";
/// The backend label of calls no backend serves.
pub(crate) const NO_BACKEND: &str = "(none)";

/// Latency buckets (seconds), as text and as nanoseconds.
const BUCKETS: [(&str, u64); 16] = [
    ("0.0005", 500_000),
    ("0.001", 1_000_000),
    ("0.0025", 2_500_000),
    ("0.005", 5_000_000),
    ("0.01", 10_000_000),
    ("0.025", 25_000_000),
    ("0.05", 50_000_000),
    ("0.1", 100_000_000),
    ("0.25", 250_000_000),
    ("0.5", 500_000_000),
    ("1", 1_000_000_000),
    ("2.5", 2_500_000_000),
    ("5", 5_000_000_000),
    ("10", 10_000_000_000),
    ("30", 30_000_000_000),
    ("60", 60_000_000_000),
];
const PATHS: [&str; 2] = ["rmcp", "fast"];
const STATUSES: [&str; 5] = ["starting", "ready", "degraded", "failed", "stopped"];

/// Calls of one (backend, tool) series, by outcome and path.
#[derive(Default)]
struct Counts([AtomicU64; Outcome::LABELS.len() * PATHS.len()]);

impl Counts {
    fn add(&self, outcome: Outcome, path: CallPath) {
        let p = matches!(path, CallPath::Fast) as usize;
        self.0[outcome.index() * PATHS.len() + p].fetch_add(1, Ordering::Relaxed);
    }
}

#[derive(Default)]
struct Histogram {
    /// Per bucket (not cumulative), the last one `+Inf`.
    buckets: [AtomicU64; BUCKETS.len() + 1],
    sum_ns: AtomicU64,
}

impl Histogram {
    fn observe(&self, ns: u64) {
        let i = BUCKETS.partition_point(|(_, le)| *le < ns);
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.sum_ns.fetch_add(ns, Ordering::Relaxed);
    }
}

struct BackendSeries {
    id: String,
    tools: RwLock<HashMap<Box<str>, Counts>>,
    other: Counts,
    latency: Histogram,
    restarts: AtomicU64,
}

impl BackendSeries {
    fn new(id: String) -> Arc<BackendSeries> {
        Arc::new(BackendSeries {
            id,
            tools: RwLock::new(HashMap::new()),
            other: Counts::default(),
            latency: Histogram::default(),
            restarts: AtomicU64::new(0),
        })
    }
}

pub(crate) struct Metrics {
    hub: Hub,
    /// One per backend ever configured (a reload adds the new ones; a removed backend's
    /// counters stay, as counters do).
    backends: RwLock<Vec<Arc<BackendSeries>>>,
    /// `backend="(none)", tool="(other)"`.
    unrouted: Counts,
    tool_series: AtomicUsize,
}

impl Metrics {
    pub(crate) fn new(hub: Hub, backend_ids: Vec<String>) -> Metrics {
        Metrics {
            hub,
            backends: RwLock::new(backend_ids.into_iter().map(BackendSeries::new).collect()),
            unrouted: Counts::default(),
            tool_series: AtomicUsize::new(0),
        }
    }

    /// Backend `id`'s series; made on first use for a backend the hub knows (added by a
    /// reload), so that labels stay bounded by the configuration.
    fn backend(&self, id: &str) -> Option<Arc<BackendSeries>> {
        let found = self
            .backends
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .find(|b| b.id == id)
            .cloned();
        if found.is_some() || !self.hub.has_backend(id) {
            return found;
        }
        let mut all = self.backends.write().unwrap_or_else(|e| e.into_inner());
        if let Some(b) = all.iter().find(|b| b.id == id) {
            return Some(b.clone());
        }
        let b = BackendSeries::new(id.to_string());
        all.push(b.clone());
        Some(b)
    }

    fn all_backends(&self) -> Vec<Arc<BackendSeries>> {
        self.backends
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Count a finished tool call (other methods are in the audit log only).
    pub(crate) fn call(&self, c: &CallInfo<'_>) {
        if c.method != "tools/call" {
            return;
        }
        let Some(b) = c.backend.and_then(|id| self.backend(id)) else {
            self.unrouted.add(c.outcome, c.path);
            return;
        };
        if !matches!(c.outcome, Outcome::Denied(_)) {
            b.latency
                .observe(u64::try_from(c.duration.as_nanos()).unwrap_or(u64::MAX));
        }
        {
            let tools = b.tools.read().unwrap_or_else(|e| e.into_inner());
            if let Some(counts) = tools.get(c.target) {
                counts.add(c.outcome, c.path);
                return;
            }
        }
        // A name seen for the first time: a label only if the backend advertised it.
        if self.tool_series.load(Ordering::Relaxed) < MAX_TOOL_SERIES
            && self.hub.has_tool(&b.id, c.target)
        {
            let mut tools = b.tools.write().unwrap_or_else(|e| e.into_inner());
            if !tools.contains_key(c.target) {
                self.tool_series.fetch_add(1, Ordering::Relaxed);
            }
            tools
                .entry(c.target.into())
                .or_default()
                .add(c.outcome, c.path);
            return;
        }
        b.other.add(c.outcome, c.path);
    }

    pub(crate) fn backend_restarted(&self, id: &str) {
        if let Some(b) = self.backend(id) {
            b.restarts.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The Prometheus text format (0.0.4) of every metric; `audit_dropped` when the audit log
    /// is on.
    pub(crate) fn encode(&self, out: &mut String, audit_dropped: Option<u64>) {
        let v = self.hub.ops_view();
        let backends = self.all_backends();
        family(out, "mcpz_build_info", "gauge", "The mcpz version.");
        sample(
            out,
            "mcpz_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))],
            1,
        );
        family(
            out,
            "mcpz_sessions_active",
            "gauge",
            "Client sessions open now.",
        );
        sample(out, "mcpz_sessions_active", &[], v.sessions_active as u64);
        family(
            out,
            "mcpz_sessions_total",
            "counter",
            "Client sessions opened since the start.",
        );
        sample(out, "mcpz_sessions_total", &[], v.sessions_opened);
        family(out, "mcpz_serving", "gauge", "Where the gateway serves: 1 for the current mode (zrok: a zrok share; loopback: a TCP address).");
        let mode = match v.serving {
            Serving::Zrok { .. } => "zrok",
            Serving::Loopback { .. } => "loopback",
            Serving::Starting => "starting",
        };
        for m in ["zrok", "loopback", "starting"] {
            sample(out, "mcpz_serving", &[("mode", m)], (m == mode) as u64);
        }
        family(
            out,
            "mcpz_backend_up",
            "gauge",
            "1 when sessions can use the backend (ready or degraded), else 0.",
        );
        for (id, st) in &v.backends {
            let up = matches!(st, BackendStatus::Ready | BackendStatus::Degraded);
            sample(out, "mcpz_backend_up", &[("backend", id)], up as u64);
        }
        family(
            out,
            "mcpz_backend_status",
            "gauge",
            "The backend's status: 1 for the current one.",
        );
        for (id, st) in &v.backends {
            for s in STATUSES {
                let on = (s == st.as_str()) as u64;
                sample(
                    out,
                    "mcpz_backend_status",
                    &[("backend", id), ("status", s)],
                    on,
                );
            }
        }
        family(
            out,
            "mcpz_backend_restarts_total",
            "counter",
            "Backend restarts since the start.",
        );
        for b in &backends {
            let n = b.restarts.load(Ordering::Relaxed);
            sample(out, "mcpz_backend_restarts_total", &[("backend", &b.id)], n);
        }
        family(out, "mcpz_tool_calls_total", "counter", "tools/call requests by backend, tool, outcome and path (tools not in the catalog: tool=\"(other)\"; no backend: backend=\"(none)\").");
        for b in &backends {
            let tools = b.tools.read().unwrap_or_else(|e| e.into_inner());
            let mut names: Vec<&str> = tools.keys().map(|k| &**k).collect();
            names.sort_unstable();
            for t in names {
                calls(out, &b.id, t, &tools[t]);
            }
            drop(tools);
            calls(out, &b.id, OTHER_TOOL, &b.other);
        }
        calls(out, NO_BACKEND, OTHER_TOOL, &self.unrouted);
        family(
            out,
            "mcpz_tool_call_duration_seconds",
            "histogram",
            "tools/call latency per backend, of the calls that reached it.",
        );
        for b in &backends {
            histogram(out, &b.id, &b.latency);
        }
        if let Some(n) = audit_dropped {
            family(
                out,
                "mcpz_audit_lines_dropped_total",
                "counter",
                "Audit lines lost: the writer's queue was full (a slow disk) or the write failed.",
            );
            sample(out, "mcpz_audit_lines_dropped_total", &[], n);
        }
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// `name{k="v",...} value`, label values escaped.
fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (k, v)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(k);
            out.push_str("=\"");
            for ch in v.chars() {
                match ch {
                    '\\' => out.push_str("\\\\"),
                    '"' => out.push_str("\\\""),
                    '\n' => out.push_str("\\n"),
                    c => out.push(c),
                }
            }
            out.push('"');
        }
        out.push('}');
    }
    let _ = writeln!(out, " {value}");
}

/// The non-zero series of one (backend, tool).
fn calls(out: &mut String, backend: &str, tool: &str, c: &Counts) {
    for (i, n) in c.0.iter().enumerate() {
        let n = n.load(Ordering::Relaxed);
        if n > 0 {
            let outcome = Outcome::LABELS[i / PATHS.len()];
            let path = PATHS[i % PATHS.len()];
            let labels = [
                ("backend", backend),
                ("tool", tool),
                ("outcome", outcome),
                ("path", path),
            ];
            sample(out, "mcpz_tool_calls_total", &labels, n);
        }
    }
}

fn histogram(out: &mut String, backend: &str, h: &Histogram) {
    let name = "mcpz_tool_call_duration_seconds";
    let mut total = 0;
    for (i, (le, _)) in BUCKETS.iter().chain(&[("+Inf", u64::MAX)]).enumerate() {
        total += h.buckets[i].load(Ordering::Relaxed);
        let labels = [("backend", backend), ("le", le)];
        sample(out, &format!("{name}_bucket"), &labels, total);
    }
    let sum = h.sum_ns.load(Ordering::Relaxed) as f64 / 1e9;
    sample(out, &format!("{name}_sum"), &[("backend", backend)], sum);
    sample(
        out,
        &format!("{name}_count"),
        &[("backend", backend)],
        total,
    );
}

#[cfg(test)]
#[path = "metrics_tests.rs"]
mod tests;
