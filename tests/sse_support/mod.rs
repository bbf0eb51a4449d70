//! Shared helpers for the SSE / HTTP client integration tests: locating the Python venv, running
//! Python helper scripts as children with bounded waits, and a small rmcp test server.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use rmcp::{
    handler::server::{router::tool::ToolRouter, wrapper::Parameters},
    model::{ServerCapabilities, ServerConfig},
    schemars, tool, tool_handler, tool_router, ServerHandler,
};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// Upper bound for any single wait in these tests.
pub const WAIT: Duration = Duration::from_secs(20);

/// The venv python: `$MCPZ_PYTHON`, else `${MCPZ_CACHE:-$HOME/.cache/mcpz}/venv/bin/python`.
/// Panics (never skips) when neither exists.
pub fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("MCPZ_PYTHON") {
        let p = PathBuf::from(p);
        assert!(
            p.exists(),
            "MCPZ_PYTHON={} does not exist; run the install script (scripts/) to create the \
             Python venv with the `mcp` SDK",
            p.display()
        );
        return p;
    }
    let cache = std::env::var_os("MCPZ_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME is not set")).join(".cache/mcpz")
        });
    let p = cache.join("venv/bin/python");
    assert!(
        p.exists(),
        "no Python venv with the `mcp` SDK at {} and MCPZ_PYTHON is not set; run the install \
         script (scripts/) to create it (python3 -m venv {}/venv && pip install mcp)",
        p.display(),
        cache.display()
    );
    p
}

pub fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/py")
        .join(name)
}

/// A Python helper process; killed when dropped.
pub struct PyChild {
    pub child: Child,
    pub stdin: Option<ChildStdin>,
    pub lines: Lines<BufReader<ChildStdout>>,
}

impl PyChild {
    pub fn spawn(script_name: &str, args: &[&str]) -> Self {
        let mut child = Command::new(python())
            .arg(script(script_name))
            .args(args)
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn python helper");
        let stdout = child.stdout.take().expect("stdout");
        let stdin = child.stdin.take();
        Self {
            child,
            stdin,
            lines: BufReader::new(stdout).lines(),
        }
    }

    /// Next stdout line, bounded by [`WAIT`].
    pub async fn line(&mut self) -> String {
        match tokio::time::timeout(WAIT, self.lines.next_line()).await {
            Ok(Ok(Some(l))) => l,
            Ok(Ok(None)) => panic!("python helper ended its output early"),
            Ok(Err(e)) => panic!("reading python helper output: {e}"),
            Err(_) => panic!("python helper printed nothing within {WAIT:?}"),
        }
    }

    /// Next line parsed as JSON.
    pub async fn json(&mut self) -> serde_json::Value {
        let l = self.line().await;
        serde_json::from_str(&l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}"))
    }

    /// Reads lines until one starts with `prefix`; returns the rest of it.
    pub async fn wait_for(&mut self, prefix: &str) -> String {
        loop {
            let l = self.line().await;
            if let Some(rest) = l.strip_prefix(prefix) {
                return rest.trim().to_string();
            }
        }
    }

    pub async fn send_line(&mut self, s: &str) {
        let stdin = self.stdin.as_mut().expect("stdin");
        stdin.write_all(format!("{s}\n").as_bytes()).await.unwrap();
        stdin.flush().await.unwrap();
    }

    /// Waits (bounded) for a clean exit.
    pub async fn exit_ok(mut self) {
        drop(self.stdin.take());
        let st = tokio::time::timeout(WAIT, self.child.wait())
            .await
            .expect("python helper did not exit")
            .expect("wait python helper");
        assert!(st.success(), "python helper failed: {st}");
    }
}

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
pub struct AddRequest {
    pub a: i64,
    pub b: i64,
}

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
pub struct EchoRequest {
    pub text: String,
}

/// A tiny rmcp server with two tools.
#[derive(Debug, Clone)]
pub struct TestServer {
    tool_router: ToolRouter<Self>,
}

impl TestServer {
    pub fn new() -> Self {
        Self {
            tool_router: Self::tool_router(),
        }
    }
}

impl Default for TestServer {
    fn default() -> Self {
        Self::new()
    }
}

#[tool_router]
impl TestServer {
    #[tool(description = "Add two integers")]
    fn add(&self, Parameters(AddRequest { a, b }): Parameters<AddRequest>) -> String {
        (a + b).to_string()
    }

    #[tool(description = "Echo the text back")]
    fn echo(&self, Parameters(EchoRequest { text }): Parameters<EchoRequest>) -> String {
        text
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for TestServer {
    fn get_info(&self) -> ServerConfig {
        let mut cfg = ServerConfig::new(ServerCapabilities::builder().enable_tools().build());
        cfg.server_info.name = "mcpz-test".into();
        cfg
    }
}

/// Builds the Go SDK interop helper (tests/go/sse_interop, go-sdk v1.1.0 like the Go
/// mcp-gateway) once per test binary and returns its path. Fails clearly without `go`.
pub fn go_interop_binary() -> PathBuf {
    static BIN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/go/sse_interop");
        let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("sse_interop");
        let go = std::env::var_os("GO").unwrap_or_else(|| "go".into());
        let st = std::process::Command::new(&go)
            .arg("build")
            .arg("-o")
            .arg(&out)
            .arg(".")
            .current_dir(&src)
            .status()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run `go` ({e}): the Go toolchain is needed to build the go-sdk \
                     interop helper in {}",
                    src.display()
                )
            });
        assert!(st.success(), "building {} failed: {st}", src.display());
        out
    })
    .clone()
}

/// A child process other than Python (the Go helper); killed when dropped.
pub fn spawn_bin(bin: &std::path::Path, args: &[&str]) -> PyChild {
    let mut child = Command::new(bin)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()));
    let stdout = child.stdout.take().expect("stdout");
    let stdin = child.stdin.take();
    PyChild {
        child,
        stdin,
        lines: BufReader::new(stdout).lines(),
    }
}
