//! A small registry of the ephemeral shares and the accesses this gateway created, so that a share
//! or an access left behind by a crash (`kill -9`, power loss) is deleted on the next start of the
//! same gateway.
//!
//! The file (default `$XDG_STATE_HOME/mcpz/shares.json`, else `~/.local/state/mcpz/shares.json`)
//! holds one entry per live ephemeral share: gateway key, envZId, share token, and the creating
//! process (pid, its start time, a random per-process instance id). An entry is *stale* when it
//! belongs to the same gateway and environment and its process is gone (pid not alive, or alive
//! with another start time, or it is our pid but a different instance). Entries of a running
//! process (e.g. a second copy of the same gateway) are left alone. Accesses (zrok backends,
//! `mcp-tools`) are kept the same way in a second list, with their frontend token.
//!
//! Writes are atomic (temporary file + rename) under an advisory lock (`shares.json.lock`); the
//! file is mode 0600 in a 0700 directory. The calls do small blocking file I/O.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

const FILE_VERSION: u32 = 1;

/// Identifies one gateway across restarts: its config path (hashed) or an explicit name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GatewayKey(String);

impl GatewayKey {
    /// Key for a gateway started from this config file (canonical path, FNV-1a hashed).
    pub(crate) fn from_config_path(path: &Path) -> GatewayKey {
        let p = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        GatewayKey(format!(
            "config-{:016x}",
            fnv1a64(p.as_os_str().as_encoded_bytes())
        ))
    }

    /// Key from an explicit name (e.g. `--name`).
    pub fn named(name: &str) -> GatewayKey {
        GatewayKey(format!("name-{name}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

/// The process that recorded an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProcessStamp {
    pub(crate) pid: u32,
    /// Start time of the process (Linux: clock ticks since boot from `/proc/<pid>/stat`).
    pub(crate) start: Option<u64>,
    /// Random id, unique per process.
    pub(crate) instance: String,
}

impl ProcessStamp {
    /// This process.
    pub(crate) fn current() -> ProcessStamp {
        static ME: OnceLock<ProcessStamp> = OnceLock::new();
        ME.get_or_init(|| {
            let pid = std::process::id();
            ProcessStamp {
                pid,
                start: process_start(pid),
                instance: uuid::Uuid::new_v4().simple().to_string(),
            }
        })
        .clone()
    }

    /// Another (running) process, to record on its behalf in tests.
    #[cfg(test)]
    pub(crate) fn of_pid(pid: u32) -> ProcessStamp {
        ProcessStamp {
            pid,
            start: process_start(pid),
            instance: uuid::Uuid::new_v4().simple().to_string(),
        }
    }
}

/// Start time of a process in clock ticks since boot (`/proc/<pid>/stat` field 22), if known.
fn process_start(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces and ')': fields restart after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

fn pid_alive(pid: u32) -> bool {
    let Ok(p) = i32::try_from(pid) else {
        return false;
    };
    if p <= 0 {
        return false;
    }
    match nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), None) {
        Ok(()) => true,
        Err(nix::errno::Errno::EPERM) => true,
        Err(_) => false,
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Entry {
    gateway: String,
    #[serde(rename = "envZId")]
    env_zid: String,
    share_token: String,
    pid: u32,
    #[serde(default)]
    start: Option<u64>,
    #[serde(default)]
    instance: String,
    #[serde(default)]
    recorded_at: u64,
    /// An access's frontend token (entries of `accesses` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    frontend: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct FileData {
    #[serde(default)]
    v: u32,
    #[serde(default)]
    shares: Vec<Entry>,
    /// Older versions ignore this list (and drop it when they rewrite the file).
    #[serde(default)]
    accesses: Vec<Entry>,
}

/// The ephemeral shares of one gateway in one zrok environment.
#[derive(Debug, Clone)]
pub struct ShareRegistry {
    path: PathBuf,
    gateway: GatewayKey,
    env_zid: String,
    me: ProcessStamp,
}

impl ShareRegistry {
    /// `$XDG_STATE_HOME/mcpz/shares.json` (if `XDG_STATE_HOME` is an absolute path), else
    /// `$HOME/.local/state/mcpz/shares.json`.
    pub(crate) fn default_path() -> Option<PathBuf> {
        if let Some(x) = std::env::var_os("XDG_STATE_HOME") {
            let x = PathBuf::from(x);
            if x.is_absolute() {
                return Some(x.join("mcpz").join("shares.json"));
            }
        }
        let home = std::env::var_os("HOME").filter(|h| !h.is_empty())?;
        Some(PathBuf::from(home).join(".local/state/mcpz/shares.json"))
    }

    /// A registry stored in `path`, for `gateway` in the environment `env_zid`, recording as this
    /// process.
    pub fn new(path: impl Into<PathBuf>, gateway: GatewayKey, env_zid: &str) -> ShareRegistry {
        ShareRegistry {
            path: path.into(),
            gateway,
            env_zid: env_zid.to_string(),
            me: ProcessStamp::current(),
        }
    }

    /// Record (and judge staleness) as another process.
    #[cfg(test)]
    pub(crate) fn with_process(mut self, stamp: ProcessStamp) -> ShareRegistry {
        self.me = stamp;
        self
    }

    pub fn env_zid(&self) -> &str {
        &self.env_zid
    }

    fn mine(&self, e: &Entry) -> bool {
        e.gateway == self.gateway.0 && e.env_zid == self.env_zid
    }

    fn entry(&self, share_token: &str, frontend: Option<&str>) -> Entry {
        Entry {
            gateway: self.gateway.0.clone(),
            env_zid: self.env_zid.clone(),
            share_token: share_token.to_string(),
            pid: self.me.pid,
            start: self.me.start,
            instance: self.me.instance.clone(),
            recorded_at: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            frontend: frontend.map(str::to_string),
        }
    }

    /// Remember a share this process just created.
    pub fn record(&self, share_token: &str) -> io::Result<()> {
        let entry = self.entry(share_token, None);
        self.update(|data| {
            data.shares
                .retain(|e| !(e.env_zid == self.env_zid && e.share_token == share_token));
            data.shares.push(entry);
            true
        })
    }

    /// Remember an access (to `share_token`, as `frontend`) this process just created.
    pub fn record_access(&self, share_token: &str, frontend: &str) -> io::Result<()> {
        let entry = self.entry(share_token, Some(frontend));
        self.update(|data| {
            data.accesses.retain(|e| {
                !(e.env_zid == self.env_zid && e.frontend.as_deref() == Some(frontend))
            });
            data.accesses.push(entry);
            true
        })
    }

    /// Forget an access (released, or already gone).
    pub fn forget_access(&self, frontend: &str) -> io::Result<()> {
        self.update(|data| {
            let before = data.accesses.len();
            data.accesses
                .retain(|e| !(self.mine(e) && e.frontend.as_deref() == Some(frontend)));
            data.accesses.len() != before
        })
    }

    /// Accesses of this gateway and environment whose creating process is gone:
    /// (share token, frontend token).
    pub fn stale_accesses(&self) -> io::Result<Vec<(String, String)>> {
        let _lock = self.lock()?;
        let data = self.read()?;
        Ok(data
            .accesses
            .iter()
            .filter(|e| self.mine(e) && !self.owner_running(e))
            .filter_map(|e| Some((e.share_token.clone(), e.frontend.clone()?)))
            .collect())
    }

    /// Forget a share (after deleting it, or when it was already gone).
    pub(crate) fn forget(&self, share_token: &str) -> io::Result<()> {
        self.update(|data| {
            let before = data.shares.len();
            data.shares
                .retain(|e| !(self.mine(e) && e.share_token == share_token));
            data.shares.len() != before
        })
    }

    /// Shares of this gateway and environment whose creating process is gone.
    pub fn stale(&self) -> io::Result<Vec<String>> {
        let _lock = self.lock()?;
        let data = self.read()?;
        Ok(data
            .shares
            .iter()
            .filter(|e| self.mine(e) && !self.owner_running(e))
            .map(|e| e.share_token.clone())
            .collect())
    }

    /// Every share recorded for this gateway and environment (running owners included).
    pub fn recorded(&self) -> io::Result<Vec<String>> {
        let _lock = self.lock()?;
        Ok(self
            .read()?
            .shares
            .iter()
            .filter(|e| self.mine(e))
            .map(|e| e.share_token.clone())
            .collect())
    }

    fn owner_running(&self, e: &Entry) -> bool {
        if e.instance == self.me.instance {
            return true;
        }
        if e.pid == self.me.pid {
            // Same pid, other instance: an earlier process that had our pid.
            return false;
        }
        if !pid_alive(e.pid) {
            return false;
        }
        match (e.start, process_start(e.pid)) {
            (Some(recorded), Some(now)) => recorded == now,
            _ => true,
        }
    }

    fn lock(&self) -> io::Result<FileLock> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        if !dir.as_os_str().is_empty() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)?;
        }
        let mut lp = self.path.clone().into_os_string();
        lp.push(".lock");
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(PathBuf::from(lp))?;
        // SAFETY: flock on a valid, owned file descriptor.
        let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(FileLock(f))
    }

    fn read(&self) -> io::Result<FileData> {
        let bytes = match fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(FileData::default()),
            Err(e) => return Err(e),
        };
        match serde_json::from_slice::<FileData>(&bytes) {
            Ok(d) => Ok(d),
            Err(_) => {
                // Keep the unreadable file for inspection and start over.
                let mut aside = self.path.clone().into_os_string();
                aside.push(".corrupt");
                let _ = fs::rename(&self.path, PathBuf::from(aside));
                Ok(FileData::default())
            }
        }
    }

    fn update(&self, f: impl FnOnce(&mut FileData) -> bool) -> io::Result<()> {
        let _lock = self.lock()?;
        let mut data = self.read()?;
        if !f(&mut data) {
            return Ok(());
        }
        data.v = FILE_VERSION;
        let json = serde_json::to_vec_pretty(&data).map_err(io::Error::other)?;
        let mut tmp = self.path.clone().into_os_string();
        tmp.push(format!(".tmp.{}", std::process::id()));
        let tmp = PathBuf::from(tmp);
        let res = (|| {
            let mut file = OpenOptions::new()
                .create(true)
                .truncate(true)
                .write(true)
                .mode(0o600)
                .open(&tmp)?;
            file.write_all(&json)?;
            file.write_all(b"\n")?;
            file.sync_all()?;
            fs::rename(&tmp, &self.path)
        })();
        if res.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        res
    }
}

/// Holds an advisory lock until dropped (closing the descriptor releases it).
struct FileLock(#[allow(dead_code)] File);

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn dead_stamp() -> ProcessStamp {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        ProcessStamp {
            pid,
            start: Some(1),
            instance: "dead".into(),
        }
    }

    #[test]
    fn record_forget_stale() {
        let t = tempfile::tempdir().unwrap();
        let path = t.path().join("state/mcpz/shares.json");
        let key = GatewayKey::named("gw");
        let reg = ShareRegistry::new(&path, key.clone(), "env1");
        reg.record("aaaaaaaaaaaa").unwrap();
        assert_eq!(reg.recorded().unwrap(), vec!["aaaaaaaaaaaa"]);
        // Ours and running: not stale.
        assert!(reg.stale().unwrap().is_empty());

        // A previous run that died.
        let old = ShareRegistry::new(&path, key.clone(), "env1").with_process(dead_stamp());
        old.record("bbbbbbbbbbbb").unwrap();
        assert_eq!(reg.stale().unwrap(), vec!["bbbbbbbbbbbb"]);
        // Other gateway / other environment: never ours.
        let other_gw = ShareRegistry::new(&path, GatewayKey::named("gw2"), "env1");
        assert!(other_gw.stale().unwrap().is_empty());
        let other_env = ShareRegistry::new(&path, key.clone(), "env2");
        assert!(other_env.stale().unwrap().is_empty());

        reg.forget("bbbbbbbbbbbb").unwrap();
        assert!(reg.stale().unwrap().is_empty());
        reg.forget("aaaaaaaaaaaa").unwrap();
        assert!(reg.recorded().unwrap().is_empty());

        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dmode = fs::metadata(path.parent().unwrap())
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(dmode, 0o700);
        // No temporary files left behind.
        let names: Vec<_> = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(names.iter().all(|n| !n.contains(".tmp.")), "{names:?}");
    }

    #[test]
    fn accesses_are_kept_apart_from_shares() {
        let t = tempfile::tempdir().unwrap();
        let path = t.path().join("shares.json");
        let key = GatewayKey::named("gw");
        let reg = ShareRegistry::new(&path, key.clone(), "env1");
        reg.record_access("shr111111111", "fe-live").unwrap();
        let old = ShareRegistry::new(&path, key.clone(), "env1").with_process(dead_stamp());
        old.record_access("shr222222222", "fe-dead").unwrap();
        old.record("shr333333333").unwrap();
        // Shares and accesses are judged apart; only the dead run's access is stale.
        assert_eq!(reg.stale().unwrap(), vec!["shr333333333"]);
        assert_eq!(
            reg.stale_accesses().unwrap(),
            vec![("shr222222222".to_string(), "fe-dead".to_string())]
        );
        reg.forget_access("fe-dead").unwrap();
        assert!(reg.stale_accesses().unwrap().is_empty());
        // A file without the accesses list (an older mcpz) still reads.
        fs::write(&path, r#"{"v":1,"shares":[]}"#).unwrap();
        assert!(reg.stale_accesses().unwrap().is_empty());
        assert!(reg.recorded().unwrap().is_empty());
    }

    #[test]
    fn same_pid_other_instance_is_stale_running_process_is_not() {
        let t = tempfile::tempdir().unwrap();
        let path = t.path().join("shares.json");
        let key = GatewayKey::named("gw");
        let me = ProcessStamp::current();
        // A previous process that had our pid (e.g. pid 1 in a container).
        let previous = ProcessStamp {
            instance: "previous".into(),
            ..me.clone()
        };
        ShareRegistry::new(&path, key.clone(), "e")
            .with_process(previous)
            .record("cccccccccccc")
            .unwrap();
        // A running process with its real start time.
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let running = ProcessStamp::of_pid(child.id());
        ShareRegistry::new(&path, key.clone(), "e")
            .with_process(running.clone())
            .record("dddddddddddd")
            .unwrap();
        // The same pid with another start time (pid reuse) is stale.
        ShareRegistry::new(&path, key.clone(), "e")
            .with_process(ProcessStamp {
                start: running.start.map(|s| s + 1),
                instance: "reused".into(),
                ..running.clone()
            })
            .record("eeeeeeeeeeee")
            .unwrap();
        let reg = ShareRegistry::new(&path, key.clone(), "e");
        let mut stale = reg.stale().unwrap();
        stale.sort();
        assert_eq!(stale, vec!["cccccccccccc", "eeeeeeeeeeee"]);
        child.kill().unwrap();
        child.wait().unwrap();
        let mut stale = reg.stale().unwrap();
        stale.sort();
        assert_eq!(stale, vec!["cccccccccccc", "dddddddddddd", "eeeeeeeeeeee"]);
    }

    #[test]
    fn corrupt_file_is_set_aside() {
        let t = tempfile::tempdir().unwrap();
        let path = t.path().join("shares.json");
        fs::write(&path, "{not json").unwrap();
        let reg = ShareRegistry::new(&path, GatewayKey::named("gw"), "e");
        assert!(reg.stale().unwrap().is_empty());
        reg.record("ffffffffffff").unwrap();
        assert_eq!(reg.recorded().unwrap(), vec!["ffffffffffff"]);
        assert!(t.path().join("shares.json.corrupt").exists());
    }

    #[test]
    fn gateway_keys() {
        let t = tempfile::tempdir().unwrap();
        let cfg = t.path().join("gw.yml");
        fs::write(&cfg, "x").unwrap();
        let a = GatewayKey::from_config_path(&cfg);
        let b = GatewayKey::from_config_path(&t.path().join(".").join("gw.yml"));
        assert_eq!(a, b);
        assert!(a.as_str().starts_with("config-"));
        assert_ne!(a, GatewayKey::from_config_path(&t.path().join("other.yml")));
        assert_eq!(GatewayKey::named("x").as_str(), "name-x");
        assert_eq!(fnv1a64(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a64(b"a"), 0xaf63dc4c8601ec8c);
    }
}
