//! Legacy SSE endpoints for the engine: each `GET /sse` is one session with its own backends.

use std::sync::Arc;
use std::time::Duration;

use rmcp::ServiceExt;

use crate::core::engine::{Caller, Engine, FastItem, TransportKey};
use crate::core::front::sse_transport::{
    sse_router, SseServerConfig, SseSessionInfo, SseTransport,
};
use crate::core::front::ServeOptions;

pub fn router(engine: Arc<Engine>, opts: &ServeOptions) -> axum::Router {
    let cfg = SseServerConfig {
        keep_alive: Some(opts.sse_keep_alive),
        max_message_size: engine.agg.max_message_size,
        fast: Some(crate::core::front::sse_transport::FastHook({
            let engine = engine.clone();
            Arc::new(move |sid: &str, frame: &[u8]| {
                use futures::StreamExt;
                // The POST handler already checked that the caller owns the session.
                let call = engine.fast_call(&TransportKey::Sse(sid.to_string()), frame, None)?;
                Some(Box::pin(call.map(|item| match item {
                    FastItem::Progress(b) | FastItem::Done(b) => b,
                }))
                    as crate::core::front::sse_transport::FastReply)
            })
        })),
        ..Default::default()
    };
    sse_router(
        cfg,
        Arc::new(move |transport: SseTransport, info: SseSessionInfo| {
            let engine = engine.clone();
            tokio::spawn(run_session(engine, transport, info));
        }),
    )
}

async fn run_session(engine: Arc<Engine>, transport: SseTransport, info: SseSessionInfo) {
    let caller = Caller::of(info.caller.as_deref());
    let session = engine.new_session(info.remote.as_deref().unwrap_or("?"), Some(caller), "sse");
    engine.bind_transport_session(TransportKey::Sse(info.session_id.clone()), &session);
    let ended = session.ended();
    let idle = engine.agg.effective_idle_timeout();
    let running = match session.clone().serve(transport).await {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!(session = %session.id(), "sse session did not start: {e}");
            return;
        }
    };
    let ct = running.cancellation_token();
    let check = (idle / 4).clamp(Duration::from_millis(100), Duration::from_secs(30));
    let mut waiting = Box::pin(running.waiting());
    loop {
        tokio::select! {
            _ = &mut waiting => break,
            _ = ended.cancelled() => { ct.cancel(); let _ = waiting.await; break; }
            _ = tokio::time::sleep(check) => {
                if session.idle_for() >= idle {
                    tracing::info!(session = %session.id(), "idle timeout");
                    ct.cancel();
                    let _ = waiting.await;
                    break;
                }
            }
        }
    }
}
