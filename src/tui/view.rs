//! Pure formatting helpers shared by the panes: durations, ages, clock times, truncation.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `0.4ms`, `12ms`, `1.23s`, `2m05s`.
pub(crate) fn fmt_latency(d: Duration) -> String {
    let us = d.as_micros();
    if us < 10_000 {
        format!("{:.1}ms", us as f64 / 1000.0)
    } else if us < 1_000_000 {
        format!("{}ms", us / 1000)
    } else if us < 60_000_000 {
        format!("{:.2}s", us as f64 / 1_000_000.0)
    } else {
        let s = d.as_secs();
        format!("{}m{:02}s", s / 60, s % 60)
    }
}

pub(crate) fn fmt_opt_latency(d: Option<Duration>) -> String {
    d.map(fmt_latency).unwrap_or_else(|| "-".to_string())
}

/// Coarse span: `12s`, `3m05s`, `1h02m`, `2d03h`.
pub(crate) fn fmt_span(d: Duration) -> String {
    let s = d.as_secs();
    if s < 60 {
        format!("{s}s")
    } else if s < 3600 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else if s < 86_400 {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    } else {
        format!("{}d{:02}h", s / 86_400, (s % 86_400) / 3600)
    }
}

/// Time from `then` to `now`, zero if the clock went backwards.
pub(crate) fn since(now: SystemTime, then: SystemTime) -> Duration {
    now.duration_since(then).unwrap_or_default()
}

/// `HH:MM:SS.mmm` (UTC).
pub(crate) fn fmt_clock(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let s = d.as_secs() % 86_400;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        s / 3600,
        (s % 3600) / 60,
        s % 60,
        d.subsec_millis()
    )
}

/// `YYYY-MM-DD HH:MM` (UTC).
pub(crate) fn fmt_date(t: SystemTime) -> String {
    let u = crate::core::utc::Utc::of(t);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}",
        u.year, u.month, u.day, u.hour, u.minute
    )
}

/// First line only, for one-row cells.
pub(crate) fn one_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

/// Case-insensitive substring test; `needle_lc` must already be lowercase.
pub(crate) fn matches(needle_lc: &str, fields: &[&str]) -> bool {
    needle_lc.is_empty() || fields.iter().any(|f| f.to_lowercase().contains(needle_lc))
}

/// Standard base64 (for OSC 52), to avoid a dependency for 20 lines.
pub(crate) fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        out.push(T[(n >> 18) as usize & 63] as char);
        out.push(T[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 {
            T[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if chunk.len() > 2 {
            T[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

/// The OSC 52 sequence that asks the terminal to put `text` on the clipboard.
pub fn osc52(text: &str) -> String {
    format!("\x1b]52;c;{}\x07", base64(text.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_formats() {
        assert_eq!(fmt_latency(Duration::from_micros(400)), "0.4ms");
        assert_eq!(fmt_latency(Duration::from_millis(12)), "12ms");
        assert_eq!(fmt_latency(Duration::from_millis(1234)), "1.23s");
        assert_eq!(fmt_latency(Duration::from_secs(125)), "2m05s");
    }

    #[test]
    fn spans_and_dates() {
        assert_eq!(fmt_span(Duration::from_secs(3725)), "1h02m");
        assert_eq!(
            fmt_date(UNIX_EPOCH + Duration::from_secs(1_764_028_800)),
            "2025-11-25 00:00"
        );
        assert_eq!(
            fmt_clock(UNIX_EPOCH + Duration::from_millis(3_723_004)),
            "01:02:03.004"
        );
    }

    #[test]
    fn base64_matches_rfc4648() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }
}
