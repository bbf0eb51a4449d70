//! A backend connection's rmcp client, started only when the connection first needs one.
//!
//! rmcp's client costs every connection a service task and channels (about half of what an idle
//! session's backend connection holds, BENCHMARKS.md). A stdio connection whose session only
//! calls tools on the fast path never needs it: its handshake is done over the raw link here, and
//! a small pump task reads the backend's output, handing fast responses to their waiters. The
//! first frame that is not one (a notification, a request of the backend), or the first caller
//! that needs the rmcp peer ([`Client::service`]), starts rmcp's client past the handshake on the
//! same transport; that frame is its first message.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rmcp::model::{JsonRpcMessage, ServerPeerInfo, ServerResult};
use rmcp::service::{RunningService, RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::Transport;
use rmcp::{RoleClient, ServiceExt};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::client::BackendClient;
use super::downstream::ProgressOrdered;
use super::raw::RawLink;
use super::BackendError;

/// A connection's rmcp client: running from the start, or started on first need.
pub(crate) struct Client {
    inner: Arc<Inner>,
    /// Stops the pump, or the service once it runs (the connection ended or was aborted).
    stop: CancellationToken,
}

#[derive(Default)]
struct Inner {
    service: OnceLock<RunningService<RoleClient, BackendClient>>,
    /// Asks the pump to hand the transport to rmcp.
    wake: Notify,
    /// Told when `service` is set or the pump ended without one.
    ready: Notify,
    /// The pump ended without starting the service (the backend closed the connection).
    ended: AtomicBool,
}

impl Drop for Client {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Client {
    /// A client that runs already.
    pub(crate) fn running(service: RunningService<RoleClient, BackendClient>) -> Client {
        let inner = Inner::default();
        let _ = inner.service.set(service);
        Client {
            inner: Arc::new(inner),
            stop: CancellationToken::new(),
        }
    }

    /// The service, started first if need be; `None` when the connection closed before it ran.
    pub(crate) async fn service(&self) -> Option<&RunningService<RoleClient, BackendClient>> {
        loop {
            if let Some(s) = self.inner.service.get() {
                return Some(s);
            }
            if self.inner.ended.load(Ordering::Acquire) || self.stop.is_cancelled() {
                return None;
            }
            let ready = self.inner.ready.notified();
            tokio::pin!(ready);
            ready.as_mut().enable();
            self.inner.wake.notify_one();
            if self.inner.service.get().is_some() || self.inner.ended.load(Ordering::Acquire) {
                continue;
            }
            ready.await;
        }
    }

    /// The service, if it runs.
    pub(crate) fn started(&self) -> Option<&RunningService<RoleClient, BackendClient>> {
        self.inner.service.get()
    }

    /// End the connection now: the service's requests in flight fail, the pump stops.
    pub(crate) fn abort(&self) {
        if let Some(s) = self.inner.service.get() {
            s.cancellation_token().cancel();
        }
        self.stop.cancel();
    }

    /// Close the MCP session (bounded).
    pub(crate) async fn close(mut self, timeout: Duration) {
        let inner = Arc::get_mut(&mut self.inner).and_then(|i| i.service.take());
        if let Some(mut s) = inner {
            let _ = s.close_with_timeout(timeout).await;
        }
        self.stop.cancel();
    }
}

/// Connect `handler` to a stdio backend over `transport` (its output) and `link` (its input):
/// the handshake over the raw link, then a [`Client`] that starts rmcp's client on first need.
/// The backend's answer to `initialize` is returned with it.
pub(crate) async fn connect<T>(
    handler: BackendClient,
    mut transport: ProgressOrdered<T>,
    link: &Arc<RawLink>,
) -> Result<(Client, ServerPeerInfo), BackendError>
where
    T: Transport<RoleClient> + 'static,
{
    let params = rmcp::ClientHandler::get_info(&handler);
    if !params.protocol_version.has_initialize() {
        // A revision without the handshake: rmcp's own startup.
        let service = handler
            .serve(transport)
            .await
            .map_err(BackendError::initialize)?;
        let info = service
            .peer()
            .peer_info()
            .map(|i| (*i).clone())
            .ok_or_else(|| BackendError::Other("no initialize result".into()))?;
        return Ok((Client::running(service), info));
    }
    let params = serde_json::to_string(&params).map_err(|e| BackendError::Other(e.to_string()))?;
    let asked = link.request("initialize", Some(&params));
    tokio::pin!(asked);
    // Until the answer (which `receive` hands to `asked`): pings are answered, anything else is
    // kept for rmcp's client.
    let mut early = Vec::new();
    let answer = loop {
        tokio::select! {
            biased;
            r = &mut asked => break r.map_err(|e| BackendError::Other(format!("initialize: {e}")))?,
            m = transport.receive() => match m {
                None => return Err(closed_early()),
                Some(JsonRpcMessage::Request(r)) if matches!(r.request, rmcp::model::ServerRequest::PingRequest(_)) => {
                    let pong = TxJsonRpcMessage::<RoleClient>::response(
                        rmcp::model::ClientResult::empty(()),
                        r.id,
                    );
                    let _ = transport.send(pong).await;
                }
                Some(m) => early.push(m),
            }
        }
    };
    let info = match serde_json::from_slice::<RxJsonRpcMessage<RoleClient>>(&answer) {
        Ok(JsonRpcMessage::Response(r)) => match r.result {
            ServerResult::InitializeResult(res) => ServerPeerInfo::from(res),
            other => {
                return Err(BackendError::Other(format!(
                    "expected an initialize result, got {other:?}"
                )))
            }
        },
        Ok(JsonRpcMessage::Error(e)) => {
            return Err(BackendError::Other(format!(
                "initialize refused: {}",
                e.error.message
            )))
        }
        Ok(_) => return Err(BackendError::Other("initialize: unexpected answer".into())),
        Err(e) => return Err(BackendError::Other(format!("initialize: bad answer: {e}"))),
    };
    link.write(b"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n")
        .await
        .map_err(|e| BackendError::Other(format!("send initialized notification: {e}")))?;
    let client = Client {
        inner: Arc::new(Inner::default()),
        stop: CancellationToken::new(),
    };
    let pump = Pump {
        inner: client.inner.clone(),
        stop: client.stop.clone(),
        handler,
        info: info.clone(),
        early,
    };
    tokio::spawn(pump.run(transport));
    Ok((client, info))
}

fn closed_early() -> BackendError {
    BackendError::Other("the backend closed the connection during initialize".into())
}

/// Reads the backend's output while rmcp's client is not running.
struct Pump {
    inner: Arc<Inner>,
    stop: CancellationToken,
    handler: BackendClient,
    info: ServerPeerInfo,
    /// Messages for rmcp's client that came before `initialize` was answered.
    early: Vec<RxJsonRpcMessage<RoleClient>>,
}

impl Pump {
    async fn run<T: Transport<RoleClient> + 'static>(mut self, mut transport: ProgressOrdered<T>) {
        if self.early.is_empty() {
            // `receive` delivers fast responses itself and returns only what rmcp must see.
            tokio::select! {
                biased;
                _ = self.stop.cancelled() => return self.end(),
                _ = self.inner.wake.notified() => {}
                m = transport.receive() => match m {
                    None => return self.end(),
                    Some(m) => self.early.push(m),
                },
            }
        }
        let early = std::mem::take(&mut self.early);
        let why = if early.is_empty() {
            "asked for"
        } else {
            "a message for it"
        };
        tracing::debug!(backend = %self.handler.id, "backend client started ({why})");
        transport.replay(early);
        let service = rmcp::service::serve_directly_with_ct(
            self.handler,
            transport,
            Some(self.info),
            self.stop.child_token(),
        );
        let _ = self.inner.service.set(service);
        self.inner.ready.notify_waiters();
    }

    fn end(self) {
        self.inner.ended.store(true, Ordering::Release);
        self.inner.ready.notify_waiters();
    }
}
