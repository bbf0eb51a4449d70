//! One client session: its own backend connections (connected on first use, all at once), the
//! mapping of request ids and progress tokens between the client and each backend, and the
//! forwarding of one request with the call rules of [`super::call`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use rmcp::model::*;
use rmcp::service::RequestContext;
use rmcp::{Peer, RoleClient, RoleServer};
use tokio_util::sync::CancellationToken;

use crate::core::backend::{BackendConn, Downstream, ListChanged};
use crate::core::live::state::{CallOutcome, CallPath};
use crate::core::net::PeerAddr;

use super::call::{self, CallError};
use super::{Caller, Engine};

/// One client session: a clone-able rmcp server handler.
#[derive(Clone)]
pub struct Session {
    pub(super) inner: Arc<SessionInner>,
}

pub(super) struct SessionInner {
    pub(super) engine: Arc<Engine>,
    pub(super) id: String,
    pub(super) down: Arc<Downstream>,
    /// Its backend connections (see `conns.rs`).
    pub(super) conns: super::conns::Conns,
    pub(super) ended: CancellationToken,
    pub(super) last_activity: Mutex<Instant>,
    /// resource URI -> backend key, from this session's resources/list.
    pub(super) resource_routes: Mutex<HashMap<String, super::catalog::BackendKey>>,
    /// Key in `Engine::transport_sessions`, once bound.
    pub(super) transport_key: OnceLock<super::TransportKey>,
    /// Who is calling, once known; every later request must come from the same caller.
    pub(super) caller: Mutex<Option<Caller>>,
}

impl Drop for SessionInner {
    fn drop(&mut self) {
        self.engine
            .sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.id);
        self.engine.session_ended.notify_waiters();
        if let Some(k) = self.transport_key.get() {
            let mut m = self
                .engine
                .transport_sessions
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if m.get(k).is_some_and(|w| w.strong_count() == 0) {
                m.remove(k);
            }
        }
        // Wake this session's connection watchers: they end with it.
        self.ended.cancel();
        self.conns.release(&self.engine.hub);
        self.engine.hub.session_closed(&self.id, "closed");
        self.engine.trimmer.freed();
        tracing::info!(session = %self.id, "session closed");
    }
}

impl Session {
    pub fn id(&self) -> &str {
        &self.inner.id
    }

    pub fn engine(&self) -> &Arc<Engine> {
        &self.inner.engine
    }

    /// Cancelled when the session is ended by the console, idle timeout or shutdown.
    pub fn ended(&self) -> CancellationToken {
        self.inner.ended.clone()
    }

    pub(crate) fn idle_for(&self) -> Duration {
        self.inner
            .last_activity
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .elapsed()
    }

    pub(super) fn touch(&self) {
        *self
            .inner
            .last_activity
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Instant::now();
    }

    pub(super) async fn list_changed(&self, what: ListChanged) {
        let Some(peer) = self.inner.down.client_peer(false).await else {
            return;
        };
        let _ = match what {
            ListChanged::Tools(_) => peer.notify_tool_list_changed().await,
            ListChanged::Prompts(_) => peer.notify_prompt_list_changed().await,
            ListChanged::Resources(_) => peer.notify_resource_list_changed().await,
        };
    }

    /// Every request of the session comes through here: the first one that names its caller
    /// (streamable HTTP: the connection it arrived on) fixes the session's caller; a request
    /// from another caller holding the session id is refused.
    pub(super) fn attach(&self, ctx: &RequestContext<RoleServer>) -> Result<(), CallError> {
        if let Some(peer) = ctx
            .extensions
            .get::<http::request::Parts>()
            .and_then(|p| p.extensions.get::<PeerAddr>())
        {
            let theirs = Caller::of(peer.caller.as_deref());
            self.identify(&peer.remote, theirs)?;
        }
        if self.inner.down.peer().is_none() {
            self.inner.down.set_peer(ctx.peer.clone());
        }
        self.touch();
        Ok(())
    }

    /// Fix the session's caller as `theirs`, or check that it is `theirs`.
    pub(super) fn identify(&self, remote: &str, theirs: Caller) -> Result<(), CallError> {
        let mut ours = self.inner.caller.lock().unwrap_or_else(|e| e.into_inner());
        match &*ours {
            Some(c) if *c == theirs => Ok(()),
            Some(c) => {
                tracing::warn!(session = %self.inner.id, owner = %c, caller = %theirs, "request from another caller refused");
                Err(CallError::ForeignCaller)
            }
            None => {
                let name = theirs.name().to_string();
                tracing::info!(session = %self.inner.id, %remote, caller = %name, "session caller");
                *ours = Some(theirs);
                let remote = remote.to_string();
                self.inner.engine.hub.session_update(&self.inner.id, |s| {
                    s.caller = name;
                    s.remote = remote;
                });
                Ok(())
            }
        }
    }

    /// Who is calling, if known yet.
    pub(super) fn known_caller(&self) -> Option<Caller> {
        self.inner
            .caller
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Who is calling (`local` until a transport said otherwise).
    pub(super) fn caller(&self) -> Caller {
        self.known_caller().unwrap_or_default()
    }

    /// Forward one request to backend connection `conn`, bounded by `call_timeout`, cancelled
    /// at the backend when the client cancels, with the client's progress token mapped.
    pub(super) async fn forward(
        &self,
        conn: &Arc<BackendConn>,
        req: ClientRequest,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<ServerResult, CallError> {
        let _busy = conn.in_use();
        let limits = call::Limits::new(
            self.inner.engine.catalog().agg.call_timeout,
            ctx.meta.get_progress_token().is_some(),
        );
        let timeout = limits.timeout;
        let mut opts = rmcp::service::PeerRequestOptions::with_timeout(timeout);
        if limits.progress {
            opts = opts
                .reset_timeout_on_progress()
                .with_max_total_timeout(limits.max_total);
        }
        let handle = conn
            .peer()
            .await
            .ok_or_else(|| CallError::Closed(conn.id.clone()))?
            .send_request_with_option(req, opts)
            .await
            .map_err(|e| CallError::from_service(e, &conn.id, timeout))?;
        let theirs = handle.progress_token.clone();
        self.inner
            .down
            .map_request(conn.idx, handle.id.clone(), ctx.id.clone());
        let request_id = handle.id.clone();
        let mapped = if let Some(ours) = ctx.meta.get_progress_token() {
            self.inner.down.map_progress(conn.idx, theirs.clone(), ours);
            true
        } else {
            false
        };
        let peer = handle.peer.clone();
        let rid = handle.id.clone();
        let r = tokio::select! {
            r = handle.await_response() => r.map_err(|e| CallError::from_service(e, &conn.id, timeout)),
            _ = ctx.ct.cancelled() => {
                let _ = peer.notify_cancelled(CancelledNotificationParam::new(
                    Some(rid),
                    Some(call::Abandon::Client.reason().into()),
                )).await;
                Err(CallError::Cancelled)
            }
            _ = self.inner.ended.cancelled() => {
                Err(CallError::SessionEnded)
            }
        };
        if !ctx.ct.is_cancelled() && !self.inner.ended.is_cancelled() {
            // Log lines the backend sent before its response go out before the response.
            self.inner
                .down
                .logs_drained(conn.idx, call::PROGRESS_DRAIN)
                .await;
        }
        if mapped {
            if !ctx.ct.is_cancelled() && !self.inner.ended.is_cancelled() {
                // Progress the backend sent before its response goes out before the response.
                self.inner
                    .down
                    .progress_drained(conn.idx, &theirs, call::PROGRESS_DRAIN)
                    .await;
            }
            self.inner.down.unmap_progress(conn.idx, &theirs);
        }
        self.inner.down.unmap_request(conn.idx, &request_id);
        r
    }

    /// Gateway mode: every page of every backend that has `cap`, listed concurrently, each bounded
    /// by `call_timeout`. A backend that fails or times out is logged and left out.
    pub(super) async fn gather<T, Fut>(
        &self,
        conns: &[Arc<BackendConn>],
        what: &str,
        cap: fn(&ServerCapabilities) -> bool,
        list: impl Fn(Peer<RoleClient>) -> Fut,
    ) -> Vec<(usize, Vec<T>)>
    where
        Fut: std::future::Future<Output = Result<Vec<T>, rmcp::ServiceError>>,
    {
        let ct = self.inner.engine.catalog().agg.call_timeout;
        let lists =
            futures::future::join_all(conns.iter().filter(|c| Self::has_cap(c, cap)).map(|c| {
                let f = async {
                    match c.peer().await {
                        Some(p) => list(p.clone()).await,
                        None => Err(rmcp::ServiceError::TransportClosed),
                    }
                };
                async move { (c, tokio::time::timeout(ct, f).await) }
            }))
            .await;
        let mut out = Vec::new();
        for (c, r) in lists {
            match r {
                Ok(Ok(items)) => out.push((c.idx, items)),
                Ok(Err(err)) => {
                    tracing::warn!(backend = %c.id, "{what} failed: {}", super::discovery::err_str(&err))
                }
                Err(_) => tracing::warn!(backend = %c.id, "{what} timed out"),
            }
        }
        out
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn record(
        &self,
        backend: &str,
        method: &str,
        target: &str,
        started: Instant,
        outcome: CallOutcome,
        path: CallPath,
        detail: &crate::core::ops::Detail,
    ) {
        let duration = started.elapsed();
        let caller = self.caller();
        tracing::debug!(
            session = %self.inner.id,
            caller = %caller,
            backend,
            method,
            target,
            outcome = ?outcome,
            duration_us = duration.as_micros() as u64,
            path = path.as_str(),
            "call"
        );
        self.observe(
            &caller,
            Some(backend),
            method,
            target,
            duration,
            &outcome,
            path,
            detail,
        );
        // Tool calls are also counted per tool.
        let tool_key = (method == "tools/call").then_some(target);
        self.inner.engine.hub.record_call(
            crate::core::live::hub::CallRecord {
                session: &self.inner.id,
                caller: caller.name(),
                backend,
                method,
                target,
                duration,
                outcome,
                path,
            },
            tool_key,
        );
    }

    /// [`Session::forward`], recorded as one call of `method` on `target` (prompts, resources).
    pub(super) async fn forward_recorded(
        &self,
        conn: &Arc<BackendConn>,
        method: &str,
        target: &str,
        req: ClientRequest,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<ServerResult, CallError> {
        let started = Instant::now();
        let r = self.forward(conn, req, ctx).await;
        let outcome = r
            .as_ref()
            .map_or_else(CallError::outcome, |_| CallOutcome::Ok);
        let none = Default::default();
        self.record(
            &conn.id,
            method,
            target,
            started,
            outcome,
            CallPath::Full,
            &none,
        );
        r
    }

    pub(super) fn has_cap(conn: &BackendConn, f: impl Fn(&ServerCapabilities) -> bool) -> bool {
        conn.info
            .as_ref()
            .map(|i| f(&i.capabilities))
            .unwrap_or(false)
    }
}
