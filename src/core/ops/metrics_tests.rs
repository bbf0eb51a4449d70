use std::time::Duration;

use super::*;
use crate::core::live::state::{BackendState, ToolState, TransportKind};
use crate::core::ops::Denied;

fn backend(id: &str) -> BackendState {
    let mut b = BackendState::starting(id, None, TransportKind::Stdio, "x".into());
    b.status = BackendStatus::Ready;
    b
}

fn tool(backend: &str, name: &str) -> ToolState {
    ToolState::bare(name, name, backend)
}

/// A hub with backends `fs` (tools `fs_read`, and one with quotes in its name) and `db`.
fn metrics() -> (Hub, Metrics) {
    let hub = Hub::new("g", "1", "_");
    hub.add_backend(backend("fs"));
    hub.add_backend(backend("db"));
    hub.set_tools(
        "fs",
        vec![tool("fs", "fs_read"), tool("fs", "fs_we\"ird\\\nname")],
    );
    hub.set_tools("db", vec![tool("db", "db_query")]);
    let m = Metrics::new(hub.clone(), vec!["fs".into(), "db".into()]);
    (hub, m)
}

fn call<'a>(
    backend: Option<&'a str>,
    target: &'a str,
    outcome: Outcome,
    path: CallPath,
) -> CallInfo<'a> {
    CallInfo {
        session: "s1",
        caller: "",
        backend,
        method: "tools/call",
        target,
        duration: Duration::from_micros(700),
        outcome,
        path,
    }
}

fn encoded(m: &Metrics) -> String {
    let mut out = String::new();
    m.encode(&mut out, Some(3));
    out
}

/// The value of the sample line that starts with `series ` exactly.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn calls_are_counted_by_backend_tool_outcome_and_path() {
    let (hub, m) = metrics();
    for _ in 0..3 {
        m.call(&call(Some("fs"), "fs_read", Outcome::Ok, CallPath::Fast));
    }
    m.call(&call(
        Some("fs"),
        "fs_read",
        Outcome::Error(-32603),
        CallPath::Full,
    ));
    m.call(&call(
        Some("db"),
        "db_query",
        Outcome::Timeout,
        CallPath::Full,
    ));
    m.call(&call(
        Some("fs"),
        "fs_read",
        Outcome::Denied(Denied::Access(0)),
        CallPath::Full,
    ));
    m.call(&call(
        None,
        "nobody",
        Outcome::Denied(Denied::UnknownTool),
        CallPath::Full,
    ));
    let mut other = call(Some("fs"), "fs_summary", Outcome::Ok, CallPath::Full);
    other.method = "prompts/get";
    m.call(&other);
    m.backend_restarted("db");
    m.backend_restarted("nope");
    hub.session_opened("s1", "127.0.0.1:1", "local", "streamable");
    hub.session_opened("s2", "127.0.0.1:2", "local", "streamable");
    hub.session_closed("s1", "closed");
    hub.set_backend_status("db", BackendStatus::Failed, None);
    let t = encoded(&m);
    let h = "mcpz_tool_call_duration_seconds";
    let c = "mcpz_tool_calls_total";
    let want = [
        (
            format!("{c}{{backend=\"fs\",tool=\"fs_read\",outcome=\"ok\",path=\"fast\"}}"),
            3.0,
        ),
        (
            format!("{c}{{backend=\"fs\",tool=\"fs_read\",outcome=\"error\",path=\"rmcp\"}}"),
            1.0,
        ),
        (
            format!("{c}{{backend=\"fs\",tool=\"fs_read\",outcome=\"denied\",path=\"rmcp\"}}"),
            1.0,
        ),
        (
            format!("{c}{{backend=\"db\",tool=\"db_query\",outcome=\"timeout\",path=\"rmcp\"}}"),
            1.0,
        ),
        (
            format!("{c}{{backend=\"(none)\",tool=\"(other)\",outcome=\"denied\",path=\"rmcp\"}}"),
            1.0,
        ),
        // Latency: the four calls that reached `fs` (not the denial), all under 1 ms.
        (format!("{h}_count{{backend=\"fs\"}}"), 4.0),
        (format!("{h}_bucket{{backend=\"fs\",le=\"0.0005\"}}"), 0.0),
        (format!("{h}_bucket{{backend=\"fs\",le=\"0.001\"}}"), 4.0),
        (format!("{h}_bucket{{backend=\"fs\",le=\"+Inf\"}}"), 4.0),
        (format!("{h}_sum{{backend=\"fs\"}}"), 0.0028),
        ("mcpz_backend_restarts_total{backend=\"db\"}".into(), 1.0),
        ("mcpz_backend_up{backend=\"fs\"}".into(), 1.0),
        ("mcpz_backend_up{backend=\"db\"}".into(), 0.0),
        (
            "mcpz_backend_status{backend=\"db\",status=\"failed\"}".into(),
            1.0,
        ),
        (
            "mcpz_backend_status{backend=\"db\",status=\"ready\"}".into(),
            0.0,
        ),
        ("mcpz_sessions_active".into(), 1.0),
        ("mcpz_sessions_total".into(), 2.0),
        ("mcpz_serving{mode=\"starting\"}".into(), 1.0),
        ("mcpz_audit_lines_dropped_total".into(), 3.0),
    ];
    for (series, v) in want {
        let got = value(&t, &series).unwrap_or_else(|| panic!("no {series} in\n{t}"));
        assert!((got - v).abs() < 1e-9, "{series}: {got}, want {v}");
    }
    // Only series that counted something; prompts/get is not a tool call.
    assert_eq!(t.matches("mcpz_tool_calls_total{").count(), 5, "{t}");
    // Every family is declared once, before its samples.
    for line in t.lines().filter(|l| !l.starts_with('#')) {
        let name = line.split(['{', ' ']).next().unwrap();
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s)
                    .filter(|f| t.contains(&format!("# TYPE {f} histogram")))
            })
            .unwrap_or(name);
        assert_eq!(
            t.matches(&format!("# TYPE {family} ")).count(),
            1,
            "{family}"
        );
    }
}

#[test]
fn hostile_names_never_become_labels() {
    let (_, m) = metrics();
    // A client calling names the backends never advertised: routed by prefix (`fs_...`) or not.
    for i in 0..5000 {
        let name = format!("fs_made_up_{i}");
        m.call(&call(Some("fs"), &name, Outcome::ToolError, CallPath::Fast));
        m.call(&call(
            None,
            &name,
            Outcome::Denied(Denied::UnknownTool),
            CallPath::Full,
        ));
    }
    // A catalog tool of another backend is not this backend's label either.
    m.call(&call(Some("fs"), "db_query", Outcome::Ok, CallPath::Fast));
    let t = encoded(&m);
    assert!(
        !t.contains("made_up") && !t.contains("tool=\"db_query\""),
        "{t}"
    );
    let other = "mcpz_tool_calls_total{backend=\"fs\",tool=\"(other)\",outcome=\"tool_error\",path=\"fast\"}";
    assert_eq!(value(&t, other), Some(5000.0));
    assert_eq!(m.tool_series.load(Ordering::Relaxed), 0);
    assert!(m.all_backends()[0].tools.read().unwrap().is_empty());
}

#[test]
fn label_values_are_escaped() {
    let (_, m) = metrics();
    m.call(&call(
        Some("fs"),
        "fs_we\"ird\\\nname",
        Outcome::Ok,
        CallPath::Fast,
    ));
    let t = encoded(&m);
    let want = "mcpz_tool_calls_total{backend=\"fs\",tool=\"fs_we\\\"ird\\\\\\nname\",outcome=\"ok\",path=\"fast\"} 1\n";
    assert!(t.contains(want), "{t}");
    assert_eq!(m.tool_series.load(Ordering::Relaxed), 1);
}
