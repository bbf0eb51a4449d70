//! Interop with the Go SDK through zrok2 (both directions, end-to-end encrypted services):
//! 1. Go hosts (`zrok2 share private -b tcpTunnel`), our client dials the share's Ziti service with bob's identity;
//! 2. our client hosts the share's service with alice's identity, Go dials it (`zrok2 access private`).
//!
//! `#[ignore]`d in a plain `cargo test`; `scripts/test-network` runs it with `--include-ignored` and
//! `MCPZ_TESTNET_ENV` pointing at a `scripts/testnet up` env file. Without that variable it fails.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use mcpz::core::ziti::{Context, ListenOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};
use tokio::time::{timeout, Instant};

/// The testnet of `MCPZ_TESTNET_ENV`; panics when it is unset or unreadable.
fn env_file() -> HashMap<String, String> {
    let Some(p) = std::env::var_os("MCPZ_TESTNET_ENV").filter(|p| !p.is_empty()) else {
        panic!(
            "ziti_zrok_interop needs the real network, and MCPZ_TESTNET_ENV is not set: run scripts/test-network \
             (or scripts/testnet up DIR; MCPZ_TESTNET_ENV=DIR/testnet.env cargo test -- --include-ignored)"
        );
    };
    let p = PathBuf::from(p);
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

struct Zrok {
    bin: String,
    api: String,
}

impl Zrok {
    fn cmd(&self, home: &str, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.args(args)
            .env("HOME", home)
            .env("ZROK2_API_ENDPOINT", &self.api)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        c
    }
}

async fn echo_server() -> (u16, tokio::task::JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let h = tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = s.into_split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
                let _ = w.shutdown().await;
            });
        }
    });
    (port, h)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn payload(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 13 % 251) as u8).collect()
}

/// Write everything and read the same number of bytes back, then close. zrok's tcpTunnel proxies close both
/// directions at the first EOF, so half-closing before the echo is complete would cut it short.
async fn round_trip<S>(s: S, data: &[u8]) -> std::io::Result<Vec<u8>>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite,
{
    let (mut r, mut w) = tokio::io::split(s);
    let wr = async {
        w.write_all(data).await?;
        w.flush().await
    };
    let mut back = vec![0u8; data.len()];
    let rd = r.read_exact(&mut back);
    let (wres, rres) = tokio::join!(wr, rd);
    wres?;
    rres?;
    let _ = w.shutdown().await;
    Ok(back)
}

fn kill(c: &mut Child) {
    let _ = c.start_kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real network: scripts/test-network"]
async fn ziti_zrok_interop_go_sdk_both_ways() {
    let env = env_file();
    let g = |k: &str| {
        env.get(k)
            .cloned()
            .unwrap_or_else(|| panic!("testnet.env has no {k}"))
    };
    let zrok = Zrok {
        bin: g("ZROK2_BIN"),
        api: g("ZROK_API_ENDPOINT"),
    };
    let (alice, bob) = (g("ZROK_HOME_ALICE"), g("ZROK_HOME_BOB"));
    let name = format!("mcpz-ix-{}", std::process::id());
    let st = zrok
        .cmd(
            &alice,
            &["create", "share", "-s", &name, "-b", "tcpTunnel", "--open"],
        )
        .status()
        .await
        .unwrap();
    assert!(st.success(), "zrok2 create share failed");

    // 1. Go SDK hosts, we dial (bob's identity; `zrok2 access private` grants bob's environment dial access).
    let (echo_port, _echo) = echo_server().await;
    let mut share = zrok
        .cmd(
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
        .unwrap();
    let access_port = free_port();
    let mut access = zrok
        .cmd(
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
        .unwrap();
    let bob_ctx = Context::from_file(format!("{bob}/.zrok2/identities/environment.json")).unwrap();
    let data = payload(1 << 20);
    let t0 = Instant::now();
    loop {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "could not dial the Go-hosted share"
        );
        if let Ok(Ok(s)) = timeout(Duration::from_secs(10), bob_ctx.dial(&name)).await {
            assert!(s.info().encrypted, "zrok services require encryption");
            if let Ok(Ok(back)) = timeout(Duration::from_secs(60), round_trip(s, &data)).await {
                let first = back.iter().zip(&data).position(|(a, b)| a != b);
                assert!(
                    back == data,
                    "Go-hosted echo returned different bytes: got {} want {}, first difference at {first:?}",
                    back.len(),
                    data.len()
                );
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    eprintln!("ok: rust dial -> go host (zrok2 share private), 1 MiB, e2e encrypted");
    kill(&mut share);
    let _ = share.wait().await;

    // 2. We host with alice's identity, the Go SDK dials through bob's access frontend.
    let alice_ctx =
        Context::from_file(format!("{alice}/.zrok2/identities/environment.json")).unwrap();
    let mut l = alice_ctx
        .listen(&name, ListenOptions::default())
        .await
        .expect("rust bind of zrok share");
    let host = tokio::spawn(async move {
        while let Ok(s) = l.accept().await {
            assert!(s.info().encrypted);
            tokio::spawn(async move {
                let (mut r, mut w) = tokio::io::split(s);
                let _ = tokio::io::copy(&mut r, &mut w).await;
                let _ = w.shutdown().await;
                let mut rest = Vec::new();
                let _ = r.read_to_end(&mut rest).await;
            });
        }
    });
    let t0 = Instant::now();
    loop {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "Go dialer never reached the Rust host"
        );
        if let Ok(Ok(tcp)) = timeout(
            Duration::from_secs(5),
            TcpStream::connect(("127.0.0.1", access_port)),
        )
        .await
        {
            if let Ok(Ok(back)) = timeout(Duration::from_secs(60), round_trip(tcp, &data)).await {
                if back == data {
                    break;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    eprintln!("ok: go dial (zrok2 access private) -> rust host, 1 MiB, e2e encrypted");
    host.abort();
    kill(&mut access);
    let _ = access.wait().await;
    let _ = zrok.cmd(&alice, &["delete", "share", &name]).status().await;
}
