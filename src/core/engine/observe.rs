//! The engine's side of the observer (`core::ops`: the audit log and the metrics): what the
//! recording sites hand it. `Session::record` calls [`Session::observe`] for every finished
//! call on both paths; a `tools/call` the gateway refuses before any backend sees it (unknown,
//! filtered, or hidden by the caller's `access:` rule) is [`Session::refused`]. Without an
//! observer each is one check of an empty `OnceLock`.

use std::sync::Arc;
use std::time::Duration;

use rmcp::model::JsonObject;

use crate::core::live::hub::CallRecord;
use crate::core::live::state::{CallOutcome, CallPath};
use crate::core::ops::{Args, CallInfo, Detail, Observer};
use crate::core::wire::frame::CallParams;

use super::{call, Caller, Engine, Session};

impl Engine {
    /// Hook the audit log and the metrics to this engine (once; later calls are ignored).
    pub fn observe(&self, obs: Arc<Observer>) {
        let _ = self.observer.set(obs);
    }

    pub fn observer(&self) -> Option<&Arc<Observer>> {
        self.observer.get()
    }

    /// Backend `id` was restarted (`mcpz_backend_restarts_total`).
    pub fn backend_restarted(&self, id: &str) {
        if let Some(o) = self.observer() {
            o.backend_restarted(id);
        }
    }

    /// What the observer keeps of a call of the backend's tool `original` with decoded
    /// `args` (the rmcp path): nothing unless the audit log is on.
    pub(super) fn call_detail(&self, original: &str, args: Option<&JsonObject>) -> Detail {
        match self.observer() {
            Some(o) if o.audits() => o.detail(Some(original), args.map_or(Args::None, Args::Json)),
            _ => Detail::default(),
        }
    }

    /// [`Engine::call_detail`] for the fast path's raw `params`.
    pub(super) fn fast_detail(&self, original: &str, params: &CallParams<'_>) -> Detail {
        match self.observer() {
            Some(o) if o.audits() => o.detail(Some(original), Args::of_call(params)),
            _ => Detail::default(),
        }
    }
}

impl Session {
    /// Tell the observer about a finished call (from `record`).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn observe(
        &self,
        caller: &Caller,
        backend: Option<&str>,
        method: &str,
        target: &str,
        duration: Duration,
        outcome: &CallOutcome,
        path: CallPath,
        detail: &Detail,
    ) {
        let Some(obs) = self.inner.engine.observer() else {
            return;
        };
        let info = CallInfo {
            session: &self.inner.id,
            caller: caller.name(),
            backend,
            method,
            target,
            duration,
            outcome: detail.outcome(outcome),
            path,
        };
        obs.call(&info, detail);
    }

    /// A `tools/call` of `exposed` that the gateway refused itself (the client was told
    /// `unknown tool`): the console and the observer learn which rule refused it.
    pub(super) fn refused(&self, exposed: &str, args: Option<&JsonObject>) {
        let e = &self.inner.engine;
        let cat = e.catalog();
        let caller = self.caller();
        let Err((backend, why)) = call::check_tool(e, &cat, &caller, exposed) else {
            return;
        };
        e.hub.record_call(
            CallRecord {
                session: &self.inner.id,
                caller: caller.name(),
                backend: backend.as_ref().map_or("", |(d, _)| d.id()),
                method: "tools/call",
                target: exposed,
                duration: Duration::ZERO,
                outcome: CallOutcome::Denied(why.rule()),
                path: CallPath::Full,
            },
            None,
        );
        let Some(obs) = e.observer() else {
            return;
        };
        let original = backend.as_ref().map(|(_, o)| o.as_str());
        let detail = obs
            .detail(original, args.map_or(Args::None, Args::Json))
            .denied(why);
        self.observe(
            &caller,
            backend.as_ref().map(|(d, _)| d.id()),
            "tools/call",
            exposed,
            Duration::ZERO,
            &CallOutcome::Ok,
            CallPath::Full,
            &detail,
        );
    }
}
