//! `mcp-gateway run` in front of this bench binary's stdio echo server (benches/support/echo.rs),
//! as the gateway, observe and soak benches start it.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

/// Writes `path`: a gateway config whose one backend `b` is this binary run with
/// `--echo-stdio`, followed by `extra` (YAML).
pub fn echo_config(path: &Path, extra: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    std::fs::write(
        path,
        format!(
            "backends:\n  - id: b\n    transport:\n      type: stdio\n      command: {}\n      args: [\"--echo-stdio\"]\n{extra}",
            serde_json::to_string(&exe.to_string_lossy()).unwrap()
        ),
    )
    .expect("write config");
    path.to_path_buf()
}

/// A gateway started by [`start`]: its process, the JSON line it printed first, and the rest
/// of its stdout.
pub struct Started {
    pub child: Child,
    pub line: serde_json::Value,
    pub lines: Lines<BufReader<ChildStdout>>,
}

/// Spawns this build's `mcp-gateway run CFG --listen 127.0.0.1:0` (stderr to `log`) and reads
/// its JSON line within `setup`.
pub async fn start(cfg: &Path, log: &Path, setup: Duration) -> Started {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mcp-gateway"))
        .arg("run")
        .arg(cfg)
        .args(["--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log).expect("log file"))
        .kill_on_drop(true)
        .spawn()
        .expect("spawn mcp-gateway");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(setup, lines.next_line())
        .await
        .expect("gateway printed its JSON line in time")
        .expect("read gateway stdout")
        .unwrap_or_else(|| panic!("gateway exited; see {}", log.display()));
    let line = serde_json::from_str(&line).expect("gateway JSON line");
    Started { child, line, lines }
}
