//! Gateway benchmark (not a test): added latency per `tools/call` through `mcp-gateway` versus
//! calling the same stdio backend directly, and calls/s with 1, 8 and 64 concurrent sessions.
//!
//! Run: `cargo bench --bench gateway`. Knobs (environment): `BENCH_CALLS` (sequential calls per
//! path, default 5000), `BENCH_WARMUP` (default 500), `BENCH_SECS` (seconds per throughput run,
//! default 5), `BENCH_SESSIONS` (default `1,8,64`), `BENCH_ONLY` (time only the paths whose
//! name contains it), `BENCH_PAIRED=0` (time the lean-client paths alone, not alternating with
//! direct calls).
//!
//! Besides the gateway, the lean-client rows time minimal proxies (`--min-proxy*`, see
//! `support/echo.rs`): what any process in the middle costs on this machine, the floor the
//! gateway is compared with.
//!
//! The backend is this very binary re-executed with `--echo-stdio` (see `support/echo.rs`), so
//! nothing else has to be built. Everything is on loopback; every loop is bounded; the gateway
//! and all backends are stopped at the end. Method and results: BENCHMARKS.md ("Gateway").

#[path = "support/echo.rs"]
mod echo;
#[allow(dead_code)]
#[path = "support/gateway.rs"]
mod gateway;
#[path = "support/lean.rs"]
mod lean;
#[path = "support/procstat.rs"]
mod procstat;
use procstat::cpu_ns;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use mcpz::core::backend::http_client::{HttpClient, HttpClientConfig};
use rmcp::model::CallToolRequestParams;
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::ServiceExt;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

type Client = RunningService<RoleClient, ()>;

/// Upper bound for any single setup step (spawn, initialize, gateway start).
const SETUP: Duration = Duration::from_secs(30);
/// Upper bound for one call; a call slower than this aborts the bench.
const CALL: Duration = Duration::from_secs(10);

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--echo-stdio") {
        return echo::run_stdio();
    }
    if args.iter().any(|a| a == "--echo-http") {
        return echo::run_http();
    }
    if args.iter().any(|a| a == "--min-proxy-tokio") {
        echo::run_min_proxy_tokio(&self_exe(), false);
        return;
    }
    if args.iter().any(|a| a == "--min-proxy-timers") {
        echo::run_min_proxy_tokio(&self_exe(), true);
        return;
    }
    if args.iter().any(|a| a == "--min-proxy-hyper") {
        echo::run_min_proxy_hyper(&self_exe(), false);
        return;
    }
    if args.iter().any(|a| a == "--min-proxy-axum") {
        echo::run_min_proxy_hyper(&self_exe(), true);
        return;
    }
    if args.iter().any(|a| a == "--min-proxy") {
        echo::run_min_proxy(&self_exe());
        return;
    }
    if args.iter().any(|a| a == "--tcp-echo") {
        return echo::run_tcp_echo();
    }
    // `cargo test --benches` runs bench targets with no `--bench`: do nothing then.
    if !args.iter().any(|a| a == "--bench") && std::env::var_os("BENCH_FORCE").is_none() {
        eprintln!("gateway bench: run with `cargo bench --bench gateway`");
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let code = rt.block_on(run());
    rt.shutdown_timeout(Duration::from_secs(5));
    let stray = stray_backends();
    if stray > 0 {
        eprintln!("warning: {stray} echo backend process(es) still running after the bench");
    }
    std::process::exit(code);
}

// ---------------------------------------------------------------------------------------------
// Targets

#[derive(Clone)]
enum Target {
    /// rmcp client -> stdio -> echo backend (the baseline).
    DirectStdio,
    /// rmcp streamable-HTTP client -> rmcp `StreamableHttpService` hosting the echo server in
    /// its own process (no gateway, no stdio hop): the HTTP transport's own cost.
    DirectHttp(String),
    /// rmcp streamable-HTTP client -> mcp-gateway `/mcp` -> stdio -> echo backend.
    Gateway(String),
    /// rmcp client over mcpz's legacy SSE client -> mcp-gateway `/sse` -> stdio -> backend.
    GatewaySse(String),
}

impl Target {
    fn tool(&self) -> &'static str {
        match self {
            Target::DirectStdio | Target::DirectHttp(_) => "echo",
            Target::Gateway(_) | Target::GatewaySse(_) => "b_echo",
        }
    }

    async fn connect(&self) -> Client {
        let fut = async {
            match self {
                Target::DirectStdio => {
                    let mut cmd = Command::new(self_exe());
                    cmd.arg("--echo-stdio").stderr(Stdio::null());
                    let t = TokioChildProcess::new(cmd).expect("spawn echo backend");
                    ().serve(t).await.expect("initialize (stdio)")
                }
                Target::DirectHttp(url) | Target::Gateway(url) => {
                    let t = StreamableHttpClientTransport::from_uri(url.as_str());
                    ().serve(t).await.expect("initialize (streamable HTTP)")
                }
                Target::GatewaySse(url) => {
                    let http = HttpClient::new(None, HttpClientConfig::default()).expect("client");
                    let t = mcpz::core::backend::sse::connect(http, url)
                        .await
                        .expect("SSE connect");
                    ().serve(t).await.expect("initialize (SSE)")
                }
            }
        };
        tokio::time::timeout(SETUP, fut)
            .await
            .expect("connect in time")
    }
}

fn self_exe() -> PathBuf {
    std::env::current_exe().expect("current_exe")
}

async fn call(c: &Client, tool: &'static str, args: &serde_json::Map<String, serde_json::Value>) {
    let r = tokio::time::timeout(
        CALL,
        c.call_tool(CallToolRequestParams::new(tool).with_arguments(args.clone())),
    )
    .await
    .expect("call in time")
    .expect("call ok");
    debug_assert!(r.is_error != Some(true));
}

fn echo_args() -> serde_json::Map<String, serde_json::Value> {
    serde_json::json!({"text": "hello, gateway"})
        .as_object()
        .unwrap()
        .clone()
}

async fn close(c: Client) {
    let _ = tokio::time::timeout(Duration::from_secs(10), c.cancel()).await;
}

// ---------------------------------------------------------------------------------------------
// Processes

/// A child we started; killed on drop, stopped gently (stdin closed / SIGTERM) by `stop`.
struct Proc {
    child: Child,
    name: &'static str,
}

impl Proc {
    async fn stop(mut self) {
        drop(self.child.stdin.take());
        if let Some(pid) = self.child.id() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        match tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await {
            Ok(_) => {}
            Err(_) => {
                eprintln!(
                    "{} did not exit within 10 s of SIGTERM; killing it",
                    self.name
                );
                let _ = self.child.kill().await;
            }
        }
    }
}

fn tmp_dir() -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bench-gateway");
    std::fs::create_dir_all(&d).expect("tmp dir");
    d
}

/// Start `mcp-gateway run` with one stdio echo backend (id `b`); returns it and its URLs.
async fn start_gateway() -> (Proc, String, String) {
    let dir = tmp_dir();
    let cfg = gateway::echo_config(&dir.join("gateway.yml"), "");
    let mut g = gateway::start(&cfg, &dir.join("gateway.stderr"), SETUP).await;
    let mcp = g.line["mcp_url"].as_str().expect("mcp_url").to_string();
    let sse = g.line["sse_url"].as_str().expect("sse_url").to_string();
    // Keep draining stdout so the gateway never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = g.lines.next_line().await {} });
    (
        Proc {
            child: g.child,
            name: "mcp-gateway",
        },
        mcp,
        sse,
    )
}

/// The echo server behind rmcp's streamable-HTTP service, in its own process.
async fn start_direct_http() -> (Proc, String) {
    let (p, port) = start_port_child("--echo-http", "echo-http").await;
    (p, format!("http://127.0.0.1:{port}/mcp"))
}

/// This binary with `arg`, which prints `PORT <n>` and serves until its stdin closes.
async fn start_port_child(arg: &str, name: &'static str) -> (Proc, u16) {
    let mut child = Command::new(self_exe())
        .arg(arg)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn echo http");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(SETUP, lines.next_line())
        .await
        .expect("port in time")
        .expect("read")
        .expect("echo http printed its port");
    let port: u16 = line
        .strip_prefix("PORT ")
        .and_then(|p| p.trim().parse().ok())
        .expect("PORT line");
    (Proc { child, name }, port)
}

/// Echo backends (`--echo-stdio` / `--echo-http` children of this binary) still alive.
fn stray_backends() -> usize {
    let exe = self_exe();
    let exe = exe.to_string_lossy();
    let me = std::process::id();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return 0;
    };
    rd.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != me)
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| {
                    let s = String::from_utf8_lossy(&c);
                    s.starts_with(exe.as_ref()) && s.contains("--echo-")
                })
                .unwrap_or(false)
        })
        .count()
}

// ---------------------------------------------------------------------------------------------
// Measurements

#[derive(Clone, Copy)]
struct Stats {
    n: usize,
    p50: f64,
    p90: f64,
    p99: f64,
    mean: f64,
}

/// Percentiles in µs (nearest rank).
fn stats(mut v: Vec<Duration>) -> Stats {
    assert!(!v.is_empty());
    v.sort_unstable();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let q = |p: f64| us(v[((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1]);
    let mean = v.iter().map(|d| us(*d)).sum::<f64>() / v.len() as f64;
    Stats {
        n: v.len(),
        p50: q(0.50),
        p90: q(0.90),
        p99: q(0.99),
        mean,
    }
}

/// Sequential calls on one session: `warmup` unmeasured, then `n` timed one by one. Also the
/// CPU µs per call spent by this (client) process and, if given, by the gateway process.
async fn latency(t: &Target, warmup: u64, n: u64, gw: Option<u32>) -> (Stats, f64, Option<f64>) {
    let c = t.connect().await;
    let args = echo_args();
    let tool = t.tool();
    for _ in 0..warmup {
        call(&c, tool, &args).await;
    }
    let me = std::process::id();
    let (c0, g0) = (cpu_ns(me), gw.map(cpu_ns));
    let mut v = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let s = Instant::now();
        call(&c, tool, &args).await;
        v.push(s.elapsed());
    }
    let per = |a: u64, b: u64| b.saturating_sub(a) as f64 / 1e3 / n as f64;
    let client = per(c0, cpu_ns(me));
    let gateway = gw.zip(g0).map(|(p, g0)| per(g0, cpu_ns(p)));
    close(c).await;
    (stats(v), client, gateway)
}

/// Which lean-client path to time (see `support/lean.rs`).
enum Lean {
    Stdio,
    Http(String, &'static str),
    /// A line echo in another process over loopback TCP (no MCP, no HTTP).
    TcpEcho,
    /// Hand-written HTTP/1.1 client (`initialize` on the same connection).
    RawHttp(String, &'static str),
    /// Hand-written HTTP/1.1 client → a minimal proxy (`--min-proxy*`) → stdio backend.
    MinProxy(&'static str),
}

/// Like [`latency`], with the lean client: frames written and read directly.
async fn lean_latency(
    t: &Lean,
    warmup: u64,
    n: u64,
    gw: Option<u32>,
) -> (Stats, Option<Stats>, f64, Option<f64>) {
    enum C {
        S(Box<lean::LeanStdio>),
        H(lean::LeanHttp),
        T(Box<lean::LeanTcp>),
        R(Box<lean::LeanRawHttp>),
    }
    let mut child = None;
    let (mut c, tool) = match t {
        Lean::Stdio => (
            C::S(Box::new(
                lean::LeanStdio::spawn(&self_exe(), "--echo-stdio").await,
            )),
            "echo",
        ),
        Lean::Http(url, tool) => (C::H(lean::LeanHttp::connect(url).await), *tool),
        Lean::TcpEcho => {
            let (p, port) = start_port_child("--tcp-echo", "tcp-echo").await;
            child = Some(p);
            (C::T(Box::new(lean::LeanTcp::connect(port).await)), "echo")
        }
        Lean::RawHttp(url, tool) => (
            C::R(Box::new(lean::LeanRawHttp::connect(url, true).await)),
            *tool,
        ),
        Lean::MinProxy(arg) => {
            let (p, port) = start_port_child(arg, "min-proxy").await;
            child = Some(p);
            let url = format!("http://127.0.0.1:{port}/mcp");
            (
                C::R(Box::new(lean::LeanRawHttp::connect(&url, false).await)),
                "echo",
            )
        }
    };
    let one = async |c: &mut C| {
        let f = async {
            match c {
                C::S(s) => s.call(tool).await,
                C::H(h) => h.call(tool).await,
                C::T(t) => t.call(tool).await,
                C::R(r) => r.call(tool).await,
            }
        };
        tokio::time::timeout(CALL, f).await.expect("call in time");
    };
    // Every path but the direct one is timed paired with it: a direct call, then a call on the
    // path, alternating, so both see the same machine (on a shared VM the direct p50 alone
    // drifts by tens of µs between runs).
    // `BENCH_PAIRED=0`: time each path alone (compared with the direct row, timed earlier).
    let paired = std::env::var("BENCH_PAIRED").map_or(true, |v| v != "0");
    let mut base = match t {
        Lean::Stdio => None,
        _ if !paired => None,
        _ => Some(lean::LeanStdio::spawn(&self_exe(), "--echo-stdio").await),
    };
    for _ in 0..warmup {
        one(&mut c).await;
        if let Some(b) = base.as_mut() {
            b.call("echo").await;
        }
    }
    let mut vb = Vec::with_capacity(n as usize);
    let me = std::process::id();
    // The process in the middle: the gateway, or the minimal proxy.
    let gw = gw.or_else(|| {
        child
            .as_ref()
            .filter(|_| matches!(t, Lean::MinProxy(_)))
            .and_then(|p| p.child.id())
    });
    let (c0, g0) = (cpu_ns(me), gw.map(cpu_ns));
    let mut v = Vec::with_capacity(n as usize);
    for _ in 0..n {
        if let Some(b) = base.as_mut() {
            let s = Instant::now();
            tokio::time::timeout(CALL, b.call("echo"))
                .await
                .expect("call in time");
            vb.push(s.elapsed());
        }
        let s = Instant::now();
        one(&mut c).await;
        v.push(s.elapsed());
    }
    let per = |a: u64, b: u64| b.saturating_sub(a) as f64 / 1e3 / n as f64;
    let client = per(c0, cpu_ns(me));
    let gateway = gw.zip(g0).map(|(p, g0)| per(g0, cpu_ns(p)));
    drop(c);
    drop(base);
    if let Some(p) = child {
        p.stop().await;
    }
    let paired = (!vb.is_empty()).then(|| stats(vb));
    (stats(v), paired, client, gateway)
}

struct Throughput {
    sessions: usize,
    calls: usize,
    secs: f64,
    lat: Stats,
}

/// `sessions` sessions (each its own backend process), each calling back-to-back for `secs`.
async fn throughput(t: &Target, sessions: usize, secs: f64) -> Throughput {
    let clients = futures::future::join_all((0..sessions).map(|_| t.connect())).await;
    let args = echo_args();
    let tool = t.tool();
    // Warm every session up.
    futures::future::join_all(clients.iter().map(|c| async {
        for _ in 0..20 {
            call(c, tool, &args).await;
        }
    }))
    .await;
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(secs);
    let per: Vec<Vec<Duration>> = futures::future::join_all(clients.iter().map(|c| {
        let args = args.clone();
        async move {
            let mut v = Vec::new();
            while Instant::now() < deadline {
                let s = Instant::now();
                call(c, tool, &args).await;
                v.push(s.elapsed());
            }
            v
        }
    }))
    .await;
    let elapsed = start.elapsed().as_secs_f64();
    futures::future::join_all(clients.into_iter().map(close)).await;
    let all: Vec<Duration> = per.into_iter().flatten().collect();
    Throughput {
        sessions,
        calls: all.len(),
        secs: elapsed,
        lat: stats(all),
    }
}

// ---------------------------------------------------------------------------------------------

/// One latency table; "added" is relative to the first row.
fn print_latency(title: &str, rows: &[(&str, Stats, f64, Option<f64>)]) {
    let base = rows[0].1;
    println!("\n### {title}\n");
    println!("| path | calls | p50 | p90 | p99 | mean | added p50 | added p90 | added p99 | client CPU/call | gateway CPU/call |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (name, s, cc, gc) in rows {
        let gc = gc.map(|g| format!("{g:.1}")).unwrap_or_else(|| "–".into());
        println!(
            "| {name} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:+.1} | {:+.1} | {:+.1} | {cc:.1} | {gc} |",
            s.n,
            s.p50,
            s.p90,
            s.p99,
            s.mean,
            s.p50 - base.p50,
            s.p90 - base.p90,
            s.p99 - base.p99
        );
    }
}

/// Like [`print_latency`]; a row with paired direct samples is compared with those.
#[allow(clippy::type_complexity)]
fn print_paired(title: &str, rows: &[(&str, Stats, Option<Stats>, f64, Option<f64>)]) {
    println!("\n### {title}\n");
    println!("Each row but the first is timed paired with the direct path (calls alternate); \"added\" is against those paired direct calls, and the client's CPU covers both calls.\n");
    println!("| path | calls | p50 | p90 | p99 | mean | paired direct p50 | added p50 | added p90 | added p99 | client CPU/call | gateway CPU/call |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (name, s, paired, cc, gc) in rows {
        let base = paired.as_ref().unwrap_or(&rows[0].1);
        let gc = gc.map(|g| format!("{g:.1}")).unwrap_or_else(|| "–".into());
        println!(
            "| {name} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:+.1} | {:+.1} | {:+.1} | {cc:.1} | {gc} |",
            s.n,
            s.p50,
            s.p90,
            s.p99,
            s.mean,
            base.p50,
            s.p50 - base.p50,
            s.p90 - base.p90,
            s.p99 - base.p99
        );
    }
}

async fn run() -> i32 {
    let n = env_num("BENCH_CALLS", 5000);
    let warmup = env_num("BENCH_WARMUP", 500);
    let secs = env_num("BENCH_SECS", 5) as f64;
    let sessions: Vec<usize> = std::env::var("BENCH_SESSIONS")
        .unwrap_or_else(|_| "1,8,64".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();

    eprintln!(
        "gateway bench: {n} calls after {warmup} warm-up per path; {secs} s per throughput run"
    );
    let (gw, mcp_url, sse_url) = start_gateway().await;
    let (dh, dh_url) = start_direct_http().await;

    let direct = Target::DirectStdio;
    let gw_url = mcp_url.clone();
    let gateway = Target::Gateway(mcp_url);
    let paths: Vec<(&str, Target)> = vec![
        ("direct: rmcp client → stdio backend", direct.clone()),
        (
            "rmcp streamable HTTP server, no gateway (transport floor)",
            Target::DirectHttp(dh_url.clone()),
        ),
        (
            "gateway: streamable HTTP `/mcp` → stdio backend",
            gateway.clone(),
        ),
        (
            "gateway: legacy SSE `/sse` → stdio backend",
            Target::GatewaySse(sse_url),
        ),
    ];
    let gw_pid = gw.child.id();
    let lean_paths: Vec<(&str, Lean, bool)> = vec![
        ("lean client: direct stdio backend", Lean::Stdio, false),
        (
            "lean client: loopback TCP line echo in another process (no MCP)",
            Lean::TcpEcho,
            false,
        ),
        (
            "lean client: gateway `/mcp` → stdio backend",
            Lean::Http(gw_url.clone(), "b_echo"),
            true,
        ),
        (
            "raw HTTP client: minimal blocking proxy → stdio backend (floor)",
            Lean::MinProxy("--min-proxy"),
            false,
        ),
        (
            "raw HTTP client: minimal tokio proxy → stdio backend",
            Lean::MinProxy("--min-proxy-tokio"),
            false,
        ),
        (
            "raw HTTP client: minimal tokio proxy with call timers → stdio backend",
            Lean::MinProxy("--min-proxy-timers"),
            false,
        ),
        (
            "raw HTTP client: minimal hyper proxy → stdio backend",
            Lean::MinProxy("--min-proxy-hyper"),
            false,
        ),
        (
            "raw HTTP client: minimal hyper+axum proxy → stdio backend",
            Lean::MinProxy("--min-proxy-axum"),
            false,
        ),
        (
            "raw HTTP client: gateway `/mcp` → stdio backend",
            Lean::RawHttp(gw_url.clone(), "b_echo"),
            true,
        ),
    ];
    // `BENCH_ONLY=text`: time only the paths whose name contains `text` (for profiling).
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let paths: Vec<_> = paths
        .into_iter()
        .filter(|(n, _)| n.contains(only.as_str()) || n.starts_with("direct"))
        .collect();
    let lean_paths: Vec<_> = lean_paths
        .into_iter()
        .filter(|(n, _, _)| n.contains(only.as_str()) || n.contains("direct"))
        .collect();
    let mut lat = Vec::new();
    for (name, t) in &paths {
        eprintln!("latency: {name}");
        let pid = matches!(t, Target::Gateway(_) | Target::GatewaySse(_))
            .then_some(gw_pid)
            .flatten();
        let (s, cc, gc) = latency(t, warmup, n, pid).await;
        lat.push((*name, s, cc, gc));
    }
    let mut lean_lat = Vec::new();
    for (name, t, is_gw) in &lean_paths {
        eprintln!("latency: {name}");
        let pid = if *is_gw { gw_pid } else { None };
        let (s, paired, cc, gc) = lean_latency(t, warmup, n, pid).await;
        lean_lat.push((*name, s, paired, cc, gc));
    }
    dh.stop().await;

    let mut thr = Vec::new();
    for &s in &sessions {
        for (name, t) in [("direct stdio", &direct), ("gateway /mcp", &gateway)] {
            eprintln!("throughput: {name}, {s} session(s), {secs} s");
            thr.push((name, throughput(t, s, secs).await));
        }
    }
    gw.stop().await;

    // Report.
    print_latency("Latency per tools/call (sequential, one session; µs)", &lat);
    print_paired(
        "Latency per tools/call with the lean clients (sequential, one session; µs)",
        &lean_lat,
    );
    println!("\n### Throughput (each session calls back-to-back; latency per call in µs)\n");
    println!("| path | sessions | calls | calls/s | p50 | p99 |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (name, t) in &thr {
        println!(
            "| {name} | {} | {} | {:.0} | {:.1} | {:.1} |",
            t.sessions,
            t.calls,
            t.calls as f64 / t.secs,
            t.lat.p50,
            t.lat.p99
        );
    }
    let verdict = |name: &str, added: f64| {
        println!(
            "\nAdded p50 through the gateway ({name}): {added:.1} µs — target ≤ 100 µs: {}",
            if added <= 100.0 { "met" } else { "MISSED" }
        );
    };
    for (name, st, _, _) in lat.iter().filter(|r| r.0.contains("`/mcp`")) {
        verdict(name, st.p50 - lat[0].1.p50);
    }
    // Against the paired direct calls, else the direct row.
    let added =
        |st: &Stats, paired: &Option<Stats>| st.p50 - paired.as_ref().unwrap_or(&lean_lat[0].1).p50;
    for (name, st, paired, _, _) in lean_lat.iter().filter(|r| r.0.contains("`/mcp`")) {
        verdict(name, added(st, paired));
    }
    // What the machine allows: the same hop through a process that does nothing but copy bytes.
    for (_, st, paired, _, _) in lean_lat.iter().filter(|r| r.0.contains("(floor)")) {
        let added = added(st, paired);
        println!(
            "The least any process in the middle adds on this machine (minimal blocking proxy, \
             no MCP): {added:.1} µs{}",
            if added > 100.0 {
                " — above the target itself: cross-CPU wake-ups cost more than 100 µs here \
                 (try `taskset -c 0`, see BENCHMARKS.md)"
            } else {
                ""
            }
        );
    }
    0
}
