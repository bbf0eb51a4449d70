//! Streamable HTTP sessions: rmcp's service started only when a session needs it, each engine
//! session told its `Mcp-Session-Id` so the fast path can find it, and the sweep that closes idle
//! sessions.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use rmcp::model::{
    ClientJsonRpcMessage, ClientNotification, ClientRequest, GetExtensions, InitializeRequest,
    JsonRpcMessage, RequestId, ServerJsonRpcMessage,
};
use rmcp::transport::streamable_http_server::session::local::{
    LocalSessionManager, LocalSessionManagerError,
};
use rmcp::transport::streamable_http_server::session::{
    RestoreOutcome, ServerSseMessage, SessionId, SessionManager,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::core::engine::{Engine, Session, TransportKey, TransportSessionId};

/// Streamable-HTTP sessions. A session opened by the fast front (`initialize` answered there,
/// [`StreamableSessions::adopt`]) has no rmcp service until a message needs one
/// ([`StreamableSessions::serve`]: then rmcp's local session manager takes it over under the same
/// id, with its service started past the handshake); initialize, `notifications/initialized`,
/// ping, `tools/list`, fast calls and an idle standalone stream need none. Sessions rmcp opened
/// itself (the requests the fast front leaves alone) are rmcp's from the start; every
/// `initialize` that reaches rmcp gets its `Mcp-Session-Id` as a [`TransportSessionId`]
/// extension, so that the engine can route fast-path calls and sweep idle sessions.
pub(crate) struct StreamableSessions {
    local: LocalSessionManager,
    light: Mutex<HashMap<SessionId, Arc<Light>>>,
    engine: Arc<Engine>,
    /// Cancels the services started here (the engine's shutdown).
    stop: CancellationToken,
    me: Weak<StreamableSessions>,
}

/// A session opened without rmcp's service.
struct Light {
    session: Session,
    started: tokio::sync::OnceCell<()>,
    standalone: Mutex<Standalone>,
}

/// The client's standalone (GET) stream of a session opened without rmcp.
#[derive(Default)]
struct Standalone {
    /// Set once rmcp's service runs: later GETs are rmcp's.
    served: bool,
    /// The stream opened before that (fed from rmcp's once the service runs).
    held: Option<mpsc::Sender<ServerSseMessage>>,
}

type Local = LocalSessionManager;
type Error = LocalSessionManagerError;

/// Messages a session served without rmcp answers itself (202): the handshake's end, and a
/// cancellation, which can only be of a fast call (those end when their stream is dropped).
fn light_notification(message: &ClientJsonRpcMessage) -> bool {
    matches!(
        message,
        JsonRpcMessage::Notification(n) if matches!(
            n.notification,
            ClientNotification::InitializedNotification(_) | ClientNotification::CancelledNotification(_)
        )
    )
}

impl StreamableSessions {
    pub(crate) fn new(engine: Arc<Engine>, local: LocalSessionManager) -> Arc<Self> {
        Arc::new_cyclic(|me| StreamableSessions {
            local,
            stop: engine.shutdown.child_token(),
            engine,
            light: Mutex::new(HashMap::new()),
            me: me.clone(),
        })
    }

    fn light(&self, id: &str) -> Option<Arc<Light>> {
        self.light
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned()
    }

    /// Whether session `id` is served without rmcp's service.
    fn is_light(&self, id: &str) -> bool {
        self.light(id).is_some_and(|l| l.started.get().is_none())
    }

    /// Whether session `id`, served without rmcp's service, holds an open standalone stream.
    fn has_stream(&self, id: &str) -> bool {
        self.light(id).is_some_and(|l| {
            let s = l.standalone.lock().unwrap_or_else(|e| e.into_inner());
            s.held.as_ref().is_some_and(|tx| !tx.is_closed())
        })
    }

    /// Take session `id`, opened (initialized) by the fast front.
    pub(crate) fn adopt(&self, id: SessionId, session: Session) {
        let me = self.me.clone();
        let sid = id.clone();
        session.set_wake(Arc::new(move |request| {
            let me = me.clone();
            let sid = sid.clone();
            Box::pin(async move {
                if let Some(m) = me.upgrade() {
                    // A notification the client has no stream for would be dropped anyway
                    // (as rmcp drops it): no service for it.
                    if !request && !m.has_stream(&sid) {
                        return;
                    }
                    if let Err(e) = m.serve(&sid).await {
                        tracing::warn!("session {sid}: the MCP service did not start: {e}");
                    }
                }
            })
        }));
        let light = Arc::new(Light {
            session,
            started: tokio::sync::OnceCell::new(),
            standalone: Mutex::new(Standalone::default()),
        });
        self.light
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, light);
    }

    /// Start rmcp's service for session `id` if it was opened without one (once).
    async fn serve(&self, id: &SessionId) -> Result<(), Error> {
        let Some(l) = self.light(id) else {
            return Ok(());
        };
        l.started
            .get_or_try_init(|| async {
                // Set by the session's `initialize`, before it was adopted.
                let Some(params) = l.session.client_init() else {
                    return Ok(());
                };
                let RestoreOutcome::Restored(transport) =
                    self.local.restore_session(id.clone()).await?
                else {
                    return Ok(());
                };
                // rmcp's session worker starts with the handshake: the service is started as
                // for a new session and the client's `initialize` replayed to it (the engine
                // session answers it again from what it already has), as rmcp restores a
                // session from a store.
                let session = l.session.clone();
                let ct = self.stop.child_token();
                tokio::spawn(async move {
                    match rmcp::service::serve_server_with_ct(session, transport, ct).await {
                        Ok(running) => {
                            let _ = running.waiting().await;
                        }
                        Err(e) => tracing::warn!("MCP service ended in its handshake: {e}"),
                    }
                });
                let init = ClientJsonRpcMessage::request(
                    ClientRequest::InitializeRequest(InitializeRequest::new(params)),
                    RequestId::Number(0),
                );
                self.local.initialize_session(id, init).await?;
                let done = ClientJsonRpcMessage::notification(
                    ClientNotification::InitializedNotification(Default::default()),
                );
                self.local.accept_message(id, done).await?;
                let held = {
                    let mut s = l.standalone.lock().unwrap_or_else(|e| e.into_inner());
                    s.served = true;
                    s.held.take()
                };
                if let Some(tx) = held {
                    let mut events = Box::pin(self.local.create_standalone_stream(id).await?);
                    tokio::spawn(async move {
                        use futures::StreamExt;
                        while let Some(m) = events.next().await {
                            if tx.send(m).await.is_err() {
                                break;
                            }
                        }
                    });
                }
                tracing::debug!(session = %l.session.id(), "MCP service started");
                Ok::<_, Error>(())
            })
            .await
            .map(|_| ())
    }

    /// End every session (shutdown).
    fn close_all(&self) {
        let all = std::mem::take(&mut *self.light.lock().unwrap_or_else(|e| e.into_inner()));
        drop(all);
    }
}

impl SessionManager for StreamableSessions {
    type Error = Error;
    type Transport = <Local as SessionManager>::Transport;

    async fn create_session(&self) -> Result<(SessionId, Self::Transport), Self::Error> {
        self.local.create_session().await
    }

    async fn initialize_session(
        &self,
        id: &SessionId,
        mut message: ClientJsonRpcMessage,
    ) -> Result<ServerJsonRpcMessage, Self::Error> {
        if let JsonRpcMessage::Request(r) = &mut message {
            r.request
                .extensions_mut()
                .insert(TransportSessionId(id.to_string()));
        }
        self.local.initialize_session(id, message).await
    }

    async fn has_session(&self, id: &SessionId) -> Result<bool, Self::Error> {
        if self.light(id).is_some() {
            return Ok(true);
        }
        self.local.has_session(id).await
    }

    async fn close_session(&self, id: &SessionId) -> Result<(), Self::Error> {
        // Ended at once, for the fast paths too (the session itself goes when the last of its
        // requests and its service let go of it).
        self.engine
            .end_transport_session(&TransportKey::Streamable(id.to_string()));
        let light = self
            .light
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
        let r = self.local.close_session(id).await;
        drop(light);
        r
    }

    async fn create_stream(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<impl futures::Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error>
    {
        self.serve(id).await?;
        self.local.create_stream(id, message).await
    }

    async fn accept_message(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<(), Self::Error> {
        if light_notification(&message) && self.is_light(id) {
            return Ok(());
        }
        self.serve(id).await?;
        self.local.accept_message(id, message).await
    }

    async fn create_standalone_stream(
        &self,
        id: &SessionId,
    ) -> Result<impl futures::Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error>
    {
        use futures::StreamExt;
        if let Some(l) = self.light(id) {
            let mut s = l.standalone.lock().unwrap_or_else(|e| e.into_inner());
            if !s.served {
                let (tx, mut rx) = mpsc::channel(STANDALONE_QUEUE);
                s.held = Some(tx);
                return Ok(futures::stream::poll_fn(move |cx| rx.poll_recv(cx)).left_stream());
            }
        }
        Ok(self
            .local
            .create_standalone_stream(id)
            .await?
            .right_stream())
    }

    async fn resume(
        &self,
        id: &SessionId,
        last_event_id: String,
    ) -> Result<impl futures::Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error>
    {
        self.serve(id).await?;
        self.local.resume(id, last_event_id).await
    }

    async fn restore_session(
        &self,
        id: SessionId,
    ) -> Result<RestoreOutcome<Self::Transport>, Self::Error> {
        self.local.restore_session(id).await
    }
}

/// Messages queued for a standalone stream opened before rmcp's service ran.
const STANDALONE_QUEUE: usize = 16;

/// Close streamable-HTTP sessions that have been idle for `idle_timeout` or were ended (console),
/// checking a few times per timeout, until `stop`.
pub(crate) async fn sweep(
    engine: Arc<Engine>,
    mgr: Arc<StreamableSessions>,
    stop: CancellationToken,
) {
    let idle = engine.agg.effective_idle_timeout();
    let every = (idle / 4).clamp(Duration::from_millis(100), Duration::from_secs(30));
    loop {
        tokio::select! {
            _ = stop.cancelled() => {
                mgr.close_all();
                return;
            }
            _ = tokio::time::sleep(every) => {}
        }
        for key in engine.stale_transport_sessions(idle) {
            if let TransportKey::Streamable(sid) = key {
                tracing::info!("closing streamable HTTP session {sid}: idle or ended");
                let _ = mgr.close_session(&SessionId::from(sid)).await;
            }
        }
    }
}
