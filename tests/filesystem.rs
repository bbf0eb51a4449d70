//! End-to-end tests of the `mcp-filesystem` binary over stdio, driven by
//! rmcp's child-process client transport.

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::RunningService;
use rmcp::transport::{ConfigureCommandExt, TokioChildProcess};
use rmcp::{RoleClient, ServiceExt};
use serde_json::{json, Value};
use tokio::time::timeout;

const BIN: &str = env!("CARGO_BIN_EXE_mcp-filesystem");
const LIMIT: Duration = Duration::from_secs(30);

type Client = RunningService<RoleClient, ()>;

async fn start(args: &[&Path]) -> Client {
    let transport = TokioChildProcess::builder(tokio::process::Command::new(BIN).configure(|c| {
        c.args(args);
    }))
    .stderr(Stdio::inherit())
    .spawn()
    .expect("spawn mcp-filesystem")
    .0;
    timeout(LIMIT, ().serve(transport))
        .await
        .expect("initialize timed out")
        .expect("initialize")
}

async fn call(client: &Client, tool: &str, args: Value) -> CallToolResult {
    let Value::Object(args) = args else {
        panic!("arguments must be an object")
    };
    let params = CallToolRequestParams::new(tool.to_string()).with_arguments(args);
    timeout(LIMIT, client.call_tool(params))
        .await
        .expect("tools/call timed out")
        .expect("tools/call must not fail at the JSON-RPC level")
}

fn text(r: &CallToolResult) -> String {
    r.content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

#[track_caller]
fn ok(r: &CallToolResult) -> String {
    assert_ne!(r.is_error, Some(true), "unexpected tool error: {}", text(r));
    text(r)
}

/// Assert a tool error whose message contains every needle.
#[track_caller]
fn refused(r: &CallToolResult, needles: &[&str]) {
    let t = text(r);
    assert_eq!(r.is_error, Some(true), "expected a tool error, got: {t}");
    for n in needles {
        assert!(t.contains(n), "message {t:?} lacks {n:?}");
    }
}

struct Fixture {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    outside: PathBuf,
}

/// root/ (served) with a.txt, sub/b.txt; outside/ (not served) with secret.txt.
fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().canonicalize().unwrap();
    let root = base.join("root");
    let outside = base.join("outside");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(root.join("a.txt"), "alpha\n").unwrap();
    std::fs::write(root.join("sub/b.txt"), "beta").unwrap();
    std::fs::write(outside.join("secret.txt"), "secret").unwrap();
    Fixture {
        _tmp: tmp,
        root,
        outside,
    }
}

#[tokio::test]
async fn server_info_and_tools() {
    let f = fixture();
    let c = start(&[&f.root]).await;
    let info = c.peer_info().expect("server info");
    let server = info.server_info.as_ref().expect("serverInfo");
    assert_eq!(server.name, "mcp-filesystem");
    assert_eq!(server.version, env!("CARGO_PKG_VERSION"));
    let mut names: Vec<String> = timeout(LIMIT, c.list_all_tools())
        .await
        .unwrap()
        .unwrap()
        .into_iter()
        .map(|t| t.name.to_string())
        .collect();
    names.sort();
    assert_eq!(names, ["list_directory", "read_file", "write_file"]);
    c.cancel().await.unwrap();
}

#[tokio::test]
async fn read_write_list() {
    let f = fixture();
    let second = f.outside.join("second");
    std::fs::create_dir(&second).unwrap();
    std::fs::write(second.join("c.txt"), "gamma").unwrap();
    let c = start(&[&f.root, &second]).await;

    assert_eq!(
        ok(&call(&c, "read_file", json!({"path": "a.txt"})).await),
        "alpha\n"
    );
    let abs = f.root.join("sub/b.txt");
    assert_eq!(
        ok(&call(&c, "read_file", json!({"path": abs})).await),
        "beta"
    );
    // `..` that stays inside the root is fine.
    assert_eq!(
        ok(&call(&c, "read_file", json!({"path": "sub/../a.txt"})).await),
        "alpha\n"
    );
    // Absolute path in the second root.
    let abs = second.join("c.txt");
    assert_eq!(
        ok(&call(&c, "read_file", json!({"path": abs})).await),
        "gamma"
    );

    ok(&call(
        &c,
        "write_file",
        json!({"path": "sub/new.txt", "content": "héllo"}),
    )
    .await);
    assert_eq!(
        std::fs::read_to_string(f.root.join("sub/new.txt")).unwrap(),
        "héllo"
    );
    ok(&call(&c, "write_file", json!({"path": "a.txt", "content": "x"})).await);
    assert_eq!(std::fs::read_to_string(f.root.join("a.txt")).unwrap(), "x");

    let listing = ok(&call(&c, "list_directory", json!({"path": "."})).await);
    assert_eq!(listing, "[FILE] a.txt\n[DIR] sub\n");
    let listing = ok(&call(&c, "list_directory", json!({"path": "sub"})).await);
    assert_eq!(listing, "[FILE] b.txt\n[FILE] new.txt\n");
    c.cancel().await.unwrap();
}

#[tokio::test]
async fn refuses_escapes() {
    let f = fixture();
    let root = &f.root;
    symlink(f.outside.join("secret.txt"), root.join("link-file")).unwrap();
    symlink(&f.outside, root.join("link-dir")).unwrap();
    symlink(f.outside.join("not-yet"), root.join("dangling")).unwrap();
    let c = start(&[root]).await;

    let outside_secret = f.outside.join("secret.txt");
    let outside_secret = outside_secret.to_str().unwrap();
    for (tool, path) in [
        ("read_file", "../outside/secret.txt"),
        ("read_file", "sub/../../outside/secret.txt"),
        ("read_file", outside_secret),
        ("read_file", "/etc/passwd"),
        ("list_directory", ".."),
        ("list_directory", "/"),
    ] {
        let r = call(&c, tool, json!({"path": path})).await;
        refused(
            &r,
            &["access denied", path, "outside the allowed directories"],
        );
    }
    refused(
        &call(
            &c,
            "write_file",
            json!({"path": "../outside/evil.txt", "content": "x"}),
        )
        .await,
        &["access denied", "../outside/evil.txt"],
    );

    // Symlink escapes: file, directory, and paths below a symlinked directory.
    for (tool, path) in [
        ("read_file", "link-file"),
        ("list_directory", "link-dir"),
        ("read_file", "link-dir/secret.txt"),
    ] {
        let r = call(&c, tool, json!({"path": path})).await;
        refused(&r, &["access denied", path, "symlink"]);
    }
    // Writing through a symlinked parent, to an existing file and a new one,
    // and through a dangling symlink whose target would be created outside.
    for path in [
        "link-dir/secret.txt",
        "link-dir/new.txt",
        "link-file",
        "dangling",
    ] {
        let r = call(&c, "write_file", json!({"path": path, "content": "pwned"})).await;
        refused(&r, &["access denied", path, "symlink"]);
    }
    assert_eq!(std::fs::read_to_string(outside_secret).unwrap(), "secret");
    assert!(!f.outside.join("new.txt").exists());
    assert!(!f.outside.join("not-yet").exists());

    // The server is still healthy after all that.
    assert_eq!(
        ok(&call(&c, "read_file", json!({"path": "sub/b.txt"})).await),
        "beta"
    );
    c.cancel().await.unwrap();
}

#[tokio::test]
async fn symlink_inside_root_is_allowed() {
    let f = fixture();
    symlink(f.root.join("sub"), f.root.join("alias")).unwrap();
    let c = start(&[&f.root]).await;
    assert_eq!(
        ok(&call(&c, "read_file", json!({"path": "alias/b.txt"})).await),
        "beta"
    );
    ok(&call(
        &c,
        "write_file",
        json!({"path": "alias/c.txt", "content": "c"}),
    )
    .await);
    assert_eq!(
        std::fs::read_to_string(f.root.join("sub/c.txt")).unwrap(),
        "c"
    );
    c.cancel().await.unwrap();
}

#[tokio::test]
async fn root_given_through_a_symlink() {
    let f = fixture();
    let alias = f.outside.join("root-alias");
    symlink(&f.root, &alias).unwrap();
    let c = start(&[&alias]).await;
    // Absolute paths may name the root as given or as it really is.
    let via_alias = alias.join("sub/b.txt");
    assert_eq!(
        ok(&call(&c, "read_file", json!({"path": via_alias})).await),
        "beta"
    );
    let real = f.root.join("a.txt");
    assert_eq!(
        ok(&call(&c, "read_file", json!({"path": real})).await),
        "alpha\n"
    );
    let sibling = f.outside.join("secret.txt");
    refused(
        &call(&c, "read_file", json!({"path": sibling})).await,
        &["access denied", "outside the allowed directories"],
    );
    c.cancel().await.unwrap();
}

#[tokio::test]
async fn read_limits_and_bad_input() {
    let f = fixture();
    std::fs::write(f.root.join("big.txt"), vec![b'x'; 65]).unwrap();
    std::fs::write(f.root.join("exact.txt"), vec![b'y'; 64]).unwrap();
    std::fs::write(f.root.join("bin.dat"), [0xff, 0xfe, 0x00, 0x01]).unwrap();
    let max = std::ffi::OsString::from("--max-read-bytes=64");
    let c = start(&[Path::new(&max), &f.root]).await;

    refused(
        &call(&c, "read_file", json!({"path": "big.txt"})).await,
        &["big.txt", "65 bytes", "read limit of 64 bytes"],
    );
    assert_eq!(
        ok(&call(&c, "read_file", json!({"path": "exact.txt"})).await).len(),
        64
    );
    refused(
        &call(&c, "read_file", json!({"path": "bin.dat"})).await,
        &["bin.dat", "UTF-8"],
    );
    refused(
        &call(&c, "read_file", json!({"path": "missing.txt"})).await,
        &["missing.txt"],
    );
    refused(
        &call(&c, "read_file", json!({"path": "sub"})).await,
        &["sub", "directory"],
    );
    refused(
        &call(&c, "read_file", json!({"path": ""})).await,
        &["empty"],
    );
    refused(
        &call(
            &c,
            "write_file",
            json!({"path": "nodir/x.txt", "content": "x"}),
        )
        .await,
        &["nodir/x.txt", "does not exist"],
    );
    refused(
        &call(&c, "write_file", json!({"path": "sub", "content": "x"})).await,
        &["sub", "directory"],
    );
    refused(
        &call(&c, "list_directory", json!({"path": "a.txt"})).await,
        &["a.txt"],
    );
    // Missing arguments are rejected (rmcp reports them as a tool error or
    // as invalid params, depending on the protocol version), not a crash.
    let params = CallToolRequestParams::new("read_file");
    match timeout(LIMIT, c.call_tool(params)).await.unwrap() {
        Ok(r) => refused(&r, &["path"]),
        Err(e) => assert!(e.to_string().contains("path"), "{e}"),
    }
    assert_eq!(
        ok(&call(&c, "read_file", json!({"path": "sub/b.txt"})).await),
        "beta"
    );
    c.cancel().await.unwrap();
}

async fn run_bin(args: &[&str]) -> std::process::Output {
    let child = tokio::process::Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .output();
    timeout(LIMIT, child).await.unwrap().unwrap()
}

#[tokio::test]
async fn missing_root_exits_2() {
    let f = fixture();
    let missing = f.root.join("nope");
    let missing = missing.to_str().unwrap();
    let out = run_bin(&[f.root.to_str().unwrap(), missing]).await;
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with(&format!("error: {missing}: ")),
        "stderr: {err}"
    );
    assert!(out.stdout.is_empty());

    let file = f.root.join("a.txt");
    let out = run_bin(&[file.to_str().unwrap()]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a directory"));

    let out = run_bin(&[]).await;
    assert_eq!(out.status.code(), Some(2));

    let out = run_bin(&["--help"]).await;
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        help.contains("read_file") && help.contains("--max-read-bytes"),
        "{help}"
    );
}
