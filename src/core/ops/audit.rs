//! The audit log: one JSON line per call (schema in docs/audit.md), formatted on the calling
//! thread (a few hundred bytes, no I/O) and appended to a pending buffer; every
//! [`FLUSH_EVERY`], or as soon as [`BATCH`] bytes are pending, the buffer is handed to
//! tracing-appender's non-blocking writer, whose thread writes it to a rolling file. Handing
//! over each line would wake that thread for every call, which cost the whole gateway tens of
//! microseconds per call on a 2-vCPU machine (BENCHMARKS.md); a batch wakes it once. A full
//! queue (a disk slower than the calls) drops the batch and counts its lines, as does a failed
//! write: a call never waits for the disk.
//!
//! Only what identifies a call goes in: never headers, environment, tokens or `_meta`, and the
//! arguments' keys unless `audit.arguments: true`. Every string from a client is capped.

use std::borrow::Cow;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use tracing_appender::non_blocking::{ErrorCounter, NonBlocking, NonBlockingBuilder, WorkerGuard};
use tracing_appender::rolling::{RollingFileAppender, Rotation};

use super::{Args, CallInfo, Outcome};
use crate::core::config;
use crate::core::utc::Utc;
use crate::core::wire::frame::object_fields;

/// The schema version every line carries (`"v"`).
pub(crate) const VERSION: u32 = 1;
/// Pending bytes handed to the writer thread at once (at the latest after [`FLUSH_EVERY`]).
pub(crate) const BATCH: usize = 64 * 1024;
/// How often pending lines are handed to the writer thread.
pub(crate) const FLUSH_EVERY: std::time::Duration = std::time::Duration::from_millis(100);
/// Batches waiting for the disk at most (16 MiB); beyond that batches are dropped (and counted).
const QUEUE_BATCHES: usize = 256;
/// Longest name, URI or key kept (bytes, cut at a character boundary).
const MAX_NAME: usize = 256;
const MAX_KEY: usize = 128;
/// Keys listed at most.
const MAX_KEYS: usize = 64;
/// Largest argument value logged with `audit.arguments: true` (compact JSON bytes); larger
/// arguments are logged as their size.
const MAX_ARGUMENTS: usize = 16 * 1024;
/// A warning about dropped lines at most this often.
const WARN_EVERY_SECS: u64 = 10;

/// What the audit log keeps of one request (taken when the call starts).
#[derive(Debug)]
pub(crate) struct Request {
    /// The backend's own name of the tool, if a backend serves it.
    original: Option<String>,
    keys: Vec<String>,
    keys_truncated: bool,
    values: Values,
}

#[derive(Debug)]
enum Values {
    /// `audit.arguments` is off.
    Off,
    /// The request had no arguments.
    Absent,
    /// Compact JSON.
    Json(String),
    /// Too large: its size in bytes.
    Omitted(usize),
}

/// The open audit log.
pub(crate) struct AuditLog {
    writer: NonBlocking,
    /// Batches the writer's queue refused (counted in lines in `lost`).
    queue_drops: ErrorCounter,
    pending: Mutex<Pending>,
    /// Lines lost: a batch the queue refused, or a failed write.
    lost: Arc<AtomicU64>,
    arguments: bool,
    started: Instant,
    /// Seconds after `started` of the last warning about dropped lines (+1; 0: none yet).
    warned_at: AtomicU64,
    warned_count: AtomicU64,
}

/// Lines not yet handed to the writer thread.
#[derive(Default)]
struct Pending {
    buf: Vec<u8>,
    lines: u64,
}

/// The file appender; a failed write counts its lines as lost instead of losing them silently.
struct Counting {
    inner: RollingFileAppender,
    lost: Arc<AtomicU64>,
}

impl Write for Counting {
    fn write(&mut self, batch: &[u8]) -> std::io::Result<usize> {
        if self.inner.write_all(batch).is_err() {
            let lines = batch.iter().filter(|b| **b == b'\n').count();
            self.lost.fetch_add(lines as u64, Ordering::Relaxed);
        }
        Ok(batch.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let _ = self.inner.flush();
        Ok(())
    }
}

thread_local! {
    /// The line being formatted (reused: no allocation per call).
    static LINE: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl AuditLog {
    /// Open (create, append to) the audit file of `cfg`, with its rotation.
    pub(crate) fn open(cfg: &config::Audit) -> Result<(AuditLog, WorkerGuard), String> {
        let path = &cfg.file;
        let bad = |why: String| format!("audit.file {}: {why}", path.display());
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| bad("not a file name".into()))?;
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        // `audit.jsonl` rotates into `audit.2026-12-03.jsonl`, and then names the newest file.
        let (prefix, suffix) = match name.rsplit_once('.') {
            Some((p, s)) if !p.is_empty() => (p, Some(s)),
            _ => (name, None),
        };
        let mut b = RollingFileAppender::builder().filename_prefix(prefix);
        if let Some(s) = suffix {
            b = b.filename_suffix(s);
        }
        b = match cfg.rotation {
            config::Rotation::Never => b.rotation(Rotation::NEVER),
            config::Rotation::Daily => b.rotation(Rotation::DAILY).latest_symlink(name),
            config::Rotation::Hourly => b.rotation(Rotation::HOURLY).latest_symlink(name),
        };
        if cfg.rotation != config::Rotation::Never {
            if std::fs::symlink_metadata(path).is_ok_and(|m| !m.file_type().is_symlink()) {
                return Err(bad(
                    "exists and is not a link; with rotation it becomes a link to the newest file (move it away, or set 'audit.rotation: never')".into(),
                ));
            }
            b = b.max_log_files(cfg.max_files);
        }
        let appender = b.build(dir).map_err(|e| bad(e.to_string()))?;
        let lost = Arc::new(AtomicU64::new(0));
        let (writer, guard) = NonBlockingBuilder::default()
            .lossy(true)
            .buffered_lines_limit(QUEUE_BATCHES)
            .thread_name("mcpz-audit")
            .finish(Counting {
                inner: appender,
                lost: lost.clone(),
            });
        let log = AuditLog {
            queue_drops: writer.error_counter(),
            writer,
            pending: Mutex::new(Pending::default()),
            lost,
            arguments: cfg.arguments,
            started: Instant::now(),
            warned_at: AtomicU64::new(0),
            warned_count: AtomicU64::new(0),
        };
        Ok((log, guard))
    }

    /// Lines lost so far: queue full, or the write failed.
    pub(crate) fn dropped(&self) -> u64 {
        self.lost.load(Ordering::Relaxed)
    }

    /// Hand the pending lines to the writer thread (every [`FLUSH_EVERY`], and at the end).
    pub(crate) fn flush(&self) {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        self.hand_off(&mut p);
    }

    fn hand_off(&self, p: &mut Pending) {
        if p.buf.is_empty() {
            return;
        }
        // Hand-offs are serialized by the `pending` lock: a change of the counter is ours.
        let before = self.queue_drops.dropped_lines();
        let _ = self.writer.clone().write(&p.buf);
        if self.queue_drops.dropped_lines() != before {
            self.lost.fetch_add(p.lines, Ordering::Relaxed);
        }
        p.buf.clear();
        p.lines = 0;
    }

    pub(crate) fn request(&self, original: Option<&str>, args: Args<'_>) -> Box<Request> {
        Box::new(request(original, args, self.arguments))
    }

    pub(crate) fn write(&self, c: &CallInfo<'_>, r: Option<&Request>) {
        LINE.with_borrow_mut(|line| {
            line.clear();
            format_line(line, c, r, SystemTime::now());
            let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            p.buf.extend_from_slice(line);
            p.lines += 1;
            if p.buf.len() >= BATCH {
                self.hand_off(&mut p);
            }
        });
        let dropped = self.dropped();
        if dropped > self.warned_count.load(Ordering::Relaxed) {
            self.warn_dropped(dropped);
        }
    }

    #[cold]
    fn warn_dropped(&self, dropped: u64) {
        let now = self.started.elapsed().as_secs() + 1;
        let last = self.warned_at.load(Ordering::Relaxed);
        if last != 0 && now < last + WARN_EVERY_SECS {
            return;
        }
        if self
            .warned_at
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
        {
            self.warned_count.store(dropped, Ordering::Relaxed);
            tracing::warn!(
                dropped,
                "audit log: lines dropped (the disk is slower than the calls, or writing fails)"
            );
        }
    }
}

fn request(original: Option<&str>, args: Args<'_>, arguments: bool) -> Request {
    let mut keys = Vec::new();
    let mut truncated = false;
    let mut push = |k: &str| {
        if keys.len() == MAX_KEYS {
            truncated = true;
        } else {
            truncated |= k.len() > MAX_KEY;
            keys.push(cap(k, MAX_KEY).to_string());
        }
    };
    let values = match args {
        Args::None => Values::Absent,
        Args::Json(o) => {
            o.keys().for_each(|k| push(k));
            if arguments {
                serde_json::to_string(o).map_or(Values::Absent, Values::Json)
            } else {
                Values::Off
            }
        }
        Args::Raw(raw) => {
            for (k, _) in object_fields(raw.get()).unwrap_or_default() {
                push(&k);
            }
            if arguments {
                Values::Json(compact(raw.get()))
            } else {
                Values::Off
            }
        }
    };
    // Sorted, as decoded arguments are (both paths log the same line).
    keys.sort_unstable();
    let values = match values {
        _ if !arguments => Values::Off,
        Values::Json(s) if s.len() > MAX_ARGUMENTS => Values::Omitted(s.len()),
        v => v,
    };
    Request {
        original: original.map(|o| cap(o, MAX_NAME).to_string()),
        keys,
        keys_truncated: truncated,
        values,
    }
}

/// Valid JSON text without the whitespace between tokens (one line).
fn compact(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    let (mut in_str, mut esc) = (false, false);
    for ch in json.chars() {
        if in_str {
            out.push(ch);
            match (esc, ch) {
                (true, _) => esc = false,
                (false, '\\') => esc = true,
                (false, '"') => in_str = false,
                _ => {}
            }
        } else if !matches!(ch, ' ' | '\n' | '\r' | '\t') {
            in_str = ch == '"';
            out.push(ch);
        }
    }
    out
}

/// At most `max` bytes of `s`, cut at a character boundary.
fn cap(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// A resource URI without what may carry a credential: user info, query and fragment.
fn redact_uri(uri: &str) -> Cow<'_, str> {
    let cut = uri.find(['?', '#']).unwrap_or(uri.len());
    let uri = &uri[..cut];
    if let Some((scheme, rest)) = uri.split_once("://") {
        let auth_end = rest.find('/').unwrap_or(rest.len());
        if let Some(at) = rest[..auth_end].rfind('@') {
            return Cow::Owned(format!("{scheme}://{}", &rest[at + 1..]));
        }
    }
    Cow::Borrowed(uri)
}

fn json_str(out: &mut Vec<u8>, s: &str) {
    // serde_json never fails to write a str into a Vec.
    let _ = serde_json::to_writer(&mut *out, s);
}

fn field(out: &mut Vec<u8>, name: &str, value: Option<&str>) {
    out.extend_from_slice(b",\"");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\":");
    match value {
        Some(v) => json_str(out, v),
        None => out.extend_from_slice(b"null"),
    }
}

/// One audit line (with its newline) for call `c` that started `c.duration` before `now`.
pub(crate) fn format_line(
    out: &mut Vec<u8>,
    c: &CallInfo<'_>,
    r: Option<&Request>,
    now: SystemTime,
) {
    let start = now.checked_sub(c.duration).unwrap_or(now);
    let _ = write!(out, "{{\"v\":{VERSION},\"time\":\"");
    Utc::of(start).write_rfc3339_millis(out);
    out.push(b'"');
    field(out, "session", Some(c.session));
    field(out, "caller", Some(c.caller));
    field(out, "method", Some(c.method));
    field(out, "path", Some(c.path.as_str()));
    field(out, "backend", c.backend);
    match c.method {
        "tools/call" => {
            field(out, "tool", Some(cap(c.target, MAX_NAME)));
            field(out, "backend_tool", r.and_then(|r| r.original.as_deref()));
        }
        "prompts/get" => field(out, "prompt", Some(cap(c.target, MAX_NAME))),
        "resources/read" => field(out, "uri", Some(cap(&redact_uri(c.target), MAX_NAME))),
        _ => field(out, "target", Some(cap(c.target, MAX_NAME))),
    }
    field(out, "outcome", Some(c.outcome.label()));
    match c.outcome {
        Outcome::Error(code) => {
            let _ = write!(out, ",\"code\":{code}");
        }
        Outcome::Denied(d) => field(out, "denied_by", Some(&d.rule())),
        _ => {}
    }
    let _ = write!(out, ",\"duration_us\":{}", c.duration.as_micros());
    if let Some(r) = r {
        out.extend_from_slice(b",\"argument_keys\":[");
        for (i, k) in r.keys.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            json_str(out, k);
        }
        out.push(b']');
        if r.keys_truncated {
            out.extend_from_slice(b",\"argument_keys_truncated\":true");
        }
        match &r.values {
            Values::Off => {}
            Values::Absent => out.extend_from_slice(b",\"arguments\":null"),
            Values::Json(s) => {
                out.extend_from_slice(b",\"arguments\":");
                out.extend_from_slice(s.as_bytes());
            }
            Values::Omitted(n) => {
                let _ = write!(out, ",\"arguments\":null,\"arguments_omitted_bytes\":{n}");
            }
        }
    }
    out.extend_from_slice(b"}\n");
}

#[cfg(test)]
#[path = "audit_tests.rs"]
mod tests;
