//! `resilience:`, the share-listener watchdog (upstream's keys and defaults, v0.1.8):
//!
//! ```yaml
//! resilience:
//!   watchdog_enabled: true        # false: no watchdog, no alive line
//!   poll_interval: 10s            # > 0 while the watchdog is on
//!   zero_established_grace: 90s   # > 0 while the watchdog is on
//!   max_rebuild_failures: 5       # > 0 while the watchdog is on
//!   heartbeat_interval: 5m        # 0: no alive line
//! ```

use super::super::yaml::{Kind, Node};
use super::super::Resilience;
use super::keys::{KeyContext, RESILIENCE_KEYS};
use super::reader::{get, quoted, Ctx};

pub(super) fn decode_resilience(cx: &mut Ctx, node: &Node, line: usize) -> Resilience {
    let mut r = Resilience::default();
    if matches!(node.kind, Kind::Null) {
        return r;
    }
    let Some(entries) = cx.map(node, "resilience", line, "a mapping") else {
        return r;
    };
    cx.check_keys(
        entries,
        "resilience",
        RESILIENCE_KEYS,
        KeyContext::Resilience,
    );
    if let Some(e) = get(entries, "watchdog_enabled") {
        if let Some(b) = cx.bool(&e.value, "resilience.watchdog_enabled", e.key_line) {
            r.watchdog_enabled = b;
        }
    }
    // Zero is refused only while the watchdog is on (as upstream); collected until that is known.
    let mut zeros: Vec<(&str, usize)> = Vec::new();
    for (key, slot) in [
        ("poll_interval", &mut r.poll_interval),
        ("zero_established_grace", &mut r.zero_established_grace),
        ("heartbeat_interval", &mut r.heartbeat_interval),
    ] {
        let Some(e) = get(entries, key) else { continue };
        let path = format!("resilience.{key}");
        if let Some(d) = cx.duration(&e.value, &path, e.key_line) {
            if d.is_zero() && key != "heartbeat_interval" {
                zeros.push((key, e.key_line));
            }
            *slot = d;
        }
    }
    if let Some(e) = get(entries, "max_rebuild_failures") {
        let path = "resilience.max_rebuild_failures";
        if let Some(s) = cx.string(&e.value, path, e.key_line) {
            let t = s.value.trim();
            match t.parse::<u32>() {
                Ok(n) => {
                    if n == 0 {
                        zeros.push(("max_rebuild_failures", e.key_line));
                    }
                    r.max_rebuild_failures = n;
                }
                Err(_) if t.starts_with('-') && t[1..].chars().all(|c| c.is_ascii_digit()) => {
                    cx.err(path, e.key_line, "must not be negative")
                }
                Err(_) => cx.err(
                    path,
                    e.key_line,
                    format!("must be a whole number greater than zero{}", quoted(&s)),
                ),
            }
        }
    }
    // Off, the values are never used (zeros are kept as given).
    if r.watchdog_enabled {
        for (key, l) in zeros {
            cx.err(
                &format!("resilience.{key}"),
                l,
                "must be greater than zero while the watchdog is on (watchdog_enabled: false turns it off)",
            );
        }
    }
    r
}
