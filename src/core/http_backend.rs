//! MCP clients for http/https backends (and, over an OpenZiti dialer, for zrok backends):
//! streamable HTTP and legacy SSE, both on [`HttpClient`], which runs over any byte-stream dialer.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use rmcp::service::RunningService;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{RoleClient, ServiceExt};

use crate::core::backend::{BackendClient, BackendError};
use crate::core::config::{HttpProtocol, Tls};
use crate::core::http_client::{HttpClient, HttpClientConfig};
use crate::core::net::Dialer;

/// Build the HTTP client for one backend connection.
pub fn client(
    dialer: Option<Arc<dyn Dialer>>,
    headers: &BTreeMap<String, String>,
    tls: Option<&Tls>,
    connect_timeout: Duration,
    max_message_size: usize,
    http2: bool,
) -> Result<HttpClient, BackendError> {
    HttpClient::new(
        dialer,
        HttpClientConfig {
            headers: headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            ca_cert_file: tls.and_then(|t| t.ca_cert_file.clone()),
            insecure_skip_verify: tls.map(|t| t.insecure_skip_verify).unwrap_or(false),
            connect_timeout,
            max_message_size,
            http2_prior_knowledge: http2,
        },
    )
    .map_err(|e| BackendError::Other(e.to_string()))
}

/// Connect an MCP client session over `client` to `endpoint`. Progress notifications are kept in
/// order with the responses they belong to (see `backend::ordered`).
pub async fn connect_with(
    handler: BackendClient,
    client: HttpClient,
    endpoint: &str,
    protocol: HttpProtocol,
) -> Result<
    (
        RunningService<RoleClient, BackendClient>,
        Option<Arc<crate::core::fastpath::RawLink>>,
    ),
    BackendError,
> {
    match protocol {
        HttpProtocol::Streamable => {
            let transport = StreamableHttpClientTransport::with_client(
                client,
                StreamableHttpClientTransportConfig::with_uri(endpoint),
            );
            let transport = crate::core::backend::ordered(transport, &handler);
            let s = handler
                .serve(transport)
                .await
                .map_err(|e| BackendError::Initialize(e.to_string()))?;
            Ok((s, None))
        }
        HttpProtocol::Sse => {
            let transport = crate::core::sse::client::connect(client, endpoint)
                .await
                .map_err(|e| BackendError::Other(format!("SSE connect to {endpoint}: {e}")))?;
            let raw = transport.raw_link();
            let transport = crate::core::backend::ordered(transport, &handler);
            let s = handler
                .serve(transport)
                .await
                .map_err(|e| BackendError::Initialize(e.to_string()))?;
            Ok((s, Some(raw)))
        }
    }
}
