//! A session's backend connections: made on first use (all at once), kept in step with the
//! running configuration (a reload adds and removes them), watched (a health `ping` on each
//! idle connection, `aggregator.health`) and restored when one dies (`aggregator.restart`).
//! A call finds its backend's live connection here, or learns why there is none.
//!
//! Each live connection has a watcher task holding only weak references: it ends with the
//! session, with the connection when a reload removed it, or by restarting the backend when the
//! connection died. Requests in flight on a dead connection fail at once (rmcp's pending
//! requests and the fast path's waiters are closed with the transport); the restart happens
//! beside them, after `restart.backoff` (doubled per attempt, at most `restart.max_backoff`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use tokio::sync::OnceCell;

use crate::core::backend::{self, BackendConn};
use crate::core::live::hub::Hub;
use crate::core::live::state::BackendState;

use super::call::CallError;
use super::catalog::{BackendDef, BackendKey, Catalog};
use super::session::{Session, SessionInner};

/// A session's connections.
#[derive(Default)]
pub(super) struct Conns {
    /// The first connect's result (`Err`: the session cannot be used).
    ready: OnceCell<Result<(), CallError>>,
    /// Set (under `sync`) once the first connect succeeded.
    connected: AtomicBool,
    /// One change of the set at a time: the first connect, a reload's, a restart's.
    sync: tokio::sync::Mutex<()>,
    /// In configuration order; replaced whole on every change.
    live: Mutex<Arc<Vec<Arc<BackendConn>>>>,
    /// Backends whose connection is down (by key: their id, and why).
    down: Mutex<HashMap<BackendKey, (String, Down)>>,
    /// Restart attempts since each backend's connection last stayed up for `max_backoff`.
    streak: Mutex<HashMap<BackendKey, u32>>,
}

/// Why a backend has no live connection in a session.
#[derive(Debug, Clone)]
enum Down {
    Restarting {
        attempt: u32,
        of: u32,
        cause: String,
    },
    Failed {
        cause: String,
    },
}

/// What a reload changed in one session.
#[derive(Debug, Default)]
pub(super) struct Synced {
    pub(super) added: usize,
    pub(super) removed: usize,
}

impl Conns {
    fn snapshot(&self) -> Arc<Vec<Arc<BackendConn>>> {
        self.live.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Replace the live set with `f` applied to a copy of it.
    fn edit(&self, f: impl FnOnce(&mut Vec<Arc<BackendConn>>)) {
        let mut g = self.live.lock().unwrap_or_else(|e| e.into_inner());
        let mut v = (**g).clone();
        f(&mut v);
        *g = Arc::new(v);
    }

    /// Record backend `key`'s state in this session (`None`: live or gone), keeping the
    /// console's counts of restarting and failed sessions right.
    fn set_down(&self, hub: &Hub, key: BackendKey, id: &str, new: Option<Down>) {
        let old = {
            let mut g = self.down.lock().unwrap_or_else(|e| e.into_inner());
            match &new {
                Some(d) => g.insert(key, (id.to_string(), d.clone())),
                None => g.remove(&key),
            }
        };
        count_down(hub, id, old.map(|(_, d)| d).as_ref(), new.as_ref());
    }

    /// The session is gone: the console stops counting its connections.
    pub(super) fn release(&self, hub: &Hub) {
        for c in self.snapshot().iter() {
            hub.session_backends(-1, std::slice::from_ref(&c.id));
        }
        let down: Vec<(String, Down)> = self
            .down
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain()
            .map(|(_, v)| v)
            .collect();
        for (id, d) in down {
            count_down(hub, &id, Some(&d), None);
        }
    }

    /// The error a call to `backend` gets while it is down in this session.
    fn why_down(&self, key: BackendKey, backend: &str) -> Option<CallError> {
        let d = self
            .down
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            .map(|(_, d)| d.clone())?;
        let why = match d {
            Down::Restarting { attempt, of, cause } => {
                format!("restarting (attempt {attempt} of {of}) after: {cause}")
            }
            Down::Failed { cause } => format!("failed, no more restarts; last error: {cause}"),
        };
        Some(CallError::Unavailable {
            backend: backend.to_string(),
            why,
        })
    }
}

/// Keep the console's counts of sessions restarting and given up on backend `id` right when
/// its state in one session goes from `old` to `new`.
fn count_down(hub: &Hub, id: &str, old: Option<&Down>, new: Option<&Down>) {
    let count = |d: Option<&Down>| match d {
        Some(Down::Restarting { .. }) => (1isize, 0isize),
        Some(Down::Failed { .. }) => (0, 1),
        None => (0, 0),
    };
    let (r0, f0) = count(old);
    let (r1, f1) = count(new);
    if (r0, f0) != (r1, f1) {
        hub.update_backend(id, |s: &mut BackendState| {
            s.restarting = (s.restarting as isize + r1 - r0).max(0) as usize;
            s.failed_sessions = (s.failed_sessions as isize + f1 - f0).max(0) as usize;
            s.settle();
        });
    }
}

impl Session {
    /// This session's backend connections, connected on first use (initialize, or the first
    /// request of a client that skips initialize), all concurrently.
    pub(super) async fn conns(&self) -> Result<Arc<Vec<Arc<BackendConn>>>, CallError> {
        if self.inner.ended.is_cancelled() {
            return Err(CallError::SessionEnded);
        }
        let c = &self.inner.conns;
        c.ready.get_or_init(|| self.connect_all()).await.clone()?;
        Ok(c.snapshot())
    }

    /// The live connections, if the session has connected.
    pub(super) fn live(&self) -> Option<Arc<Vec<Arc<BackendConn>>>> {
        let c = &self.inner.conns;
        matches!(c.ready.get(), Some(Ok(()))).then(|| c.snapshot())
    }

    /// Backend `key`'s connection in this session (connecting the session first if needed).
    pub(super) async fn backend(&self, key: BackendKey) -> Result<Arc<BackendConn>, CallError> {
        let conns = self.conns().await?;
        if let Some(c) = conns.iter().find(|c| c.idx == key) {
            return Ok(c.clone());
        }
        let cat = self.inner.engine.catalog();
        let id = cat.get(key).map_or("?", |b| b.id());
        Err(self
            .inner
            .conns
            .why_down(key, id)
            .unwrap_or(CallError::NotConnected))
    }

    /// The one backend's connection (transparent mode).
    pub(super) async fn only_backend(&self) -> Result<Arc<BackendConn>, CallError> {
        let key = self
            .inner
            .engine
            .catalog()
            .backends
            .first()
            .map(|b| b.key)
            .ok_or(CallError::NotConnected)?;
        self.backend(key).await
    }

    async fn connect_all(&self) -> Result<(), CallError> {
        let _sync = self.inner.conns.sync.lock().await;
        let e = &self.inner.engine;
        let weak = Arc::downgrade(&self.inner);
        self.inner.down.on_list_changed(Arc::new(move |what| {
            if let Some(s) = weak.upgrade() {
                tokio::spawn(async move { Session { inner: s }.list_changed(what).await });
            }
        }));
        let cat = e.catalog();
        let results = self.connect_each(&cat.backends).await;
        let mut conns = Vec::new();
        let mut failure = None;
        for (b, r) in cat.backends.iter().zip(results) {
            match r {
                Ok(c) => conns.push(Arc::new(c)),
                Err(err) => {
                    tracing::error!(session = %self.inner.id, backend = %b.id(), "connect failed: {err}");
                    e.hub
                        .update_backend(b.id(), |s| s.last_error = Some(err.to_string()));
                    failure.get_or_insert(CallError::Failed {
                        backend: b.id().to_string(),
                        message: err.to_string(),
                    });
                }
            }
        }
        if let Some(f) = failure {
            for c in conns {
                if let Ok(c) = Arc::try_unwrap(c) {
                    c.close().await;
                }
            }
            return Err(f);
        }
        for c in conns {
            self.adopt(c, &cat);
        }
        self.inner.conns.connected.store(true, Ordering::Release);
        Ok(())
    }

    /// Connect to each of `defs` concurrently.
    async fn connect_each(
        &self,
        defs: &[Arc<BackendDef>],
    ) -> Vec<Result<BackendConn, backend::BackendError>> {
        let env = self.inner.engine.connect_env_now();
        futures::future::join_all(
            defs.iter()
                .map(|b| backend::connect(b.key, &b.cfg, self.inner.down.clone(), &env)),
        )
        .await
    }

    /// Make `conn` live in this session (in configuration order) and watch it.
    fn adopt(&self, conn: Arc<BackendConn>, cat: &Catalog) {
        let e = &self.inner.engine;
        e.hub.session_backends(1, std::slice::from_ref(&conn.id));
        self.inner.conns.edit(|v| {
            v.retain(|c| c.idx != conn.idx);
            v.push(conn.clone());
            v.sort_by_key(|c| cat.position(c.idx));
        });
        self.watch(&conn);
    }

    /// Take backend `key`'s connection out of the live set, if it is `which` (or any, when
    /// `which` is `None`). Returns whether one was taken out.
    fn drop_live(&self, key: BackendKey, which: Option<&Weak<BackendConn>>) -> bool {
        let mut taken = None;
        self.inner.conns.edit(|v| {
            if let Some(i) = v
                .iter()
                .position(|c| c.idx == key && which.is_none_or(|w| std::ptr::eq(w.as_ptr(), &**c)))
            {
                taken = Some(v.remove(i));
            }
        });
        match taken {
            Some(c) => {
                self.inner
                    .engine
                    .hub
                    .session_backends(-1, std::slice::from_ref(&c.id));
                true
            }
            None => false,
        }
    }

    /// Bring the session in step with `cat` (a reload): connections of backends no longer in
    /// it are dropped (requests in flight on them finish first), backends new to it are
    /// connected. A session that has not connected yet will connect to `cat` when it does.
    pub(super) async fn sync(&self, cat: &Catalog) -> Synced {
        let _sync = self.inner.conns.sync.lock().await;
        let mut out = Synced::default();
        if !self.inner.conns.connected.load(Ordering::Acquire) || self.inner.ended.is_cancelled() {
            return out;
        }
        let e = &self.inner.engine;
        for c in self.inner.conns.snapshot().iter() {
            if cat.get(c.idx).is_none() && self.drop_live(c.idx, None) {
                out.removed += 1;
            }
        }
        let gone: Vec<(BackendKey, String)> = self
            .inner
            .conns
            .down
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|(k, _)| cat.get(**k).is_none())
            .map(|(k, (id, _))| (*k, id.clone()))
            .collect();
        for (k, id) in gone {
            self.inner.conns.set_down(&e.hub, k, &id, None);
        }
        let live = self.inner.conns.snapshot();
        let missing: Vec<Arc<BackendDef>> = cat
            .backends
            .iter()
            .filter(|b| !live.iter().any(|c| c.idx == b.key))
            .filter(|b| {
                !self
                    .inner
                    .conns
                    .down
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .contains_key(&b.key)
            })
            .cloned()
            .collect();
        let results = self.connect_each(&missing).await;
        for (b, r) in missing.iter().zip(results) {
            match r {
                Ok(c) => {
                    self.adopt(Arc::new(c), cat);
                    out.added += 1;
                }
                Err(err) => {
                    let weak = Arc::downgrade(&self.inner);
                    let (key, id, cause) = (b.key, b.id().to_string(), err.to_string());
                    tokio::spawn(restart(weak, key, id, cause, 0));
                }
            }
        }
        out
    }

    /// Watch `conn` until the session ends, a reload removes it, or it dies (then restart it).
    fn watch(&self, conn: &Arc<BackendConn>) {
        let session = Arc::downgrade(&self.inner);
        let weak = Arc::downgrade(conn);
        let (key, id) = (conn.idx, conn.id.clone());
        let closed = conn.closed.clone();
        let ended = self.inner.ended.clone();
        let born = conn.connected_at;
        tokio::spawn(async move {
            let cause = tokio::select! {
                _ = ended.cancelled() => {
                    if let Some(c) = weak.upgrade() {
                        c.stop_client();
                    }
                    return;
                }
                c = watch_conn(&session, &weak, closed) => c,
            };
            let Some(inner) = session.upgrade() else {
                return;
            };
            let s = Session { inner };
            // Removed on purpose (a reload): not a death.
            if s.inner.ended.is_cancelled() || !s.drop_live(key, Some(&weak)) {
                return;
            }
            drop(s);
            // Boxed: every live connection's watcher holds its future, and only a dead
            // connection's needs the restart's (much larger) state.
            Box::pin(restart(
                session,
                key,
                id,
                cause,
                born.elapsed().as_millis() as u64,
            ))
            .await;
        });
    }
}

/// Wait until `conn` dies or fails a health check; returns the cause.
async fn watch_conn(
    session: &Weak<SessionInner>,
    conn: &Weak<BackendConn>,
    closed: tokio_util::sync::CancellationToken,
) -> String {
    loop {
        let Some(health) = session.upgrade().map(|s| s.engine.catalog().agg.health) else {
            return String::new();
        };
        let tick = async {
            if health.interval.is_zero() {
                std::future::pending::<()>().await;
            }
            tokio::time::sleep(health.interval).await;
        };
        tokio::select! {
            _ = closed.cancelled() => {
                return match conn.upgrade() {
                    Some(c) if c.child.is_some() => "connection closed (the process exited)".into(),
                    _ => "connection closed".into(),
                };
            }
            _ = tick => {}
        }
        let Some(c) = conn.upgrade() else {
            return String::new();
        };
        if c.idle_for() < health.interval {
            continue;
        }
        let started = Instant::now();
        // Boxed: the watcher of every idle connection holds only the small wait above.
        let failed = Box::pin(c.ping(health.timeout)).await.err();
        let Some(s) = session.upgrade() else {
            return String::new();
        };
        match failed {
            None => {
                let rtt = started.elapsed();
                tracing::debug!(session = %s.id, backend = %c.id, "health ping answered in {rtt:?}");
                s.engine
                    .hub
                    .update_backend(&c.id, |b| b.last_ping = Some(rtt));
            }
            Some(cause) => {
                tracing::warn!(session = %s.id, backend = %c.id, "{cause}; ending the connection");
                c.abort();
                return cause;
            }
        }
    }
}

/// Restore backend `key`'s connection in a session after it died of `cause` (having lived
/// `lived_ms`): wait, reconnect, count; give up after `restart.max_attempts` attempts in a row.
async fn restart(
    session: Weak<SessionInner>,
    key: BackendKey,
    id: String,
    mut cause: String,
    lived_ms: u64,
) {
    let Some(inner) = session.upgrade() else {
        return;
    };
    let ended = inner.ended.clone();
    let policy = inner.engine.catalog().agg.restart;
    let conns = &inner.conns;
    let mut attempt = {
        let mut g = conns.streak.lock().unwrap_or_else(|e| e.into_inner());
        let n = g.entry(key).or_insert(0);
        if Duration::from_millis(lived_ms) >= policy.max_backoff {
            *n = 0;
        }
        *n
    };
    drop(inner);
    loop {
        let Some(inner) = session.upgrade() else {
            return;
        };
        let hub = inner.engine.hub.clone();
        attempt += 1;
        if attempt > policy.max_attempts {
            let tried = attempt - 1;
            tracing::error!(session = %inner.id, backend = %id, "backend failed for this session after {tried} restart attempts; last error: {cause}");
            let d = Down::Failed {
                cause: cause.clone(),
            };
            inner.conns.set_down(&hub, key, &id, Some(d));
            hub.update_backend(&id, |b| b.last_error = Some(cause.clone()));
            return;
        }
        let delay = policy.delay(attempt);
        tracing::warn!(session = %inner.id, backend = %id, "{cause}; restarting in {delay:?} (attempt {attempt} of {})", policy.max_attempts);
        let d = Down::Restarting {
            attempt,
            of: policy.max_attempts,
            cause: cause.clone(),
        };
        inner.conns.set_down(&hub, key, &id, Some(d));
        *inner
            .conns
            .streak
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key)
            .or_insert(0) = attempt;
        drop(inner);
        tokio::select! {
            _ = ended.cancelled() => return,
            _ = tokio::time::sleep(delay) => {}
        }
        let Some(inner) = session.upgrade() else {
            return;
        };
        let s = Session { inner };
        let _sync = s.inner.conns.sync.lock().await;
        let cat = s.inner.engine.catalog();
        let Some(def) = cat.get(key).cloned() else {
            // A reload removed the backend meanwhile.
            s.inner.conns.set_down(&hub, key, &id, None);
            return;
        };
        if ended.is_cancelled() {
            return;
        }
        let r = s.connect_each(std::slice::from_ref(&def)).await.pop();
        match r {
            // The session ended while the backend was connecting: release it at once.
            Some(Ok(c)) if ended.is_cancelled() => {
                c.close().await;
                return;
            }
            Some(Ok(c)) => {
                tracing::info!(session = %s.inner.id, backend = %id, "backend restarted (attempt {attempt})");
                s.inner.conns.set_down(&hub, key, &id, None);
                hub.update_backend(&id, |b| {
                    b.restarts += 1;
                    b.settle();
                });
                s.inner.engine.backend_restarted(&id);
                s.adopt(Arc::new(c), &cat);
                return;
            }
            Some(Err(e)) => cause = e.to_string(),
            None => return,
        }
    }
}
