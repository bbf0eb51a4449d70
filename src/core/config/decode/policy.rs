//! `backends[].policy`, upstream's argument-aware path policy (v0.1.6+):
//!
//! ```yaml
//! policy:
//!   paths:
//!     - tool: read_file        # the backend's own tool name
//!       argument: path         # the argument that names a path
//!       roots: [/home/me/project]   # where it may point (resolved, symlinks followed)
//! ```

use super::super::yaml::{Kind, Node};
use super::super::PathRule;
use super::keys::{KeyContext, PATH_RULE_KEYS, POLICY_KEYS};
use super::reader::{get, Ctx};

pub(super) fn decode_policy(cx: &mut Ctx, node: &Node, path: &str, line: usize) -> Vec<PathRule> {
    let mut rules = Vec::new();
    if matches!(node.kind, Kind::Null) {
        return rules;
    }
    let Some(entries) = cx.map(node, path, line, "a mapping with 'paths'") else {
        return rules;
    };
    cx.check_keys(entries, path, POLICY_KEYS, KeyContext::Policy);
    let Some(p) = get(entries, "paths") else {
        return rules;
    };
    let pp = format!("{path}.paths");
    let items = match &p.value.kind {
        Kind::Null => return rules,
        Kind::Seq(items) => items,
        _ => {
            cx.err(
                &pp,
                p.key_line,
                format!(
                    "expected a list of rules (items starting with '- tool: ...'), found {}",
                    p.value.type_name()
                ),
            );
            return rules;
        }
    };
    for (i, item) in items.iter().enumerate() {
        let ip = format!("{pp}[{i}]");
        let Some(fields) = cx.map(
            item,
            &ip,
            item.line,
            "a mapping with 'tool', 'argument' and 'roots'",
        ) else {
            continue;
        };
        cx.check_keys(fields, &ip, PATH_RULE_KEYS, KeyContext::PathRule);
        let mut text = |key: &str| -> Option<String> {
            let kp = format!("{ip}.{key}");
            match get(fields, key) {
                None => {
                    cx.err(&kp, item.line, "required");
                    None
                }
                Some(e) => {
                    let s = cx.string(&e.value, &kp, e.key_line)?;
                    if s.value.trim().is_empty() {
                        cx.err(&kp, e.key_line, "must not be empty");
                        None
                    } else {
                        Some(s.value)
                    }
                }
            }
        };
        let (tool, argument) = (text("tool"), text("argument"));
        let rp = format!("{ip}.roots");
        let roots = match get(fields, "roots") {
            None => {
                cx.err(&rp, item.line, "required: at least one directory");
                None
            }
            Some(e) => cx.string_list(&e.value, &rp, e.key_line).and_then(|v| {
                if v.is_empty() {
                    cx.err(&rp, e.key_line, "at least one directory is required");
                    return None;
                }
                let mut out = Vec::new();
                for (j, (s, l)) in v.into_iter().enumerate() {
                    if s.value.trim().is_empty() {
                        cx.err(&format!("{rp}[{j}]"), l, "empty directory");
                    } else {
                        out.push(s.value);
                    }
                }
                Some(out)
            }),
        };
        if let (Some(tool), Some(argument), Some(roots)) = (tool, argument, roots) {
            rules.push(PathRule {
                tool,
                argument,
                roots,
            });
        }
    }
    rules
}
