//! `zrok:`, how the gateway serves on zrok (upstream's keys, v0.1.6+):
//!
//! ```yaml
//! zrok:
//!   share:
//!     enabled: true                 # serve on a zrok share (default); false needs --listen
//!     access_grants: [bob@example.com]   # accounts that may access the new (closed) share
//! ```

use super::super::yaml::{Kind, Node};
use super::super::ZrokShare;
use super::keys::{KeyContext, ZROK_KEYS, ZROK_SHARE_KEYS};
use super::reader::{get, Ctx};

/// The `zrok` section, and the line of `access_grants` if given (for the checks against the
/// other keys).
pub(super) fn decode_zrok(cx: &mut Ctx, node: &Node, line: usize) -> (ZrokShare, Option<usize>) {
    let mut share = ZrokShare::default();
    if matches!(node.kind, Kind::Null) {
        return (share, None);
    }
    let Some(entries) = cx.map(node, "zrok", line, "a mapping with 'share'") else {
        return (share, None);
    };
    cx.check_keys(entries, "zrok", ZROK_KEYS, KeyContext::Zrok);
    let Some(s) = get(entries, "share") else {
        return (share, None);
    };
    if matches!(s.value.kind, Kind::Null) {
        return (share, None);
    }
    let Some(fields) = cx.map(
        &s.value,
        "zrok.share",
        s.key_line,
        "a mapping with 'enabled' and 'access_grants'",
    ) else {
        return (share, None);
    };
    cx.check_keys(fields, "zrok.share", ZROK_SHARE_KEYS, KeyContext::ZrokShare);
    if let Some(e) = get(fields, "enabled") {
        if let Some(b) = cx.bool(&e.value, "zrok.share.enabled", e.key_line) {
            share.enabled = b;
        }
    }
    let mut grants_line = None;
    if let Some(e) = get(fields, "access_grants") {
        grants_line = Some(e.key_line);
        let path = "zrok.share.access_grants";
        if let Some(items) = cx.string_list(&e.value, path, e.key_line) {
            for (i, (g, l)) in items.into_iter().enumerate() {
                let account = g.value.trim().to_string();
                if account.is_empty() {
                    cx.err(&format!("{path}[{i}]"), l, "empty account (an email)");
                } else if !share.access_grants.contains(&account) {
                    share.access_grants.push(account);
                }
            }
        }
    }
    (share, grants_line)
}
