//! OpenZiti client benchmark (not a test): throughput and connect latency of our native client
//! (`mcpz::core::ziti`) versus the Go SDK (zrok2 v2 / sdk-golang) through the same edge router.
//!
//! Run: `scripts/testnet up DIR; MCPZ_TESTNET_ENV=DIR/testnet.env cargo bench --bench ziti`.
//! Knobs: `BENCH_MIB` (MiB per throughput run, default 16), `BENCH_RUNS` (throughput runs per path,
//! default 3), `BENCH_DIALS` (connects per path, default 50).
//!
//! Paths (all on loopback, one edge router):
//! - raw services, our client on both ends: host-id hosts `echo` (E2EE) / `echo-plain` with
//!   `ctx.listen`, dial-id dials them;
//! - zrok tcpTunnel share hosted by the Go SDK (`zrok2 share private`, alice) in front of a
//!   loopback TCP echo; dialed (a) by the Go SDK: TCP through `zrok2 access private` (bob), and
//!   (b) by our client with bob's zrok identity. Same host, same router: only the dialer differs.
//!
//! Every loop is bounded; the zrok processes are killed and the share deleted at the end.
//! Method and results: BENCHMARKS.md ("OpenZiti client").

use std::collections::HashMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use mcpz::core::ziti::{Context, ListenOptions};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};
use tokio::time::timeout;

const STEP: Duration = Duration::from_secs(30);

#[path = "support/testnet.rs"]
mod testnet;
use testnet::{env_num, load_env};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if !args.iter().any(|a| a == "--bench") && std::env::var_os("BENCH_FORCE").is_none() {
        eprintln!("ziti bench: run with `cargo bench --bench ziti`");
        return;
    }
    let Some(env) = load_env() else {
        println!("ziti bench needs a local OpenZiti/zrok network:");
        println!("  scripts/testnet up DIR; MCPZ_TESTNET_ENV=DIR/testnet.env cargo bench --bench ziti; scripts/testnet down DIR");
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

fn payload(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 13 % 251) as u8).collect()
}

/// Write `data` and read the same number of bytes back concurrently; returns elapsed time.
async fn round_trip<S: AsyncRead + AsyncWrite>(s: S, data: &[u8]) -> std::io::Result<Duration> {
    let (mut r, mut w) = tokio::io::split(s);
    let t = Instant::now();
    let wr = async {
        for c in data.chunks(64 * 1024) {
            w.write_all(c).await?;
        }
        w.flush().await
    };
    let rd = async {
        let mut buf = vec![0u8; 64 * 1024];
        let mut got = 0usize;
        while got < data.len() {
            let n = r.read(&mut buf).await?;
            if n == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!("eof after {got} of {} bytes", data.len()),
                ));
            }
            if buf[..n] != data[got..got + n] {
                return Err(std::io::Error::other("echo returned different bytes"));
            }
            got += n;
        }
        Ok(())
    };
    let (a, b) = tokio::join!(wr, rd);
    a?;
    b?;
    let el = t.elapsed();
    let _ = w.shutdown().await;
    Ok(el)
}

async fn ping<S: AsyncRead + AsyncWrite + Unpin>(s: &mut S) -> std::io::Result<()> {
    s.write_all(b"x").await?;
    let mut b = [0u8; 1];
    s.read_exact(&mut b).await?;
    Ok(())
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let i = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[i.clamp(1, v.len()) - 1]
}

struct Row {
    path: String,
    mbs: Vec<f64>,
    dial_ms: Vec<f64>,
    first_byte_ms: Vec<f64>,
}

impl Row {
    fn print(&mut self, mib: u64) {
        let mbs = if self.mbs.is_empty() {
            "–".to_string()
        } else {
            let best = self.mbs.iter().cloned().fold(0.0, f64::max);
            let med = pct(&mut self.mbs.clone(), 50.0);
            format!("{med:.1} (best {best:.1})")
        };
        let lat = |v: &mut Vec<f64>| {
            if v.is_empty() {
                "– | –".to_string()
            } else {
                format!("{:.2} | {:.2}", pct(v, 50.0), pct(v, 90.0))
            }
        };
        println!(
            "| {} | {} × {} MiB | {} | {} | {} | {} |",
            self.path,
            self.mbs.len(),
            mib,
            mbs,
            self.dial_ms.len().max(self.first_byte_ms.len()),
            lat(&mut self.dial_ms),
            lat(&mut self.first_byte_ms),
        );
    }
}

async fn echo_tcp() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let _ = s.set_nodelay(true);
            tokio::spawn(async move {
                let (mut r, mut w) = s.into_split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
                let _ = w.shutdown().await;
            });
        }
    });
    port
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Throughput over `runs` fresh connections made by `connect`, plus `dials` connect latencies.
async fn measure<S, F, Fut>(path: &str, mib: u64, runs: u64, dials: u64, connect: F) -> Option<Row>
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = std::io::Result<S>>,
{
    let data = payload((mib as usize) << 20);
    let mut row = Row {
        path: path.to_string(),
        mbs: vec![],
        dial_ms: vec![],
        first_byte_ms: vec![],
    };
    // Warm-up (a connection and 1 MiB), then the timed runs; a failed run is retried (bounded).
    let mut failures = 0;
    let mut i = 0;
    while i <= runs {
        let n = if i == 0 { 1 << 20 } else { data.len() };
        let r = async {
            let s = timeout(STEP, connect())
                .await
                .map_err(std::io::Error::other)??;
            timeout(Duration::from_secs(300), round_trip(s, &data[..n]))
                .await
                .map_err(std::io::Error::other)?
        }
        .await;
        match r {
            Ok(el) => {
                if i > 0 {
                    row.mbs.push(n as f64 / 1e6 / el.as_secs_f64());
                }
                i += 1;
            }
            Err(e) => {
                failures += 1;
                eprintln!("{path}: run {i} failed: {e}");
                if failures >= 5 {
                    eprintln!("{path}: giving up after {failures} failed runs");
                    return None;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
    for _ in 0..dials {
        let t = Instant::now();
        let mut s = timeout(STEP, connect())
            .await
            .expect("connect timeout")
            .expect("connect");
        let d = t.elapsed();
        timeout(STEP, ping(&mut s))
            .await
            .expect("ping timeout")
            .expect("ping");
        row.dial_ms.push(d.as_secs_f64() * 1e3);
        row.first_byte_ms.push(t.elapsed().as_secs_f64() * 1e3);
        let _ = s.shutdown().await;
        drop(s);
    }
    Some(row)
}

async fn run(env: HashMap<String, String>) -> i32 {
    let g = |k: &str| {
        env.get(k)
            .cloned()
            .unwrap_or_else(|| panic!("testnet.env has no {k}"))
    };
    let mib = env_num("BENCH_MIB", 16);
    let runs = env_num("BENCH_RUNS", 3);
    let dials = env_num("BENCH_DIALS", 50);
    let mut rows = vec![];

    // 1. Raw services, our client on both ends.
    let host = Context::from_file(g("ZITI_HOST_IDENTITY")).expect("host identity");
    let dialer = Context::from_file(g("ZITI_DIAL_IDENTITY")).expect("dial identity");
    let t = Instant::now();
    dialer.authenticate().await.expect("authenticate");
    eprintln!(
        "our client: authenticate {:.1} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    let mut hosts = vec![];
    for svc in [g("ZITI_ECHO_PLAIN_SERVICE"), g("ZITI_ECHO_SERVICE")] {
        let mut l = host
            .listen(&svc, ListenOptions::default())
            .await
            .expect("listen");
        hosts.push(tokio::spawn(async move {
            while let Ok(s) = l.accept().await {
                tokio::spawn(async move {
                    let (mut r, mut w) = tokio::io::split(s);
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                    let _ = w.shutdown().await;
                });
            }
        }));
    }
    let t = Instant::now();
    let s = dialer
        .dial(&g("ZITI_ECHO_PLAIN_SERVICE"))
        .await
        .expect("first dial");
    eprintln!(
        "our client: first dial (service + session lookup) {:.1} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    drop(s);
    for (label, svc) in [
        (
            "ours → ours, raw service `echo-plain`",
            g("ZITI_ECHO_PLAIN_SERVICE"),
        ),
        (
            "ours → ours, raw service `echo` (E2EE)",
            g("ZITI_ECHO_SERVICE"),
        ),
    ] {
        let d = &dialer;
        let svc = svc.clone();
        let mut r = measure(label, mib, runs, dials, || {
            let svc = svc.clone();
            async move { d.dial(&svc).await.map_err(std::io::Error::other) }
        })
        .await
        .expect("raw service");
        r.print(mib);
        rows.push(r);
    }
    for h in hosts {
        h.abort();
    }
    drop(host);

    // 2. zrok tcpTunnel share, Go SDK host; Go SDK dialer (access) versus our dialer.
    let zbin = g("ZROK2_BIN");
    let api = g("ZROK_API_ENDPOINT");
    let (alice, bob) = (g("ZROK_HOME_ALICE"), g("ZROK_HOME_BOB"));
    let zrok = |home: &str, args: &[&str]| {
        let mut c = Command::new(&zbin);
        c.args(args)
            .env("HOME", home)
            .env("ZROK2_API_ENDPOINT", &api)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        c
    };
    let name = format!("nbz{}", std::process::id());
    let st = zrok(
        &alice,
        &["create", "share", "-s", &name, "-b", "tcpTunnel", "--open"],
    )
    .status()
    .await
    .unwrap();
    assert!(st.success(), "zrok2 create share");
    let echo_port = echo_tcp().await;
    let mut procs: Vec<Child> = vec![];
    procs.push(
        zrok(
            &alice,
            &[
                "share",
                "private",
                "--headless",
                "--force-local",
                "-s",
                &name,
                &format!("127.0.0.1:{echo_port}"),
            ],
        )
        .spawn()
        .unwrap(),
    );
    let access_port = free_port();
    procs.push(
        zrok(
            &bob,
            &[
                "access",
                "private",
                "--headless",
                "--force-local",
                "--bind",
                &format!("127.0.0.1:{access_port}"),
                &name,
            ],
        )
        .spawn()
        .unwrap(),
    );
    let bob_ctx = Context::from_file(format!("{bob}/.zrok2/identities/environment.json"))
        .expect("bob identity");
    // Wait until both paths carry an echo.
    let t0 = Instant::now();
    loop {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "zrok share/access did not come up"
        );
        let ok_go = async {
            let mut s = TcpStream::connect(("127.0.0.1", access_port)).await?;
            ping(&mut s).await
        };
        if matches!(timeout(Duration::from_secs(5), ok_go).await, Ok(Ok(()))) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // Interleave the two dialers twice so that background load hits both alike.
    for round in 0..2 {
        let r = measure(
            &format!(
                "Go SDK (zrok2 access, TCP) → zrok share (Go host), round {}",
                round + 1
            ),
            mib,
            runs,
            dials,
            || async {
                let s = TcpStream::connect(("127.0.0.1", access_port)).await?;
                s.set_nodelay(true)?;
                Ok(s)
            },
        )
        .await;
        match r {
            Some(mut r) => {
                r.print(mib);
                rows.push(r);
            }
            None => eprintln!("Go path failed in round {}", round + 1),
        }
        let b = &bob_ctx;
        let n = name.clone();
        let r = measure(
            &format!(
                "ours (bob's identity) → zrok share (Go host), round {}",
                round + 1
            ),
            mib,
            runs,
            dials,
            || {
                let n = n.clone();
                async move { b.dial(&n).await.map_err(std::io::Error::other) }
            },
        )
        .await;
        match r {
            Some(mut r) => {
                r.print(mib);
                rows.push(r);
            }
            None => eprintln!("our path failed in round {}", round + 1),
        }
    }
    for p in procs.iter_mut() {
        let _ = p.start_kill();
        let _ = p.wait().await;
    }
    let _ = zrok(&alice, &["delete", "share", &name]).status().await;

    println!();
    println!("| path | runs | MB/s median (best) | dials | connect p50 | connect p90 | connect+1 B echo p50 | p90 |");
    println!("|---|---|---:|---:|---:|---:|---:|---:|");
    for r in rows.iter_mut() {
        r.print(mib);
    }
    0
}
