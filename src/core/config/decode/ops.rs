//! `audit:` and `metrics:` (mcpz extensions): the audit log and the Prometheus endpoint.
//!
//! ```yaml
//! audit:
//!   file: /var/log/mcp-gateway/audit.jsonl   # required
//!   rotation: daily          # daily (default) | hourly | never
//!   max_files: 30            # rotated files kept; 0 (default) keeps all
//!   arguments: false         # true: argument values too (default: keys only)
//! metrics:
//!   listen: 127.0.0.1:9464   # required; loopback unless allow_remote
//!   allow_remote: false
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;

use super::super::yaml::{Entry, Kind};
use super::super::{Audit, Metrics, Rotation};
use super::keys::{KeyContext, AUDIT_KEYS, METRICS_KEYS};
use super::reader::{get, quoted, value_hint, Ctx};

pub(super) fn decode_audit(cx: &mut Ctx, e: &Entry) -> Option<Audit> {
    if matches!(e.value.kind, Kind::Null) {
        return None;
    }
    let entries = cx.map(&e.value, "audit", e.key_line, "a mapping with 'file'")?;
    cx.check_keys(entries, "audit", AUDIT_KEYS, KeyContext::Audit);
    let file = match get(entries, "file") {
        None => {
            cx.missing(
                "audit.file",
                e.key_line,
                "required: the audit log's file (e.g. /var/log/mcp-gateway/audit.jsonl)",
            );
            None
        }
        Some(f) => cx.string(&f.value, "audit.file", f.key_line).and_then(|s| {
            let v = s.value.trim();
            if v.is_empty() || v.ends_with('/') {
                cx.err(
                    "audit.file",
                    f.key_line,
                    format!("must name a file{}", quoted(&s)),
                );
                None
            } else {
                Some(PathBuf::from(v))
            }
        }),
    };
    let mut rotation = Rotation::default();
    if let Some(r) = get(entries, "rotation") {
        if let Some(s) = cx.string(&r.value, "audit.rotation", r.key_line) {
            match s.value.trim() {
                "daily" => rotation = Rotation::Daily,
                "hourly" => rotation = Rotation::Hourly,
                "never" => rotation = Rotation::Never,
                _ => cx.err(
                    "audit.rotation",
                    r.key_line,
                    format!(
                        "expected daily, hourly or never, found{}{}",
                        quoted(&s),
                        value_hint(&s, Rotation::NAMES)
                    ),
                ),
            }
        }
    }
    let mut max_files = 0;
    if let Some(m) = get(entries, "max_files") {
        if let Some(s) = cx.string(&m.value, "audit.max_files", m.key_line) {
            match s.value.trim().parse::<usize>() {
                Ok(n) => max_files = n,
                Err(_) => cx.err(
                    "audit.max_files",
                    m.key_line,
                    format!("must be a whole number (0 keeps every file){}", quoted(&s)),
                ),
            }
        }
        if rotation == Rotation::Never && max_files > 0 {
            cx.warn(
                "audit.max_files",
                m.key_line,
                "ignored with 'rotation: never' (there is only one file)",
            );
        }
    }
    let arguments = get(entries, "arguments")
        .and_then(|a| cx.bool(&a.value, "audit.arguments", a.key_line))
        .unwrap_or(false);
    Some(Audit {
        file: file?,
        rotation,
        max_files,
        arguments,
    })
}

pub(super) fn decode_metrics(cx: &mut Ctx, e: &Entry) -> Option<Metrics> {
    if matches!(e.value.kind, Kind::Null) {
        return None;
    }
    let entries = cx.map(&e.value, "metrics", e.key_line, "a mapping with 'listen'")?;
    cx.check_keys(entries, "metrics", METRICS_KEYS, KeyContext::Metrics);
    let allow_remote = get(entries, "allow_remote")
        .and_then(|a| cx.bool(&a.value, "metrics.allow_remote", a.key_line))
        .unwrap_or(false);
    let Some(l) = get(entries, "listen") else {
        cx.missing(
            "metrics.listen",
            e.key_line,
            "required: the address to serve /metrics on (e.g. 127.0.0.1:9464)",
        );
        return None;
    };
    let s = cx.string(&l.value, "metrics.listen", l.key_line)?;
    let listen = s.value.trim().to_string();
    let port_ok = listen
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
    if !port_ok {
        cx.err(
            "metrics.listen",
            l.key_line,
            format!("expected HOST:PORT (e.g. 127.0.0.1:9464){}", quoted(&s)),
        );
        return None;
    }
    // An address literal is checked here, with its line; a host name when it is bound.
    if let Ok(a) = listen.parse::<SocketAddr>() {
        if !a.ip().is_loopback() && !allow_remote {
            cx.err(
                "metrics.listen",
                l.key_line,
                format!(
                    "{listen} is not a loopback address; /metrics names every backend and tool to anyone who can reach it: set 'metrics.allow_remote: true' to serve it there anyway"
                ),
            );
            return None;
        }
    }
    Some(Metrics {
        listen,
        allow_remote,
    })
}
