//! Deterministic snapshots and events for tests, benchmarks and demos. Not used at run time.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::json;

use crate::core::live::state::{
    BackendState, BackendStatus, CallEvent, CallOutcome, CallPath, GatewayInfo, Latency, LogLevel,
    LogLine, Serving, SessionState, ShareState, Snapshot, ToolFilter, ToolState, TransportKind,
};

/// 2026-01-01 12:00:00 UTC: the fixed "now" of fixtures.
pub fn t0() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_767_268_800)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn backend(
    id: &str,
    transport: TransportKind,
    status: BackendStatus,
    tools: usize,
) -> BackendState {
    let mut b = BackendState::starting(id, None, transport, format!("npx -y @example/{id}-mcp"));
    b.status = status;
    b.tools_exposed = tools;
    b.tools_total = tools;
    b.server_info = Some(format!("{id}-mcp 1.0.0"));
    b.protocol_version = Some("2025-06-18".to_string());
    b
}

/// A small gateway: four backends in every state, a handful of tools, sessions and shares.
pub fn small() -> Snapshot {
    let mut github = backend("github", TransportKind::Stdio, BackendStatus::Ready, 3);
    github.tools_total = 4;
    github.sessions = 2;
    github.calls = 120;
    github.errors = 1;
    github.last_ping = Some(Duration::from_micros(1500));
    github.latency = Latency {
        p50: Some(ms(42)),
        p95: Some(ms(180)),
        max: Some(ms(900)),
    };
    let mut fs = backend("files", TransportKind::Stdio, BackendStatus::Degraded, 2);
    fs.calls = 30;
    fs.errors = 7;
    fs.last_error = Some("permission denied: /etc/shadow".to_string());
    fs.restarts = 3;
    fs.restarting = 1;
    fs.latency = Latency {
        p50: Some(Duration::from_micros(800)),
        p95: Some(ms(3)),
        max: None,
    };
    let mut search = backend("search", TransportKind::Https, BackendStatus::Failed, 0);
    search.target = "https://search.example.com/mcp".to_string();
    search.last_error = Some("connect: connection refused".to_string());
    let remote = backend("remote", TransportKind::Zrok, BackendStatus::Starting, 0);

    let tool = |name: &str, backend: &str, filter: ToolFilter, calls: u64| ToolState {
        name: format!("{backend}_{name}"),
        original: name.to_string(),
        backend: backend.to_string(),
        description: Some(format!(
            "Does {name} on {backend}.\nSecond line of the description."
        )),
        input_schema: json!({
            "type": "object",
            "properties": {"path": {"type": "string"}, "limit": {"type": "integer"}},
            "required": ["path"]
        }),
        filter,
        calls,
        errors: 0,
        latency: Latency {
            p50: Some(ms(12)),
            p95: Some(ms(40)),
            max: None,
        },
    };
    let allowed = |pattern: &str| ToolFilter::AllowedBy(pattern.into());
    let denied = |pattern: &str| ToolFilter::DeniedBy(pattern.into());
    let tools = vec![
        tool("create_issue", "github", allowed("*_issue"), 60),
        tool("list_repos", "github", allowed("list_*"), 50),
        tool("search_code", "github", allowed("search_*"), 10),
        tool("delete_repo", "github", denied("delete_*"), 0),
        tool("read_file", "files", ToolFilter::Unfiltered, 25),
        tool("write_file", "files", ToolFilter::Unfiltered, 5),
    ];
    let session = |id: &str, client: &str, age: u64, calls: u64| SessionState {
        id: id.to_string(),
        client: Some(client.to_string()),
        remote: "127.0.0.1:50123".to_string(),
        caller: "local".to_string(),
        transport: "streamable".to_string(),
        protocol_version: Some("2025-06-18".to_string()),
        opened_at: t0() - Duration::from_secs(age),
        last_activity: t0() - Duration::from_secs(3),
        calls,
        errors: 0,
        last_call: Some("github_list_repos".to_string()),
    };
    Snapshot {
        gateway: GatewayInfo {
            name: "mcp-gateway".to_string(),
            version: "0.1.0".to_string(),
            separator: "_".to_string(),
            serving: Serving::Zrok {
                api_endpoint: "https://api.zrok.io".to_string(),
                share_token: "mcpzdemo01".to_string(),
                ephemeral: false,
            },
            started_at: t0() - Duration::from_secs(3725),
            listener: None,
            config_generation: 0,
            last_reload: None,
        },
        backends: vec![github, fs, search, remote],
        sessions: vec![
            session("s-alpha", "claude-code 1.0.3", 600, 100),
            session("s-beta", "cursor 0.50", 65, 50),
        ],
        tools,
        shares: vec![
            ShareState {
                token: "mcpzdemo01".to_string(),
                kind: "running".to_string(),
                backend_mode: "proxy".to_string(),
                created_at: Some(t0() - Duration::from_secs(3725)),
            },
            ShareState {
                token: "oldshare7".to_string(),
                kind: "persistent".to_string(),
                backend_mode: "proxy".to_string(),
                created_at: Some(t0() - Duration::from_secs(86_400 * 3)),
            },
        ],
        total_calls: 150,
        total_errors: 8,
    }
}

/// A large gateway: `backends` backends sharing `tools` tools, and `sessions` sessions.
pub fn large(backends: usize, tools: usize, sessions: usize) -> Snapshot {
    let mut s = small();
    let backends = backends.max(1);
    s.backends = (0..backends)
        .map(|i| {
            let status = match i % 7 {
                0 => BackendStatus::Degraded,
                1 => BackendStatus::Failed,
                _ => BackendStatus::Ready,
            };
            let mut b = backend(
                &format!("backend{i:03}"),
                TransportKind::Stdio,
                status,
                tools / backends,
            );
            b.calls = i as u64 * 10;
            b
        })
        .collect();
    s.tools = (0..tools)
        .map(|i| {
            let b = format!("backend{:03}", i % backends);
            ToolState {
                name: format!("{b}_tool{i:05}"),
                original: format!("tool{i:05}"),
                backend: b,
                description: Some(format!("Tool number {i}")),
                input_schema: json!({"type": "object"}),
                filter: if i % 10 == 0 {
                    ToolFilter::DeniedBy("*9".into())
                } else {
                    ToolFilter::Unfiltered
                },
                calls: i as u64,
                errors: 0,
                latency: Latency {
                    p50: Some(ms(i as u64 % 100)),
                    p95: None,
                    max: None,
                },
            }
        })
        .collect();
    s.sessions = (0..sessions)
        .map(|i| SessionState {
            id: format!("sess{i:04}"),
            client: Some(format!("client-{} 1.{}", i % 5, i % 3)),
            remote: format!("10.0.{}.{}:4{:04}", i / 250, i % 250, i),
            caller: format!("env-{}", i % 7),
            transport: "streamable".to_string(),
            protocol_version: None,
            opened_at: t0() - Duration::from_secs(i as u64),
            last_activity: t0(),
            calls: i as u64,
            errors: 0,
            last_call: None,
        })
        .collect();
    s
}

/// The `i`th synthetic call, one millisecond apart.
pub fn call(i: u64) -> CallEvent {
    CallEvent {
        at: t0() + Duration::from_millis(i),
        session: format!("s-{}", if i.is_multiple_of(2) { "alpha" } else { "beta" }),
        caller: if i.is_multiple_of(5) {
            "bob@example.com-env".to_string()
        } else {
            "local".to_string()
        },
        backend: "github".to_string(),
        method: "tools/call".to_string(),
        target: format!("github_tool{}", i % 50),
        duration: Duration::from_micros(500 + (i % 97) * 1000),
        outcome: match i % 20 {
            0 => CallOutcome::Timeout,
            1 => CallOutcome::ToolError("bad input".to_string()),
            2 => CallOutcome::Error(-32602, "invalid params".to_string()),
            _ => CallOutcome::Ok,
        },
        path: if i.is_multiple_of(3) {
            CallPath::Full
        } else {
            CallPath::Fast
        },
    }
}

pub fn log(i: u64, level: LogLevel, message: &str) -> LogLine {
    LogLine {
        at: t0() + Duration::from_millis(i),
        level,
        target: "mcpz::core::gateway".to_string(),
        message: message.to_string(),
    }
}
