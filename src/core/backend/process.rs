//! Subprocesses for stdio backends: spawned in their own process group, stderr captured into
//! tracing, and terminated as a whole group (SIGTERM, then SIGKILL after a grace period) when the
//! guard is dropped, on every path.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// How long a child group gets between SIGTERM and SIGKILL.
pub(crate) const KILL_GRACE: Duration = Duration::from_secs(5);

/// What to run.
#[derive(Clone)]
pub struct Spawn {
    pub command: String,
    pub args: Vec<String>,
    pub env: BTreeMap<String, String>,
    /// False: the child gets exactly `env`, nothing of this process's environment
    /// (`env_policy: closed`). The command is still looked up on this process's `PATH`.
    pub inherit_env: bool,
    pub working_dir: Option<PathBuf>,
}

impl std::fmt::Debug for Spawn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Environment values may be secrets: show the keys only.
        f.debug_struct("Spawn")
            .field("command", &self.command)
            .field("args", &self.args)
            .field("env_keys", &self.env.keys().collect::<Vec<_>>())
            .field("inherit_env", &self.inherit_env)
            .field("working_dir", &self.working_dir)
            .finish()
    }
}

impl Spawn {
    /// `command arg1 arg2`, for display.
    pub fn display(&self) -> String {
        let mut s = self.command.clone();
        for a in &self.args {
            s.push(' ');
            s.push_str(a);
        }
        s
    }
}

/// Process groups still alive, so that shutdown can wait for them.
#[derive(Clone, Default)]
pub struct Registry {
    inner: Arc<Mutex<Vec<i32>>>,
    /// Notified whenever a group is reaped.
    reaped: Arc<tokio::sync::Notify>,
}

impl Registry {
    fn add(&self, pgid: i32) {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(pgid);
    }

    fn remove(&self, pgid: i32) {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|p| *p != pgid);
        self.reaped.notify_waiters();
    }

    /// Returns once no group is left.
    async fn all_reaped(&self) {
        loop {
            let reaped = self.reaped.notified();
            tokio::pin!(reaped);
            reaped.as_mut().enable();
            if self.live() == 0 {
                return;
            }
            reaped.await;
        }
    }

    /// Number of process groups not yet reaped.
    pub fn live(&self) -> usize {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// SIGTERM every live group, then wait (bounded) until all are gone, SIGKILLing stragglers.
    pub(crate) async fn terminate_all(&self, grace: Duration) {
        let groups: Vec<i32> = self.inner.lock().unwrap_or_else(|e| e.into_inner()).clone();
        for g in &groups {
            let _ = killpg(Pid::from_raw(*g), Signal::SIGTERM);
        }
        let _ = tokio::time::timeout(grace + Duration::from_secs(1), self.all_reaped()).await;
        for g in self.inner.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let _ = killpg(Pid::from_raw(*g), Signal::SIGKILL);
        }
    }
}

/// Owns a running child process group. Dropping it terminates the group.
pub struct ChildGuard {
    pid: Option<i32>,
    child: Option<Child>,
    registry: Registry,
    label: String,
}

impl ChildGuard {
    pub fn pid(&self) -> Option<u32> {
        self.pid.map(|p| p as u32)
    }

    /// SIGKILL the group now (it is hung); the guard still reaps it when dropped.
    pub(crate) fn kill(&self) {
        if let Some(pid) = self.pid {
            let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }

    /// Terminate the group now and wait for the leader to exit (SIGKILL after the grace period).
    pub async fn terminate(mut self) {
        if let (Some(pid), Some(mut child)) = (self.pid.take(), self.child.take()) {
            let _ = killpg(Pid::from_raw(pid), Signal::SIGTERM);
            if tokio::time::timeout(KILL_GRACE, child.wait())
                .await
                .is_err()
            {
                tracing::warn!(backend = %self.label, pid, "did not exit after SIGTERM; sending SIGKILL");
                let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
                let _ = child.wait().await;
            }
            // Stragglers in the group that ignored SIGTERM.
            let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
            self.registry.remove(pid);
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let (Some(pid), Some(mut child)) = (self.pid.take(), self.child.take()) else {
            return;
        };
        let _ = killpg(Pid::from_raw(pid), Signal::SIGTERM);
        let registry = self.registry.clone();
        let label = std::mem::take(&mut self.label);
        // A plain thread: this must work while the runtime shuts down, too.
        let spawned = std::thread::Builder::new()
            .name("mcpz-reaper".into())
            .spawn(move || {
                let deadline = std::time::Instant::now() + KILL_GRACE;
                loop {
                    match child.try_wait() {
                        Ok(Some(_)) | Err(_) => break,
                        Ok(None) if std::time::Instant::now() >= deadline => {
                            tracing::warn!(backend = %label, pid, "did not exit after SIGTERM; sending SIGKILL");
                            let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
                            let _ = child.start_kill();
                            let t = std::time::Instant::now();
                            while t.elapsed() < Duration::from_secs(2) {
                                if !matches!(child.try_wait(), Ok(None)) {
                                    break;
                                }
                                std::thread::sleep(Duration::from_millis(10));
                            }
                            break;
                        }
                        Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                    }
                }
                let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
                registry.remove(pid);
            });
        if spawned.is_err() {
            let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
}

/// A bare command name is looked up on `PATH`; when it is not there, a file of that name next to
/// the running executable is used (so `mcp-filesystem` works from a build directory too).
pub(crate) fn resolve_command(command: &str) -> std::path::PathBuf {
    let p = std::path::Path::new(command);
    if command.contains('/') {
        return p.to_path_buf();
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let cand = dir.join(command);
            if cand.is_file() {
                return cand;
            }
        }
    }
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(|d| d.to_path_buf()))
    {
        let cand = dir.join(command);
        if cand.is_file() {
            return cand;
        }
    }
    p.to_path_buf()
}

/// Receives each stderr line of a child.
pub(crate) type LineFn = Arc<dyn Fn(&str) + Send + Sync>;

/// A spawned stdio server: its pipes and its guard.
pub struct Spawned {
    pub stdin: ChildStdin,
    pub stdout: ChildStdout,
    pub guard: ChildGuard,
}

/// Spawn `spec` in a new process group with piped stdio. The child's stderr is re-logged through
/// tracing (target `backend`) by [`super::stderr::pump`], bounded, never passed through. `on_line`
/// receives each logged stderr line too (for the console's log pane).
pub fn spawn(
    spec: &Spawn,
    label: &str,
    registry: &Registry,
    on_line: Option<LineFn>,
) -> std::io::Result<Spawned> {
    let mut cmd = Command::new(resolve_command(&spec.command));
    if !spec.inherit_env {
        cmd.env_clear();
    }
    cmd.args(&spec.args)
        .envs(&spec.env)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(false);
    if let Some(dir) = &spec.working_dir {
        cmd.current_dir(dir);
    }
    let mut child = cmd.spawn()?;
    let pid = child.id().map(|p| p as i32);
    let stdin = child
        .stdin
        .take()
        .ok_or_else(|| std::io::Error::other("no stdin pipe"))?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| std::io::Error::other("no stdout pipe"))?;
    if let Some(stderr) = child.stderr.take() {
        tokio::spawn(super::stderr::pump(stderr, label.to_string(), on_line));
    }
    if let Some(p) = pid {
        registry.add(p);
    }
    Ok(Spawned {
        stdin,
        stdout,
        guard: ChildGuard {
            pid,
            child: Some(child),
            registry: registry.clone(),
            label: label.to_string(),
        },
    })
}
