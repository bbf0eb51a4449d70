//! SIGTERM before and during start-up: a process that has started nothing ends at once (exit 1,
//! naming what it was reading); one that is starting its backends stops starting them, releases
//! them and ends.

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Bound on every wait here.
const WAIT: Duration = Duration::from_secs(20);

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
}

/// Runs `f` on a thread; its result, or a panic naming `what` after [`WAIT`].
fn bounded<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(WAIT)
        .unwrap_or_else(|_| panic!("{what} within {WAIT:?}"))
}

fn spawn(bin: &str, args: &[&str]) -> Child {
    Command::new(bin)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_remove("RUST_LOG")
        .spawn()
        .expect("spawn")
}

fn sigterm(child: &Child) {
    assert_eq!(
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) },
        0,
        "kill"
    );
}

/// The exit code and stderr of `child`, bounded.
fn finish(mut child: Child) -> (Option<i32>, String) {
    let mut err = child.stderr.take().unwrap();
    bounded("the process to exit after SIGTERM", move || {
        let status = child.wait().unwrap();
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        (status.code(), s)
    })
}

#[test]
fn a_config_read_that_blocks_is_ended_by_sigterm_for_every_reader() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &[&str]); 3] = [
        (env!("CARGO_BIN_EXE_mcp-gateway"), &["run", "--check"]),
        (env!("CARGO_BIN_EXE_mcp-gateway"), &["run"]),
        (env!("CARGO_BIN_EXE_mcpz"), &["gateway", "run"]),
    ];
    for (i, (bin, args)) in cases.iter().enumerate() {
        let fifo = dir.path().join(format!("config-{i}.yml"));
        mkfifo(&fifo);
        let f = fifo.to_str().unwrap().to_string();
        let mut argv: Vec<&str> = args.to_vec();
        argv.push(&f);
        let child = spawn(bin, &argv);
        // Opening the write end returns once the process has opened the FIFO to read it: it is
        // now blocked reading its config.
        let writer = {
            let f = fifo.clone();
            bounded("the process to open its config", move || {
                std::fs::OpenOptions::new().write(true).open(f).unwrap()
            })
        };
        sigterm(&child);
        let (code, stderr) = finish(child);
        drop(writer);
        assert_eq!(code, Some(1), "{argv:?}: {stderr}");
        assert!(
            stderr.contains("interrupted while reading") && stderr.contains(&f),
            "{argv:?}: {stderr}"
        );
    }
}

#[test]
fn sigterm_while_a_backend_starts_releases_it_and_ends() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("started");
    mkfifo(&marker);
    // A backend that says it runs (its pid), then never answers initialize.
    let script = format!("echo $$ > {}; exec sleep 600", marker.display());
    let child = spawn(
        env!("CARGO_BIN_EXE_mcp-bridge"),
        &[
            "--listen",
            "127.0.0.1:0",
            "--connect-timeout",
            "120s",
            "--",
            "sh",
            "-c",
            &script,
        ],
    );
    let pid: i32 = {
        let m = marker.clone();
        bounded("the backend to start", move || {
            let mut s = String::new();
            std::fs::File::open(m)
                .unwrap()
                .read_to_string(&mut s)
                .unwrap();
            s.trim().parse().unwrap()
        })
    };
    let started = Instant::now();
    sigterm(&child);
    let (code, stderr) = finish(child);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("interrupted while starting the backend"),
        "{stderr}"
    );
    assert!(
        started.elapsed() < WAIT,
        "the bridge waited for its connect timeout (120 s) instead of stopping"
    );
    // The backend's process group was terminated (gone, or a zombie nobody waits for).
    bounded("the backend to be terminated", move || loop {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => break,
            Ok(s)
                if s.rsplit(')')
                    .next()
                    .is_some_and(|r| r.trim_start().starts_with('Z')) =>
            {
                break
            }
            Ok(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    });
}
