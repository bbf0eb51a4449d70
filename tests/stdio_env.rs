//! `transport.env_policy` (upstream's key) at the spawn of a stdio backend: `additive` passes
//! the gateway's environment plus `env`, `closed` only `env`. One test, because it sets a
//! variable in this process's environment.

use std::collections::BTreeMap;
use std::time::Duration;

use mcpz::core::backend::process::{self, Registry, Spawn};
use mcpz::core::config;
use tokio::io::AsyncReadExt;

/// The environment the child saw: `sh`'s builtin `export -p` (no `env` binary, which a closed
/// environment without `PATH` could not find), one `NAME` per line.
async fn child_env(inherit_env: bool) -> Vec<String> {
    let mut env = BTreeMap::new();
    env.insert(
        "MCPZ_CONFIGURED".to_string(),
        "configured-value".to_string(),
    );
    let spec = Spawn {
        command: "sh".into(),
        args: vec!["-c".into(), "export -p".into()],
        env,
        inherit_env,
        working_dir: None,
    };
    let registry = Registry::default();
    let mut spawned = process::spawn(&spec, "envtest", &registry, None).expect("spawn sh");
    let mut out = String::new();
    tokio::time::timeout(
        Duration::from_secs(20),
        spawned.stdout.read_to_string(&mut out),
    )
    .await
    .expect("sh finishes")
    .expect("read stdout");
    spawned.guard.terminate().await;
    out.lines()
        .filter_map(|l| {
            // dash: `export NAME='v'`; bash: `declare -x NAME="v"`.
            let rest = l
                .strip_prefix("export ")
                .or_else(|| l.strip_prefix("declare -x "))?;
            Some(rest.split('=').next().unwrap_or(rest).to_string())
        })
        .collect()
}

#[tokio::test]
async fn closed_drops_what_is_not_configured_and_additive_keeps_it() {
    std::env::set_var("MCPZ_UNCONFIGURED", "gateway-only");

    let additive = child_env(true).await;
    assert!(
        additive.iter().any(|n| n == "MCPZ_CONFIGURED"),
        "{additive:?}"
    );
    assert!(
        additive.iter().any(|n| n == "MCPZ_UNCONFIGURED"),
        "{additive:?}"
    );
    assert!(additive.iter().any(|n| n == "PATH"), "{additive:?}");

    let closed = child_env(false).await;
    assert!(closed.iter().any(|n| n == "MCPZ_CONFIGURED"), "{closed:?}");
    assert!(
        !closed.iter().any(|n| n == "MCPZ_UNCONFIGURED"),
        "{closed:?}"
    );
    // As upstream: nothing inherited, not even PATH or HOME.
    assert!(
        !closed.iter().any(|n| n == "PATH" || n == "HOME"),
        "{closed:?}"
    );
}

/// The config value reaches the spawn: `env_policy: closed` decodes to a transport whose
/// spawn does not inherit.
#[test]
fn config_value_maps_to_the_spawn() {
    let yaml = "backends:\n  - id: s\n    transport:\n      type: stdio\n      command: sh\n      env_policy: closed\n";
    let (cfg, _) = config::parse(yaml, "t.yml", &|_| None).expect("config");
    match &cfg.backends[0].transport {
        config::Transport::Stdio { env_policy, .. } => {
            assert_eq!(*env_policy, config::EnvPolicy::Closed)
        }
        t => panic!("{t:?}"),
    }
}
