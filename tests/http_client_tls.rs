//! TLS for `HttpClient`: a test CA made with rcgen, an https server on loopback.

#[path = "sse_support/mod.rs"]
mod sse_support;

use std::io;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use mcpz::core::backend::http_client::{HttpClient, HttpClientConfig};
use mcpz::core::backend::sse as client;
use mcpz::core::front::sse_transport::{self as sse, SseConnect, SseServerConfig};
use mcpz::core::net::{Accepted, Listener, TcpListener};
use rmcp::model::CallToolRequestParams;
use rmcp::ServiceExt;
use sse_support::{TestServer, WAIT};
use tokio_util::sync::CancellationToken;

struct TlsListener {
    tcp: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
}

#[async_trait]
impl Listener for TlsListener {
    async fn accept(&mut self) -> io::Result<Accepted> {
        loop {
            let a = self.tcp.accept().await?;
            // A refused handshake (the client distrusts us) is not the listener's failure.
            if let Ok(tls) = self.acceptor.accept(a.conn).await {
                return Ok(Accepted {
                    conn: Box::pin(tls),
                    remote: a.remote,
                    caller: a.caller,
                });
            }
        }
    }

    fn describe(&self) -> String {
        format!("tls {}", self.tcp.describe())
    }
}

struct Fixture {
    port: u16,
    ca_file: tempfile::NamedTempFile,
    shutdown: CancellationToken,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn https_server() -> Fixture {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "mcpz test CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();

    // The CA file holds an unrelated certificate first: several PEM certificates are accepted.
    let other = CertifiedIssuer::self_signed(
        CertificateParams::new(vec!["other".to_string()]).unwrap(),
        KeyPair::generate().unwrap(),
    )
    .unwrap();
    let ca_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(ca_file.path(), format!("{}{}", other.pem(), ca.pem())).unwrap();

    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut server_cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .unwrap();
    server_cfg.alpn_protocols = vec![b"http/1.1".to_vec()];

    let on_connect: SseConnect = Arc::new(|transport, _| {
        tokio::spawn(async move {
            if let Ok(r) = TestServer::new().serve(transport).await {
                let _ = r.waiting().await;
            }
        });
    });
    let router = sse::sse_router(SseServerConfig::default(), on_connect)
        .route("/ping", axum::routing::get(|| async { "pong" }));
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = tcp.local_addr().port();
    let listener = TlsListener {
        tcp,
        acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(server_cfg)),
    };
    let shutdown = CancellationToken::new();
    tokio::spawn(sse::serve(listener, router, shutdown.clone()));
    Fixture {
        port,
        ca_file,
        shutdown,
    }
}

async fn get(http: &HttpClient, url: &str) -> Result<String, String> {
    let req = http::Request::get(url)
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = tokio::time::timeout(WAIT, http.request(req))
        .await
        .expect("bounded")
        .map_err(|e| e.to_string())?;
    assert_eq!(resp.status(), 200);
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    Ok(String::from_utf8_lossy(&body).to_string())
}

#[tokio::test]
async fn ca_file_accepted_default_refused_insecure_accepted() {
    let f = https_server().await;
    let with_ca = HttpClient::new(
        None,
        HttpClientConfig {
            ca_cert_file: Some(f.ca_file.path().to_path_buf()),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(
        get(&with_ca, &format!("https://localhost:{}/ping", f.port))
            .await
            .unwrap(),
        "pong"
    );
    assert_eq!(
        get(&with_ca, &format!("https://127.0.0.1:{}/ping", f.port))
            .await
            .unwrap(),
        "pong"
    );

    let plain = HttpClient::new(None, HttpClientConfig::default()).unwrap();
    let e = get(&plain, &format!("https://localhost:{}/ping", f.port))
        .await
        .unwrap_err();
    assert!(e.to_lowercase().contains("certificate"), "{e}");

    let insecure = HttpClient::new(
        None,
        HttpClientConfig {
            insecure_skip_verify: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(
        get(&insecure, &format!("https://localhost:{}/ping", f.port))
            .await
            .unwrap(),
        "pong"
    );
}

#[tokio::test]
async fn legacy_sse_over_tls() {
    let f = https_server().await;
    let http = HttpClient::new(
        None,
        HttpClientConfig {
            ca_cert_file: Some(f.ca_file.path().to_path_buf()),
            ..Default::default()
        },
    )
    .unwrap();
    let transport = tokio::time::timeout(
        WAIT,
        client::connect(http, &format!("https://localhost:{}/sse", f.port)),
    )
    .await
    .unwrap()
    .unwrap();
    let running = ().serve(transport).await.unwrap();
    let mut a = serde_json::Map::new();
    a.insert("text".into(), "tls".into());
    let r = running
        .call_tool(CallToolRequestParams::new("echo").with_arguments(a))
        .await
        .unwrap();
    assert_eq!(r.content[0].as_text().unwrap().text, "tls");
    running.cancel().await.unwrap();
}

#[test]
fn bad_ca_file_and_headers_are_config_errors() {
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(f.path(), "not a certificate\n").unwrap();
    let e = HttpClient::new(
        None,
        HttpClientConfig {
            ca_cert_file: Some(f.path().to_path_buf()),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("no certificate"), "{e}");
    let e = HttpClient::new(
        None,
        HttpClientConfig {
            ca_cert_file: Some("/nonexistent/ca.pem".into()),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
    let e = HttpClient::new(
        None,
        HttpClientConfig {
            headers: vec![("X-Token".into(), "secret\nvalue".into())],
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(
        !e.to_string().contains("secret"),
        "header values never appear in errors: {e}"
    );
}
