//! `aggregator.health` and `aggregator.restart` (mcpz extensions): how backend connections are
//! checked and restored.

use super::super::model::{Aggregator, Health, Restart};
use super::super::yaml::Entry;
use super::keys::{KeyContext, HEALTH_KEYS, RESTART_KEYS};
use super::reader::{get, Ctx};

pub(super) fn decode(cx: &mut Ctx, entries: &[Entry], a: &mut Aggregator) {
    if let Some(e) = get(entries, "health") {
        a.health = health(cx, e);
    }
    if let Some(e) = get(entries, "restart") {
        a.restart = restart(cx, e);
    }
}

fn health(cx: &mut Ctx, e: &Entry) -> Health {
    let mut h = Health::default();
    let Some(m) = cx.map(&e.value, "aggregator.health", e.key_line, "a mapping") else {
        return h;
    };
    cx.check_keys(m, "aggregator.health", HEALTH_KEYS, KeyContext::Health);
    if let Some(e) = get(m, "interval") {
        if let Some(d) = cx.duration(&e.value, "aggregator.health.interval", e.key_line) {
            h.interval = d;
        }
    }
    if let Some(e) = get(m, "timeout") {
        if let Some(d) = cx.positive_duration(&e.value, "aggregator.health.timeout", e.key_line) {
            h.timeout = d;
        }
    }
    h
}

fn restart(cx: &mut Ctx, e: &Entry) -> Restart {
    let mut r = Restart::default();
    let Some(m) = cx.map(&e.value, "aggregator.restart", e.key_line, "a mapping") else {
        return r;
    };
    cx.check_keys(m, "aggregator.restart", RESTART_KEYS, KeyContext::Restart);
    if let Some(e) = get(m, "max_attempts") {
        let path = "aggregator.restart.max_attempts";
        if let Some(n) = cx.whole_number(&e.value, path, e.key_line, 0) {
            r.max_attempts = u32::try_from(n).unwrap_or(u32::MAX);
        }
    }
    let mut backoff_line = None;
    if let Some(e) = get(m, "backoff") {
        let path = "aggregator.restart.backoff";
        if let Some(d) = cx.positive_duration(&e.value, path, e.key_line) {
            r.backoff = d;
            backoff_line = Some(e.key_line);
        }
    }
    if let Some(e) = get(m, "max_backoff") {
        let path = "aggregator.restart.max_backoff";
        if let Some(d) = cx.positive_duration(&e.value, path, e.key_line) {
            r.max_backoff = d;
            backoff_line = Some(e.key_line);
        }
    }
    if let Some(line) = backoff_line.filter(|_| r.max_backoff < r.backoff) {
        cx.err(
            "aggregator.restart.max_backoff",
            line,
            format!(
                "must not be shorter than aggregator.restart.backoff ({:?} < {:?})",
                r.max_backoff, r.backoff
            ),
        );
    }
    r
}
