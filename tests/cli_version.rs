//! `version` on every binary (upstream's subcommand): version, commit and build date, in
//! upstream's `label:  value` lines; `--version` keeps working.

use std::process::Command;

fn run(bin: &str, args: &[&str]) -> String {
    let out = Command::new(bin).args(args).output().expect("run binary");
    assert!(out.status.success(), "{bin} {args:?}: {out:?}");
    String::from_utf8(out.stdout).expect("utf-8")
}

fn field<'a>(text: &'a str, label: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{label}:")))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no '{label}:' line in {text:?}"))
}

fn check_fields(text: &str) {
    assert_eq!(
        field(text, "version"),
        concat!("v", env!("CARGO_PKG_VERSION"))
    );
    let commit = field(text, "commit");
    assert!(
        commit == "unknown"
            || (commit.len() == 12 && commit.chars().all(|c| c.is_ascii_hexdigit())),
        "{commit}"
    );
    let built = field(text, "built");
    // 2026-12-02T14:26:43Z
    assert!(
        built == "unknown"
            || (built.len() == 20 && built.ends_with('Z') && built.as_bytes()[10] == b'T'),
        "{built}"
    );
    assert!(!field(text, "target").is_empty());
}

#[test]
fn version_subcommand_on_every_binary() {
    for (bin, args, name) in [
        (
            env!("CARGO_BIN_EXE_mcp-gateway"),
            &["version"][..],
            "mcp-gateway",
        ),
        (
            env!("CARGO_BIN_EXE_mcp-bridge"),
            &["version"][..],
            "mcp-bridge",
        ),
        (
            env!("CARGO_BIN_EXE_mcp-tools"),
            &["version"][..],
            "mcp-tools",
        ),
        (env!("CARGO_BIN_EXE_mcpz"), &["version"][..], "mcpz"),
        (
            env!("CARGO_BIN_EXE_mcpz"),
            &["gateway", "version"][..],
            "mcp-gateway",
        ),
    ] {
        let text = run(bin, args);
        assert_eq!(text.lines().next(), Some(name), "{text}");
        check_fields(&text);
    }
}

#[test]
fn commit_matches_git_when_available() {
    let git = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output();
    let Ok(git) = git else { return };
    if !git.status.success() {
        return;
    }
    let head = String::from_utf8_lossy(&git.stdout).trim().to_string();
    let text = run(env!("CARGO_BIN_EXE_mcp-gateway"), &["version"]);
    // build.rs reruns when HEAD moves, so the binary names the checked-out commit.
    assert_eq!(field(&text, "commit"), head, "{text}");
}

#[test]
fn dash_dash_version_keeps_working() {
    for bin in [
        env!("CARGO_BIN_EXE_mcp-gateway"),
        env!("CARGO_BIN_EXE_mcp-bridge"),
        env!("CARGO_BIN_EXE_mcp-tools"),
        env!("CARGO_BIN_EXE_mcpz"),
    ] {
        let text = run(bin, &["--version"]);
        assert!(text.contains(env!("CARGO_PKG_VERSION")), "{text}");
    }
    // mcp-filesystem has no subcommands (its arguments are directories): --version carries the
    // same fields.
    let text = run(env!("CARGO_BIN_EXE_mcp-filesystem"), &["--version"]);
    assert!(text.starts_with("mcp-filesystem "), "{text}");
    assert!(field(&text, "commit").len() >= 7);
    field(&text, "built");
}
