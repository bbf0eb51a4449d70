//! Doc-hidden entry points for `benches/observe.rs`, not API: one fast-path call's worth of the
//! observer's work, as the engine does it (`Engine::fast_detail` when the call starts,
//! `Session::observe` when it ends), without a gateway around it.

use std::path::Path;
use std::time::Duration;

use super::{audit, metrics, Args, CallInfo, Observer};
use crate::core::config;
use crate::core::live::hub::Hub;
use crate::core::live::state::{CallOutcome, CallPath, ToolState};
use crate::core::wire::frame::CallParams;

/// An observer for backend `b` with the one tool `echo` (exposed `b_echo`).
pub struct RecordBench {
    obs: Observer,
    _guard: Option<tracing_appender::non_blocking::WorkerGuard>,
}

impl RecordBench {
    /// The audit log into `audit` (with argument values if `arguments`), and metrics if
    /// `metrics`.
    pub fn new(audit: Option<&Path>, arguments: bool, metrics: bool) -> RecordBench {
        let hub = Hub::new("bench", "1", "_");
        hub.set_tools("b", vec![ToolState::bare("b_echo", "echo", "b")]);
        let (audit, guard) = match audit {
            Some(file) => {
                let cfg = config::Audit {
                    file: file.to_path_buf(),
                    rotation: config::Rotation::Never,
                    max_files: 0,
                    arguments,
                };
                let (a, g) = audit::AuditLog::open(&cfg).expect("audit file");
                (Some(a), Some(g))
            }
            None => (None, None),
        };
        let metrics = metrics.then(|| metrics::Metrics::new(hub, vec!["b".into()]));
        RecordBench {
            obs: Observer {
                audit,
                metrics,
                metrics_url: None,
            },
            _guard: guard,
        }
    }

    /// Observe one call of `b_echo` with these `tools/call` params (parsed by the fast path
    /// before the observer sees them) that took `took`.
    pub fn call(&self, p: &CallParams<'_>, took: Duration) {
        let detail = match self.obs.audits() {
            true => self.obs.detail(Some("echo"), Args::of_call(p)),
            false => Default::default(),
        };
        let caller = self.obs.audits().then(crate::core::engine::Caller::default);
        let info = CallInfo {
            session: "s1-0a1b2c",
            caller: caller.as_ref().map_or("", |c| c.name()),
            backend: Some("b"),
            method: "tools/call",
            target: &p.name,
            duration: took,
            outcome: detail.outcome(&CallOutcome::Ok),
            path: CallPath::Fast,
        };
        self.obs.call(&info, &detail);
    }

    /// Hand the pending audit lines to the writer thread (the gateway does it every 100 ms).
    pub fn flush(&self) {
        self.obs.flush();
    }

    /// Audit lines dropped so far.
    pub fn dropped(&self) -> u64 {
        self.obs.audit.as_ref().map_or(0, |a| a.dropped())
    }

    /// The metrics text.
    pub fn render(&self) -> String {
        self.obs.render()
    }
}
