//! What the audit log and the metrics cost per `tools/call` on the fast path (target: at most
//! 5 µs). Not a test.
//!
//! Two measurements (method and results: BENCHMARKS.md, "Audit log and metrics"):
//! 1. *record path*, in-process: the observer's work for one fast-path call (the detail taken
//!    when the call starts, the metrics and the audit line when it ends; `ops::bench`), timed in
//!    batches of 2000 calls, each ended by the hand-off of its lines to the writer thread and
//!    waited for until written (the writer thread's own CPU is measured separately, from /proc).
//! 2. *whole gateway*, paired: two `mcp-gateway` processes with the same stdio echo backend,
//!    one with `metrics:`, `audit:` or both, one without; one lean raw-HTTP client session on
//!    each, calls alternating between them; latency and each gateway's CPU per call.
//!
//! Run: `cargo bench --bench observe`. Knobs: `BENCH_CALLS` (gateway calls per side, default
//! 20000), `BENCH_WARMUP` (default 1000), `BENCH_RECORDS` (record-path calls per variant,
//! default 200000), `BENCH_ONLY=record|gateway`. Everything is on loopback; every wait is
//! bounded; both gateways and their backends are stopped at the end.

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
#[path = "support/procstat.rs"]
mod procstat;
#[allow(dead_code)]
#[path = "support/testnet.rs"]
mod testnet;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mcpz::core::ops::bench::RecordBench;
use mcpz::core::wire::frame::CallParams;
use procstat::cpu_ns;
use testnet::env_num;

use tokio::process::Child;

const SETUP: Duration = Duration::from_secs(30);
const CALL: Duration = Duration::from_secs(10);
/// Record-path calls timed at once, then handed to the audit writer (as the gateway's 100 ms
/// tick does) and waited for.
const BATCH: usize = 2000;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--echo-stdio") {
        return echo::run_stdio();
    }
    if !args.iter().any(|a| a == "--bench") && std::env::var_os("BENCH_FORCE").is_none() {
        eprintln!("observe bench: run with `cargo bench --bench observe`");
        return;
    }
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bench-observe");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("tmp dir");
    if only.is_empty() || only == "record" {
        record_path(&dir, env_num("BENCH_RECORDS", 200_000) as usize);
    }
    if only.is_empty() || only == "gateway" {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(whole_gateway(&dir));
    }
}

// ---------------------------------------------------------------------------------------------
// 1. The record path

/// Time `n` observed calls of `b` in batches; between batches wait (bounded) until the audit
/// file has every line. Returns ns per call (mean; p50 and p90 of the batch means) and the
/// audit writer thread's CPU ns per call.
fn time_records(b: &RecordBench, p: &CallParams<'_>, n: usize, file: Option<&Path>) -> [f64; 4] {
    let me = std::process::id();
    let writer_cpu = || thread_cpu_ns(me, "mcpz-audit");
    let took = Duration::from_micros(420);
    let mut batches = Vec::new();
    let mut line_len = 0u64;
    let (w0, mut done) = (writer_cpu(), 0usize);
    while done < n {
        let k = BATCH.min(n - done);
        let t = Instant::now();
        for _ in 0..k {
            b.call(p, took);
        }
        // What the gateway's 100 ms tick does, counted in.
        b.flush();
        batches.push(t.elapsed().as_nanos() as f64 / k as f64);
        done += k;
        if let Some(f) = file {
            if line_len == 0 {
                wait_until(|| file_len(f) > 0);
                let text = std::fs::read_to_string(f).unwrap_or_default();
                line_len = text.lines().next().map_or(1, |l| l.len() as u64 + 1);
            }
            let want = line_len * done as u64;
            wait_until(|| file_len(f) >= want);
        }
    }
    assert_eq!(b.dropped(), 0, "the audit writer dropped lines");
    let mean = batches.iter().sum::<f64>() / batches.len() as f64;
    batches.sort_by(f64::total_cmp);
    let pick = |q: f64| batches[((batches.len() - 1) as f64 * q).round() as usize];
    let writer = (writer_cpu() - w0) as f64 / n as f64;
    [mean, pick(0.5), pick(0.9), writer]
}

fn file_len(f: &Path) -> u64 {
    std::fs::metadata(f).map_or(0, |m| m.len())
}

/// Poll `cond` (1 ms apart) for at most 30 s.
fn wait_until(cond: impl Fn() -> bool) {
    let deadline = Instant::now() + SETUP;
    while !cond() {
        assert!(Instant::now() < deadline, "audit writer did not catch up");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// CPU ns of this process's threads named `name` (`/proc/PID/task/*/comm`).
fn thread_cpu_ns(pid: u32, name: &str) -> u64 {
    let Ok(rd) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    rd.flatten()
        .filter(|e| std::fs::read_to_string(e.path().join("comm")).is_ok_and(|c| c.trim() == name))
        .filter_map(|e| std::fs::read_to_string(e.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

fn record_path(dir: &Path, n: usize) {
    let raw = serde_json::value::RawValue::from_string(
        r#"{"name":"b_echo","arguments":{"text":"hello, gateway"}}"#.to_string(),
    )
    .unwrap();
    let p = CallParams::parse(&raw).expect("params");
    let variants: [(&str, bool, bool, bool); 5] = [
        ("neither (an observer with nothing on)", false, false, false),
        ("metrics", false, false, true),
        ("audit log", true, false, false),
        ("audit log + metrics", true, false, true),
        ("audit log (arguments: true) + metrics", true, true, true),
    ];
    eprintln!("record path: {n} calls per variant, in batches of {BATCH}");
    println!("\n### Record path: the observer's work per fast-path call (ns)\n");
    println!("| configured | calls | mean | p50 of batches | p90 of batches | audit writer thread CPU/call |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (i, (name, audit, arguments, metrics)) in variants.into_iter().enumerate() {
        let file = dir.join(format!("record-{i}.jsonl"));
        let r = {
            let b = RecordBench::new(audit.then_some(file.as_path()), arguments, metrics);
            // Warm up (allocator, first lines, the writer thread).
            time_records(&b, &p, BATCH, audit.then_some(file.as_path()));
            let _ = std::fs::remove_file(&file);
            let b = RecordBench::new(audit.then_some(file.as_path()), arguments, metrics);
            let r = time_records(&b, &p, n, audit.then_some(file.as_path()));
            if metrics {
                assert!(b.render().contains(&format!("path=\"fast\"}} {n}")));
            }
            r
        };
        println!(
            "| {name} | {n} | {:.0} | {:.0} | {:.0} | {:.0} |",
            r[0], r[1], r[2], r[3]
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 2. The whole gateway, paired

struct Gateway {
    child: Child,
    url: String,
    pid: u32,
}

impl Gateway {
    async fn start(dir: &Path, name: &str, extra: &str) -> Gateway {
        let cfg = gateway::echo_config(&dir.join(format!("{name}.yml")), extra);
        let g = gateway::start(&cfg, &dir.join(format!("{name}.stderr")), SETUP).await;
        let (child, v) = (g.child, g.line);
        let pid = child.id().expect("pid");
        Gateway {
            child,
            url: v["mcp_url"].as_str().expect("mcp_url").to_string(),
            pid,
        }
    }

    async fn stop(mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.pid as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        if tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

/// Nearest-rank percentiles and mean, µs.
fn stats(mut v: Vec<Duration>) -> [f64; 4] {
    v.sort_unstable();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let q = |p: f64| us(v[((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1]);
    let mean = v.iter().map(|d| us(*d)).sum::<f64>() / v.len() as f64;
    [q(0.5), q(0.9), q(0.99), mean]
}

/// One paired run: a gateway without and one with `extra` config, calls alternating. Returns
/// the latency stats and gateway CPU µs per call of each side, and the audit lines written.
async fn pair(dir: &Path, n: u64, warmup: u64, extra: &str, audit: Option<&Path>) -> Pair {
    let off = Gateway::start(dir, "off", "").await;
    let on = Gateway::start(dir, "on", extra).await;
    let mut c_off = lean::LeanRawHttp::connect(&off.url, true).await;
    let mut c_on = lean::LeanRawHttp::connect(&on.url, true).await;
    for _ in 0..warmup {
        c_off.call("b_echo").await;
        c_on.call("b_echo").await;
    }
    let (mut v_off, mut v_on) = (Vec::new(), Vec::new());
    let (cpu_off, cpu_on) = (cpu_ns(off.pid), cpu_ns(on.pid));
    for i in 0..n {
        // Alternate which side goes first, so neither always follows the other.
        for side in [i % 2 == 0, i % 2 == 1] {
            let (c, v) = match side {
                true => (&mut c_off, &mut v_off),
                false => (&mut c_on, &mut v_on),
            };
            let t = Instant::now();
            tokio::time::timeout(CALL, c.call("b_echo"))
                .await
                .expect("call in time");
            v.push(t.elapsed());
        }
    }
    let per = |a: u64, b: u64| b.saturating_sub(a) as f64 / 1e3 / n as f64;
    let cpu = [per(cpu_off, cpu_ns(off.pid)), per(cpu_on, cpu_ns(on.pid))];
    drop((c_off, c_on));
    // Every call was audited (the writer may still be writing the last ones).
    let want = (n + warmup) as usize;
    let deadline = Instant::now() + SETUP;
    let mut lines = 0;
    while let Some(f) = audit.filter(|_| Instant::now() < deadline) {
        lines = std::fs::read_to_string(f).map_or(0, |t| t.lines().count());
        if lines >= want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    off.stop().await;
    on.stop().await;
    Pair {
        stats: [stats(v_off), stats(v_on)],
        cpu,
        lines,
        want,
    }
}

struct Pair {
    stats: [[f64; 4]; 2],
    cpu: [f64; 2],
    lines: usize,
    want: usize,
}

async fn whole_gateway(dir: &Path) {
    let n = env_num("BENCH_CALLS", 20_000);
    let warmup = env_num("BENCH_WARMUP", 1000);
    eprintln!("whole gateway: {n} calls per side after {warmup} warm-up, alternating");
    let metrics = "metrics:\n  listen: \"127.0.0.1:0\"\n";
    println!("\n### Whole gateway, paired (µs; lean raw-HTTP client → gateway `/mcp` → stdio echo backend, fast path)\n");
    println!("Each variant is timed against its own gateway without audit log and metrics, calls alternating.\n");
    println!("| gateway | calls | p50 | p90 | p99 | mean | gateway CPU/call |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (i, (name, audit, with_metrics)) in [
        (
            "neither (A/A control: the noise between two equal gateways)",
            false,
            false,
        ),
        ("metrics", false, true),
        ("audit log", true, false),
        ("audit log + metrics", true, true),
    ]
    .into_iter()
    .enumerate()
    {
        let file = dir.join(format!("gateway-audit-{i}.jsonl"));
        let mut extra = String::new();
        if audit {
            extra = format!(
                "audit:\n  file: {}\n  rotation: never\n",
                serde_json::to_string(&file.to_string_lossy()).unwrap()
            );
        }
        if with_metrics {
            extra.push_str(metrics);
        }
        eprintln!("whole gateway: {name}");
        let p = pair(dir, n, warmup, &extra, audit.then_some(file.as_path())).await;
        let rows = [("its pair, without", 0), (name, 1)];
        for (label, k) in rows {
            let s = p.stats[k];
            println!(
                "| {label} | {n} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} |",
                s[0], s[1], s[2], s[3], p.cpu[k]
            );
        }
        let [a, b] = p.stats;
        println!(
            "| difference | | {:+.1} | {:+.1} | {:+.1} | {:+.1} | {:+.1} |",
            b[0] - a[0],
            b[1] - a[1],
            b[2] - a[2],
            b[3] - a[3],
            p.cpu[1] - p.cpu[0]
        );
        if audit {
            assert_eq!(p.lines, p.want, "audit lines written");
        }
    }
}
