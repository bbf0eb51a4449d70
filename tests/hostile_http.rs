//! Hostile HTTP clients against the gateway's HTTP front (the same code serves every listener:
//! loopback `--listen`, `mcp-tools http`, zrok shares): slowloris (a request head that never
//! ends, a connection that sends nothing, an HTTP/2 preface and nothing after it), a flood of
//! half-open connections beyond `aggregator.listener.max_half_open`, forged and reused session
//! ids, and requests before initialize. Each gets a clear answer or a closed connection, and a
//! well-behaved client is served afterwards.

mod gateway_support;

use std::sync::Arc;
use std::time::Duration;

use mcpz::core::engine::Engine;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

/// Bound on every wait here (none is a synchronisation sleep).
const WAIT: Duration = Duration::from_secs(20);

struct Gateway {
    engine: Arc<Engine>,
    port: u16,
    stop: CancellationToken,
    _dir: tempfile::TempDir,
}

impl Gateway {
    async fn start(listener_yaml: &str) -> Gateway {
        let dir = tempfile::tempdir().unwrap();
        let bin = env!("CARGO_BIN_EXE_mcp-filesystem");
        let yaml = format!(
            "aggregator:\n  listener:\n{listener_yaml}backends:\n  - id: fs\n    transport: {{type: stdio, command: \"{bin}\", args: [\"{}\"]}}\n",
            dir.path().display()
        );
        let engine = gateway_support::gateway_yaml(&yaml)
            .await
            .expect("engine starts");
        let (port, stop) = gateway_support::serve_loopback(&engine).await;
        Gateway {
            engine,
            port,
            stop,
            _dir: dir,
        }
    }

    async fn connect(&self) -> TcpStream {
        TcpStream::connect(("127.0.0.1", self.port)).await.unwrap()
    }

    /// One request on a fresh connection: (status, headers and body as text).
    async fn request(&self, method: &str, sid: Option<&str>, body: &str) -> (u16, String) {
        let mut s = self.connect().await;
        let sid = sid
            .map(|s| format!("Mcp-Session-Id: {s}\r\n"))
            .unwrap_or_default();
        let req = format!(
            "{method} /mcp HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nMCP-Protocol-Version: 2025-06-18\r\n{sid}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.port,
            body.len()
        );
        s.write_all(req.as_bytes()).await.unwrap();
        let mut out = Vec::new();
        tokio::time::timeout(WAIT, s.read_to_end(&mut out))
            .await
            .expect("answered in time")
            .unwrap();
        let text = String::from_utf8_lossy(&out).into_owned();
        let status = text
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        (status, text)
    }

    async fn initialize(&self) -> String {
        let (status, text) = self
            .request(
                "POST",
                None,
                r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"hostile","version":"1"}}}"#,
            )
            .await;
        assert_eq!(status, 200, "{text}");
        let sid = text
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .starts_with("mcp-session-id:")
                    .then(|| l.split_once(':').unwrap().1.trim().to_string())
            })
            .expect("a session id");
        let (status, text) = self
            .request(
                "POST",
                Some(&sid),
                r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
            )
            .await;
        assert_eq!(status, 202, "{text}");
        sid
    }

    async fn tools_list(&self, sid: Option<&str>) -> (u16, String) {
        self.request(
            "POST",
            sid,
            r#"{"jsonrpc":"2.0","id":7,"method":"tools/list"}"#,
        )
        .await
    }

    async fn stop(self) {
        self.stop.cancel();
        self.engine.shutdown().await;
    }
}

/// Whether the server closes `s` within `within` (reads until EOF or an error; anything the
/// server sends first is ignored). `false`: still open when `within` ran out.
async fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let read_to_end = async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(within, read_to_end).await.is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_request_heads_are_cut_off() {
    let gw = Gateway::start("    header_read_timeout: 300ms\n").await;
    // A head that never ends (slowloris), a connection that sends nothing, and an HTTP/2
    // preface with nothing after it: each closed by the server (bounded wait far above 300 ms).
    let mut slow = gw.connect().await;
    slow.write_all(
        format!(
            "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nX-Slow: ",
            gw.port
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let mut silent = gw.connect().await;
    let mut h2 = gw.connect().await;
    h2.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .await
        .unwrap();
    for (what, s) in [
        ("slow head", &mut slow),
        ("silent", &mut silent),
        ("h2 preface", &mut h2),
    ] {
        assert!(closed_within(s, WAIT).await, "{what}: still open");
    }
    // A client that sends its requests is served as before.
    let sid = gw.initialize().await;
    let (status, text) = gw.tools_list(Some(&sid)).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("fs_read_file"), "{text}");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_open_connections_beyond_the_cap_are_closed_at_once() {
    // A long header timeout: only the cap can close a connection within the wait below.
    let gw = Gateway::start("    header_read_timeout: 120s\n    max_half_open: 4\n").await;
    let mut idle = Vec::new();
    for _ in 0..5 {
        idle.push(gw.connect().await);
    }
    // Exactly one of the five is over the cap (which one depends on accept order).
    let mut closed = Vec::new();
    for (i, s) in idle.iter_mut().enumerate() {
        if closed_within(s, Duration::from_secs(3)).await {
            closed.push(i);
        }
    }
    assert_eq!(closed.len(), 1, "closed: {closed:?}");
    // A held connection that sends a request is served, and frees its slot for a newcomer.
    let held = (0..5).find(|i| !closed.contains(i)).unwrap();
    let s = &mut idle[held];
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
    s.write_all(
        format!(
            "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            gw.port,
            body.len()
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(WAIT, s.read_to_end(&mut out))
        .await
        .expect("answered")
        .unwrap();
    let out = String::from_utf8_lossy(&out);
    assert!(out.starts_with("HTTP/1.1 "), "{out}");
    let sid = gw.initialize().await;
    let (status, _) = gw.tools_list(Some(&sid)).await;
    assert_eq!(status, 200);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_reused_and_missing_session_ids_are_refused() {
    let gw = Gateway::start("    header_read_timeout: 10s\n").await;
    // Before initialize: no session id at all.
    let (status, text) = gw.tools_list(None).await;
    assert!((400..500).contains(&status), "{text}");
    // A forged id: 404 (the client must start a new session), nothing served.
    let (status, text) = gw.tools_list(Some("forged-3f1c2a")).await;
    assert_eq!(status, 404, "{text}");
    assert!(!text.contains("fs_read_file"), "{text}");
    // A real session, ended by DELETE, then reused: 404 as well.
    let sid = gw.initialize().await;
    let (status, text) = gw.tools_list(Some(&sid)).await;
    assert_eq!(status, 200, "{text}");
    let (status, text) = gw.request("DELETE", Some(&sid), "").await;
    assert!((200..300).contains(&status), "{text}");
    let (status, text) = gw.tools_list(Some(&sid)).await;
    assert_eq!(status, 404, "{text}");
    assert!(!text.contains("fs_read_file"), "{text}");
    // The fast path (tools/call) refuses the same way.
    let (status, text) = gw
        .request(
            "POST",
            Some(&sid),
            r#"{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"fs_list_directory","arguments":{"path":"/"}}}"#,
        )
        .await;
    assert_eq!(status, 404, "{text}");
    gw.stop().await;
}
