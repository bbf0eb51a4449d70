//! `HttpClient` keeps connections alive, dials through the given dialer, and bounds responses
//! when used as rmcp's streamable HTTP client.

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use mcpz::core::backend::http_client::{HttpClient, HttpClientConfig};
use mcpz::core::front::sse_transport as sse;
use mcpz::core::net::{Accepted, BoxConn, Dialer, Listener, TcpDialer, TcpListener};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::ServiceExt;
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(20);

struct Counting(TcpListener, Arc<AtomicUsize>);

#[async_trait]
impl Listener for Counting {
    async fn accept(&mut self) -> io::Result<Accepted> {
        let a = self.0.accept().await?;
        self.1.fetch_add(1, Ordering::SeqCst);
        Ok(a)
    }
    fn describe(&self) -> String {
        self.0.describe()
    }
}

struct CountingDialer(TcpDialer, Arc<AtomicUsize>);

#[async_trait]
impl Dialer for CountingDialer {
    async fn dial(&self) -> io::Result<BoxConn> {
        self.1.fetch_add(1, Ordering::SeqCst);
        self.0.dial().await
    }
    fn describe(&self) -> String {
        "counting".into()
    }
}

async fn server(
    router: axum::Router,
) -> (std::net::SocketAddr, Arc<AtomicUsize>, CancellationToken) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr();
    let accepted = Arc::new(AtomicUsize::new(0));
    let sd = CancellationToken::new();
    tokio::spawn(sse::serve(
        Counting(l, accepted.clone()),
        router,
        sd.clone(),
    ));
    (addr, accepted, sd)
}

#[tokio::test]
async fn keep_alive_reuses_one_connection_through_the_dialer() {
    let router = axum::Router::new().route(
        "/h",
        axum::routing::get(|h: axum::http::HeaderMap| async move {
            format!(
                "{}|{}",
                h.get("host").and_then(|v| v.to_str().ok()).unwrap_or(""),
                h.get("x-a").and_then(|v| v.to_str().ok()).unwrap_or("")
            )
        }),
    );
    let (addr, accepted, sd) = server(router).await;
    let dials = Arc::new(AtomicUsize::new(0));
    let dialer: Arc<dyn Dialer> = Arc::new(CountingDialer(
        TcpDialer {
            addr: addr.to_string(),
        },
        dials.clone(),
    ));
    let http = HttpClient::new(
        Some(dialer),
        HttpClientConfig {
            headers: vec![("x-a".into(), "1".into())],
            ..Default::default()
        },
    )
    .unwrap();
    for _ in 0..10 {
        // The configured header replaces the request's own value (Go gateway semantics).
        let req = http::Request::get("http://mcp-backend/h")
            .header("x-a", "0")
            .body(Full::new(Bytes::new()))
            .unwrap();
        let resp = tokio::time::timeout(WAIT, http.clone().request(req))
            .await
            .unwrap()
            .unwrap();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"mcp-backend|1");
    }
    // hyper returns a connection to the pool from a spawned task, so under load a request may
    // race it and dial anew; reuse still means far fewer dials than requests.
    let d = dials.load(Ordering::SeqCst);
    assert!((1..=3).contains(&d), "{d} dials for 10 requests");
    assert_eq!(accepted.load(Ordering::SeqCst), d);
    sd.cancel();
}

#[tokio::test]
async fn streamable_json_response_over_limit_is_an_error() {
    let big = format!(
        r#"{{"jsonrpc":"2.0","id":0,"result":{{"pad":"{}"}}}}"#,
        "x".repeat(4096)
    );
    let router = axum::Router::new().route(
        "/mcp",
        axum::routing::post(move || {
            let big = big.clone();
            async move { ([("content-type", "application/json")], big) }
        }),
    );
    let (addr, _, sd) = server(router).await;
    let http = HttpClient::new(
        None,
        HttpClientConfig {
            max_message_size: 1024,
            ..Default::default()
        },
    )
    .unwrap();
    let transport = StreamableHttpClientTransport::with_client(
        http,
        StreamableHttpClientTransportConfig::with_uri(format!("http://{addr}/mcp")),
    );
    let r = tokio::time::timeout(WAIT, ().serve(transport))
        .await
        .unwrap();
    let e = r.expect_err("initialize must fail");
    assert!(format!("{e:?}").contains("1024"), "{e:?}");
    sd.cancel();
}

#[tokio::test]
async fn connect_timeout_is_bounded() {
    struct Never;
    #[async_trait]
    impl Dialer for Never {
        async fn dial(&self) -> io::Result<BoxConn> {
            std::future::pending().await
        }
        fn describe(&self) -> String {
            "never".into()
        }
    }
    let http = HttpClient::new(
        Some(Arc::new(Never)),
        HttpClientConfig {
            connect_timeout: Duration::from_millis(100),
            ..Default::default()
        },
    )
    .unwrap();
    let req = http::Request::get("http://x/")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let e = tokio::time::timeout(WAIT, http.request(req))
        .await
        .unwrap()
        .unwrap_err();
    assert!(e.to_string().contains("timed out"), "{e}");
}
