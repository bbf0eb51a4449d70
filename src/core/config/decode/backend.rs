//! One entry of `backends`: its id, name, transport and tool filter.

use std::collections::HashMap;

use super::super::yaml::{Kind, Node};
use super::super::{Backend, FilterMode, ToolFilter};
use super::keys::{name_char_ok, KeyContext, BACKEND_KEYS, NAME_CHARS, TOOLS_KEYS};
use super::reader::{get, quoted, value_hint, Ctx};
use super::transport::decode_transport;

pub(super) fn decode_backend(
    cx: &mut Ctx,
    node: &Node,
    i: usize,
    separator: &str,
    seen: &mut HashMap<String, (usize, usize)>,
) -> Option<Backend> {
    let path = format!("backends[{i}]");
    let line = node.line;
    let entries = match &node.kind {
        Kind::Map(e) => e.as_slice(),
        _ => {
            cx.err(
                &path,
                line,
                format!(
                    "expected a mapping with 'id' and 'transport', found {}",
                    node.type_name()
                ),
            );
            return None;
        }
    };
    cx.check_keys(entries, &path, BACKEND_KEYS, KeyContext::Backend);
    let before = cx.errors.len();

    let id_path = format!("{path}.id");
    let id = match get(entries, "id") {
        None => {
            cx.missing(
                &id_path,
                line,
                "required (a unique name that prefixes this backend's tool names)",
            );
            None
        }
        Some(e) => match cx.string(&e.value, &id_path, e.key_line) {
            None if matches!(e.value.kind, Kind::Null) => {
                cx.err(&id_path, e.key_line, "must not be empty");
                None
            }
            None => None,
            Some(s) if s.value.is_empty() => {
                cx.err(&id_path, e.key_line, "must not be empty");
                None
            }
            Some(s) => {
                if let Some(bad) = s.value.chars().find(|c| !name_char_ok(*c)) {
                    cx.err(
                        &id_path,
                        e.key_line,
                        format!("{bad:?} is not allowed in a backend id (it prefixes tool names, which may only use {NAME_CHARS})"),
                    );
                } else if let Some((first, first_line)) = seen.get(&s.value) {
                    cx.err(
                        &id_path,
                        e.key_line,
                        format!("duplicate backend id '{}' (also used by backends[{first}] on line {first_line})", s.value),
                    );
                } else {
                    seen.insert(s.value.clone(), (i, e.key_line));
                    if !separator.is_empty() && s.value.contains(separator) {
                        cx.warn(
                            &id_path,
                            e.key_line,
                            format!(
                                "contains the separator '{separator}', so tool names like '{}{separator}<tool>' are ambiguous to read (routing still works)",
                                s.value
                            ),
                        );
                    }
                }
                Some(s.value)
            }
        },
    };

    let name = get(entries, "name")
        .and_then(|e| cx.string(&e.value, &format!("{path}.name"), e.key_line))
        .map(|s| s.value)
        .filter(|s| !s.trim().is_empty());

    let transport = match get(entries, "transport") {
        None => {
            cx.missing(
                &format!("{path}.transport"),
                line,
                "required (with 'type: stdio|http|https|zrok')",
            );
            None
        }
        Some(e) => decode_transport(cx, &e.value, &format!("{path}.transport"), e.key_line),
    };

    let tools = match get(entries, "tools") {
        None => ToolFilter::none(),
        Some(e) => decode_tools(cx, &e.value, &format!("{path}.tools"), e.key_line),
    };

    let policy = get(entries, "policy")
        .map(|e| super::policy::decode_policy(cx, &e.value, &format!("{path}.policy"), e.key_line))
        .unwrap_or_default();

    if cx.errors.len() > before {
        return None;
    }
    Some(Backend {
        id: id?,
        name,
        transport: transport?,
        tools,
        policy,
    })
}

pub(super) fn decode_tools(cx: &mut Ctx, node: &Node, path: &str, line: usize) -> ToolFilter {
    let Some(entries) = cx.map(node, path, line, "a mapping with 'mode' and 'list'") else {
        return ToolFilter::none();
    };
    cx.check_keys(entries, path, TOOLS_KEYS, KeyContext::Tools);
    let mode = get(entries, "mode").and_then(|e| {
        let mp = format!("{path}.mode");
        let s = cx.string(&e.value, &mp, e.key_line)?;
        match s.value.as_str() {
            "allow" => Some((FilterMode::Allow, e.key_line)),
            "deny" => Some((FilterMode::Deny, e.key_line)),
            "" => None,
            _ => {
                let hint = value_hint(&s, &["allow", "deny"]);
                cx.err(
                    &mp,
                    e.key_line,
                    format!(
                        "invalid tool filter mode{}; expected 'allow' or 'deny'{hint}",
                        quoted(&s)
                    ),
                );
                None
            }
        }
    });
    let mut list = Vec::new();
    let list_line = get(entries, "list").map(|e| e.key_line);
    if let Some(e) = get(entries, "list") {
        let lp = format!("{path}.list");
        if let Some(items) = cx.string_list(&e.value, &lp, e.key_line) {
            for (i, (s, l)) in items.into_iter().enumerate() {
                let ip = format!("{lp}[{i}]");
                if s.value.trim().is_empty() {
                    cx.err(&ip, l, "empty pattern");
                    continue;
                }
                if s.value.contains(['[', ']', '\\']) {
                    cx.warn(
                        &ip,
                        l,
                        "'[', ']' and '\\' match literally in mcpz (only '*' and '?' are wildcards; the Go gateway treats them as glob syntax)",
                    );
                }
                if !list.contains(&s.value) {
                    list.push(s.value);
                }
            }
        }
    }
    match (mode, list.is_empty()) {
        (Some((m, _)), false) => ToolFilter { mode: m, list },
        (None, false) => {
            cx.warn(
                &format!("{path}.mode"),
                list_line.unwrap_or(line),
                "not set; defaulting to 'allow' (only the listed tools are exposed)",
            );
            ToolFilter {
                mode: FilterMode::Allow,
                list,
            }
        }
        (Some((FilterMode::Allow, l)), true) => {
            cx.warn(
                &format!("{path}.list"),
                list_line.unwrap_or(l),
                "empty, so no filtering is done and every tool is exposed (as in the Go gateway); list the tools to allow",
            );
            ToolFilter::none()
        }
        _ => ToolFilter::none(),
    }
}
