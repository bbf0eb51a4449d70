//! The live-state hub: counters and lists the engine updates, published as a [`Snapshot`] on a
//! watch channel (coalesced) and as [`Event`]s on a broadcast channel.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::sync::{broadcast, watch};

use crate::core::live::state::*;

const WINDOW: usize = 512;
/// How often a changed snapshot is published at most.
pub(crate) const PUBLISH_INTERVAL: Duration = Duration::from_millis(200);

#[derive(Default)]
struct Window {
    samples: VecDeque<Duration>,
}

impl Window {
    fn push(&mut self, d: Duration) {
        if self.samples.len() == WINDOW {
            self.samples.pop_front();
        }
        self.samples.push_back(d);
    }

    fn latency(&self) -> Latency {
        if self.samples.is_empty() {
            return Latency::default();
        }
        let mut v: Vec<Duration> = self.samples.iter().copied().collect();
        v.sort_unstable();
        let pick = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
        Latency {
            p50: Some(pick(0.5)),
            p95: Some(pick(0.95)),
            max: v.last().copied(),
        }
    }
}

struct BackendEntry {
    state: BackendState,
    window: Window,
}

struct ToolEntry {
    state: ToolState,
    window: Window,
}

struct Inner {
    gateway: GatewayInfo,
    backends: Vec<BackendEntry>,
    tools: BTreeMap<String, ToolEntry>,
    sessions: BTreeMap<String, SessionState>,
    shares: Vec<ShareState>,
    total_calls: u64,
    total_errors: u64,
    /// `tools/call`s finished so far (the orchestrator's heartbeat).
    tool_calls: u64,
    sessions_opened: u64,
}

/// What the metrics read of the hub when scraped.
pub(crate) struct OpsView {
    pub sessions_active: usize,
    pub sessions_opened: u64,
    /// Every backend's id and status, in config order.
    pub backends: Vec<(String, BackendStatus)>,
    pub serving: Serving,
}

/// Shared, cheap to clone.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<Mutex<Inner>>,
    dirty: Arc<AtomicBool>,
    snap_tx: Arc<watch::Sender<Arc<Snapshot>>>,
    events: broadcast::Sender<Event>,
}

impl Hub {
    pub fn new(name: &str, version: &str, separator: &str) -> Self {
        let snap = Snapshot::empty(name, version, separator);
        let (snap_tx, _) = watch::channel(Arc::new(snap.clone()));
        let (events, _) = broadcast::channel(4096);
        Hub {
            inner: Arc::new(Mutex::new(Inner {
                gateway: snap.gateway,
                backends: Vec::new(),
                tools: BTreeMap::new(),
                sessions: BTreeMap::new(),
                shares: Vec::new(),
                total_calls: 0,
                total_errors: 0,
                tool_calls: 0,
                sessions_opened: 0,
            })),
            dirty: Arc::new(AtomicBool::new(true)),
            snap_tx: Arc::new(snap_tx),
            events,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn touch(&self) {
        self.dirty.store(true, Ordering::Release);
    }

    pub fn subscribe(&self) -> watch::Receiver<Arc<Snapshot>> {
        self.snap_tx.subscribe()
    }

    pub fn events(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    pub(crate) fn emit(&self, e: Event) {
        let _ = self.events.send(e);
    }

    /// Build and publish a snapshot now.
    pub fn publish(&self) {
        self.dirty.store(false, Ordering::Release);
        let snap = {
            let g = self.lock();
            Snapshot {
                gateway: g.gateway.clone(),
                backends: g
                    .backends
                    .iter()
                    .map(|b| {
                        let mut s = b.state.clone();
                        s.latency = b.window.latency();
                        s
                    })
                    .collect(),
                sessions: g.sessions.values().cloned().collect(),
                tools: g
                    .tools
                    .values()
                    .map(|t| {
                        let mut s = t.state.clone();
                        s.latency = t.window.latency();
                        s
                    })
                    .collect(),
                shares: g.shares.clone(),
                total_calls: g.total_calls,
                total_errors: g.total_errors,
            }
        };
        self.snap_tx.send_replace(Arc::new(snap));
    }

    /// Publish changed state every [`PUBLISH_INTERVAL`] until `stop` fires.
    pub(crate) fn spawn_publisher(&self, stop: tokio_util::sync::CancellationToken) {
        let hub = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(PUBLISH_INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = stop.cancelled() => { hub.publish(); break; }
                    _ = tick.tick() => {
                        if hub.dirty.load(Ordering::Acquire) { hub.publish(); }
                    }
                }
            }
        });
    }

    /// Live client sessions and `tools/call`s finished so far, read now (not from the last
    /// published snapshot).
    pub(crate) fn activity(&self) -> (usize, u64) {
        let g = self.lock();
        (g.sessions.len(), g.tool_calls)
    }

    pub(crate) fn set_serving(&self, serving: Serving) {
        self.lock().gateway.serving = serving;
        self.touch();
    }

    /// The share listener's health (published only when it changed).
    pub(crate) fn set_listener(&self, listener: ListenerState) {
        let mut g = self.lock();
        if g.gateway.listener.as_ref() != Some(&listener) {
            g.gateway.listener = Some(listener);
            drop(g);
            self.touch();
        }
    }

    /// A configuration reload was applied (`generation`: the new one) or refused (`None`):
    /// kept in the snapshot and sent as an event.
    pub(crate) fn reloaded(&self, generation: Option<u64>, message: String) {
        let ok = generation.is_some();
        {
            let mut g = self.lock();
            if let Some(n) = generation {
                g.gateway.config_generation = n;
            }
            g.gateway.last_reload = Some(ReloadState {
                at: SystemTime::now(),
                ok,
                message: message.clone(),
            });
        }
        self.touch();
        self.emit(Event::Reload { ok, message });
    }

    /// Client sessions open now.
    pub(crate) fn session_count(&self) -> usize {
        self.lock().sessions.len()
    }

    pub(crate) fn add_backend(&self, state: BackendState) {
        self.lock().backends.push(BackendEntry {
            state,
            window: Window::default(),
        });
        self.touch();
    }

    /// Forget a backend and its tools (removed by a reload).
    pub(crate) fn remove_backend(&self, id: &str) {
        let mut g = self.lock();
        g.backends.retain(|b| b.state.id != id);
        g.tools.retain(|_, t| t.state.backend != id);
        drop(g);
        self.touch();
    }

    pub(crate) fn update_backend(&self, id: &str, f: impl FnOnce(&mut BackendState)) {
        let mut g = self.lock();
        if let Some(b) = g.backends.iter_mut().find(|b| b.state.id == id) {
            f(&mut b.state);
        }
        drop(g);
        self.touch();
    }

    pub(crate) fn set_backend_status(
        &self,
        id: &str,
        status: BackendStatus,
        error: Option<String>,
    ) {
        self.update_backend(id, |b| {
            b.status = status.clone();
            if error.is_some() {
                b.last_error = error.clone();
            }
        });
        self.emit(Event::BackendStatus {
            id: id.to_string(),
            status,
            error,
        });
    }

    /// Replace the catalog of one backend's tools.
    pub(crate) fn set_tools(&self, backend: &str, tools: Vec<ToolState>) {
        let mut g = self.lock();
        g.tools.retain(|_, t| t.state.backend != backend);
        for t in tools {
            g.tools.insert(
                t.name.clone(),
                ToolEntry {
                    state: t,
                    window: Window::default(),
                },
            );
        }
        drop(g);
        self.touch();
    }

    pub(crate) fn session_opened(&self, id: &str, remote: &str, caller: &str, transport: &str) {
        let now = SystemTime::now();
        let mut g = self.lock();
        g.sessions_opened += 1;
        g.sessions.insert(
            id.to_string(),
            SessionState {
                id: id.to_string(),
                client: None,
                remote: remote.to_string(),
                caller: caller.to_string(),
                transport: transport.to_string(),
                protocol_version: None,
                opened_at: now,
                last_activity: now,
                calls: 0,
                errors: 0,
                last_call: None,
            },
        );
        drop(g);
        self.touch();
        self.emit(Event::SessionOpened {
            id: id.to_string(),
            remote: remote.to_string(),
            transport: transport.to_string(),
        });
    }

    pub(crate) fn session_update(&self, id: &str, f: impl FnOnce(&mut SessionState)) {
        if let Some(s) = self.lock().sessions.get_mut(id) {
            f(s);
        }
        self.touch();
    }

    pub(crate) fn session_backends(&self, delta: isize, backends: &[String]) {
        let mut g = self.lock();
        for b in g.backends.iter_mut() {
            if backends.contains(&b.state.id) {
                b.state.sessions = (b.state.sessions as isize + delta).max(0) as usize;
            }
        }
        drop(g);
        self.touch();
    }

    pub(crate) fn session_closed(&self, id: &str, reason: &str) {
        let removed = self.lock().sessions.remove(id).is_some();
        if removed {
            self.touch();
            self.emit(Event::SessionClosed {
                id: id.to_string(),
                reason: reason.to_string(),
            });
        }
    }

    /// Whether backend `backend` advertised the tool exposed as `exposed` (the catalog).
    /// Whether backend `id` is configured now.
    pub(crate) fn has_backend(&self, id: &str) -> bool {
        self.lock().backends.iter().any(|b| b.state.id == id)
    }

    pub(crate) fn has_tool(&self, backend: &str, exposed: &str) -> bool {
        self.lock()
            .tools
            .get(exposed)
            .is_some_and(|t| t.state.backend == backend)
    }

    /// Sessions, backend status and serving state, now (for the metrics).
    pub(crate) fn ops_view(&self) -> OpsView {
        let g = self.lock();
        OpsView {
            sessions_active: g.sessions.len(),
            sessions_opened: g.sessions_opened,
            backends: g
                .backends
                .iter()
                .map(|b| (b.state.id.clone(), b.state.status.clone()))
                .collect(),
            serving: g.gateway.serving.clone(),
        }
    }

    /// Count a finished call in the live state; a [`CallEvent`] is built and sent only while
    /// someone listens to the events.
    pub(crate) fn record_call(&self, ev: CallRecord<'_>, tool_key: Option<&str>) {
        let at = SystemTime::now();
        let err = !ev.outcome.is_ok();
        {
            let mut g = self.lock();
            g.total_calls += 1;
            if ev.method == "tools/call" {
                g.tool_calls += 1;
            }
            if err {
                g.total_errors += 1;
            }
            if let Some(b) = g.backends.iter_mut().find(|b| b.state.id == ev.backend) {
                b.state.calls += 1;
                b.window.push(ev.duration);
                if err {
                    b.state.errors += 1;
                    b.state.last_error = Some(match &ev.outcome {
                        CallOutcome::Error(_, m) | CallOutcome::ToolError(m) => m.clone(),
                        CallOutcome::Timeout => format!("{} timed out", ev.target),
                        CallOutcome::Cancelled => format!("{} cancelled", ev.target),
                        CallOutcome::Denied(r) => format!("{} denied by {r}", ev.target),
                        CallOutcome::Ok => String::new(),
                    });
                }
            }
            if let Some(k) = tool_key {
                if let Some(t) = g.tools.get_mut(k) {
                    t.state.calls += 1;
                    t.window.push(ev.duration);
                    if err {
                        t.state.errors += 1;
                    }
                }
            }
            if let Some(s) = g.sessions.get_mut(ev.session) {
                s.calls += 1;
                if err {
                    s.errors += 1;
                }
                s.last_activity = at;
                if ev.method == "tools/call" && s.last_call.as_deref() != Some(ev.target) {
                    s.last_call = Some(ev.target.to_string());
                }
            }
        }
        self.touch();
        if self.events.receiver_count() > 0 {
            self.emit(Event::Call(CallEvent {
                at,
                session: ev.session.to_string(),
                caller: ev.caller.to_string(),
                backend: ev.backend.to_string(),
                method: ev.method.to_string(),
                target: ev.target.to_string(),
                duration: ev.duration,
                outcome: ev.outcome,
                path: ev.path,
            }));
        }
    }
}

/// A finished call, as [`Hub::record_call`] takes it (borrowed: nothing is copied unless the
/// console listens).
pub(crate) struct CallRecord<'a> {
    pub session: &'a str,
    pub caller: &'a str,
    pub backend: &'a str,
    /// MCP method (`tools/call`, `resources/read`, `prompts/get`, ...).
    pub method: &'a str,
    /// Namespaced tool / prompt name, or resource URI.
    pub target: &'a str,
    pub duration: Duration,
    pub outcome: CallOutcome,
    pub path: CallPath,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call<'a>(target: &'a str, outcome: CallOutcome) -> CallRecord<'a> {
        CallRecord {
            session: "s1",
            caller: "local",
            backend: "b",
            method: "tools/call",
            target,
            duration: Duration::from_millis(3),
            outcome,
            path: CallPath::Full,
        }
    }

    #[test]
    fn calls_are_counted_and_sent_as_events_only_to_listeners() {
        let hub = Hub::new("g", "1", "_");
        hub.session_opened("s1", "127.0.0.1:1", "local", "streamable");
        // Nobody listens: the call is counted, and no event is kept for a later subscriber.
        hub.record_call(call("b_one", CallOutcome::Ok), None);
        let mut events = hub.events();
        hub.record_call(call("b_two", CallOutcome::ToolError("boom".into())), None);
        hub.publish();
        let snap = hub.subscribe().borrow().clone();
        assert_eq!((snap.total_calls, snap.total_errors), (2, 1));
        let s = snap.sessions.iter().find(|s| s.id == "s1").unwrap();
        assert_eq!((s.calls, s.errors), (2, 1));
        assert_eq!(s.last_call.as_deref(), Some("b_two"));
        // The listener gets exactly the call made while it listened, whole.
        let mut got = Vec::new();
        while let Ok(e) = events.try_recv() {
            if let Event::Call(c) = e {
                got.push(c);
            }
        }
        assert_eq!(got.len(), 1, "{got:?}");
        let c = &got[0];
        assert_eq!(
            (&*c.session, &*c.backend, &*c.method, &*c.target),
            ("s1", "b", "tools/call", "b_two")
        );
        assert_eq!(c.duration, Duration::from_millis(3));
        assert_eq!(c.outcome, CallOutcome::ToolError("boom".into()));
        // Only tools/call counts as a tool invocation; the session is live until it closes.
        hub.record_call(
            CallRecord {
                method: "resources/read",
                ..call("file:///x", CallOutcome::Ok)
            },
            None,
        );
        assert_eq!(hub.activity(), (1, 2));
        hub.session_closed("s1", "closed");
        assert_eq!(hub.activity(), (0, 2));
    }
}
