//! Our legacy SSE client against the Python `mcp` SDK's SSE server and against our own server.
// Log notifications are what the Python SDK sends; rmcp marks them deprecated (SEP-2577).
#![allow(deprecated)]

mod sse_support;

use std::sync::Arc;

use mcpz::core::backend::http_client::{HttpClient, HttpClientConfig};
use mcpz::core::backend::sse as client;
use mcpz::core::front::sse_transport::{self as sse, SseConnect, SseServerConfig};
use mcpz::core::net::{Dialer, TcpDialer, TcpListener};
use rmcp::model::{
    CallToolRequestParams, LoggingMessageNotificationParam, ProgressNotificationParam,
};
use rmcp::service::{NotificationContext, RoleClient};
use rmcp::{ClientHandler, ServiceExt};
use sse_support::{PyChild, TestServer, WAIT};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

#[derive(Clone)]
struct NotifyClient {
    tx: mpsc::UnboundedSender<String>,
}

impl ClientHandler for NotifyClient {
    async fn on_logging_message(
        &self,
        params: LoggingMessageNotificationParam,
        _ctx: NotificationContext<RoleClient>,
    ) {
        let _ = self.tx.send(format!("log {}", params.data));
    }

    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _ctx: NotificationContext<RoleClient>,
    ) {
        let _ = self.tx.send(format!("progress {:?}", params.message));
    }
}

fn args(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    v.as_object().unwrap().clone()
}

fn text(r: &rmcp::model::CallToolResult) -> String {
    r.content[0].as_text().expect("text content").text.clone()
}

async fn start_py_sse(extra: &[&str]) -> (PyChild, u16) {
    let mut a = vec!["--transport", "sse"];
    a.extend_from_slice(extra);
    let mut py = PyChild::spawn("sse_server.py", &a);
    let port: u16 = py.wait_for("PORT").await.parse().unwrap();
    (py, port)
}

#[tokio::test]
async fn our_sse_client_to_python_sse_server() {
    let (_py, port) = start_py_sse(&[]).await;
    let http = HttpClient::new(None, HttpClientConfig::default()).unwrap();
    let url = format!("http://127.0.0.1:{port}/sse");
    let transport = tokio::time::timeout(WAIT, client::connect(http, &url))
        .await
        .expect("endpoint in time")
        .expect("connect");
    // Python announces /messages/?session_id=...; we use it verbatim.
    assert!(
        transport
            .endpoint()
            .starts_with(&format!("http://127.0.0.1:{port}/messages/?session_id=")),
        "{}",
        transport.endpoint()
    );
    let reason = transport.close_reason();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let running = tokio::time::timeout(WAIT, NotifyClient { tx }.serve(transport))
        .await
        .expect("initialize in time")
        .expect("initialize");
    let info = running.peer_info().expect("server info");
    assert_eq!(info.server_info.as_ref().unwrap().name, "py-test-server");

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
                .with_arguments(args(serde_json::json!({"a": 40, "b": 2}))),
        ),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(text(&r), "42");

    let r = tokio::time::timeout(
        WAIT,
        running.call_tool(
            CallToolRequestParams::new("notify")
                .with_arguments(args(serde_json::json!({"text": "hi"}))),
        ),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(text(&r), "notified hi");
    // The log notification was sent before the response on the same stream: it is already here.
    let n = tokio::time::timeout(WAIT, rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(n.starts_with("log ") && n.contains("log: hi"), "{n}");

    running.cancel().await.unwrap();
    assert!(reason.get().is_some());
}

#[tokio::test]
async fn dialer_with_fixed_target_and_virtual_host() {
    // The zrok shape: every connection goes through the dialer; the URL host is only a name.
    let (_py, port) = start_py_sse(&["--any-host"]).await;
    let dialer: Arc<dyn Dialer> = Arc::new(TcpDialer {
        addr: format!("127.0.0.1:{port}"),
    });
    let http = HttpClient::new(Some(dialer), HttpClientConfig::default()).unwrap();
    let transport = tokio::time::timeout(WAIT, client::connect(http, "http://mcp-backend/sse"))
        .await
        .unwrap()
        .unwrap();
    let running = ().serve(transport).await.unwrap();
    let r = running
        .call_tool(
            CallToolRequestParams::new("echo")
                .with_arguments(args(serde_json::json!({"text": "via dialer"}))),
        )
        .await
        .unwrap();
    assert_eq!(text(&r), "via dialer");
    running.cancel().await.unwrap();
}

#[tokio::test]
async fn our_sse_client_to_our_server_and_server_going_away() {
    let shutdown = CancellationToken::new();
    let on_connect: SseConnect = Arc::new(|transport, _info| {
        tokio::spawn(async move {
            if let Ok(r) = TestServer::new().serve(transport).await {
                let _ = r.waiting().await;
            }
        });
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr();
    let server = tokio::spawn(sse::serve(
        listener,
        sse::sse_router(SseServerConfig::default(), on_connect),
        shutdown.clone(),
    ));
    let http = HttpClient::new(None, HttpClientConfig::default()).unwrap();
    let transport = client::connect(http, &format!("http://{addr}/sse"))
        .await
        .unwrap();
    assert!(transport
        .endpoint()
        .starts_with(&format!("http://{addr}/sse?sessionid=")));
    let reason = transport.close_reason();
    let running = ().serve(transport).await.unwrap();
    let r = running
        .call_tool(
            CallToolRequestParams::new("add")
                .with_arguments(args(serde_json::json!({"a": 1, "b": 2}))),
        )
        .await
        .unwrap();
    assert_eq!(text(&r), "3");

    // Server goes away: the client transport closes and says why.
    shutdown.cancel();
    server.await.unwrap().unwrap();
    let q = tokio::time::timeout(WAIT, running.waiting())
        .await
        .expect("client noticed");
    assert!(q.is_ok());
    let why = reason.get().expect("a close reason");
    assert!(why.contains("SSE stream"), "{why}");
}

#[tokio::test]
async fn connect_errors_are_reported() {
    let http = HttpClient::new(None, HttpClientConfig::default()).unwrap();
    // Nothing listens there.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    let e = client::connect(http.clone(), &format!("http://{addr}/sse"))
        .await
        .err()
        .expect("refused");
    assert!(e.to_string().contains("SSE connect failed"), "{e}");
    // A 404 is a clear HTTP error.
    let (_py, port) = start_py_sse(&[]).await;
    let e = client::connect(http, &format!("http://127.0.0.1:{port}/nope"))
        .await
        .err()
        .expect("404");
    assert!(e.to_string().contains("404"), "{e}");
}

/// A fake legacy SSE server: announces `/sse?sessionid=x`, then sends `extra` on the stream and
/// stays open; POSTs answer `post_status`.
async fn fake_server(extra: String, post_status: u16) -> (std::net::SocketAddr, CancellationToken) {
    use axum::routing::get;
    let extra = Arc::new(extra);
    let router = axum::Router::new().route(
        "/sse",
        get(move || {
            let extra = extra.clone();
            async move {
                let first = futures::stream::iter(vec![
                    Ok::<_, std::convert::Infallible>(bytes::Bytes::from(
                        "event: endpoint\ndata: /sse?sessionid=x\n\n",
                    )),
                    Ok(bytes::Bytes::from(extra.to_string())),
                ]);
                let body = axum::body::Body::from_stream(futures::StreamExt::chain(
                    first,
                    futures::stream::pending(),
                ));
                ([("content-type", "text/event-stream")], body)
            }
        })
        .post(move || async move {
            (
                axum::http::StatusCode::from_u16(post_status).unwrap(),
                "boom",
            )
        }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr();
    let shutdown = CancellationToken::new();
    tokio::spawn(sse::serve(listener, router, shutdown.clone()));
    (addr, shutdown)
}

#[tokio::test]
async fn post_failure_closes_with_reason() {
    let (addr, _sd) = fake_server(String::new(), 500).await;
    let http = HttpClient::new(None, HttpClientConfig::default()).unwrap();
    let transport = client::connect(http, &format!("http://{addr}/sse"))
        .await
        .unwrap();
    let reason = transport.close_reason();
    let r = tokio::time::timeout(WAIT, ().serve(transport))
        .await
        .unwrap();
    assert!(r.is_err(), "initialize must fail");
    let why = reason.get().expect("reason");
    assert!(why.contains("HTTP 500") && why.contains("boom"), "{why}");
}

#[tokio::test]
async fn oversize_event_closes_with_reason() {
    let big = format!("event: message\ndata: {}\n\n", "x".repeat(4096));
    let (addr, _sd) = fake_server(big, 202).await;
    let http = HttpClient::new(
        None,
        HttpClientConfig {
            max_message_size: 1024,
            ..Default::default()
        },
    )
    .unwrap();
    let transport = client::connect(http, &format!("http://{addr}/sse"))
        .await
        .unwrap();
    let reason = transport.close_reason();
    let r = tokio::time::timeout(WAIT, ().serve(transport))
        .await
        .unwrap();
    assert!(r.is_err(), "initialize must fail");
    let why = reason.get().expect("reason");
    assert!(why.contains("larger than 1024"), "{why}");
}

#[tokio::test]
async fn endpoint_on_another_origin_is_refused() {
    use axum::routing::get;
    let router = axum::Router::new().route(
        "/sse",
        get(|| async {
            (
                [("content-type", "text/event-stream")],
                "event: endpoint\ndata: http://evil.example/steal?sessionid=x\n\n",
            )
        }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr();
    let sd = CancellationToken::new();
    tokio::spawn(sse::serve(listener, router, sd.clone()));
    let http = HttpClient::new(None, HttpClientConfig::default()).unwrap();
    let e = client::connect(http, &format!("http://{addr}/sse"))
        .await
        .err()
        .expect("refused");
    assert!(e.to_string().contains("origin"), "{e}");
    sd.cancel();
}
