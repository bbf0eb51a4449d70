//! The client end of a session as its backend connections see it: where their notifications and
//! server-to-client requests go, and how request ids and progress tokens map back to the client's.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use rmcp::model::{
    InitializeRequestParams, JsonRpcMessage, JsonRpcNotification, ProgressToken, RequestId,
    ServerNotification,
};
use rmcp::service::{RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::{IntoTransport, Transport};
use rmcp::{Peer, RoleClient, RoleServer};

use super::client::BackendClient;

/// The client end of one session, shared with every backend connection the session owns, so that
/// backend notifications and requests reach the right client.
#[derive(Default)]
pub struct Downstream {
    peer: OnceLock<Peer<RoleServer>>,
    /// Makes `peer` when a message for the client needs one and there is none yet (a
    /// streamable-HTTP session served without rmcp until then, `front/streamable.rs`).
    wake: OnceLock<WakeFn>,
    init: OnceLock<InitializeRequestParams>,
    /// (backend index, token the backend sees) -> token the client sent.
    progress: Mutex<HashMap<(usize, ProgressToken), ProgressToken>>,
    /// Where backend list-changed notifications go (the owning session).
    list_changed: Mutex<Option<ListChangedFn>>,
    /// Progress notifications received from a backend and not yet passed to the client, per
    /// (backend index, token the backend sees). rmcp hands each notification to a spawned task
    /// but delivers responses at once, so without this a response could overtake the progress
    /// the backend sent before it (and the client would drop that progress).
    progress_in_flight: Mutex<HashMap<(usize, ProgressToken), usize>>,
    progress_passed: tokio::sync::Notify,
    /// Logging notifications received from each backend (by index) and not yet passed on: the
    /// same race as progress (a call's log lines must reach the client before its result).
    logs_in_flight: Mutex<HashMap<usize, usize>>,
    /// (backend index, request id the backend sees) -> id of the client request being forwarded.
    requests: Mutex<HashMap<(usize, RequestId), RequestId>>,
}

/// Receives list-changed notifications from a session's backends.
pub(crate) type ListChangedFn = Arc<dyn Fn(ListChanged) + Send + Sync>;
/// Gives a session its rmcp server peer (see [`Downstream::client_peer`]); the argument says
/// whether a request is to be sent (else a notification).
pub(crate) type WakeFn = Arc<dyn Fn(bool) -> futures::future::BoxFuture<'static, ()> + Send + Sync>;
/// Receives each stderr line of a stdio backend (`backend id`, line).
pub(crate) type StderrFn = Arc<dyn Fn(&str, &str) + Send + Sync>;

/// Which list changed at a backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ListChanged {
    Tools(usize),
    Prompts(usize),
    Resources(usize),
}

impl Downstream {
    pub(crate) fn set_peer(&self, peer: Peer<RoleServer>) {
        let _ = self.peer.set(peer);
    }

    pub fn peer(&self) -> Option<&Peer<RoleServer>> {
        self.peer.get()
    }

    pub(crate) fn set_wake(&self, wake: WakeFn) {
        let _ = self.wake.set(wake);
    }

    /// The peer to send the client a `request` (else a notification) with, made first when the
    /// session has none yet but can have one (`set_wake`; a notification only when the client
    /// has a stream to receive it on). `None`: there is no client to send to (yet).
    pub(crate) async fn client_peer(&self, request: bool) -> Option<Peer<RoleServer>> {
        if let Some(p) = self.peer.get() {
            return Some(p.clone());
        }
        let wake = self.wake.get()?.clone();
        wake(request).await;
        self.peer.get().cloned()
    }

    pub(crate) fn set_init(&self, init: InitializeRequestParams) {
        let _ = self.init.set(init);
    }

    pub fn init(&self) -> Option<&InitializeRequestParams> {
        self.init.get()
    }

    pub(crate) fn map_progress(&self, backend: usize, theirs: ProgressToken, ours: ProgressToken) {
        self.progress
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert((backend, theirs), ours);
    }

    pub(crate) fn unmap_progress(&self, backend: usize, theirs: &ProgressToken) {
        let key = (backend, theirs.clone());
        self.progress
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&key);
        self.progress_in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&key);
    }

    /// Client request `ours` is being forwarded to backend `backend` as request `theirs`.
    pub(crate) fn map_request(&self, backend: usize, theirs: RequestId, ours: RequestId) {
        self.requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert((backend, theirs), ours);
    }

    pub(crate) fn unmap_request(&self, backend: usize, theirs: &RequestId) {
        self.requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&(backend, theirs.clone()));
    }

    /// The client request a request from backend `backend` belongs to: the forwarded request on
    /// whose response stream it arrived (`theirs`, HTTP backends), else the only request being
    /// forwarded to that backend (stdio has no way to say), else none.
    pub(super) fn client_request(
        &self,
        backend: usize,
        theirs: Option<&RequestId>,
    ) -> Option<RequestId> {
        let m = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(theirs) = theirs {
            if let Some(ours) = m.get(&(backend, theirs.clone())) {
                return Some(ours.clone());
            }
        }
        let mut mine = m.iter().filter(|((b, _), _)| *b == backend).map(|(_, v)| v);
        match (mine.next(), mine.next()) {
            (Some(only), None) => Some(only.clone()),
            _ => None,
        }
    }

    /// A progress notification for `theirs` arrived from backend `backend` (called in wire order).
    fn progress_received(&self, backend: usize, theirs: &ProgressToken) {
        *self
            .progress_in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry((backend, theirs.clone()))
            .or_insert(0) += 1;
    }

    /// A progress notification counted by `progress_received` was passed on (or dropped).
    pub(super) fn progress_passed(&self, backend: usize, theirs: &ProgressToken) {
        {
            let mut m = self
                .progress_in_flight
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            let key = (backend, theirs.clone());
            if let Some(n) = m.get_mut(&key) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    m.remove(&key);
                }
            }
        }
        self.progress_passed.notify_waiters();
    }

    fn log_received(&self, backend: usize) {
        *self
            .logs_in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(backend)
            .or_insert(0) += 1;
    }

    /// A logging notification counted by `log_received` was passed on (or dropped).
    pub(super) fn log_passed(&self, backend: usize) {
        {
            let mut m = self
                .logs_in_flight
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if let Some(n) = m.get_mut(&backend) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    m.remove(&backend);
                }
            }
        }
        self.progress_passed.notify_waiters();
    }

    /// Wait (at most `limit`) until every logging notification received so far from `backend`
    /// has been passed to the client: call after a response arrives, before returning it.
    pub(crate) async fn logs_drained(&self, backend: usize, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let passed = self.progress_passed.notified();
            tokio::pin!(passed);
            passed.as_mut().enable();
            if !self
                .logs_in_flight
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .contains_key(&backend)
            {
                return;
            }
            if tokio::time::timeout_at(deadline, passed).await.is_err() {
                tracing::debug!(backend, "log notifications not passed on within {limit:?}");
                return;
            }
        }
    }

    /// Wait (at most `limit`) until every progress notification received so far for `theirs`
    /// has been passed to the client: call after the response arrives, before returning it.
    pub(crate) async fn progress_drained(
        &self,
        backend: usize,
        theirs: &ProgressToken,
        limit: Duration,
    ) {
        let deadline = tokio::time::Instant::now() + limit;
        let key = (backend, theirs.clone());
        loop {
            let passed = self.progress_passed.notified();
            tokio::pin!(passed);
            passed.as_mut().enable();
            if !self
                .progress_in_flight
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .contains_key(&key)
            {
                return;
            }
            if tokio::time::timeout_at(deadline, passed).await.is_err() {
                tracing::debug!(
                    backend,
                    "progress still in flight when the response was returned"
                );
                return;
            }
        }
    }

    pub(super) fn client_token(
        &self,
        backend: usize,
        theirs: &ProgressToken,
    ) -> Option<ProgressToken> {
        self.progress
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(backend, theirs.clone()))
            .cloned()
    }

    pub(crate) fn on_list_changed(&self, f: ListChangedFn) {
        *self.list_changed.lock().unwrap_or_else(|e| e.into_inner()) = Some(f);
    }

    pub(super) fn list_changed(&self, what: ListChanged) {
        let f = self
            .list_changed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some(f) = f {
            f(what);
        }
    }
}

/// A backend transport that counts each progress and logging notification as it is received, in
/// wire order, before rmcp hands it to a spawned handler task (see
/// [`Downstream::progress_drained`], [`Downstream::logs_drained`]).
/// It also tells the connection's owner when the transport ends (see [`BackendClient::closed`]).
pub(crate) struct ProgressOrdered<T> {
    inner: T,
    /// Messages received (and counted) already, given out again first (`replay`).
    replay: std::collections::VecDeque<RxJsonRpcMessage<RoleClient>>,
    down: Arc<Downstream>,
    idx: usize,
    _closed: tokio_util::sync::DropGuard,
}

impl<T> ProgressOrdered<T> {
    pub fn new(
        inner: T,
        down: Arc<Downstream>,
        idx: usize,
        closed: tokio_util::sync::CancellationToken,
    ) -> Self {
        Self {
            inner,
            replay: Default::default(),
            down,
            idx,
            _closed: closed.drop_guard(),
        }
    }
}

impl<T> ProgressOrdered<T> {
    /// Have `messages` (received from this transport before) received again, first.
    pub(crate) fn replay(&mut self, messages: Vec<RxJsonRpcMessage<RoleClient>>) {
        self.replay.extend(messages);
    }
}

impl<T: Transport<RoleClient>> Transport<RoleClient> for ProgressOrdered<T> {
    type Error = T::Error;

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleClient>,
    ) -> impl std::future::Future<Output = Result<(), Self::Error>> + Send + 'static {
        self.inner.send(item)
    }

    async fn receive(&mut self) -> Option<RxJsonRpcMessage<RoleClient>> {
        if let Some(m) = self.replay.pop_front() {
            return Some(m);
        }
        let m = self.inner.receive().await;
        if let Some(JsonRpcMessage::Notification(JsonRpcNotification {
            notification: ServerNotification::ProgressNotification(n),
            ..
        })) = &m
        {
            self.down
                .progress_received(self.idx, &n.params.progress_token);
        }
        if let Some(JsonRpcMessage::Notification(JsonRpcNotification {
            notification: ServerNotification::LoggingMessageNotification(_),
            ..
        })) = &m
        {
            self.down.log_received(self.idx);
        }
        m
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        self.inner.close().await
    }
}

pub(crate) fn ordered<T, E, A>(
    transport: T,
    handler: &BackendClient,
) -> ProgressOrdered<impl Transport<RoleClient, Error = E> + 'static>
where
    T: IntoTransport<RoleClient, E, A>,
    E: std::error::Error + Send + Sync + 'static,
{
    ProgressOrdered::new(
        transport.into_transport(),
        handler.down.clone(),
        handler.idx,
        handler.closed.clone(),
    )
}
