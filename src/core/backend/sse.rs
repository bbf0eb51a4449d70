//! Legacy HTTP+SSE client transport over [`HttpClient`] (so over any dialer).
//!
//! `GET` the SSE URL, wait for the `endpoint` event, resolve its data against the SSE URL
//! (verbatim: `/sse?sessionid=…` from Go, `/messages/?session_id=…` from Python, anything else),
//! refuse an endpoint on another origin, then POST every outgoing message there and yield every
//! `message` event. The transport closes when the stream ends or a POST fails; the reason is kept
//! in a [`CloseReason`] the caller can show.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::StreamExt;
use http::header::{ACCEPT, CACHE_CONTROL, CONTENT_TYPE};
use http::{Method, Request};
use http_body_util::{BodyExt, Full};
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use rmcp::service::RoleClient;
use rmcp::transport::Transport;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::core::backend::http_client::{error_chain, HttpClient};
use crate::core::backend::raw::{PostFrame, RawLink};
use crate::core::wire::sse::{self as codec, SseEvent};

/// Why the SSE client transport failed or closed. Messages never contain header values.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct SseClientError(pub String);

/// Shared slot with the first reason the transport closed (stream end, stream error, POST
/// failure). Clone it before handing the transport to rmcp.
#[derive(Debug, Clone, Default)]
pub struct CloseReason(Arc<Mutex<Option<String>>>);

impl CloseReason {
    pub fn get(&self) -> Option<String> {
        self.0.lock().ok().and_then(|g| g.clone())
    }

    fn set(&self, reason: String) {
        if let Ok(mut g) = self.0.lock() {
            if g.is_none() {
                *g = Some(reason);
            }
        }
    }
}

/// The client half of a legacy SSE session as an rmcp transport.
pub struct SseClientTransport {
    rx: mpsc::Receiver<ServerJsonRpcMessage>,
    raw: Arc<RawLink>,
    client: HttpClient,
    endpoint: Arc<str>,
    closed: CancellationToken,
    reason: CloseReason,
    reader: tokio::task::JoinHandle<()>,
}

impl SseClientTransport {
    /// The POST URL the server announced (resolved).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The reason this transport closed, once it has.
    pub fn close_reason(&self) -> CloseReason {
        self.reason.clone()
    }

    /// The raw side of this connection, for the `tools/call` fast path.
    pub(crate) fn raw_link(&self) -> Arc<RawLink> {
        self.raw.clone()
    }
}

impl Drop for SseClientTransport {
    fn drop(&mut self) {
        self.closed.cancel();
        self.reader.abort();
    }
}

fn err(msg: impl Into<String>) -> SseClientError {
    SseClientError(msg.into())
}

/// Connects to a legacy SSE server. The wait for the `endpoint` event is not bounded here: wrap
/// the call in the caller's timeout.
pub async fn connect(client: HttpClient, url: &str) -> Result<SseClientTransport, SseClientError> {
    let base = url::Url::parse(url).map_err(|e| err(format!("invalid SSE URL: {e}")))?;
    if !matches!(base.scheme(), "http" | "https") || base.host_str().is_none() {
        return Err(err("SSE URL must be http(s)://host/..."));
    }
    let req = Request::builder()
        .method(Method::GET)
        .uri(url)
        .header(ACCEPT, "text/event-stream")
        .header(CACHE_CONTROL, "no-cache")
        .body(Full::new(Bytes::new()))
        .map_err(|e| err(format!("invalid SSE URL: {e}")))?;
    let resp = client
        .request(req)
        .await
        .map_err(|e| err(format!("SSE connect failed: {e}")))?;
    let status = resp.status();
    if !status.is_success() {
        let redirect = crate::core::backend::http_client::redirect_note(status, resp.headers());
        let body = first_bytes(resp.into_body(), 512).await;
        return Err(err(format!(
            "SSE connect failed: HTTP {status}{redirect}{}",
            if body.is_empty() {
                String::new()
            } else {
                format!(": {body}")
            }
        )));
    }
    let mut events = Box::pin(codec::decode_stream(
        resp.into_body().into_data_stream(),
        client.max_message_size(),
    ));

    let endpoint = match events.next().await {
        Some(Ok(ev)) if ev.kind() == "endpoint" => ev.data.unwrap_or_default(),
        Some(Ok(ev)) => {
            return Err(err(format!(
                "SSE server sent {:?} before its endpoint event",
                ev.kind()
            )))
        }
        Some(Err(e)) => {
            return Err(err(format!(
                "SSE stream failed before the endpoint event: {e}"
            )))
        }
        None => return Err(err("SSE stream ended before the endpoint event")),
    };
    let endpoint = base
        .join(endpoint.trim())
        .map_err(|e| err(format!("bad endpoint from SSE server: {e}")))?;
    if endpoint.origin() != base.origin() {
        return Err(err(format!(
            "SSE endpoint origin {} does not match the connection origin {}",
            endpoint.origin().ascii_serialization(),
            base.origin().ascii_serialization()
        )));
    }
    tracing::debug!(endpoint = %endpoint.path(), "sse endpoint received");

    let (tx, rx) = mpsc::channel(64);
    let closed = CancellationToken::new();
    let reason = CloseReason::default();
    let endpoint: Arc<str> = endpoint.as_str().into();
    let raw = RawLink::posting(Arc::new(Poster {
        client: client.clone(),
        endpoint: endpoint.clone(),
        closed: closed.clone(),
        reason: reason.clone(),
    }));
    let reader = tokio::spawn({
        let closed = closed.clone();
        let reason = reason.clone();
        let raw = raw.clone();
        let _close_raw = CloseOnDrop(raw.clone());
        async move {
            let _close_raw = _close_raw;
            let why = loop {
                let ev: SseEvent = tokio::select! {
                    _ = closed.cancelled() => return,
                    ev = events.next() => match ev {
                        Some(Ok(ev)) => ev,
                        Some(Err(e)) => break format!("SSE stream failed: {e}"),
                        None => break "SSE stream ended".to_string(),
                    },
                };
                if ev.kind() != "message" {
                    tracing::debug!(kind = ev.kind(), "ignoring SSE event");
                    continue;
                }
                let Some(data) = ev.data.filter(|d| !d.trim().is_empty()) else {
                    continue;
                };
                if raw.deliver(data.as_bytes()) {
                    continue;
                }
                match serde_json::from_str::<ServerJsonRpcMessage>(&data) {
                    Ok(m) => {
                        if tx.send(m).await.is_err() {
                            return;
                        }
                    }
                    Err(e) => tracing::warn!("ignoring unparsable message from SSE server: {e}"),
                }
            };
            tracing::debug!("{why}");
            reason.set(why);
            // Dropping `tx` ends `receive` once queued messages are read.
        }
    });

    Ok(SseClientTransport {
        rx,
        raw,
        client,
        endpoint,
        closed,
        reason,
        reader,
    })
}

async fn first_bytes(body: hyper::body::Incoming, max: usize) -> String {
    let mut out = Vec::new();
    let mut s = body.into_data_stream();
    while out.len() < max {
        match s.next().await {
            Some(Ok(c)) => out.extend_from_slice(&c[..c.len().min(max - out.len())]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&out).trim().to_string()
}

/// POST one message to the session's endpoint; a failure closes the transport.
async fn post(
    client: &HttpClient,
    endpoint: &str,
    closed: &CancellationToken,
    reason: &CloseReason,
    body: Bytes,
) -> Result<(), SseClientError> {
    let fail = |msg: String| {
        reason.set(msg.clone());
        closed.cancel();
        err(msg)
    };
    if closed.is_cancelled() {
        return Err(err(reason
            .get()
            .unwrap_or_else(|| "SSE transport closed".into())));
    }
    let req = Request::builder()
        .method(Method::POST)
        .uri(endpoint)
        .header(CONTENT_TYPE, "application/json")
        .body(Full::new(body))
        .map_err(|e| fail(format!("POST to SSE endpoint: {}", error_chain(&e))))?;
    let resp = client
        .request(req)
        .await
        .map_err(|e| fail(format!("POST to SSE endpoint failed: {e}")))?;
    let status = resp.status();
    let body = first_bytes(resp.into_body(), 512).await;
    if !status.is_success() {
        return Err(fail(format!(
            "POST to SSE endpoint failed: HTTP {status}{}",
            if body.is_empty() {
                String::new()
            } else {
                format!(": {body}")
            }
        )));
    }
    Ok(())
}

/// The fast path's way to send a frame: the same POST as rmcp's messages.
struct Poster {
    client: HttpClient,
    endpoint: Arc<str>,
    closed: CancellationToken,
    reason: CloseReason,
}

#[async_trait::async_trait]
impl PostFrame for Poster {
    async fn post(&self, frame: Bytes) -> std::io::Result<()> {
        post(
            &self.client,
            &self.endpoint,
            &self.closed,
            &self.reason,
            frame,
        )
        .await
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::BrokenPipe, e.0))
    }
}

/// Fails the fast path's waiters when the reader ends, however it ends.
struct CloseOnDrop(Arc<RawLink>);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.close();
    }
}

impl Transport<RoleClient> for SseClientTransport {
    type Error = SseClientError;

    fn send(
        &mut self,
        item: ClientJsonRpcMessage,
    ) -> impl std::future::Future<Output = Result<(), Self::Error>> + Send + 'static {
        let client = self.client.clone();
        let endpoint = self.endpoint.clone();
        let closed = self.closed.clone();
        let reason = self.reason.clone();
        async move {
            let body = serde_json::to_vec(&item).map_err(|e| err(format!("encode: {e}")))?;
            post(&client, &endpoint, &closed, &reason, Bytes::from(body)).await
        }
    }

    async fn receive(&mut self) -> Option<ServerJsonRpcMessage> {
        tokio::select! {
            biased;
            m = self.rx.recv() => m,
            _ = self.closed.cancelled() => None,
        }
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        self.reason.set("closed by the client".into());
        self.closed.cancel();
        self.reader.abort();
        Ok(())
    }
}
