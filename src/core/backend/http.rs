//! MCP clients for http/https backends (and, over an OpenZiti dialer, for zrok backends):
//! streamable HTTP and legacy SSE, both on [`HttpClient`], which runs over any byte-stream dialer.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use rmcp::service::RunningService;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{RoleClient, ServiceExt};

use crate::core::backend::http_client::{HttpClient, HttpClientConfig};
use crate::core::backend::{BackendClient, BackendError};
use crate::core::config::{HttpProtocol, Tls};
use crate::core::net::Dialer;

/// The HTTP client settings of an http/https backend.
pub(crate) fn settings(
    headers: &BTreeMap<String, String>,
    tls: Option<&Tls>,
    connect_timeout: Duration,
    max_message_size: usize,
) -> HttpClientConfig {
    HttpClientConfig {
        headers: headers
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        ca_cert_file: tls.and_then(|t| t.ca_cert_file.clone()),
        insecure_skip_verify: tls.map(|t| t.insecure_skip_verify).unwrap_or(false),
        connect_timeout,
        max_message_size,
        ..HttpClientConfig::default()
    }
}

/// Build the HTTP client for one backend connection.
pub fn client(
    dialer: Option<Arc<dyn Dialer>>,
    cfg: HttpClientConfig,
) -> Result<HttpClient, BackendError> {
    HttpClient::new(dialer, cfg).map_err(|e| BackendError::Other(e.to_string()))
}

/// Connect an MCP client session over `client` to `endpoint`. Progress notifications are kept in
/// order with the responses they belong to (see `backend::ordered`).
pub(crate) async fn connect_with(
    handler: BackendClient,
    client: HttpClient,
    endpoint: &str,
    protocol: HttpProtocol,
) -> Result<
    (
        RunningService<RoleClient, BackendClient>,
        Option<Arc<crate::core::backend::raw::RawLink>>,
    ),
    BackendError,
> {
    match protocol {
        HttpProtocol::Streamable => {
            let transport = StreamableHttpClientTransport::with_client(
                client.clone(),
                StreamableHttpClientTransportConfig::with_uri(endpoint),
            );
            let transport = crate::core::backend::ordered(transport, &handler);
            let s = handler
                .serve(transport)
                .await
                .map_err(BackendError::initialize)?;
            // The fast path needs the session the server assigned (stateless servers have none).
            let raw = match (client.session_seen(), s.peer().peer_info()) {
                (Some(session), Some(info)) => Some(StreamPoster::link(
                    client,
                    endpoint,
                    session,
                    info.protocol_version.to_string(),
                )),
                _ => None,
            };
            Ok((s, raw))
        }
        HttpProtocol::Sse => {
            let transport = crate::core::backend::sse::connect(client, endpoint)
                .await
                .map_err(|e| BackendError::Other(format!("SSE connect to {endpoint}: {e}")))?;
            let raw = transport.raw_link();
            let transport = crate::core::backend::ordered(transport, &handler);
            let s = handler
                .serve(transport)
                .await
                .map_err(BackendError::initialize)?;
            Ok((s, Some(raw)))
        }
    }
}

/// The fast path's sender towards a streamable-HTTP server: each frame is one POST in the
/// session; the answer (one JSON body, or an SSE stream of progress then the response) is handed
/// to the link as it arrives, from a task of its own, so that the caller's timeout and
/// cancellation stay in charge while the call runs.
struct StreamPoster {
    client: HttpClient,
    uri: Arc<str>,
    session: String,
    version: String,
    link: std::sync::OnceLock<std::sync::Weak<crate::core::backend::raw::RawLink>>,
}

impl StreamPoster {
    fn link(
        client: HttpClient,
        uri: &str,
        session: String,
        version: String,
    ) -> Arc<crate::core::backend::raw::RawLink> {
        let poster = Arc::new(StreamPoster {
            client,
            uri: uri.into(),
            session,
            version,
            link: Default::default(),
        });
        let link = crate::core::backend::raw::RawLink::posting(poster.clone());
        let _ = poster.link.set(Arc::downgrade(&link));
        link
    }
}

/// An error response to fast request `id` (the raw id as sent), for the link's waiter.
fn error_for(id: &str, message: &str) -> bytes::Bytes {
    crate::core::wire::frame::error_frame(id, -32603, message)
}

#[async_trait::async_trait]
impl crate::core::backend::raw::PostFrame for StreamPoster {
    async fn post(&self, frame: bytes::Bytes) -> std::io::Result<()> {
        use futures::StreamExt;
        use http_body_util::BodyExt;
        let closed = || std::io::Error::new(std::io::ErrorKind::BrokenPipe, "backend gone");
        let link = self
            .link
            .get()
            .and_then(std::sync::Weak::upgrade)
            .ok_or_else(closed)?;
        // Requests carry an id to answer; notifications (cancellation) do not.
        let id = crate::core::wire::frame::Head::parse(&frame)
            .and_then(|h| h.id.map(|i| i.get().to_string()));
        let req = http::Request::builder()
            .method(http::Method::POST)
            .uri(self.uri.as_ref())
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(http::header::ACCEPT, "application/json, text/event-stream")
            .header("mcp-session-id", self.session.as_str())
            .header("mcp-protocol-version", self.version.as_str())
            .body(http_body_util::Full::new(frame))
            .map_err(std::io::Error::other)?;
        let client = self.client.clone();
        let max = client.max_message_size();
        tokio::spawn(async move {
            let fail = |m: String| {
                tracing::debug!("fast path POST: {m}");
                if let Some(id) = &id {
                    link.deliver(&error_for(id, &m));
                }
            };
            let resp = match client.request(req).await {
                Ok(r) => r,
                Err(e) => return fail(format!("backend request failed: {e}")),
            };
            let status = resp.status();
            if matches!(
                status,
                http::StatusCode::ACCEPTED | http::StatusCode::NO_CONTENT
            ) {
                return;
            }
            if !status.is_success() {
                return fail(format!("backend answered HTTP {status}"));
            }
            let sse = resp
                .headers()
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("text/event-stream"));
            if sse {
                let mut events = Box::pin(crate::core::wire::sse::decode_stream(
                    resp.into_body().into_data_stream(),
                    max,
                ));
                while let Some(ev) = events.next().await {
                    match ev {
                        Ok(ev) => {
                            let Some(data) = ev.data.filter(|d| !d.trim().is_empty()) else {
                                continue;
                            };
                            let answer = crate::core::wire::frame::Head::parse(data.as_bytes())
                                .is_some_and(|h| h.method.is_none());
                            link.deliver(data.as_bytes());
                            if answer {
                                return;
                            }
                        }
                        Err(e) => return fail(format!("backend stream failed: {e}")),
                    }
                }
                fail("backend stream ended before the response".into());
            } else {
                match http_body_util::Limited::new(resp.into_body(), max)
                    .collect()
                    .await
                {
                    Ok(b) => {
                        let b = b.to_bytes();
                        if !link.deliver(&b) {
                            fail("backend answer is not a response to the call".into());
                        }
                    }
                    Err(e) => fail(format!("backend answer unreadable: {e}")),
                }
            }
        });
        Ok(())
    }
}
