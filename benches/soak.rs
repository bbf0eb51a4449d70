//! Soak and memory per session (issue 15, BENCHMARKS.md "Soak and memory per session").
//!
//! One `mcp-gateway run --listen 127.0.0.1:0` (the default config but for its one backend: the
//! echo server of benches/support as a stdio backend, one process per session) on loopback, and
//! hand-written streamable-HTTP clients (benches/support/lean.rs: one keep-alive connection per
//! session, `initialize`, `tools/list`, `tools/call`, `DELETE`):
//!
//! - idle: the gateway's RSS with 0, 100 and SOAK_SESSIONS (1000) sessions held open after
//!   `tools/list` (its own process only: the backends are not counted);
//! - soak: SOAK_ROUNDS (3) rounds of SOAK_SESSIONS concurrent sessions × SOAK_CALLS (100) calls;
//!   per round the errors (a failed request panics its client task; those are counted), the time,
//!   calls per second, and after every session ended: the gateway's RSS and file descriptors and
//!   the backend processes still alive (bounded wait for them to go).
//!
//! - over zrok (with `MCPZ_TESTNET_ENV`, see docs/testnet.md): our gateway and the Go original's,
//!   each on a share of the local network with the same backend, and SOAK_REMOTE_SESSIONS (100)
//!   sessions opened through `mcp-tools http` (one remote session per local one): each gateway's
//!   RSS before and with them.
//!
//! Exit status 1 when a round had errors or left a backend or a file descriptor behind.
//! `cargo bench --bench soak`; knobs SOAK_SESSIONS, SOAK_CALLS, SOAK_ROUNDS, SOAK_GATEWAY (a gateway
//! binary to measure instead of the bench build's).

#[allow(dead_code)]
#[path = "support/echo.rs"]
mod echo;
#[allow(dead_code)]
#[path = "support/gateway.rs"]
mod gateway;
#[allow(dead_code)]
#[path = "support/lean.rs"]
mod lean;
#[allow(dead_code)]
#[path = "support/testnet.rs"]
mod testnet;

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A knob from the environment (benches/support/testnet.rs).
fn env_num(name: &str, default: usize) -> usize {
    testnet::env_num(name, default as u64) as usize
}

const SETUP: Duration = Duration::from_secs(60);

fn self_exe() -> PathBuf {
    std::env::current_exe().expect("current exe")
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--echo-stdio") {
        return echo::run_stdio();
    }
    if !args.iter().any(|a| a == "--bench") && std::env::var_os("BENCH_FORCE").is_none() {
        eprintln!("soak bench: run with `cargo bench --bench soak`");
        return;
    }
    // A failed request panics its client task (counted as an error): print the first few only.
    let shown = std::sync::atomic::AtomicUsize::new(0);
    std::panic::set_hook(Box::new(move |info| {
        if shown.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < 3 {
            eprintln!("soak client error: {info}");
        }
    }));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let code = rt.block_on(run());
    rt.shutdown_timeout(Duration::from_secs(5));
    std::process::exit(code);
}

/// `VmRSS` of `pid` in KiB.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// Echo backends (this binary with `--echo-stdio`) alive.
fn backends() -> usize {
    let exe = self_exe().to_string_lossy().into_owned();
    let me = std::process::id();
    std::fs::read_dir("/proc")
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
                .filter(|&pid| pid != me)
                .filter(|pid| {
                    std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| {
                        let s = String::from_utf8_lossy(&c);
                        s.starts_with(&exe) && s.contains("--echo-stdio")
                    })
                })
                .count()
        })
        .unwrap_or(0)
}

/// Waits (bounded) until `ok()`; whether it became true.
async fn settle(ok: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + SETUP;
    while !ok() {
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    true
}

/// The gateway's RSS once it stopped falling: the gateway gives the heap back a moment after
/// sessions ended (src/core/heap.rs: at most 2 s after the first of a burst of ends), so this
/// waits until no reading in 1.5 s was lower (at most 15 s).
async fn rss_settled(pid: u32) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut low = rss_kib(pid);
    let mut since = Instant::now();
    while since.elapsed() < Duration::from_millis(1500) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = rss_kib(pid);
        if now < low {
            low = now;
            since = Instant::now();
        }
    }
    low
}

/// The gateway config: one stdio backend `b`, the echo server.
fn config(dir: &std::path::Path) -> PathBuf {
    gateway::echo_config(&dir.join("soak.yml"), "")
}

/// Spawns `argv` (HOME=`home`) and returns it with the first stdout line holding `key`'s string
/// value (ours print one JSON line; the Go gateway pretty-prints its share token among logs).
async fn spawn_reading(
    argv: &[String],
    home: Option<&str>,
    key: &str,
    log: PathBuf,
) -> (Child, String) {
    let mut cmd = Command::new(&argv[0]);
    if let Some(home) = home {
        cmd.env("HOME", home);
    }
    let mut child = cmd
        .args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).expect("log"))
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {}: {e}", argv[0]));
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let quoted = format!("\"{key}\"");
    let value = tokio::time::timeout(SETUP, async {
        while let Ok(Some(l)) = lines.next_line().await {
            if let Some(i) = l.find(&quoted) {
                let rest = l[i + quoted.len()..]
                    .trim_start()
                    .trim_start_matches(':')
                    .trim_start();
                if let Some(v) = rest
                    .strip_prefix('"')
                    .and_then(|r| Some(r[..r.find('"')?].to_string()))
                {
                    return v;
                }
            }
        }
        panic!(
            "{} exited without printing {key}; see {}",
            argv[0],
            log.display()
        )
    })
    .await
    .unwrap_or_else(|_| {
        panic!(
            "{} printed no {key} in time; see {}",
            argv[0],
            log.display()
        )
    });
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, value)
}

async fn stop(mut c: Child) {
    if let Some(pid) = c.id() {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
    }
    if tokio::time::timeout(Duration::from_secs(15), c.wait())
        .await
        .is_err()
    {
        let _ = c.start_kill();
        let _ = c.wait().await;
    }
}

/// RSS (MiB) of each gateway on a zrok share before and with `n` sessions through `mcp-tools
/// http`: (name, before, with n).
async fn remote(
    env: &std::collections::HashMap<String, String>,
    dir: &std::path::Path,
    n: usize,
) -> Vec<(String, f64, f64)> {
    let home = env
        .get("ZROK_HOME_ALICE")
        .expect("testnet.env: ZROK_HOME_ALICE")
        .clone();
    let go = env
        .get("GO_MCP_GATEWAY_BIN_DIR")
        .cloned()
        .unwrap_or_default();
    let cfg = config(dir).to_string_lossy().into_owned();
    let mut gateways = vec![("mcpz".to_string(), gateway_bin())];
    if go.is_empty() {
        eprintln!("GO_MCP_GATEWAY_BIN_DIR is empty: the Go original is not measured");
    } else {
        gateways.push(("Go original v0.1.3".into(), format!("{go}/mcp-gateway")));
    }
    let mut out = Vec::new();
    for (name, bin) in gateways {
        let argv = vec![bin, "run".into(), cfg.clone()];
        let (gw, token) = spawn_reading(
            &argv,
            Some(&home),
            "share_token",
            dir.join("remote-gateway.stderr"),
        )
        .await;
        let pid = gw.id().expect("pid");
        let tools = vec![
            env!("CARGO_BIN_EXE_mcp-tools").to_string(),
            "http".into(),
            token,
            "--bind".into(),
            "127.0.0.1:0".into(),
        ];
        let (local, url) = spawn_reading(
            &tools,
            Some(&home),
            "mcp_url",
            dir.join("remote-tools.stderr"),
        )
        .await;
        // One session first: the share's connection and pools are up.
        let (warm, e) = open(&url, 1).await;
        assert_eq!(e, 0, "{name}: a first session over zrok");
        let before = rss_settled(pid).await as f64 / 1024.0;
        let (held, e) = open(&url, n).await;
        assert_eq!(e, 0, "{name}: {n} sessions over zrok");
        let with = rss_kib(pid) as f64 / 1024.0;
        close(held).await;
        close(warm).await;
        stop(local).await;
        stop(gw).await;
        out.push((name, before, with));
    }
    out
}

/// The gateway measured: this build's, or SOAK_GATEWAY (e.g. target/release/mcp-gateway).
fn gateway_bin() -> String {
    std::env::var("SOAK_GATEWAY").unwrap_or_else(|_| env!("CARGO_BIN_EXE_mcp-gateway").to_string())
}

async fn start_gateway(dir: &std::path::Path) -> (Child, String) {
    let argv = [
        gateway_bin(),
        "run".into(),
        "-q".into(),
        config(dir).to_string_lossy().into_owned(),
        "--listen".into(),
        "127.0.0.1:0".into(),
    ];
    spawn_reading(&argv, None, "mcp_url", dir.join("soak-gateway.stderr")).await
}

/// Opens `n` sessions as clients do (`initialize`, `notifications/initialized`, `tools/list`;
/// at most 64 at a time); those that failed count as errors.
async fn open(url: &str, n: usize) -> (Vec<lean::LeanRawHttp>, usize) {
    let gate = Arc::new(tokio::sync::Semaphore::new(64));
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (url, gate) = (url.to_string(), gate.clone());
            tokio::spawn(async move {
                let _p = gate.acquire().await;
                let mut c = lean::LeanRawHttp::connect(&url, true).await;
                c.list_tools().await;
                c
            })
        })
        .collect();
    let mut out = Vec::with_capacity(n);
    let mut errors = 0;
    for t in tasks {
        match t.await {
            Ok(c) => out.push(c),
            Err(_) => errors += 1,
        }
    }
    (out, errors)
}

/// Ends every session with DELETE; failures count as errors.
async fn close(clients: Vec<lean::LeanRawHttp>) -> usize {
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|c| tokio::spawn(c.delete()))
        .collect();
    let mut errors = 0;
    for t in tasks {
        errors += usize::from(t.await.is_err());
    }
    errors
}

struct Round {
    errors: usize,
    secs: f64,
    rss_held: u64,
    rss_after: u64,
    fds_after: usize,
    backends_after: usize,
}

async fn run() -> i32 {
    let sessions = env_num("SOAK_SESSIONS", 1000);
    let calls = env_num("SOAK_CALLS", 100);
    let rounds = env_num("SOAK_ROUNDS", 3);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bench-soak");
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let (mut gw, url) = start_gateway(&dir).await;
    let pid = gw.id().expect("gateway pid");

    // A first session brings up the connection threads and pools: the baseline is after it.
    let (warm, e) = open(&url, 1).await;
    assert_eq!(e + close(warm).await, 0, "warm-up session");
    settle(|| backends() == 0).await;
    let (rss0, fds0) = (rss_settled(pid).await, fds(pid));

    let mut idle = vec![(0usize, rss0)];
    for n in [100, sessions] {
        let (held, e) = open(&url, n).await;
        assert_eq!(e, 0, "idle sessions");
        idle.push((n, rss_kib(pid)));
        assert_eq!(close(held).await, 0);
        settle(|| backends() == 0).await;
        rss_settled(pid).await;
    }

    let mut results = Vec::new();
    for _ in 0..rounds {
        let t0 = Instant::now();
        let (clients, mut errors) = open(&url, sessions).await;
        let rss_held = rss_kib(pid);
        let tasks: Vec<_> = clients
            .into_iter()
            .map(|mut c| {
                tokio::spawn(async move {
                    for _ in 0..calls {
                        c.call("b_echo").await;
                    }
                    c
                })
            })
            .collect();
        let mut done = Vec::with_capacity(sessions);
        for t in tasks {
            match t.await {
                Ok(c) => done.push(c),
                Err(_) => errors += 1,
            }
        }
        errors += close(done).await;
        let secs = t0.elapsed().as_secs_f64();
        settle(|| backends() == 0 && fds(pid) <= fds0).await;
        results.push(Round {
            errors,
            secs,
            rss_held,
            rss_after: rss_settled(pid).await,
            fds_after: fds(pid),
            backends_after: backends(),
        });
    }
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    let _ = tokio::time::timeout(Duration::from_secs(15), gw.wait()).await;
    let leftover = if settle(|| backends() == 0).await {
        0
    } else {
        backends()
    };

    println!("## soak: {sessions} sessions x {calls} calls, {rounds} rounds (gateway pid {pid})");
    println!();
    println!("idle sessions | gateway RSS (MiB) | per session (KiB)");
    println!("---: | ---: | ---:");
    for (n, kib) in &idle {
        let per = if *n > 0 {
            (*kib as f64 - rss0 as f64) / *n as f64
        } else {
            0.0
        };
        println!("{n} | {:.1} | {per:.1}", *kib as f64 / 1024.0);
    }
    println!();
    println!("round | errors | seconds | calls/s | RSS held (MiB) | RSS after (MiB) | fds after (start {fds0}) | backends left");
    println!("---: | ---: | ---: | ---: | ---: | ---: | ---: | ---:");
    let mut bad = leftover > 0;
    for (i, r) in results.iter().enumerate() {
        println!(
            "{} | {} | {:.1} | {:.0} | {:.1} | {:.1} | {} | {}",
            i + 1,
            r.errors,
            r.secs,
            (sessions * calls) as f64 / r.secs,
            r.rss_held as f64 / 1024.0,
            r.rss_after as f64 / 1024.0,
            r.fds_after,
            r.backends_after
        );
        bad |= r.errors > 0 || r.backends_after > 0 || r.fds_after > fds0;
    }
    println!();
    println!("backends left after the gateway stopped: {leftover}");
    if let Some(env) = testnet::load_env() {
        let n = env_num("SOAK_REMOTE_SESSIONS", 100);
        println!();
        println!(
            "over zrok | gateway RSS before (MiB) | with {n} sessions (MiB) | per session (KiB)"
        );
        println!("--- | ---: | ---: | ---:");
        for (name, before, with) in remote(&env, &dir, n).await {
            println!(
                "{name} | {before:.1} | {with:.1} | {:.1}",
                (with - before) * 1024.0 / n as f64
            );
        }
    }
    i32::from(bad)
}
