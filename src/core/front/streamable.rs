//! Streamable HTTP sessions: rmcp's session manager, telling each engine session its
//! `Mcp-Session-Id` so the fast path can find it, and the sweep that closes idle sessions.

use std::sync::Arc;
use std::time::Duration;

use rmcp::model::{ClientJsonRpcMessage, GetExtensions, JsonRpcMessage, ServerJsonRpcMessage};
use rmcp::transport::streamable_http_server::session::local::{
    LocalSessionManager, LocalSessionManagerError,
};
use rmcp::transport::streamable_http_server::session::{
    RestoreOutcome, ServerSseMessage, SessionId, SessionManager,
};
use tokio_util::sync::CancellationToken;

use crate::core::engine::{Engine, TransportKey, TransportSessionId};

/// rmcp's local session manager, telling each session its `Mcp-Session-Id` (as a
/// [`TransportSessionId`] extension on the `initialize` request) so that the engine can route
/// fast-path calls and sweep idle sessions.
pub(crate) struct StreamableSessions(pub(crate) LocalSessionManager);

type Local = LocalSessionManager;

impl SessionManager for StreamableSessions {
    type Error = LocalSessionManagerError;
    type Transport = <Local as SessionManager>::Transport;

    async fn create_session(&self) -> Result<(SessionId, Self::Transport), Self::Error> {
        self.0.create_session().await
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
        self.0.initialize_session(id, message).await
    }

    async fn has_session(&self, id: &SessionId) -> Result<bool, Self::Error> {
        self.0.has_session(id).await
    }

    async fn close_session(&self, id: &SessionId) -> Result<(), Self::Error> {
        self.0.close_session(id).await
    }

    async fn create_stream(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<impl futures::Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error>
    {
        self.0.create_stream(id, message).await
    }

    async fn accept_message(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<(), Self::Error> {
        self.0.accept_message(id, message).await
    }

    async fn create_standalone_stream(
        &self,
        id: &SessionId,
    ) -> Result<impl futures::Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error>
    {
        self.0.create_standalone_stream(id).await
    }

    async fn resume(
        &self,
        id: &SessionId,
        last_event_id: String,
    ) -> Result<impl futures::Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error>
    {
        self.0.resume(id, last_event_id).await
    }

    async fn restore_session(
        &self,
        id: SessionId,
    ) -> Result<RestoreOutcome<Self::Transport>, Self::Error> {
        self.0.restore_session(id).await
    }
}

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
            _ = stop.cancelled() => return,
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
