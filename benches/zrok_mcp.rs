//! MCP over zrok benchmark (not a test): session setup and `tools/call` latency through a local
//! zrok private share, our `mcp-bridge` / `mcp-tools` versus the Go original (openziti/mcp-gateway
//! v0.1.3), and the cross combinations.
//!
//! Run: `scripts/testnet up DIR; MCPZ_TESTNET_ENV=DIR/testnet.env cargo bench --bench zrok_mcp`.
//! Knobs: `BENCH_SESSIONS` (sessions opened per combination, default 8), `BENCH_CALLS` (timed
//! calls per combination, default 300), `BENCH_ROUNDS` (the calls are split over this many
//! sessions, alternating ours and Go, default 5), `BENCH_WARMUP` (per session, default 30).
//!
//! Chain: rmcp client (this process) → stdio → `mcp-tools run TOKEN` (bob) → zrok private access →
//! OpenZiti router → `mcp-bridge` (alice, ephemeral share) → stdio → `mcp-filesystem DIR` (ours,
//! for both bridges). Tool: `list_directory` on a directory with 3 entries.
//!
//! Every loop is bounded; bridges get SIGTERM (then SIGKILL) and delete their shares; sessions
//! are closed, which ends their `mcp-tools`. Method and results: BENCHMARKS.md ("MCP over zrok").

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use rmcp::model::CallToolRequestParams;
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::TokioChildProcess;
use rmcp::ServiceExt;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::time::timeout;

type Client = RunningService<RoleClient, ()>;

const SETUP: Duration = Duration::from_secs(60);
const CALL: Duration = Duration::from_secs(20);

#[path = "support/procstat.rs"]
mod procstat;
#[path = "support/testnet.rs"]
mod testnet;
use testnet::{env_num, load_env};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if !args.iter().any(|a| a == "--bench") && std::env::var_os("BENCH_FORCE").is_none() {
        eprintln!("zrok_mcp bench: run with `cargo bench --bench zrok_mcp`");
        return;
    }
    let Some(env) = load_env() else {
        println!("zrok_mcp bench needs a local OpenZiti/zrok network:");
        println!("  scripts/testnet up DIR; MCPZ_TESTNET_ENV=DIR/testnet.env cargo bench --bench zrok_mcp; scripts/testnet down DIR");
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let code = rt.block_on(run(env));
    rt.shutdown_timeout(Duration::from_secs(5));
    std::process::exit(code);
}

fn pct(v: &[f64], p: f64) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let i = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[i.clamp(1, v.len()) - 1]
}

/// Extract the value of `"share_token": "…"` from a line (ours: one JSON line; Go: pretty-printed).
fn token_in(line: &str) -> Option<String> {
    let i = line.find("\"share_token\"")?;
    let rest = &line[i + "\"share_token\"".len()..];
    let rest = rest
        .trim_start()
        .strip_prefix(':')?
        .trim_start()
        .strip_prefix('"')?;
    Some(rest[..rest.find('"')?].to_string())
}

struct Bridge {
    child: Child,
    token: String,
}

async fn start_bridge(argv: &[String], home: &str, log: &Path) -> Bridge {
    let mut child = Command::new(&argv[0])
        .args(&argv[1..])
        .env("HOME", home)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log).expect("log file"))
        .kill_on_drop(true)
        .spawn()
        .expect("spawn bridge");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let token = timeout(SETUP, async {
        while let Ok(Some(l)) = lines.next_line().await {
            if let Some(t) = token_in(&l) {
                return t;
            }
        }
        panic!("bridge exited without a share token; see {}", log.display())
    })
    .await
    .expect("bridge share token in time");
    // Keep draining stdout so the bridge never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Bridge { child, token }
}

async fn stop_bridge(mut b: Bridge) {
    if let Some(pid) = b.child.id() {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
    }
    if timeout(Duration::from_secs(15), b.child.wait())
        .await
        .is_err()
    {
        let _ = b.child.start_kill();
        let _ = b.child.wait().await;
    }
}

async fn open(tools: &str, token: &str, home: &str) -> Client {
    let mut cmd = Command::new(tools);
    cmd.arg("run").arg(token).env("HOME", home);
    let t = TokioChildProcess::builder(cmd)
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn mcp-tools")
        .0;
    timeout(SETUP, ().serve(t))
        .await
        .expect("initialize in time")
        .expect("initialize")
}

async fn try_open(tools: &str, token: &str, home: &str) -> Option<Client> {
    let mut cmd = Command::new(tools);
    cmd.arg("run").arg(token).env("HOME", home);
    let t = TokioChildProcess::builder(cmd)
        .stderr(Stdio::null())
        .spawn()
        .ok()?
        .0;
    timeout(SETUP, ().serve(t)).await.ok()?.ok()
}

async fn call(c: &Client, dir: &str) -> Duration {
    let args = serde_json::json!({ "path": dir });
    let t = Instant::now();
    let r = timeout(
        CALL,
        c.call_tool(
            CallToolRequestParams::new("list_directory")
                .with_arguments(args.as_object().unwrap().clone()),
        ),
    )
    .await
    .expect("call in time")
    .expect("call ok");
    let el = t.elapsed();
    assert!(r.is_error != Some(true), "tool error: {r:?}");
    el
}

async fn close(c: Client) {
    let _ = timeout(Duration::from_secs(10), c.cancel()).await;
}

struct Res {
    label: String,
    setup_ms: Vec<f64>,
    first_ms: Vec<f64>,
    call_us: Vec<f64>,
    /// CPU µs per timed call: bench client, mcp-tools, bridge, backend (mcp-filesystem), router.
    cpu: Vec<f64>,
}

/// Processes on the call path, in `Res::cpu` order after the client: the `mcp-tools` running
/// `tools`, the bridge `bridge`, the backend `fs` under it, and the OpenZiti router.
fn cpu_groups(tools: &str, bridge: &[String], fs: &str) -> Vec<Vec<u32>> {
    let tools_cmd = format!("{tools} run ");
    let bridge_cmd = format!("{} ", bridge[0]);
    vec![
        procstat::pids_matching(|c| c.starts_with(&tools_cmd)),
        procstat::pids_matching(|c| c.starts_with(&bridge_cmd)),
        procstat::pids_matching(|c| c.starts_with(fs)),
        procstat::pids_matching(|c| c.contains("ziti router run")),
    ]
}

fn print_row(r: &Res) {
    let cpu = if r.cpu.is_empty() {
        "–".to_string()
    } else {
        r.cpu
            .iter()
            .map(|c| format!("{c:.0}"))
            .collect::<Vec<_>>()
            .join(" / ")
    };
    println!(
        "| {} | {} | {:.1} | {:.1} | {:.1} | {} | {:.0} | {:.0} | {:.0} | {cpu} |",
        r.label,
        r.setup_ms.len(),
        pct(&r.setup_ms, 50.0),
        pct(&r.setup_ms, 90.0),
        pct(&r.first_ms, 50.0),
        r.call_us.len(),
        pct(&r.call_us, 50.0),
        pct(&r.call_us, 90.0),
        pct(&r.call_us, 99.0),
    );
}

async fn run(env: HashMap<String, String>) -> i32 {
    let g = |k: &str| {
        env.get(k)
            .cloned()
            .unwrap_or_else(|| panic!("testnet.env has no {k}"))
    };
    let sessions = env_num("BENCH_SESSIONS", 8) as usize;
    let calls = env_num("BENCH_CALLS", 300) as usize;
    let warm = env_num("BENCH_WARMUP", 30) as usize;
    let rounds = (env_num("BENCH_ROUNDS", 5) as usize).clamp(1, calls.max(1));
    let (alice, bob) = (g("ZROK_HOME_ALICE"), g("ZROK_HOME_BOB"));
    let work = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bench-zrok-mcp");
    let _ = std::fs::remove_dir_all(&work);
    let data = work.join("data");
    std::fs::create_dir_all(data.join("sub")).unwrap();
    std::fs::write(data.join("a.txt"), "hello\n").unwrap();
    std::fs::write(data.join("b.txt"), "over zrok\n").unwrap();
    let data_s = data.to_string_lossy().to_string();

    let fs = env!("CARGO_BIN_EXE_mcp-filesystem").to_string();
    // Our shares are closed: bob's account is granted.
    let bob_email = g("ZROK_BOB_EMAIL");
    let ours_bridge = vec![
        env!("CARGO_BIN_EXE_mcp-bridge").to_string(),
        "--access-grant".into(),
        bob_email,
        "--".into(),
        fs.clone(),
        data_s.clone(),
    ];
    let ours_tools = env!("CARGO_BIN_EXE_mcp-tools").to_string();
    let go_dir = env
        .get("GO_MCP_GATEWAY_BIN_DIR")
        .cloned()
        .unwrap_or_default();
    let have_go = !go_dir.is_empty() && Path::new(&go_dir).join("mcp-bridge").exists();
    if !have_go {
        eprintln!("GO_MCP_GATEWAY_BIN_DIR is empty: measuring ours only");
    }
    let go_bridge = vec![format!("{go_dir}/mcp-bridge"), fs.clone(), data_s.clone()];
    let go_tools = format!("{go_dir}/mcp-tools");

    let mut bridges: Vec<(&str, Vec<String>)> = vec![("ours", ours_bridge)];
    let mut toolses: Vec<(&str, String)> = vec![("ours", ours_tools)];
    if have_go {
        bridges.push(("Go", go_bridge));
        toolses.push(("Go", go_tools));
    }
    let mut results = vec![];
    for (bn, bargv) in &bridges {
        let b = start_bridge(bargv, &alice, &work.join(format!("bridge-{bn}.log"))).await;
        eprintln!("{bn} bridge: share {}", b.token);
        // Interleave the tools implementations session by session.
        let mut per: Vec<Res> = toolses
            .iter()
            .map(|(tn, _)| Res {
                label: format!("{bn} bridge ← {tn} mcp-tools"),
                setup_ms: vec![],
                first_ms: vec![],
                call_us: vec![],
                cpu: vec![],
            })
            .collect();
        // One unmeasured session per tools to warm the share's terminator and caches.
        // The Go bridge prints its token before its terminator is bound: retry (bounded).
        for (_, tools) in &toolses {
            let mut tries = 0;
            loop {
                tries += 1;
                match try_open(tools, &b.token, &bob).await {
                    Some(c) => {
                        call(&c, &data_s).await;
                        close(c).await;
                        break;
                    }
                    None if tries < 30 => tokio::time::sleep(Duration::from_millis(500)).await,
                    None => panic!("could not open a session on share {}", b.token),
                }
            }
        }
        for _ in 0..sessions {
            for (i, (_, tools)) in toolses.iter().enumerate() {
                let t = Instant::now();
                let c = open(tools, &b.token, &bob).await;
                per[i].setup_ms.push(t.elapsed().as_secs_f64() * 1e3);
                per[i]
                    .first_ms
                    .push(call(&c, &data_s).await.as_secs_f64() * 1e3);
                close(c).await;
            }
        }
        // Call latency: `rounds` rounds; in each, one session per tools implementation in turn
        // (never two of bob's at once, see BENCHMARKS.md), `calls / rounds` timed calls each, so
        // that a slow spell of this shared machine hits both implementations alike.
        let mut cpu_ns: Vec<Vec<u64>> = vec![vec![0; 5]; toolses.len()];
        for _ in 0..rounds {
            for (i, (_, tools)) in toolses.iter().enumerate() {
                let c = open(tools, &b.token, &bob).await;
                for _ in 0..warm {
                    call(&c, &data_s).await;
                }
                // CPU of each process on the path (see `Res::cpu`).
                let groups = cpu_groups(tools, bargv, &fs);
                let before: Vec<u64> = groups.iter().map(|g| procstat::cpu_sum(g)).collect();
                let me0 = procstat::cpu_ns(std::process::id());
                for _ in 0..calls / rounds {
                    per[i]
                        .call_us
                        .push(call(&c, &data_s).await.as_secs_f64() * 1e6);
                }
                cpu_ns[i][0] += procstat::cpu_ns(std::process::id()).saturating_sub(me0);
                for (k, (g, b0)) in groups.iter().zip(&before).enumerate() {
                    cpu_ns[i][k + 1] += procstat::cpu_sum(g).saturating_sub(*b0);
                }
                close(c).await;
            }
        }
        for (i, r) in per.iter_mut().enumerate() {
            let n = r.call_us.len().max(1) as f64;
            r.cpu = cpu_ns[i].iter().map(|ns| *ns as f64 / 1e3 / n).collect();
        }
        stop_bridge(b).await;
        for r in &per {
            print_row(r);
        }
        results.extend(per);
    }

    println!();
    println!("| bridge ← tools | sessions | setup p50 (ms) | setup p90 | first call p50 (ms) | calls | call p50 (µs) | call p90 | call p99 | CPU µs/call: client / tools / bridge / backend / router |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    for r in &results {
        print_row(r);
    }
    0
}
