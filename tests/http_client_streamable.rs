//! rmcp's streamable HTTP client transport over our `HttpClient`, against the Python `mcp` SDK's
//! streamable-http server (SSE and JSON response modes) and rmcp's own `StreamableHttpService`.

#![allow(deprecated)] // log notifications (SEP-2577)

#[path = "sse_support/mod.rs"]
mod sse_support;

use std::sync::{Arc, Mutex};

use mcpz::core::backend::http_client::{HttpClient, HttpClientConfig};
use mcpz::core::front::sse_transport as sse;
use mcpz::core::net::{Dialer, TcpDialer, TcpListener};
use rmcp::model::{CallToolRequestParams, LoggingMessageNotificationParam};
use rmcp::service::{NotificationContext, RoleClient};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::streamable_http_server::{
    session::local::LocalSessionManager, StreamableHttpServerConfig, StreamableHttpService,
};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{ClientHandler, ServiceExt};
use sse_support::{PyChild, TestServer, WAIT};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

#[derive(Clone)]
struct LogClient {
    tx: mpsc::UnboundedSender<String>,
}

impl ClientHandler for LogClient {
    async fn on_logging_message(
        &self,
        params: LoggingMessageNotificationParam,
        _ctx: NotificationContext<RoleClient>,
    ) {
        let _ = self.tx.send(params.data.to_string());
    }
}

fn args(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    v.as_object().unwrap().clone()
}

fn text(r: &rmcp::model::CallToolResult) -> String {
    r.content[0].as_text().expect("text content").text.clone()
}

async fn python_streamable(json_response: bool) {
    let mut a = vec!["--transport", "streamable-http"];
    if json_response {
        a.push("--json-response");
    }
    let mut py = PyChild::spawn("sse_server.py", &a);
    let port: u16 = py.wait_for("PORT").await.parse().unwrap();
    let http = HttpClient::new(None, HttpClientConfig::default()).unwrap();
    let transport = StreamableHttpClientTransport::with_client(
        http,
        StreamableHttpClientTransportConfig::with_uri(format!("http://127.0.0.1:{port}/mcp")),
    );
    let (tx, mut rx) = mpsc::unbounded_channel();
    let running = tokio::time::timeout(WAIT, LogClient { tx }.serve(transport))
        .await
        .expect("initialize in time")
        .expect("initialize");
    let tools = tokio::time::timeout(WAIT, running.list_all_tools())
        .await
        .unwrap()
        .unwrap();
    let mut names: Vec<_> = tools.iter().map(|t| t.name.to_string()).collect();
    names.sort();
    assert_eq!(names, ["add", "echo", "notify"]);
    let r = tokio::time::timeout(
        WAIT,
        running.call_tool(
            CallToolRequestParams::new("add")
                .with_arguments(args(serde_json::json!({"a": 2, "b": 2}))),
        ),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(text(&r), "4");
    if !json_response {
        // In SSE mode the log notification travels on the POST's event stream.
        let r = tokio::time::timeout(
            WAIT,
            running.call_tool(
                CallToolRequestParams::new("notify")
                    .with_arguments(args(serde_json::json!({"text": "s"}))),
            ),
        )
        .await
        .unwrap()
        .unwrap();
        assert_eq!(text(&r), "notified s");
        let n = tokio::time::timeout(WAIT, rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert!(n.contains("log: s"), "{n}");
    }
    tokio::time::timeout(WAIT, running.cancel())
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn to_python_streamable_http_sse_mode() {
    python_streamable(false).await;
}

#[tokio::test]
async fn to_python_streamable_http_json_mode() {
    python_streamable(true).await;
}

#[tokio::test]
async fn to_rmcp_streamable_http_service_via_dialer_with_headers() {
    let shutdown = CancellationToken::new();
    let service: StreamableHttpService<TestServer, LocalSessionManager> =
        StreamableHttpService::new(
            || Ok(TestServer::new()),
            Default::default(),
            StreamableHttpServerConfig::default()
                .with_sse_keep_alive(None)
                .with_cancellation_token(shutdown.child_token()),
        );
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen2 = seen.clone();
    let router =
        axum::Router::new()
            .nest_service("/mcp", service)
            .layer(axum::middleware::from_fn(
                move |req: axum::extract::Request, next: axum::middleware::Next| {
                    let seen = seen2.clone();
                    async move {
                        if let Some(v) = req.headers().get("x-mcpz-test") {
                            seen.lock()
                                .unwrap()
                                .push(v.to_str().unwrap_or_default().to_string());
                        }
                        next.run(req).await
                    }
                },
            ));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr();
    tokio::spawn(sse::serve(listener, router, shutdown.clone()));

    // Through a fixed-target dialer: the URL's host is only the Host header.
    let dialer: Arc<dyn Dialer> = Arc::new(TcpDialer {
        addr: addr.to_string(),
    });
    let http = HttpClient::new(
        Some(dialer),
        HttpClientConfig {
            headers: vec![("X-Mcpz-Test".into(), "hello".into())],
            ..Default::default()
        },
    )
    .unwrap();
    let transport = StreamableHttpClientTransport::with_client(
        http,
        StreamableHttpClientTransportConfig::with_uri(format!(
            "http://localhost:{}/mcp",
            addr.port()
        )),
    );
    let running = tokio::time::timeout(WAIT, ().serve(transport))
        .await
        .unwrap()
        .unwrap();
    let tools = running.list_all_tools().await.unwrap();
    assert_eq!(tools.len(), 2);
    let r = running
        .call_tool(
            CallToolRequestParams::new("echo")
                .with_arguments(args(serde_json::json!({"text": "rmcp"}))),
        )
        .await
        .unwrap();
    assert_eq!(text(&r), "rmcp");
    tokio::time::timeout(WAIT, running.cancel())
        .await
        .unwrap()
        .unwrap();
    let seen = seen.lock().unwrap().clone();
    assert!(seen.len() >= 3, "custom header on every request: {seen:?}");
    assert!(seen.iter().all(|v| v == "hello"));
    shutdown.cancel();
}
