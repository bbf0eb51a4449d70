//! A stdio backend's stderr, re-logged through tracing (target `backend`) and handed to the
//! console, never passed through, and bounded whatever the child writes:
//!
//! - a line is cut at [`MAX_LINE`] bytes (the rest of it is skipped and counted, not held);
//! - at most [`PER_SECOND`] lines a second are logged; the lines over that are counted and one
//!   warning a second says how many were not logged;
//! - the pipe is always drained, so a child that floods its stderr never blocks on it.

use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt};

use super::process::LineFn;

/// Longest stderr line kept, in bytes.
pub(crate) const MAX_LINE: usize = 8 * 1024;
/// Stderr lines logged per second per backend process.
pub(crate) const PER_SECOND: u32 = 200;

/// The rate limit: which lines to log, and how many were not.
struct Budget {
    window: Instant,
    used: u32,
    skipped: u64,
}

impl Budget {
    fn new(now: Instant) -> Self {
        Budget {
            window: now,
            used: 0,
            skipped: 0,
        }
    }

    /// Starts a new window if the current one is over; the lines the old one did not log.
    fn roll(&mut self, now: Instant) -> Option<u64> {
        if now.duration_since(self.window) < Duration::from_secs(1) {
            return None;
        }
        let skipped = self.skipped;
        *self = Budget::new(now);
        (skipped > 0).then_some(skipped)
    }

    /// Whether a line at `now` may be logged; `Some(n)` when a new window starts after `n`
    /// lines of the last one were not logged.
    fn take(&mut self, now: Instant) -> (bool, Option<u64>) {
        let report = self.roll(now);
        if self.used < PER_SECOND {
            self.used += 1;
            (true, report)
        } else {
            self.skipped += 1;
            (false, report)
        }
    }
}

fn emit(label: &str, line: &[u8], cut: usize, on_line: &Option<LineFn>) {
    let text = String::from_utf8_lossy(line);
    let text = text.trim_end_matches('\r');
    let text = if cut > 0 {
        format!("{text} … ({cut} more bytes of this line not logged)")
    } else {
        text.to_string()
    };
    tracing::info!(target: "backend", backend = %label, "{}", text);
    if let Some(f) = on_line {
        f(&text);
    }
}

/// Reads `stderr` to its end, logging it by the rules above.
pub(crate) async fn pump(
    mut stderr: impl AsyncRead + Unpin,
    label: String,
    on_line: Option<LineFn>,
) {
    // Every backend process holds one for its life: small, as stderr is seldom busy (a flood
    // costs more reads, not more memory).
    // Read into spare capacity (not zeroed): an idle child's buffer is never touched.
    let mut buf: Vec<u8> = Vec::with_capacity(2 * 1024);
    let mut line: Vec<u8> = Vec::with_capacity(256);
    let mut cut = 0usize;
    let mut budget = Budget::new(Instant::now());
    let report = |n: u64| {
        tracing::warn!(target: "backend", backend = %label, "{n} stderr lines in the last second were not logged (over {PER_SECOND} a second)");
    };
    let finish = |line: &mut Vec<u8>, cut: &mut usize, budget: &mut Budget| {
        let (log, skipped) = budget.take(Instant::now());
        if let Some(n) = skipped {
            report(n);
        }
        if log {
            emit(&label, line, *cut, &on_line);
        }
        line.clear();
        *cut = 0;
    };
    loop {
        // Lines not logged are reported when their second is over, even if the child then
        // stays silent.
        let window_end = tokio::time::Instant::from_std(budget.window + Duration::from_secs(1));
        buf.clear();
        let n = tokio::select! {
            r = stderr.read_buf(&mut buf) => match r {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) => {
                    tracing::debug!(target: "backend", backend = %label, "stderr read: {e}");
                    break;
                }
            },
            _ = tokio::time::sleep_until(window_end), if budget.skipped > 0 => {
                if let Some(n) = budget.roll(Instant::now()) {
                    report(n);
                }
                continue;
            }
        };
        let mut rest = &buf[..n];
        while !rest.is_empty() {
            let (part, ended) = match rest.iter().position(|b| *b == b'\n') {
                Some(i) => (&rest[..i], true),
                None => (rest, false),
            };
            let room = MAX_LINE - line.len();
            let keep = part.len().min(room);
            line.extend_from_slice(&part[..keep]);
            cut += part.len() - keep;
            rest = &rest[part.len() + usize::from(ended)..];
            if ended {
                finish(&mut line, &mut cut, &mut budget);
            }
        }
    }
    if !line.is_empty() || cut > 0 {
        finish(&mut line, &mut cut, &mut budget);
    }
    if budget.skipped > 0 {
        report(budget.skipped);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    async fn pumped(input: Vec<u8>) -> Vec<String> {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        let f: LineFn = Arc::new(move |l: &str| s.lock().unwrap().push(l.to_string()));
        pump(std::io::Cursor::new(input), "t".into(), Some(f)).await;
        let v = seen.lock().unwrap().clone();
        v
    }

    #[tokio::test]
    async fn long_lines_are_cut_and_floods_are_limited() {
        let mut input = b"first\r\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', 3 * MAX_LINE));
        input.extend_from_slice(b"\nlast without newline");
        let lines = pumped(input).await;
        assert_eq!(
            lines.len(),
            3,
            "{:?}",
            lines.iter().map(|l| l.len()).collect::<Vec<_>>()
        );
        assert_eq!(lines[0], "first");
        assert!(lines[1].starts_with(&"x".repeat(MAX_LINE)));
        assert!(lines[1].ends_with(&format!(
            "… ({} more bytes of this line not logged)",
            2 * MAX_LINE
        )));
        assert_eq!(lines[2], "last without newline");
        // A flood within one second: PER_SECOND lines pass, the rest are only counted.
        let flood: Vec<u8> = (0..5000)
            .flat_map(|i| format!("line {i}\n").into_bytes())
            .collect();
        let lines = pumped(flood).await;
        assert_eq!(lines.len(), PER_SECOND as usize);
        assert_eq!(lines[0], "line 0");
    }

    #[test]
    fn budget_reports_what_it_skipped() {
        let t0 = Instant::now();
        let mut b = Budget::new(t0);
        for _ in 0..PER_SECOND {
            assert_eq!(b.take(t0), (true, None));
        }
        assert_eq!(b.take(t0), (false, None));
        assert_eq!(b.take(t0), (false, None));
        assert_eq!(b.take(t0 + Duration::from_secs(1)), (true, Some(2)));
        assert_eq!(b.take(t0 + Duration::from_secs(3)), (true, None));
    }
}
