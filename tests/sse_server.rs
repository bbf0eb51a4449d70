//! Our legacy SSE server against the Python `mcp` SDK's SSE client, plus raw-HTTP bad-input checks.

mod sse_support;

use std::sync::Arc;
use std::time::Duration;

use mcpz::core::front::sse_transport::{self as sse, SseConnect, SseServerConfig};
use mcpz::core::net::TcpListener;
use rmcp::ServiceExt;
use sse_support::{PyChild, TestServer, WAIT};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

#[derive(Debug)]
enum Ev {
    Started(String),
    Ended(String),
}

struct Server {
    addr: std::net::SocketAddr,
    events: mpsc::UnboundedReceiver<Ev>,
    shutdown: CancellationToken,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl Server {
    async fn next(&mut self) -> Ev {
        tokio::time::timeout(WAIT, self.events.recv())
            .await
            .expect("no server session event in time")
            .expect("event channel closed")
    }
}

async fn start(cfg: SseServerConfig) -> Server {
    let (tx, rx) = mpsc::unbounded_channel();
    let on_connect: SseConnect = Arc::new(move |transport, info| {
        let tx = tx.clone();
        assert!(
            info.remote
                .as_deref()
                .is_some_and(|r| r.starts_with("127.0.0.1:")),
            "{info:?}"
        );
        tokio::spawn(async move {
            let _ = tx.send(Ev::Started(info.session_id.clone()));
            match TestServer::new().serve(transport).await {
                Ok(running) => {
                    let _ = running.waiting().await;
                }
                Err(e) => eprintln!("serve failed: {e}"),
            }
            let _ = tx.send(Ev::Ended(info.session_id));
        });
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr();
    let shutdown = CancellationToken::new();
    tokio::spawn(sse::serve(
        listener,
        sse::sse_router(cfg, on_connect),
        shutdown.clone(),
    ));
    Server {
        addr,
        events: rx,
        shutdown,
    }
}

fn check_result(v: &serde_json::Value, idx: i64) {
    assert_eq!(v["server"], "mcpz-test");
    assert_eq!(v["tools"], serde_json::json!(["add", "echo"]));
    assert_eq!(v["add"], (5 + idx).to_string());
    assert_eq!(v["add_is_error"], false);
    assert_eq!(v["echo"], format!("hello {idx}"));
}

#[tokio::test]
async fn python_sse_client_initialize_list_call() {
    let mut srv = start(SseServerConfig::default()).await;
    let url = format!("http://{}/sse", srv.addr);
    let mut py = PyChild::spawn("sse_client.py", &[&url]);
    let v = py.json().await;
    check_result(&v, 0);
    assert_eq!(py.line().await, "DONE");
    py.exit_ok().await;
    let Ev::Started(a) = srv.next().await else {
        panic!("expected start")
    };
    let Ev::Ended(b) = srv.next().await else {
        panic!("expected end")
    };
    assert_eq!(a, b);
}

#[tokio::test]
async fn two_concurrent_sessions_and_disconnect_ends_them() {
    let mut srv = start(SseServerConfig {
        keep_alive: None,
        ..Default::default()
    })
    .await;
    let url = format!("http://{}/sse", srv.addr);
    let mut py = PyChild::spawn("sse_client.py", &[&url, "--sessions", "2", "--hold"]);
    let mut seen = vec![];
    for _ in 0..2 {
        let v = py.json().await;
        let idx = v["session"].as_i64().unwrap();
        check_result(&v, idx);
        seen.push(idx);
    }
    seen.sort();
    assert_eq!(seen, vec![0, 1]);
    let mut started = vec![];
    for _ in 0..2 {
        match srv.next().await {
            Ev::Started(id) => started.push(id),
            Ev::Ended(id) => panic!("session {id} ended while the client holds it"),
        }
    }
    assert_ne!(started[0], started[1]);
    // Kill the client abruptly: both server sessions must end without keepalive traffic.
    py.child.start_kill().unwrap();
    let _ = tokio::time::timeout(WAIT, py.child.wait()).await;
    let mut ended = vec![];
    for _ in 0..2 {
        match srv.next().await {
            Ev::Ended(id) => ended.push(id),
            Ev::Started(id) => panic!("unexpected session {id}"),
        }
    }
    started.sort();
    ended.sort();
    assert_eq!(started, ended);
}

/// Minimal raw HTTP/1.1 exchange, so bad input reaches the server exactly as written.
async fn raw(addr: std::net::SocketAddr, req: &[u8]) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(req).await.unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(WAIT, s.read_to_end(&mut buf))
        .await
        .expect("raw response in time")
        .unwrap();
    let text = String::from_utf8_lossy(&buf).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    (status, body)
}

fn post(path: &str, body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

/// Opens a raw GET /sse and returns the endpoint path plus the open reader.
async fn open_stream(addr: std::net::SocketAddr) -> (String, BufReader<tokio::net::TcpStream>) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /sse HTTP/1.1\r\nHost: mcp-backend\r\nAccept: text/event-stream\r\n\r\n")
        .await
        .unwrap();
    let mut r = BufReader::new(s);
    let mut head = String::new();
    loop {
        let mut l = String::new();
        tokio::time::timeout(WAIT, r.read_line(&mut l))
            .await
            .unwrap()
            .unwrap();
        head.push_str(&l);
        if l == "\r\n" {
            break;
        }
    }
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head
        .to_ascii_lowercase()
        .contains("content-type: text/event-stream"));
    let endpoint = loop {
        let mut l = String::new();
        tokio::time::timeout(WAIT, r.read_line(&mut l))
            .await
            .unwrap()
            .unwrap();
        if let Some(d) = l.strip_prefix("data: ") {
            break d.trim().to_string();
        }
    };
    (endpoint, r)
}

/// Reads SSE lines until a `data:` line; skips chunk-size lines of the chunked encoding.
async fn next_data(r: &mut BufReader<tokio::net::TcpStream>) -> String {
    loop {
        let mut l = String::new();
        let n = tokio::time::timeout(WAIT, r.read_line(&mut l))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "stream closed");
        if let Some(d) = l.strip_prefix("data: ") {
            return d.trim().to_string();
        }
    }
}

#[tokio::test]
async fn wire_format_and_bad_input() {
    let srv = start(SseServerConfig {
        max_message_size: 4096,
        keep_alive: Some(Duration::from_millis(50)),
        ..Default::default()
    })
    .await;
    let (endpoint, mut stream) = open_stream(srv.addr).await;
    // Go SDK format: the GET path with ?sessionid=<26 base32 chars>.
    let id = endpoint
        .strip_prefix("/sse?sessionid=")
        .unwrap_or_else(|| panic!("endpoint {endpoint}"));
    assert_eq!(id.len(), 26);
    assert!(id
        .chars()
        .all(|c| c.is_ascii_uppercase() || ('2'..='7').contains(&c)));

    // Malformed JSON → 400, like the Go SDK, with a JSON-RPC parse error as the body.
    let (st, body) = raw(srv.addr, &post(&endpoint, b"{not json")).await;
    assert_eq!(st, 400);
    let v: serde_json::Value = serde_json::from_str(body.trim()).unwrap();
    assert_eq!(v["error"]["code"], -32700, "{body}");
    // Unknown session → 404; missing session id → 400.
    let (st, _) = raw(srv.addr, &post("/sse?sessionid=NOPE", b"{}")).await;
    assert_eq!(st, 404);
    let (st, _) = raw(srv.addr, &post("/sse", b"{}")).await;
    assert_eq!(st, 400);
    // Oversize body → 413 (declared length), and the session still works afterwards.
    let big = vec![b' '; 8192];
    let (st, _) = raw(srv.addr, &post(&endpoint, &big)).await;
    assert_eq!(st, 413);
    // Oversize with chunked encoding (no declared length) → 413 too.
    let mut chunked = format!(
        "POST {endpoint} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n"
    , big.len())
    .into_bytes();
    chunked.extend_from_slice(&big);
    chunked.extend_from_slice(b"\r\n0\r\n\r\n");
    let (st, _) = raw(srv.addr, &chunked).await;
    assert_eq!(st, 413);

    // The session keeps serving: initialize over raw POST, response arrives as event: message.
    let init = br#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2024-11-05","capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}"#;
    let (st, body) = raw(srv.addr, &post(&endpoint, init)).await;
    assert_eq!(st, 202, "{body}");
    let data = next_data(&mut stream).await;
    let v: serde_json::Value = serde_json::from_str(&data).unwrap();
    assert_eq!(v["id"], 1);
    assert_eq!(v["result"]["serverInfo"]["name"], "mcpz-test");
    assert_eq!(v["result"]["protocolVersion"], "2024-11-05");
    // Keepalive comments arrive on the idle stream.
    loop {
        let mut l = String::new();
        tokio::time::timeout(WAIT, stream.read_line(&mut l))
            .await
            .unwrap()
            .unwrap();
        if l.starts_with(": keepalive") {
            break;
        }
    }
    // Another session on the same server is unaffected.
    let (endpoint2, _s2) = open_stream(srv.addr).await;
    assert_ne!(endpoint, endpoint2);
}
