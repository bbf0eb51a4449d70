//! Byte compatibility with the MCP Go SDK's legacy SSE transport (v1.1.0, as used by the Go
//! mcp-gateway): its SSEClientTransport against our server, our client against its SSEHandler,
//! and the raw first event of both servers side by side.

#![allow(deprecated)] // logging/setLevel and log notifications (SEP-2577)

mod sse_support;

use std::sync::Arc;

use mcpz::core::backend::http_client::{HttpClient, HttpClientConfig};
use mcpz::core::backend::sse as client;
use mcpz::core::front::sse_transport::{self as sse, SseConnect, SseServerConfig};
use mcpz::core::net::TcpListener;
use rmcp::model::{
    CallToolRequestParams, LoggingLevel, LoggingMessageNotificationParam, SetLevelRequestParams,
};
use rmcp::service::{NotificationContext, RoleClient};
use rmcp::{ClientHandler, ServiceExt};
use sse_support::{go_interop_binary, spawn_bin, TestServer, WAIT};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

async fn our_server() -> (std::net::SocketAddr, CancellationToken) {
    let on_connect: SseConnect = Arc::new(|transport, _| {
        tokio::spawn(async move {
            if let Ok(r) = TestServer::new().serve(transport).await {
                let _ = r.waiting().await;
            }
        });
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr();
    let shutdown = CancellationToken::new();
    tokio::spawn(sse::serve(
        listener,
        sse::sse_router(SseServerConfig::default(), on_connect),
        shutdown.clone(),
    ));
    (addr, shutdown)
}

#[tokio::test]
async fn go_sdk_client_to_our_server() {
    let bin = tokio::task::spawn_blocking(go_interop_binary)
        .await
        .unwrap();
    let (addr, shutdown) = our_server().await;
    let mut go = spawn_bin(&bin, &["client", &format!("http://{addr}/sse")]);
    let v = go.json().await;
    assert_eq!(v["server"], "mcpz-test");
    assert_eq!(v["tools"], serde_json::json!(["add", "echo"]));
    assert_eq!(v["add"], "42");
    assert_eq!(v["echo"], "from go");
    go.exit_ok().await;
    shutdown.cancel();
}

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

#[tokio::test]
async fn our_client_to_go_sdk_server() {
    let bin = tokio::task::spawn_blocking(go_interop_binary)
        .await
        .unwrap();
    let mut go = spawn_bin(&bin, &["server"]);
    let port = go.wait_for("PORT").await;
    let http = HttpClient::new(None, HttpClientConfig::default()).unwrap();
    let transport = tokio::time::timeout(
        WAIT,
        client::connect(http, &format!("http://127.0.0.1:{port}/sse")),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(transport
        .endpoint()
        .starts_with(&format!("http://127.0.0.1:{port}/sse?sessionid=")));
    let (tx, mut rx) = mpsc::unbounded_channel();
    let running = tokio::time::timeout(WAIT, LogClient { tx }.serve(transport))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        running
            .peer_info()
            .unwrap()
            .server_info
            .as_ref()
            .unwrap()
            .name,
        "go-test-server"
    );
    let tools = running.list_all_tools().await.unwrap();
    assert_eq!(tools.len(), 3);
    let mut a = serde_json::Map::new();
    a.insert("a".into(), 1.into());
    a.insert("b".into(), 41.into());
    let r = running
        .call_tool(CallToolRequestParams::new("add").with_arguments(a))
        .await
        .unwrap();
    assert_eq!(r.content[0].as_text().unwrap().text, "42");
    // The Go server only logs after logging/setLevel.
    running
        .set_level(SetLevelRequestParams::new(LoggingLevel::Info))
        .await
        .unwrap();
    let mut a = serde_json::Map::new();
    a.insert("text".into(), "go".into());
    let r = running
        .call_tool(CallToolRequestParams::new("notify").with_arguments(a))
        .await
        .unwrap();
    assert_eq!(r.content[0].as_text().unwrap().text, "notified go");
    let n = tokio::time::timeout(WAIT, rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(n.contains("log: go"), "{n}");
    running.cancel().await.unwrap();
}

/// HTTP/1.0 GET (no chunked encoding): returns the response head and the first SSE event's bytes.
async fn first_event(addr: &str) -> (String, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /sse HTTP/1.0\r\nHost: mcp-backend\r\nAccept: text/event-stream\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    let text = loop {
        let n = tokio::time::timeout(WAIT, s.read(&mut chunk))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "closed early: {:?}", String::from_utf8_lossy(&buf));
        buf.extend_from_slice(&chunk[..n]);
        let t = String::from_utf8_lossy(&buf).to_string();
        if let Some((_, body)) = t.split_once("\r\n\r\n") {
            if body.contains("\n\n") {
                break t;
            }
        }
    };
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let event = body.split_once("\n\n").unwrap().0.to_string() + "\n\n";
    (head.to_string(), event)
}

fn shape(event: &str) -> String {
    // Replace the 26-character base32 session id with a placeholder.
    let (before, id) = event.split_once("sessionid=").expect("sessionid parameter");
    let id = id.trim_end();
    assert_eq!(id.len(), 26, "{event:?}");
    assert!(id
        .chars()
        .all(|c| c.is_ascii_uppercase() || ('2'..='7').contains(&c)));
    format!("{before}sessionid=<ID>\n\n")
}

#[tokio::test]
async fn first_event_is_byte_identical_to_go_sdk() {
    let bin = tokio::task::spawn_blocking(go_interop_binary)
        .await
        .unwrap();
    let mut go = spawn_bin(&bin, &["server"]);
    let port = go.wait_for("PORT").await;
    let (go_head, go_event) = first_event(&format!("127.0.0.1:{port}")).await;
    let (addr, shutdown) = our_server().await;
    let (our_head, our_event) = first_event(&addr.to_string()).await;
    assert_eq!(
        shape(&go_event),
        "event: endpoint\ndata: /sse?sessionid=<ID>\n\n"
    );
    assert_eq!(shape(&our_event), shape(&go_event));
    for h in [&go_head, &our_head] {
        let h = h.to_ascii_lowercase();
        assert!(h.contains("content-type: text/event-stream"), "{h}");
        assert!(h.contains("cache-control: no-cache"), "{h}");
    }
    shutdown.cancel();
}
