//! The zrok environment reader and REST client against a REAL zrok2 controller.
//!
//! Needs a testnet: `#[ignore]`d in a plain `cargo test`; `scripts/test-network` runs them with
//! `--include-ignored` and `MCPZ_TESTNET_ENV=DIR/testnet.env`. Without the variable, or with any
//! problem, a test fails.
//! Everything created here is deleted again, also when an assertion fails.

use std::collections::HashMap;
use std::future::Future;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mcpz::core::zrok::api::{ApiError, ShareAccess, ShareQuery, ZrokClient};
use mcpz::core::zrok::env::{EndpointSource, Root};
use mcpz::core::zrok::state::{GatewayKey, ShareRegistry};
use mcpz::core::zrok::{connect, delete_stale_shares, ShareName, ZrokError};

const TEST_TIMEOUT: Duration = Duration::from_secs(180);
const CHILD_VAR: &str = "MCPZ_ZROK_TEST_CHILD_REGISTRY";

struct Testnet {
    vars: HashMap<String, String>,
}

impl Testnet {
    /// The testnet of `MCPZ_TESTNET_ENV`; panics when it is unset or unusable.
    fn load(test: &str) -> Testnet {
        let Some(path) = std::env::var_os("MCPZ_TESTNET_ENV").filter(|p| !p.is_empty()) else {
            panic!(
                "{test} needs the real network, and MCPZ_TESTNET_ENV is not set: run scripts/test-network \
                 (or scripts/testnet up DIR; MCPZ_TESTNET_ENV=DIR/testnet.env cargo test -- --include-ignored)"
            );
        };
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("MCPZ_TESTNET_ENV={}: {e}", PathBuf::from(&path).display()));
        let vars = text
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim().to_string(), v.to_string()))
            .collect();
        Testnet { vars }
    }

    fn get(&self, key: &str) -> &str {
        self.vars
            .get(key)
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| panic!("testnet.env has no {key}"))
    }

    fn root(&self, who: &str) -> Root {
        let home = self.get(&format!("ZROK_HOME_{}", who.to_uppercase()));
        Root::load_from(PathBuf::from(home).join(".zrok2"))
    }

    /// The enabled environment of `who`: (client, envZId).
    fn client(&self, who: &str) -> (ZrokClient, String) {
        let root = self.root(who);
        let env = root
            .require_enabled()
            .unwrap_or_else(|e| panic!("{who}: {e} ({})", e.reason()));
        let client = ZrokClient::for_environment(&root.api_endpoint(), env)
            .unwrap()
            .with_timeout(Duration::from_secs(20))
            .unwrap();
        (client, env.env_zid().to_string())
    }
}

/// What a test created on the controller; deleted after the test body, whatever happened.
#[derive(Default)]
struct Created {
    shares: Vec<(ZrokClient, String, String)>,
    accesses: Vec<(ZrokClient, String, String, String)>,
}

type Tracker = Arc<Mutex<Created>>;

fn track_share(t: &Tracker, c: &ZrokClient, env: &str, token: &str) {
    t.lock()
        .unwrap()
        .shares
        .push((c.clone(), env.into(), token.into()));
}

fn track_access(t: &Tracker, c: &ZrokClient, env: &str, share: &str, frontend: &str) {
    t.lock()
        .unwrap()
        .accesses
        .push((c.clone(), env.into(), share.into(), frontend.into()));
}

/// Run `body` with a tracker; then delete everything tracked (404 = already gone), then re-raise a
/// panic of the body, or fail if the cleanup failed.
async fn with_cleanup<F, Fut>(body: F)
where
    F: FnOnce(Tracker) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let tracker: Tracker = Arc::default();
    let task = tokio::spawn(body(tracker.clone()));
    let outcome = tokio::time::timeout(TEST_TIMEOUT, task).await;
    let created = std::mem::take(&mut *tracker.lock().unwrap());
    let mut failures = Vec::new();
    for (c, env, share, front) in created.accesses {
        match c.unaccess(&env, &share, &front).await {
            Ok(()) => {}
            Err(e) if e.status() == Some(404) => {}
            Err(e) => failures.push(e.to_string()),
        }
    }
    for (c, env, share) in created.shares {
        match c.unshare(&env, &share).await {
            Ok(()) => {}
            Err(e) if e.status() == Some(404) => {}
            Err(e) => failures.push(e.to_string()),
        }
    }
    match outcome {
        Err(_) => panic!("test body timed out after {TEST_TIMEOUT:?} (cleanup: {failures:?})"),
        Ok(Err(e)) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Ok(Err(e)) => panic!("test body failed: {e}"),
        Ok(Ok(())) => {}
    }
    assert!(failures.is_empty(), "cleanup failed: {failures:?}");
}

fn random_suffix() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..10].to_string()
}

/// `zrok2 overview --json` as `who`.
async fn cli_overview(net: &Testnet, who: &str) -> serde_json::Value {
    let home = net.get(&format!("ZROK_HOME_{}", who.to_uppercase()));
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new(net.get("ZROK2_BIN"))
            .args(["overview", "--json"])
            .env("HOME", home)
            .env_remove("ZROK2_API_ENDPOINT")
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("zrok2 overview timed out")
    .expect("cannot run zrok2");
    assert!(
        out.status.success(),
        "zrok2 overview --json failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("zrok2 overview --json printed no JSON")
}

fn cli_shares(v: &serde_json::Value) -> Vec<serde_json::Value> {
    v["environments"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|e| e["shares"].as_array().cloned().unwrap_or_default())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real network: scripts/test-network"]
async fn environment_and_version_check() {
    let net = Testnet::load("environment_and_version_check");
    let api = net.get("ZROK_API_ENDPOINT").to_string();
    let root = net.root("alice");
    assert_eq!(root.metadata_version(), Some("v0.4"));
    let env = root.require_enabled().expect("alice is enabled");
    assert!(!env.env_zid().is_empty());
    let ep = root.api_endpoint();
    assert_eq!(ep.url, api.trim_end_matches('/'));
    assert_eq!(ep.source, EndpointSource::Environment);
    assert!(root.identity_path().is_file(), "{:?}", root.identity_path());
    // Once enabled, ZROK2_API_ENDPOINT does not matter (as in zrok2).
    let r2 = Root::load_with(root.path(), Some("http://127.0.0.1:9".into()));
    assert_eq!(r2.api_endpoint().url, ep.url);
    // An empty HOME is not enabled, with the documented message and hint.
    let empty = tempfile::tempdir().unwrap();
    let e = Root::load_from(empty.path().join(".zrok2"))
        .require_enabled()
        .unwrap_err();
    assert_eq!(e.to_string(), "zrok environment is not enabled");
    assert!(e.hint().contains("zrok2 enable"));

    let e = connect(&Root::load_from(empty.path().join(".zrok2")))
        .await
        .unwrap_err();
    assert!(matches!(e, ZrokError::NotEnabled(_)), "{e:?}");
    assert_eq!(e.to_string(), "zrok environment is not enabled");
    assert!(e.hint().unwrap().contains("zrok2 enable"));

    // connect = enabled environment + client + accepted version check.
    let (client, env2) = connect(&root).await.expect("connect");
    assert_eq!(env2.env_zid(), env.env_zid());
    client
        .client_version_check()
        .await
        .expect("version accepted");
    let v = client.controller_version().await.unwrap();
    assert!(v.starts_with("v2.0"), "controller version {v}");
    let e = client
        .clone()
        .with_client_version("v1.0.0 [mcpz test]")
        .client_version_check()
        .await
        .unwrap_err();
    assert!(matches!(e, ApiError::VersionRejected { .. }), "{e:?}");
    assert!(
        e.message()
            .unwrap()
            .contains("does not match any accepted patterns"),
        "{e}"
    );

    // A bad account token: typed 401 with the controller's message.
    let bad = ZrokClient::new(&api, "notAValidToken1").unwrap();
    let e = bad.overview().await.unwrap_err();
    assert!(matches!(e, ApiError::Unauthorized { .. }), "{e:?}");
    assert_eq!(e.message(), Some("invalid api key"));
    assert!(!e.to_string().contains("notAValidToken1"));
    // Unknown share: typed 404.
    let e = client
        .share_detail(&format!("nosuch{}", random_suffix()))
        .await
        .unwrap_err();
    assert!(matches!(e, ApiError::NotFound { .. }), "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real network: scripts/test-network"]
async fn share_access_lifecycle() {
    let net = Testnet::load("share_access_lifecycle");
    let net = Arc::new(net);
    with_cleanup(move |t| async move {
        let (alice, alice_env) = net.client("alice");
        let (bob, bob_env) = net.client("bob");
        alice.client_version_check().await.unwrap();

        // Ephemeral private share.
        let token = alice
            .share(&alice_env, None, &ShareAccess::Open)
            .await
            .unwrap();
        track_share(&t, &alice, &alice_env, &token);
        assert_eq!(token.len(), 12, "generated share tokens are 12 characters");

        let ov = alice.overview().await.unwrap();
        let s = ov
            .environment(&alice_env)
            .expect("alice's environment in overview")
            .shares
            .iter()
            .find(|s| s.share_token == token)
            .expect("new share in overview")
            .clone();
        assert_eq!(s.env_z_id, alice_env);
        assert_eq!(s.share_mode, "private");
        assert_eq!(s.backend_mode, "proxy");
        assert_eq!(s.target, "");
        assert!(!s.z_id.is_empty());
        assert!(s.created_at > 1_600_000_000_000, "createdAt in ms");

        // The zrok2 CLI sees the same share.
        let cli = cli_overview(&net, "alice").await;
        let c = cli_shares(&cli)
            .into_iter()
            .find(|c| c["shareToken"] == token.as_str())
            .expect("zrok2 overview --json lists the share");
        assert_eq!(c["zId"], s.z_id.as_str());
        assert_eq!(c["envZId"], alice_env.as_str());
        assert_eq!(c["shareMode"], "private");
        assert_eq!(c["backendMode"], "proxy");
        assert_eq!(c["createdAt"].as_i64(), Some(s.created_at));

        let d = alice.share_detail(&token).await.unwrap();
        assert_eq!(d, s);
        let listed = alice
            .list_shares(&ShareQuery {
                env_zid: Some(alice_env.clone()),
                share_mode: Some("private".into()),
            })
            .await
            .unwrap();
        assert!(listed.iter().any(|x| x.share_token == token));
        // Another account cannot see the share's detail.
        let e = bob.share_detail(&token).await.unwrap_err();
        assert!(matches!(e, ApiError::NotFound { .. }), "{e:?}");

        // Access from bob's environment.
        let grant = bob.access(&bob_env, &token).await.unwrap();
        track_access(&t, &bob, &bob_env, &token, &grant.frontend_token);
        assert_eq!(grant.backend_mode, "proxy");
        assert!(!grant.frontend_token.is_empty());
        let bov = bob.overview().await.unwrap();
        let f = bov
            .find_frontend(&grant.frontend_token)
            .expect("frontend in bob's overview");
        assert_eq!(f.share_token, token);
        assert_eq!(f.z_id, bob_env);
        let acc = bob.list_accesses(Some(&bob_env)).await.unwrap();
        assert!(acc
            .iter()
            .any(|a| a.frontend_token == grant.frontend_token && a.share_token == token));

        bob.unaccess(&bob_env, &token, &grant.frontend_token)
            .await
            .unwrap();
        let bov = bob.overview().await.unwrap();
        assert!(bov.find_frontend(&grant.frontend_token).is_none());
        let e = bob
            .unaccess(&bob_env, &token, &grant.frontend_token)
            .await
            .unwrap_err();
        assert!(matches!(e, ApiError::NotFound { .. }), "{e:?}");

        // Only the owning environment can delete the share.
        let e = alice.unshare(&bob_env, &token).await.unwrap_err();
        assert!(matches!(e, ApiError::NotFound { .. }), "{e:?}");

        alice.unshare(&alice_env, &token).await.unwrap();
        let ov = alice.overview().await.unwrap();
        assert!(ov.find_share(&token).is_none(), "share gone from overview");
        let e = alice.share_detail(&token).await.unwrap_err();
        assert!(matches!(e, ApiError::NotFound { .. }), "{e:?}");
        let e = alice.unshare(&alice_env, &token).await.unwrap_err();
        assert!(matches!(e, ApiError::NotFound { .. }), "{e:?}");
        let cli = cli_overview(&net, "alice").await;
        assert!(!cli_shares(&cli)
            .iter()
            .any(|c| c["shareToken"] == token.as_str()));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real network: scripts/test-network"]
async fn persistent_share_with_name() {
    let net = Testnet::load("persistent_share_with_name");
    let net = Arc::new(net);
    with_cleanup(move |t| async move {
        let (alice, alice_env) = net.client("alice");
        let (bob, bob_env) = net.client("bob");
        let name = ShareName::parse(&format!("mcpz-test-{}", random_suffix())).unwrap();

        let token = alice
            .share(&alice_env, Some(&name), &ShareAccess::Open)
            .await
            .unwrap();
        track_share(&t, &alice, &alice_env, &token);
        assert_eq!(token, name.as_str());
        let d = alice.share_detail(name.as_str()).await.unwrap();
        assert_eq!(d.share_mode, "private");
        assert_eq!(d.env_z_id, alice_env);

        // The same name again (same or another account): typed 409 with the controller's message.
        for (c, env) in [(&alice, &alice_env), (&bob, &bob_env)] {
            let e = c
                .share(env, Some(&name), &ShareAccess::Open)
                .await
                .unwrap_err();
            assert!(matches!(e, ApiError::Conflict { .. }), "{e:?}");
            let m = e.message().unwrap();
            assert!(m.contains("already in use"), "{m}");
            assert!(!e.to_string().contains(name.as_str()), "{e}");
        }
        // Invalid names never reach the controller.
        assert!(ShareName::parse("Bad_Name").is_err());

        alice.unshare(&alice_env, &token).await.unwrap();
        assert!(alice.overview().await.unwrap().find_share(&token).is_none());
    })
    .await;
}

/// Not a test by itself: run as a child process by `stale_share_of_killed_process_is_deleted`. It
/// creates a share, records it in the registry, reports READY and waits to be killed. Ignored like
/// the network tests; without its variable (as in `--include-ignored` runs) it does nothing.
#[test]
#[ignore = "child process of stale_share_of_killed_process_is_deleted"]
fn child_share_holder() {
    let Some(registry_path) = std::env::var_os(CHILD_VAR) else {
        return;
    };
    let net = Testnet::load("child_share_holder");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let (alice, alice_env) = net.client("alice");
        let registry = ShareRegistry::new(
            PathBuf::from(registry_path),
            GatewayKey::named("zrok-api-test"),
            &alice_env,
        );
        let token = alice
            .share(&alice_env, None, &ShareAccess::Open)
            .await
            .unwrap();
        registry.record(&token).unwrap();
        println!("READY");
        tokio::time::sleep(Duration::from_secs(120)).await;
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real network: scripts/test-network"]
async fn stale_share_of_killed_process_is_deleted() {
    let net = Testnet::load("stale_share_of_killed_process_is_deleted");
    let net = Arc::new(net);
    with_cleanup(move |t| async move {
        let (alice, alice_env) = net.client("alice");
        let dir = tempfile::tempdir().unwrap();
        let reg_path = dir.path().join("mcpz/shares.json");

        // A "gateway" process that creates an ephemeral share, then dies by SIGKILL.
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "child_share_holder",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_VAR, &reg_path)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let ready = tokio::task::spawn_blocking(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .any(|l| l.trim_end().ends_with("READY"))
        });
        let ready = tokio::time::timeout(Duration::from_secs(60), ready).await;
        let registry =
            ShareRegistry::new(&reg_path, GatewayKey::named("zrok-api-test"), &alice_env);
        for tok in registry.recorded().unwrap_or_default() {
            track_share(&t, &alice, &alice_env, &tok);
        }
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        assert!(matches!(ready, Ok(Ok(true))), "child never became ready");

        let stale = registry.stale().unwrap();
        assert_eq!(stale.len(), 1, "one stale share after kill -9");
        let token = stale[0].clone();
        assert!(alice.overview().await.unwrap().find_share(&token).is_some());
        // Another gateway on the same environment does not touch it.
        let other = ShareRegistry::new(&reg_path, GatewayKey::named("someone-else"), &alice_env);
        assert!(other.stale().unwrap().is_empty());

        // "Next start of the same gateway".
        let outcomes = delete_stale_shares(&alice, &registry).await.unwrap();
        assert_eq!(outcomes.len(), 1);
        assert!(matches!(outcomes[0].result, Ok(true)), "{outcomes:?}");
        assert!(alice.overview().await.unwrap().find_share(&token).is_none());
        assert!(registry.recorded().unwrap().is_empty());
        // Running it again finds nothing.
        assert!(delete_stale_shares(&alice, &registry)
            .await
            .unwrap()
            .is_empty());
    })
    .await;
}

/// Controller behaviours the client is built around (zrok2 v2.0.4): only the zrok media type is
/// consumed, and `Accept: application/json` alone breaks the request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real network: scripts/test-network"]
async fn controller_media_type_rules() {
    let net = Testnet::load("controller_media_type_rules");
    let base = format!(
        "{}/api/v2",
        net.get("ZROK_API_ENDPOINT").trim_end_matches('/')
    );
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    // A body as application/json is refused (v2.0.4: 500 "no consumer registered ...", not 415).
    let r = http
        .post(format!("{base}/clientVersionCheck"))
        .header("Content-Type", "application/json")
        .body(r#"{"clientVersion":"v2.0.4"}"#)
        .send()
        .await
        .unwrap();
    assert!(!r.status().is_success(), "{}", r.status());
    let text = r.text().await.unwrap();
    assert!(text.contains("application/json"), "{text}");
    // Accept: application/json alone: no usable answer (v2.0.4 drops the connection).
    let r = http
        .get(format!("{base}/versions"))
        .header("Accept", "application/json")
        .send()
        .await;
    assert!(
        r.as_ref().map(|r| !r.status().is_success()).unwrap_or(true),
        "{r:?}"
    );
    // What the client sends works.
    let r = http
        .get(format!("{base}/versions"))
        .header("Accept", "application/zrok.v1+json")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
}
