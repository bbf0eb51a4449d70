//! `mcp-gateway run --check`: every bad fixture exits 2 with its expected messages on stderr and
//! nothing on stdout; every good fixture and every file in etc/ exits 0.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn check(dir: &Path, file: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_mcp-gateway"))
        .args(["run", "--check", file])
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .envs(
            [
                "API_TOKEN",
                "DB_PASSWORD",
                "GITHUB_TOKEN",
                "MCPZ_SHARE_TOKEN",
                "MCP_GATEWAY_SHARE_TOKEN",
                "REMOTE_API_TOKEN",
                "VAR",
            ]
            .map(|k| (k, "test-value")),
        )
        .output()
        .expect("run mcp-gateway")
}

fn yml_files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".yml"))
        .collect();
    v.sort();
    v
}

#[test]
fn bad_configs_exit_2_with_their_messages() {
    let dir = root().join("tests/configs/bad");
    let files = yml_files(&dir);
    assert!(
        files.len() >= 20,
        "at least 20 bad configs, have {}",
        files.len()
    );
    for f in files {
        let out = check(&dir, &f);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{f}: exit code; stderr:\n{stderr}"
        );
        assert!(out.stdout.is_empty(), "{f}: stdout must stay empty");
        let expected = std::fs::read_to_string(dir.join(f.replace(".yml", ".err"))).unwrap();
        for line in expected.lines().filter(|l| !l.trim().is_empty()) {
            assert!(
                stderr
                    .lines()
                    .any(|l| l.strip_prefix("error: ") == Some(line) || l == line),
                "{f}: expected line\n  {line}\nin stderr:\n{stderr}"
            );
        }
    }
}

#[test]
fn good_configs_and_examples_pass_check() {
    for rel in ["tests/configs/good", "etc"] {
        let dir = root().join(rel);
        for f in yml_files(&dir) {
            let out = check(&root(), &format!("{rel}/{f}"));
            assert_eq!(
                out.status.code(),
                Some(0),
                "{}/{f}: {}",
                dir.display(),
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(out.stdout.is_empty());
        }
    }
}

/// Our copies of upstream v0.1.8's documented examples (tests/configs/upstream/README.md): each
/// loads; the ones with keys mcpz does not implement are refused, naming the key.
#[test]
fn upstream_examples_pass_check() {
    let rel = "tests/configs/upstream";
    let files = yml_files(&root().join(rel));
    assert!(files.len() >= 8, "upstream examples: {files:?}");
    for f in files {
        let out = check(&root(), &format!("{rel}/{f}"));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{rel}/{f}: {stderr}");
        assert!(
            !stderr.lines().any(|l| l.starts_with("error")),
            "{rel}/{f}: {stderr}"
        );
    }
    let dir = root().join(rel).join("unsupported");
    for f in yml_files(&dir) {
        let out = check(&dir, &f);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "unsupported/{f}: {stderr}");
        let expected = std::fs::read_to_string(dir.join(f.replace(".yml", ".err"))).unwrap();
        for line in expected.lines().filter(|l| !l.trim().is_empty()) {
            assert!(
                stderr
                    .lines()
                    .any(|l| l.strip_prefix("error: ") == Some(line) || l == line),
                "unsupported/{f}: expected line\n  {line}\nin stderr:\n{stderr}"
            );
        }
    }
}

#[test]
fn missing_file_is_a_usage_error() {
    let out = check(&root(), "does-not-exist.yml");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("does-not-exist.yml"), "{stderr}");
}

/// `orchestrator:` is used in managed mode and with --listen; serving on a new share ignores it,
/// which `run` (and `--check`) says, given the same flags.
#[test]
fn an_unused_orchestrator_section_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("gw.yml");
    let backends = "backends:\n  - id: fs\n    transport: {type: stdio, command: x}\n";
    std::fs::write(&cfg, format!("orchestrator: {{}}\n{backends}")).unwrap();
    let run = |extra: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_mcp-gateway"))
            .args(["run", "--check"])
            .arg(&cfg)
            .args(extra)
            .output()
            .expect("run mcp-gateway");
        assert_eq!(out.status.code(), Some(0), "{extra:?}");
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    let warning = "orchestrator: ignored when serving on a new zrok share";
    let stderr = run(&[]);
    assert!(stderr.contains(warning), "{stderr}");
    assert!(stderr.starts_with("warning: "), "{stderr}");
    for used in [
        &["--listen", "127.0.0.1:0"][..],
        &["--share-token", "tok123"][..],
    ] {
        let stderr = run(used);
        assert!(!stderr.contains("orchestrator"), "{used:?}: {stderr}");
    }
    std::fs::write(
        &cfg,
        format!("share_token: tok123\norchestrator: {{}}\n{backends}"),
    )
    .unwrap();
    let stderr = run(&[]);
    assert!(!stderr.contains("orchestrator"), "{stderr}");
}
