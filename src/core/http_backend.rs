//! MCP clients for http/https backends: streamable HTTP and legacy SSE.

use std::collections::BTreeMap;
use std::time::Duration;

use rmcp::service::RunningService;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{RoleClient, ServiceExt};

use crate::core::backend::{BackendClient, BackendError};
use crate::core::config::{HttpProtocol, Tls};

fn reqwest_client(
    headers: &BTreeMap<String, String>,
    tls: Option<&Tls>,
    connect_timeout: Duration,
) -> Result<reqwest::Client, BackendError> {
    let mut map = reqwest::header::HeaderMap::new();
    for (k, v) in headers {
        let name = reqwest::header::HeaderName::from_bytes(k.as_bytes())
            .map_err(|_| BackendError::Other(format!("invalid header name '{k}'")))?;
        let mut value = reqwest::header::HeaderValue::from_str(v)
            .map_err(|_| BackendError::Other(format!("invalid value for header '{k}'")))?;
        value.set_sensitive(true);
        map.insert(name, value);
    }
    let mut b = reqwest::Client::builder()
        .default_headers(map)
        .connect_timeout(connect_timeout);
    if let Some(tls) = tls {
        if let Some(ca) = &tls.ca_cert_file {
            let pem = std::fs::read(ca).map_err(|e| {
                BackendError::Other(format!("tls.ca_cert_file {}: {e}", ca.display()))
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                BackendError::Other(format!("tls.ca_cert_file {}: {e}", ca.display()))
            })?;
            for c in certs {
                b = b.add_root_certificate(c);
            }
        }
        if tls.insecure_skip_verify {
            tracing::warn!("TLS certificate verification is disabled (insecure_skip_verify)");
            b = b.tls_danger_accept_invalid_certs(true);
        }
    }
    b.build()
        .map_err(|e| BackendError::Other(format!("http client: {e}")))
}

pub async fn connect(
    handler: BackendClient,
    endpoint: &url::Url,
    protocol: HttpProtocol,
    headers: &BTreeMap<String, String>,
    tls: Option<&Tls>,
    connect_timeout: Duration,
) -> Result<RunningService<RoleClient, BackendClient>, BackendError> {
    match protocol {
        HttpProtocol::Streamable => {
            let client = reqwest_client(headers, tls, connect_timeout)?;
            let transport = StreamableHttpClientTransport::with_client(
                client,
                StreamableHttpClientTransportConfig::with_uri(endpoint.as_str()),
            );
            handler
                .serve(transport)
                .await
                .map_err(|e| BackendError::Initialize(e.to_string()))
        }
        HttpProtocol::Sse => Err(BackendError::Other(
            "legacy SSE client not available yet".into(),
        )),
    }
}
