//! End-to-end tests of the native OpenZiti client against a real loopback network (`scripts/testnet up DIR`).
//!
//! They are `#[ignore]`d in a plain `cargo test`; `scripts/test-network` runs them with `--include-ignored` and
//! `MCPZ_TESTNET_ENV=DIR/testnet.env`. Run without that variable, or with any piece of the network missing, they fail. The router-restart phase runs when `MCPZ_TESTNET_RESTART_ROUTER` names a
//! command, else `scripts/testnet restart-router DIR` is used (a missing script fails the test).

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use mcpz::core::net::{Dialer, Listener};
use mcpz::core::ziti::{Context, ListenOptions, ZitiDialer, ZitiError, ZitiListener, ZitiStream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::timeout;

const STEP: Duration = Duration::from_secs(120);

/// The network tests share services and identities: run them one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

struct Net {
    vars: HashMap<String, String>,
    env_file: PathBuf,
}

impl Net {
    fn get(&self, k: &str) -> String {
        self.vars
            .get(k)
            .cloned()
            .unwrap_or_else(|| panic!("{} has no {k}", self.env_file.display()))
    }
}

/// The testnet of `MCPZ_TESTNET_ENV`; panics when the variable is unset or the file unreadable.
fn testnet(test: &str) -> Net {
    let Some(p) = std::env::var_os("MCPZ_TESTNET_ENV").filter(|p| !p.is_empty()) else {
        panic!(
            "{test} needs the real network, and MCPZ_TESTNET_ENV is not set: run scripts/test-network \
             (or scripts/testnet up DIR; MCPZ_TESTNET_ENV=DIR/testnet.env cargo test -- --include-ignored)"
        );
    };
    let env_file = PathBuf::from(p);
    let text = std::fs::read_to_string(&env_file)
        .unwrap_or_else(|e| panic!("MCPZ_TESTNET_ENV={}: {e}", env_file.display()));
    let vars = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| {
            (
                k.trim().to_string(),
                v.trim().trim_matches('"').trim_matches('\'').to_string(),
            )
        })
        .collect();
    Net { vars, env_file }
}

fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// Serve echo through the `net::Listener` adapter: copy until EOF, then half-close back.
fn spawn_echo(l: ZitiListener) -> tokio::task::JoinHandle<()> {
    let mut l: Box<dyn Listener> = Box::new(l);
    assert!(l.describe().starts_with("ziti service "));
    tokio::spawn(async move {
        while let Ok(acc) = l.accept().await {
            assert!(!acc.remote.is_empty());
            tokio::spawn(async move {
                let (mut r, mut w) = tokio::io::split(acc.conn);
                if tokio::io::copy(&mut r, &mut w).await.is_ok() {
                    let _ = w.shutdown().await;
                }
                // Keep the stream alive until the peer has read everything and closed.
                let mut rest = Vec::new();
                let _ = r.read_to_end(&mut rest).await;
            });
        }
    })
}

fn payload(n: usize, salt: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(salt) ^ (i >> 12) as u8)
        .collect()
}

/// Write `data`, half-close, read everything back; returns what came back.
async fn round_trip(s: ZitiStream, data: Vec<u8>) -> Vec<u8> {
    let (mut r, mut w) = tokio::io::split(s);
    let writer = tokio::spawn(async move {
        w.write_all(&data).await.expect("write");
        w.shutdown().await.expect("shutdown");
        w
    });
    let mut back = Vec::new();
    r.read_to_end(&mut back).await.expect("read back");
    let _w = writer.await.unwrap();
    back
}

/// Time allowed for one round trip of `n` bytes. Unoptimised (debug) builds run the pure-Rust E2EE at about
/// 1 MB/s per push+pull, and an echo round trip costs two of each per byte.
fn allowance(n: usize, encrypted: bool) -> Duration {
    let per_mib = if encrypted && cfg!(debug_assertions) {
        8
    } else {
        1
    };
    STEP + Duration::from_secs((n as u64 >> 20) * per_mib)
}

async fn check_service(dialer: &Context, service: &str, encrypted: bool, sizes: &[usize]) {
    for &n in sizes {
        let what = match n {
            1 => "1 byte".to_string(),
            n => format!("{} MiB", n >> 20),
        };
        let s = timeout(STEP, dialer.dial(service))
            .await
            .unwrap_or_else(|_| panic!("{service}: dial timed out"))
            .unwrap_or_else(|e| panic!("{service}: dial: {e}"));
        assert_eq!(s.info().encrypted, encrypted, "{service}: encryption flag");
        let data = payload(n, n as u8);
        let t0 = std::time::Instant::now();
        let back = timeout(allowance(n, encrypted), round_trip(s, data.clone()))
            .await
            .unwrap_or_else(|_| panic!("{service}: {what} round trip timed out"));
        assert_eq!(back.len(), data.len(), "{service}: {what} length");
        assert!(back == data, "{service}: {what} content differs");
        eprintln!("ok: {service} {what} round trip in {:?}", t0.elapsed());
    }
}

async fn half_close(dialer: &Context, service: &str) {
    let s = dialer.dial(service).await.expect("dial");
    let (mut r, mut w) = tokio::io::split(s);
    w.write_all(b"first").await.unwrap();
    w.shutdown().await.unwrap();
    assert!(
        w.write_all(b"x").await.is_err(),
        "write after shutdown must fail"
    );
    let mut back = Vec::new();
    timeout(STEP, r.read_to_end(&mut back))
        .await
        .expect("EOF after peer half-close")
        .unwrap();
    assert_eq!(back, b"first");
    eprintln!("ok: {service} half-close");
}

async fn concurrent(dialer: &Context, service: &str, n: usize) {
    let mut set = tokio::task::JoinSet::new();
    for i in 0..n {
        let d = dialer.clone();
        let service = service.to_string();
        set.spawn(async move {
            let s = d
                .dial(&service)
                .await
                .unwrap_or_else(|e| panic!("dial {i}: {e}"));
            let data = payload(10_000 + i, i as u8);
            let back = round_trip(s, data.clone()).await;
            assert!(back == data, "connection {i} content differs");
        });
    }
    timeout(STEP, async {
        while let Some(r) = set.join_next().await {
            r.unwrap();
        }
    })
    .await
    .expect("concurrent connections timed out");
    eprintln!("ok: {service} {n} concurrent connections");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real network: scripts/test-network"]
async fn ziti_e2e_echo_plain_encrypted_concurrency() {
    let net = testnet("ziti_e2e_echo_plain_encrypted_concurrency");
    let _serial = SERIAL.lock().await;
    init_tracing();
    let host = Context::from_file(net.get("ZITI_HOST_IDENTITY")).expect("host identity");
    let dialer = Context::from_file(net.get("ZITI_DIAL_IDENTITY")).expect("dial identity");
    let plain = net.get("ZITI_ECHO_PLAIN_SERVICE");
    let enc = net.get("ZITI_ECHO_SERVICE");

    let lp = host
        .listen(&plain, ListenOptions::default())
        .await
        .expect("listen plain");
    let le = host
        .listen(&enc, ListenOptions::default())
        .await
        .expect("listen encrypted");
    let _hp = spawn_echo(lp);
    let _he = spawn_echo(le);

    const SMALL: &[usize] = &[1, 1 << 20];
    const LARGE: &[usize] = &[64 << 20];
    check_service(&dialer, &plain, false, SMALL).await;
    check_service(&dialer, &enc, true, SMALL).await;
    check_service(&dialer, &plain, false, LARGE).await;
    half_close(&dialer, &plain).await;
    half_close(&dialer, &enc).await;
    concurrent(&dialer, &enc, 100).await;

    // Stats for the console: a live connection shows its counters.
    let mut s = dialer.dial(&enc).await.unwrap();
    s.write_all(b"12345").await.unwrap();
    let mut b = [0u8; 5];
    s.read_exact(&mut b).await.unwrap();
    let info = dialer
        .connections()
        .into_iter()
        .find(|c| c.conn_id == s.conn_id())
        .expect("connection listed");
    assert_eq!((info.bytes_out, info.bytes_in), (5, 5));
    assert_eq!(info.service, enc);
    assert!(host
        .connections()
        .iter()
        .any(|c| c.bytes_in >= 5 && c.encrypted));
    drop(s);

    // The net::Dialer / net::Listener adapters.
    let zd = ZitiDialer {
        ctx: dialer.clone(),
        service: plain.clone(),
    };
    let mut c = zd.dial().await.expect("ZitiDialer");
    c.write_all(b"adapter").await.unwrap();
    let mut b = [0u8; 7];
    c.read_exact(&mut b).await.unwrap();
    assert_eq!(&b, b"adapter");
    drop(c);

    // EC-keyed dialer (scripts/testnet always enrolls one).
    let ec = Context::from_file(net.get("ZITI_DIAL_EC_IDENTITY")).expect("ec identity");
    let back = round_trip(ec.dial(&enc).await.expect("ec dial"), b"ec".to_vec()).await;
    assert_eq!(back, b"ec");
    eprintln!("ok: EC identity dial");

    check_service(&dialer, &enc, true, LARGE).await;
}

/// Router restart while hosting: every listener re-binds within 10 s and new dials succeed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real network: scripts/test-network"]
async fn ziti_e2e_router_restart_rebinds() {
    let net = testnet("ziti_e2e_router_restart_rebinds");
    let _serial = SERIAL.lock().await;
    init_tracing();
    let host = Context::from_file(net.get("ZITI_HOST_IDENTITY")).expect("host identity");
    let dialer = Context::from_file(net.get("ZITI_DIAL_IDENTITY")).expect("dial identity");
    let plain = net.get("ZITI_ECHO_PLAIN_SERVICE");
    let enc = net.get("ZITI_ECHO_SERVICE");
    let _hp = spawn_echo(
        host.listen(&plain, ListenOptions::default())
            .await
            .expect("listen plain"),
    );
    let _he = spawn_echo(
        host.listen(&enc, ListenOptions::default())
            .await
            .expect("listen encrypted"),
    );
    for svc in [&plain, &enc] {
        let back = round_trip(
            dialer.dial(svc).await.expect("dial before restart"),
            b"before".to_vec(),
        )
        .await;
        assert_eq!(back, b"before");
    }
    // Router restart while hosting: re-bound within 10 s, new dials succeed.
    let dir = net.env_file.parent().unwrap().to_path_buf();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/testnet");
    let cmd = match std::env::var("MCPZ_TESTNET_RESTART_ROUTER") {
        Ok(c) => vec!["sh".to_string(), "-c".to_string(), c],
        Err(_) => {
            assert!(
                script.exists(),
                "no {} and no MCPZ_TESTNET_RESTART_ROUTER: cannot restart the router",
                script.display()
            );
            vec![
                script.display().to_string(),
                "restart-router".into(),
                dir.display().to_string(),
            ]
        }
    };
    // The clock starts before the restart: router downtime counts against the 10 s.
    let restarted = tokio::time::Instant::now();
    let st = tokio::process::Command::new(&cmd[0])
        .args(&cmd[1..])
        .status()
        .await
        .expect("restart router");
    assert!(st.success(), "router restart command failed: {st}");
    // Every listener re-binds: wait until a dial on each service succeeds.
    for svc in [&plain, &enc] {
        loop {
            assert!(
                restarted.elapsed() < Duration::from_secs(30),
                "{svc}: not re-bound after router restart"
            );
            match timeout(Duration::from_secs(5), dialer.dial(svc)).await {
                Ok(Ok(s)) => {
                    let back =
                        timeout(Duration::from_secs(10), round_trip(s, b"again".to_vec())).await;
                    if back.as_deref().ok() == Some(&b"again"[..]) {
                        break;
                    }
                }
                _ => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }
    let took = restarted.elapsed();
    eprintln!("ok: re-bound and dialed after router restart in {took:?}");
    assert!(took < Duration::from_secs(10), "re-bind took {took:?}");
}

/// An idle connection survives several latency-probe rounds (the router must answer our probes, and we its
/// heartbeats), and still carries data afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real network: scripts/test-network"]
async fn ziti_e2e_idle_connection_survives_probes() {
    let net = testnet("ziti_e2e_idle_connection_survives_probes");
    let _serial = SERIAL.lock().await;
    init_tracing();
    let host = Context::from_file(net.get("ZITI_HOST_IDENTITY")).expect("host identity");
    let dialer = Context::from_file(net.get("ZITI_DIAL_IDENTITY")).expect("dial identity");
    let plain = net.get("ZITI_ECHO_PLAIN_SERVICE");
    let _h = spawn_echo(
        host.listen(&plain, ListenOptions::default())
            .await
            .expect("listen"),
    );
    let mut s = dialer.dial(&plain).await.expect("dial");
    tokio::time::sleep(Duration::from_secs(25)).await;
    assert!(
        !dialer.routers().is_empty(),
        "router channel closed while idle"
    );
    s.write_all(b"still here").await.unwrap();
    let mut b = [0u8; 10];
    timeout(Duration::from_secs(10), s.read_exact(&mut b))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&b, b"still here");
}

/// The controller removes our API session (and with it the network sessions and the router channels):
/// the next dial re-authenticates, reconnects and gets a new session by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real network: scripts/test-network"]
async fn ziti_e2e_recovers_from_removed_api_session() {
    let net = testnet("ziti_e2e_recovers_from_removed_api_session");
    let _serial = SERIAL.lock().await;
    init_tracing();
    let host = Context::from_file(net.get("ZITI_HOST_IDENTITY")).expect("host identity");
    let dialer = Context::from_file(net.get("ZITI_DIAL_IDENTITY")).expect("dial identity");
    let enc = net.get("ZITI_ECHO_SERVICE");
    let _h = spawn_echo(
        host.listen(&enc, ListenOptions::default())
            .await
            .expect("listen"),
    );
    let back = round_trip(
        dialer.dial(&enc).await.expect("first dial"),
        b"one".to_vec(),
    )
    .await;
    assert_eq!(back, b"one");
    let id = dialer.identity_id().await;
    assert!(!id.is_empty(), "identity id known after authentication");
    let st = tokio::process::Command::new(net.get("ZITI_BIN"))
        .args([
            "edge",
            "delete",
            "api-sessions",
            "where",
            &format!("identity=\"{id}\""),
        ])
        .env("HOME", net.get("ZITI_CLI_HOME"))
        .stdout(std::process::Stdio::null())
        .status()
        .await
        .expect("ziti edge delete api-sessions");
    assert!(st.success(), "deleting the api session failed");
    let t0 = tokio::time::Instant::now();
    loop {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "no recovery after api session removal"
        );
        match timeout(Duration::from_secs(10), dialer.dial(&enc)).await {
            Ok(Ok(s)) => {
                if let Ok(b) =
                    timeout(Duration::from_secs(10), round_trip(s, b"two".to_vec())).await
                {
                    assert_eq!(b, b"two");
                    break;
                }
            }
            Ok(Err(e)) => eprintln!("dial after api session removal: {e}"),
            Err(_) => eprintln!("dial after api session removal timed out"),
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    eprintln!(
        "ok: recovered from api session removal in {:?}",
        t0.elapsed()
    );
}

#[tokio::test]
#[ignore = "needs the real network: scripts/test-network"]
async fn ziti_e2e_bad_inputs_are_clear_errors() {
    let net = testnet("ziti_e2e_bad_inputs_are_clear_errors");
    let _serial = SERIAL.lock().await;
    init_tracing();
    let dialer = Context::from_file(net.get("ZITI_DIAL_IDENTITY")).expect("dial identity");
    match dialer.dial("no-such-service-xyz").await {
        Err(ZitiError::ServiceNotFound(s)) => assert_eq!(s, "no-such-service-xyz"),
        other => panic!("unknown service: {other:?}"),
    }
    // The dial identity has no Bind permission on the echo service.
    match dialer
        .listen(&net.get("ZITI_ECHO_SERVICE"), ListenOptions::default())
        .await
    {
        Err(ZitiError::NoPermission { kind: "Bind", .. }) => {}
        other => panic!("bind without permission: {other:?}"),
    }
    // A controller that is not there: a clear error, not a hang.
    let mut forged = std::fs::read_to_string(net.get("ZITI_DIAL_IDENTITY")).unwrap();
    forged = forged.replace("\"ztAPI\"", "\"ztAPI_ignored\"");
    forged = forged.replacen('{', "{\"ztAPI\":\"https://127.0.0.1:1/edge/client/v1\",", 1);
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("bad.json");
    std::fs::write(&f, forged).unwrap();
    let bad = Context::from_file(&f).unwrap();
    match bad.dial("anything").await {
        Err(ZitiError::ControllerUnreachable(_)) => {}
        other => panic!("unreachable controller: {other:?}"),
    }
}

/// What the share watchdog relies on: a listener replaced by a fresh one on the same service
/// (its own bind session) and then dropped unbinds its terminators, but the connections it had
/// accepted are not its own and carry on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real network: scripts/test-network"]
async fn ziti_e2e_a_replaced_listener_leaves_its_connections_open() {
    let net = testnet("ziti_e2e_a_replaced_listener_leaves_its_connections_open");
    let _serial = SERIAL.lock().await;
    init_tracing();
    let host = Context::from_file(net.get("ZITI_HOST_IDENTITY")).expect("host identity");
    let dialer = Context::from_file(net.get("ZITI_DIAL_IDENTITY")).expect("dial identity");
    let enc = net.get("ZITI_ECHO_SERVICE");
    let mut old = host
        .listen(&enc, ListenOptions::default())
        .await
        .expect("listen");
    let old_terminators = old.terminators();
    assert!(*old_terminators.borrow() >= 1);
    // A dial the old listener accepts (other hosts of the service, if any, may take some: the
    // circuits held on them make the next dials go elsewhere).
    let mut held = Vec::new();
    let (mut client, served) = loop {
        assert!(held.len() < 10, "the listener accepted none of 10 dials");
        let s = timeout(STEP, dialer.dial(&enc))
            .await
            .unwrap()
            .expect("dial");
        match timeout(Duration::from_secs(3), old.accept()).await {
            Ok(a) => break (s, a.expect("accept")),
            Err(_) => held.push(s),
        }
    };
    let echo = tokio::spawn(async move {
        let (mut r, mut w) = tokio::io::split(served);
        let _ = tokio::io::copy(&mut r, &mut w).await;
        let _ = w.shutdown().await;
    });
    let new = host
        .listen(&enc, ListenOptions::default())
        .await
        .expect("listen again");
    assert!(*new.terminators().borrow() >= 1);
    drop(old);
    // The old listener has stopped for good (what the watchdog reads as closed).
    let t0 = tokio::time::Instant::now();
    while old_terminators.has_changed().is_ok() {
        assert!(t0.elapsed() < STEP, "the dropped listener did not stop");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for round in 0..3u8 {
        let msg = [b'a' + round; 64];
        client.write_all(&msg).await.unwrap();
        let mut back = [0u8; 64];
        timeout(STEP, client.read_exact(&mut back))
            .await
            .expect("echo on the old connection timed out")
            .expect("the old connection was closed with its listener");
        assert_eq!(back, msg);
    }
    client.shutdown().await.unwrap();
    timeout(STEP, echo).await.unwrap().unwrap();
    let _new = spawn_echo(new);
    let s = timeout(STEP, dialer.dial(&enc))
        .await
        .unwrap()
        .expect("dial the new listener");
    let back = timeout(STEP, round_trip(s, b"new".to_vec())).await.unwrap();
    assert_eq!(back, b"new");
}
