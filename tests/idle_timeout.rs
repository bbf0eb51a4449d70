//! `session_idle_timeout` (upstream's key; `aggregator.session.idle_timeout` is mcpz's alias) on
//! the streamable HTTP front: a session idle longer than the timeout is closed, and `0` closes
//! none (as upstream).

mod gateway_support;

use std::time::Duration;

use serde_json::json;

const WAIT: Duration = Duration::from_secs(30);

async fn post(
    client: &reqwest::Client,
    url: &str,
    sid: Option<&str>,
    body: serde_json::Value,
) -> reqwest::Response {
    let mut req = client
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(body.to_string());
    if let Some(sid) = sid {
        req = req.header("mcp-session-id", sid);
    }
    tokio::time::timeout(WAIT, req.send())
        .await
        .expect("answered in time")
        .expect("HTTP answer")
}

/// The status of a `tools/list` sent `after` an initialized session went quiet.
async fn status_after_idle(timeout_yaml: &str, after: Duration) -> u16 {
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_mcp-filesystem");
    let yaml = format!(
        "{timeout_yaml}\nbackends:\n  - id: fs\n    transport: {{type: stdio, command: \"{bin}\", args: [\"{}\"]}}\n",
        dir.path().display()
    );
    let engine = gateway_support::gateway_yaml(&yaml)
        .await
        .expect("engine starts");
    let (port, stop) = gateway_support::serve_loopback(&engine).await;
    let url = format!("http://127.0.0.1:{port}/mcp");
    let client = reqwest::Client::builder().no_proxy().build().unwrap();

    let init = json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{
        "protocolVersion":"2025-06-18","capabilities":{},
        "clientInfo":{"name":"idle-test","version":"1"}}});
    let r = post(&client, &url, None, init).await;
    assert_eq!(r.status(), 200);
    let sid = r.headers()["mcp-session-id"].to_str().unwrap().to_string();
    let _ = r.text().await;
    let note = json!({"jsonrpc":"2.0","method":"notifications/initialized"});
    assert_eq!(post(&client, &url, Some(&sid), note).await.status(), 202);

    tokio::time::sleep(after).await;
    let list = json!({"jsonrpc":"2.0","id":1,"method":"tools/list"});
    let r = post(&client, &url, Some(&sid), list).await;
    let status = r.status().as_u16();
    let _ = r.text().await;
    stop.cancel();
    engine.shutdown().await;
    status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_session_is_closed_after_the_timeout() {
    // The sweep checks at least every 100ms: 300ms idle is well past after 2s.
    let s = status_after_idle("session_idle_timeout: 300ms", Duration::from_secs(2)).await;
    assert_eq!(s, 404, "the idle session must be gone");
    let s = status_after_idle(
        "aggregator:\n  session:\n    idle_timeout: 300ms",
        Duration::from_secs(2),
    )
    .await;
    assert_eq!(s, 404, "mcpz's alias works the same");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_never_closes_an_idle_session() {
    let s = status_after_idle("session_idle_timeout: 0s", Duration::from_secs(1)).await;
    assert_eq!(s, 200, "0 means no idle timeout");
}
