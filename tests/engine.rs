//! The engine in process, with the project's own `mcp-filesystem` as its backends: routing,
//! namespacing and tool filters on the rmcp path (an rmcp client over an in-memory pipe), and the
//! `tools/call` fast path and the bad-body answers over HTTP on loopback. No Python, no network.

mod gateway_support;

use std::sync::Arc;
use std::time::Duration;

use mcpz::core::config;
use mcpz::core::engine::{Caller, Engine};
use mcpz::core::live::state::{CallOutcome, CallPath, Event};
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::ServiceExt;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

/// Bound on every wait in these tests.
const WAIT: Duration = Duration::from_secs(30);

struct Fixture {
    engine: Arc<Engine>,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
}

/// Two filesystem backends: `fs` hides `write_file` (deny), `ro` shows only `read_file` (allow).
async fn engine() -> Fixture {
    engine_with("").await
}

/// [`engine`] with more top-level YAML (e.g. `access:` rules).
async fn engine_with(extra: &str) -> Fixture {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    std::fs::write(a.path().join("hello.txt"), "hello from a").unwrap();
    std::fs::write(b.path().join("hello.txt"), "hello from b").unwrap();
    let bin = env!("CARGO_BIN_EXE_mcp-filesystem");
    let yaml = format!(
        r#"
aggregator:
  connection:
    call_timeout: 20s
backends:
  - id: fs
    transport: {{type: stdio, command: "{bin}", args: ["{a}"]}}
    tools: {{mode: deny, list: [write_file]}}
  - id: ro
    transport: {{type: stdio, command: "{bin}", args: ["{b}"]}}
    tools: {{mode: allow, list: [read_file]}}
{extra}
"#,
        a = a.path().display(),
        b = b.path().display(),
    );
    let (cfg, _) = config::parse(&yaml, "engine-test.yml", &|_| None).expect("config");
    let engine = gateway(cfg).await.expect("engine starts");
    Fixture {
        engine,
        _dirs: (a, b),
    }
}

use gateway_support::gateway;

fn call(name: &str, args: Value) -> CallToolRequestParams {
    let mut p = CallToolRequestParams::new(name.to_string());
    p.arguments = args.as_object().cloned();
    p
}

fn text(r: &CallToolResult) -> String {
    r.content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect()
}

/// The next tool-call event on `rx`, bounded.
async fn next_call(
    rx: &mut tokio::sync::broadcast::Receiver<Event>,
) -> mcpz::core::live::state::CallEvent {
    tokio::time::timeout(WAIT, async {
        loop {
            if let Event::Call(c) = rx.recv().await.expect("hub events") {
                return c;
            }
        }
    })
    .await
    .expect("a call event")
}

#[tokio::test]
async fn routing_and_filters_on_the_rmcp_path() {
    let f = engine().await;
    let mut events = f.engine.hub.events();
    let session = f
        .engine
        .new_session("in-process", Some(Caller::Local), "duplex");
    let (ours, theirs) = tokio::io::duplex(1 << 16);
    let server = tokio::spawn(async move {
        if let Ok(running) = session.serve(ours).await {
            let _ = running.waiting().await;
        }
    });
    let client = ().serve(theirs).await.expect("client initializes");

    let mut names: Vec<String> = client
        .list_all_tools()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name.to_string())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["fs_list_directory", "fs_read_file", "ro_read_file"],
        "namespaced, with each backend's filter applied"
    );

    // Each name reaches its own backend.
    for (tool, want) in [
        ("fs_read_file", "hello from a"),
        ("ro_read_file", "hello from b"),
    ] {
        let r = client
            .call_tool(call(tool, json!({"path": "hello.txt"})))
            .await
            .unwrap();
        assert_eq!(text(&r), want, "{tool}");
        let ev = next_call(&mut events).await;
        assert_eq!(ev.target, tool);
        assert_eq!(ev.path, CallPath::Full);
        assert_eq!(ev.outcome, CallOutcome::Ok);
    }

    // Filtered and unknown tools are refused by the gateway, as "unknown tool", and never
    // reach a backend: they are recorded as denied, naming the rule (the client learns none).
    for (tool, rule, backend) in [
        ("fs_write_file", "backends[0].tools", "fs"),
        ("ro_list_directory", "backends[1].tools", "ro"),
        ("nope_read_file", "unknown_tool", ""),
        ("fs", "unknown_tool", ""),
    ] {
        let e = client
            .call_tool(call(tool, json!({"path": "x", "content": "y"})))
            .await
            .unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains(&format!("unknown tool: {tool}")) && !msg.contains(rule),
            "{tool}: {msg}"
        );
        let ev = next_call(&mut events).await;
        assert_eq!(
            (ev.target.as_str(), ev.backend.as_str(), ev.caller.as_str()),
            (tool, backend, "local")
        );
        assert_eq!(ev.outcome, CallOutcome::Denied(rule.to_string()));
    }
    assert!(
        !a_file_was_written(&f),
        "a filtered write_file reached the backend"
    );
    assert!(
        events.try_recv().is_err(),
        "nothing else was recorded for the refused calls"
    );

    // A tool error is the backend's result, counted as a tool error.
    let r = client
        .call_tool(call("fs_read_file", json!({"path": "../../etc/passwd"})))
        .await
        .unwrap();
    assert_eq!(r.is_error, Some(true));
    assert!(matches!(
        next_call(&mut events).await.outcome,
        CallOutcome::ToolError(_)
    ));

    client.cancel().await.unwrap();
    tokio::time::timeout(WAIT, server).await.unwrap().unwrap();
    tokio::time::timeout(WAIT, f.engine.shutdown())
        .await
        .expect("shutdown is bounded");
    assert_eq!(f.engine.registry.live(), 0, "every backend process is gone");
}

fn a_file_was_written(f: &Fixture) -> bool {
    std::fs::read_dir(f._dirs.0.path()).unwrap().count() != 1
}

/// A gateway on loopback and a raw HTTP client for it.
struct Http {
    f: Fixture,
    base: String,
    client: reqwest::Client,
    stop: CancellationToken,
}

async fn http() -> Http {
    let f = engine().await;
    let (port, stop) = gateway_support::serve_loopback(&f.engine).await;
    Http {
        f,
        base: format!("http://127.0.0.1:{port}"),
        client: reqwest::Client::builder().no_proxy().build().unwrap(),
        stop,
    }
}

impl Http {
    async fn post(&self, path: &str, sid: Option<&str>, body: String) -> reqwest::Response {
        let mut req = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(body);
        if let Some(sid) = sid {
            req = req.header("mcp-session-id", sid);
        }
        tokio::time::timeout(WAIT, req.send())
            .await
            .expect("answered in time")
            .expect("HTTP answer")
    }

    /// initialize + notifications/initialized at `/mcp`; the session id.
    async fn session(&self) -> String {
        self.session_at("/mcp").await
    }

    /// initialize + notifications/initialized at `path`; the session id.
    async fn session_at(&self, path: &str) -> String {
        let init = json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{
            "protocolVersion":"2025-06-18","capabilities":{},
            "clientInfo":{"name":"engine-test","version":"1"}}});
        let r = self.post(path, None, init.to_string()).await;
        assert_eq!(r.status(), 200);
        let sid = r.headers()["mcp-session-id"].to_str().unwrap().to_string();
        let body = r.text().await.unwrap();
        assert!(body.contains("\"serverInfo\""), "{body}");
        let note = json!({"jsonrpc":"2.0","method":"notifications/initialized"});
        let r = self.post(path, Some(&sid), note.to_string()).await;
        assert_eq!(r.status(), 202);
        sid
    }
}

#[tokio::test]
async fn tool_calls_take_the_fast_path_over_http() {
    let h = http().await;
    let mut events = h.f.engine.hub.events();
    let sid = h.session().await;
    let body = json!({"jsonrpc":"2.0","id":"c1","method":"tools/call",
        "params":{"name":"ro_read_file","arguments":{"path":"hello.txt"}}});
    let r = h.post("/mcp", Some(&sid), body.to_string()).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["id"], "c1");
    assert_eq!(v["result"]["content"][0]["text"], "hello from b");
    let ev = next_call(&mut events).await;
    assert_eq!(
        (ev.path, ev.target.as_str()),
        (CallPath::Fast, "ro_read_file")
    );

    // A filtered tool is not taken by the fast path: the rmcp path refuses it, as on stdio.
    let body = json!({"jsonrpc":"2.0","id":2,"method":"tools/call",
        "params":{"name":"fs_write_file","arguments":{"path":"x","content":"y"}}});
    let r = h.post("/mcp", Some(&sid), body.to_string()).await;
    let text = r.text().await.unwrap();
    assert!(text.contains("unknown tool: fs_write_file"), "{text}");
    assert!(!a_file_was_written(&h.f));
    h.stop.cancel();
    h.f.engine.shutdown().await;
}

#[tokio::test]
async fn bodies_that_are_not_one_message_get_json_rpc_errors() {
    let h = http().await;
    let sid = h.session().await;
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let batch = r#"[{"jsonrpc":"2.0","id":2,"method":"ping"}]"#.to_string();
    for (sid, body, code) in [
        (None, deep.clone(), -32700),
        (Some(sid.as_str()), deep, -32700),
        (None, batch.clone(), -32600),
        (Some(sid.as_str()), batch, -32600),
        (Some(sid.as_str()), "{not json".to_string(), -32700),
    ] {
        let r = h.post("/mcp", sid, body).await;
        assert_eq!(r.status(), 400);
        assert_eq!(r.headers()["content-type"], "application/json");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"]["code"], code, "{v}");
        assert!(v["id"].is_null());
    }
    h.stop.cancel();
    h.f.engine.shutdown().await;
}

#[tokio::test]
async fn sse_posts_that_are_not_one_message_get_json_rpc_errors() {
    use futures::StreamExt;
    let h = http().await;
    let r = h
        .client
        .get(format!("{}/sse", h.base))
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut stream = r.bytes_stream();
    let mut seen = String::new();
    let endpoint = tokio::time::timeout(WAIT, async {
        loop {
            let chunk = stream.next().await.expect("endpoint event").unwrap();
            seen.push_str(&String::from_utf8_lossy(&chunk));
            if let Some(line) = seen.lines().find_map(|l| l.strip_prefix("data: ")) {
                return line.trim().to_string();
            }
        }
    })
    .await
    .unwrap();
    let sid = endpoint
        .split("sessionid=")
        .nth(1)
        .expect("sessionid")
        .to_string();
    let path = format!("/sse?sessionid={sid}");
    for (body, code) in [
        (
            format!("{}{}", "{\"a\":".repeat(50_000), "1}".repeat(50_000)),
            -32700,
        ),
        (
            r#"[{"jsonrpc":"2.0","id":2,"method":"ping"}]"#.to_string(),
            -32600,
        ),
    ] {
        let r = h.post(&path, None, body).await;
        assert_eq!(r.status(), 400);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"]["code"], code, "{v}");
    }
    drop(stream);
    h.stop.cancel();
    h.f.engine.shutdown().await;
}

/// An rmcp client on an in-memory pipe to a new session of `engine` for `caller`.
async fn client_for(
    engine: &Arc<Engine>,
    caller: Caller,
) -> rmcp::service::RunningService<rmcp::RoleClient, ()> {
    let session = engine.new_session("in-process", Some(caller), "duplex");
    let (ours, theirs) = tokio::io::duplex(1 << 16);
    tokio::spawn(async move {
        if let Ok(running) = session.serve(ours).await {
            let _ = running.waiting().await;
        }
    });
    ().serve(theirs).await.expect("client initializes")
}

#[tokio::test]
async fn access_rules_give_each_caller_its_own_tools() {
    let f = engine_with(
        r#"
access:
  - caller: "bob@*"
    tools: {mode: allow, list: ["ro_*"]}
  - caller: local
    tools: {mode: deny, list: [fs_list_directory]}
"#,
    )
    .await;
    let cases = [
        (
            Caller::Ziti("alice@example.com-0123456789ab-env".into()),
            &["fs_list_directory", "fs_read_file", "ro_read_file"][..],
        ),
        (
            Caller::Ziti("bob@example.com-ba9876543210-env".into()),
            &["ro_read_file"][..],
        ),
        (Caller::Local, &["fs_read_file", "ro_read_file"][..]),
    ];
    for (caller, want) in cases {
        let c = client_for(&f.engine, caller.clone()).await;
        let mut names: Vec<String> = c
            .list_all_tools()
            .await
            .unwrap()
            .into_iter()
            .map(|t| t.name.to_string())
            .collect();
        names.sort();
        assert_eq!(names, want, "{caller}");
        // What a caller may not see it may not call either: "unknown tool", never the backend.
        for hidden in ["fs_read_file", "fs_list_directory"] {
            if want.contains(&hidden) {
                continue;
            }
            let e = c
                .call_tool(call(hidden, json!({"path": "hello.txt"})))
                .await
                .unwrap_err();
            assert!(
                e.to_string().contains(&format!("unknown tool: {hidden}")),
                "{caller}: {e}"
            );
        }
        let r = c
            .call_tool(call("ro_read_file", json!({"path": "hello.txt"})))
            .await
            .unwrap();
        assert_eq!(text(&r), "hello from b", "{caller}");
        c.cancel().await.unwrap();
    }
    f.engine.shutdown().await;
}

#[tokio::test]
async fn path_policy_refuses_paths_outside_its_roots() {
    let d = tempfile::tempdir().unwrap();
    let sub = d.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    std::fs::write(sub.join("in.txt"), "inside").unwrap();
    std::fs::write(d.path().join("out.txt"), "outside").unwrap();
    let bin = env!("CARGO_BIN_EXE_mcp-filesystem");
    let yaml = format!(
        r#"
backends:
  - id: fs
    transport: {{type: stdio, command: "{bin}", args: ["{root}"], working_dir: "{root}"}}
    policy:
      paths:
        - tool: read_file
          argument: path
          roots: ["{sub}"]
"#,
        root = d.path().display(),
        sub = sub.display(),
    );
    let (cfg, _) = config::parse(&yaml, "policy.yml", &|_| None).expect("config");
    let engine = gateway(cfg).await.expect("engine starts");
    let c = client_for(&engine, Caller::Local).await;
    let r = c
        .call_tool(call("fs_read_file", json!({"path": "sub/in.txt"})))
        .await
        .unwrap();
    assert_eq!(text(&r), "inside");
    for bad in ["out.txt", "sub/../out.txt", "../../etc/passwd"] {
        let r = c
            .call_tool(call("fs_read_file", json!({"path": bad})))
            .await
            .unwrap();
        assert_eq!(r.is_error, Some(true), "{bad}");
        let t = text(&r);
        assert!(
            t.starts_with(
                "gateway policy denied tool call: call policy tool 'read_file' argument 'path'"
            ),
            "{bad}: {t}"
        );
    }
    // Ungoverned tools are not checked.
    let r = c
        .call_tool(call("fs_list_directory", json!({"path": "."})))
        .await
        .unwrap();
    assert!(text(&r).contains("out.txt"));
    c.cancel().await.unwrap();
    engine.shutdown().await;

    // A policy on a tool the backend does not have fails the start, naming it.
    let bad = yaml.replace("tool: read_file", "tool: read_fiel");
    let (cfg, _) = config::parse(&bad, "policy.yml", &|_| None).expect("config");
    let e = gateway(cfg).await.err().expect("start fails");
    assert!(
        e.to_string().contains("'read_fiel' is not advertised"),
        "{e}"
    );
}
