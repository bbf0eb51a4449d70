//! `access:`, the per-caller tool rules (mcpz extension): a list of `{caller, tools}` entries.
//!
//! ```yaml
//! access:
//!   - caller: [ops-*, local]        # caller names (globs): OpenZiti identities, or `local`
//!     tools: {mode: deny, list: []} # every tool
//!   - caller: "*"                   # everybody else
//!     tools: {mode: allow, list: ["fs_read_*", "fs_list_*"]}
//! ```

use super::super::yaml::{Kind, Node};
use super::super::AccessRule;
use super::backend::decode_tools;
use super::keys::{KeyContext, ACCESS_KEYS};
use super::reader::{get, Ctx};

pub(super) fn decode_access(cx: &mut Ctx, node: &Node, line: usize) -> Vec<AccessRule> {
    let items = match &node.kind {
        Kind::Null => return Vec::new(),
        Kind::Seq(items) => items,
        _ => {
            cx.err(
                "access",
                line,
                format!(
                    "expected a list of rules (items starting with '- caller: ...'), found {}",
                    node.type_name()
                ),
            );
            return Vec::new();
        }
    };
    let mut rules = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let path = format!("access[{i}]");
        let Some(entries) = cx.map(
            item,
            &path,
            item.line,
            "a mapping with 'caller' and 'tools'",
        ) else {
            continue;
        };
        cx.check_keys(entries, &path, ACCESS_KEYS, KeyContext::Access);
        let callers = match get(entries, "caller") {
            None => {
                cx.err(
                    &format!("{path}.caller"),
                    item.line,
                    "required: the caller names this rule is for ('*' for everybody, 'local' for loopback and stdio)",
                );
                None
            }
            Some(e) => {
                let cp = format!("{path}.caller");
                let list = match &e.value.kind {
                    Kind::Seq(_) => cx
                        .string_list(&e.value, &cp, e.key_line)
                        .map(|v| v.into_iter().map(|(s, _)| s.value).collect::<Vec<_>>()),
                    _ => cx.string(&e.value, &cp, e.key_line).map(|s| vec![s.value]),
                };
                match list {
                    Some(l) if l.iter().any(|p| p.trim().is_empty()) || l.is_empty() => {
                        cx.err(&cp, e.key_line, "empty caller pattern");
                        None
                    }
                    other => other,
                }
            }
        };
        let tools = match get(entries, "tools") {
            Some(e) => decode_tools(cx, &e.value, &format!("{path}.tools"), e.key_line),
            None => {
                cx.err(
                    &format!("{path}.tools"),
                    item.line,
                    "required: which tools these callers may use ({mode: allow|deny, list: [...]})",
                );
                continue;
            }
        };
        if let Some(callers) = callers {
            rules.push(AccessRule { callers, tools });
        }
    }
    rules
}
