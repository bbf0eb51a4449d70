//! The whole document: the top-level keys, `aggregator` and `orchestrator`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use super::super::error::{ConfigError, ConfigErrors, Location, Warning};
use super::super::model::DEFAULT_SEPARATOR;
use super::super::values::parse_size;
use super::super::yaml::{self, Kind, Node, Parsed};
use super::super::{Aggregator, Config, Orchestrator};
use super::backend::decode_backend;
use super::keys::{
    name_char_ok, KeyContext, AGGREGATOR_KEYS, CONNECTION_KEYS, LISTENER_KEYS, NAME_CHARS,
    ORCHESTRATOR_KEYS, ROOT_KEYS, SESSION_KEYS,
};
use super::reader::{get, Ctx, Str};

pub(in crate::core::config) fn decode(
    text: &str,
    source: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(Config, Vec<Warning>), ConfigErrors> {
    let mut cx = Ctx {
        source,
        env,
        errors: Vec::new(),
        warnings: Vec::new(),
        suggested: Default::default(),
    };
    let file_err = |line: usize, col: Option<usize>, msg: String| {
        ConfigErrors(vec![ConfigError::new(
            "",
            msg,
            Some(Location {
                source: source.to_string(),
                line,
                column: col,
            }),
        )])
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // The YAML parser is not ours: a panic inside it must still end as an error, not a crash.
    let parsed = std::panic::catch_unwind(|| yaml::parse(text)).unwrap_or_else(|_| {
        Err(vec![yaml::BuildError::at(
            1,
            None,
            "YAML parser failed on this input (internal error; please report it)",
        )])
    });
    let root = match parsed {
        Ok(Parsed::Doc(n)) => n,
        Ok(Parsed::Empty) => return Err(file_err(
            1,
            None,
            "config file is empty; it needs at least a 'backends' list (see etc/mcp-gateway.yml)"
                .into(),
        )),
        Err(errs) => {
            return Err(ConfigErrors(
                errs.into_iter()
                    .map(|e| {
                        ConfigError::new(
                            e.field,
                            e.message,
                            Some(Location {
                                source: source.to_string(),
                                line: e.line,
                                column: e.col,
                            }),
                        )
                    })
                    .collect(),
            ))
        }
    };
    let entries = match &root.kind {
        Kind::Map(e) => e.as_slice(),
        Kind::Null => {
            return Err(file_err(
                1,
                None,
                "config file is empty; it needs at least a 'backends' list (see etc/mcp-gateway.yml)".into(),
            ))
        }
        _ => {
            return Err(file_err(
                root.line,
                None,
                format!(
                    "the top level of the config file must be a mapping (keys like 'aggregator:' and 'backends:'), found {}",
                    root.type_name()
                ),
            ))
        }
    };
    cx.check_keys(entries, "", ROOT_KEYS, KeyContext::Root);

    let (mut aggregator, ours) = match get(entries, "aggregator") {
        Some(e) => decode_aggregator(&mut cx, &e.value, e.key_line),
        None => (Aggregator::default(), None),
    };
    // Upstream's top-level `session_idle_timeout` and our `aggregator.session.idle_timeout` are
    // one setting: either may be given; both only with the same value.
    let theirs = get(entries, "session_idle_timeout").and_then(|e| {
        cx.duration(&e.value, "session_idle_timeout", e.key_line)
            .map(|d| (d, e.key_line))
    });
    match (theirs, ours) {
        (Some((a, la)), Some((b, lb))) if a != b => cx.err(
            "session_idle_timeout",
            la,
            format!(
                "differs from aggregator.session.idle_timeout (line {lb}); they are one setting (upstream's name and mcpz's): give one of them"
            ),
        ),
        (Some((d, _)), _) | (None, Some((d, _))) => aggregator.idle_timeout = d,
        (None, None) => {}
    }

    let share_token = get(entries, "share_token")
        .and_then(|e| cx.string(&e.value, "share_token", e.key_line))
        .map(|s| s.value)
        .filter(|s| !s.is_empty());

    // Whether it is used depends on the command line as well (`--share-token`, `--listen`):
    // `mcp-gateway run` warns when it is not.
    let orchestrator = get(entries, "orchestrator")
        .and_then(|e| decode_orchestrator(&mut cx, &e.value, e.key_line));

    let log_file = get(entries, "log_file")
        .and_then(|e| cx.string(&e.value, "log_file", e.key_line))
        .map(|s| s.value)
        .filter(|s| !s.is_empty())
        .map(PathBuf::from);

    let (zrok_share, grants_line) = get(entries, "zrok")
        .map(|e| super::zrok::decode_zrok(&mut cx, &e.value, e.key_line))
        .unwrap_or_default();
    // The combinations upstream refuses (gateway/config.go).
    if let Some(l) = grants_line.filter(|_| !zrok_share.access_grants.is_empty()) {
        if !zrok_share.enabled {
            cx.err(
                "zrok.share.access_grants",
                l,
                "access grants require zrok share serving to be enabled (zrok.share.enabled)",
            );
        }
        if share_token.is_some() {
            cx.err(
                "zrok.share.access_grants",
                l,
                "access grants apply only to newly created shares and cannot be used with share_token",
            );
        }
    }
    if share_token.is_some() && !zrok_share.enabled {
        let l = get(entries, "share_token").map_or(root.line, |e| e.key_line);
        cx.err("share_token", l, "share_token requires zrok.share.enabled");
    }
    let resilience = get(entries, "resilience")
        .map(|e| super::resilience::decode_resilience(&mut cx, &e.value, e.key_line))
        .unwrap_or_default();
    let access = get(entries, "access")
        .map(|e| super::access::decode_access(&mut cx, &e.value, e.key_line))
        .unwrap_or_default();
    let audit = get(entries, "audit").and_then(|e| super::ops::decode_audit(&mut cx, e));
    let metrics = get(entries, "metrics").and_then(|e| super::ops::decode_metrics(&mut cx, e));

    let mut backends = Vec::new();
    match get(entries, "backends") {
        None => cx.missing(
            "backends",
            root.line,
            "required: at least one backend is needed",
        ),
        Some(e) => match &e.value.kind {
            Kind::Null => cx.err("backends", e.key_line, "at least one backend is required"),
            Kind::Seq(items) if items.is_empty() => {
                cx.err("backends", e.key_line, "at least one backend is required")
            }
            Kind::Seq(items) => {
                let mut seen: HashMap<String, (usize, usize)> = HashMap::new();
                for (i, item) in items.iter().enumerate() {
                    if let Some(b) =
                        decode_backend(&mut cx, item, i, &aggregator.separator, &mut seen)
                    {
                        backends.push(b);
                    }
                }
            }
            _ => cx.err(
                "backends",
                e.key_line,
                format!(
                    "expected a list of backends (items starting with '- id: ...'), found {}",
                    e.value.type_name()
                ),
            ),
        },
    }

    if !cx.errors.is_empty() {
        cx.errors.sort_by_key(|e| e.line().unwrap_or(0));
        return Err(ConfigErrors(cx.errors));
    }
    let mut warnings = cx.warnings;
    warnings.sort_by_key(|w| warning_line(&w.message));
    Ok((
        Config {
            aggregator,
            backends,
            share_token,
            orchestrator,
            log_file,
            access,
            zrok_share,
            resilience,
            audit,
            metrics,
            source: source.to_string(),
        },
        warnings,
    ))
}

fn warning_line(msg: &str) -> usize {
    msg.rsplit(':')
        .next()
        .and_then(|s| s.trim_end_matches(')').parse().ok())
        .unwrap_or(0)
}

/// The aggregator, and `session.idle_timeout` with its line when given (the caller reconciles it
/// with the top-level `session_idle_timeout`).
fn decode_aggregator(
    cx: &mut Ctx,
    node: &Node,
    line: usize,
) -> (Aggregator, Option<(Duration, usize)>) {
    let mut a = Aggregator::default();
    let mut idle = None;
    let Some(entries) = cx.map(node, "aggregator", line, "a mapping") else {
        return (a, idle);
    };
    cx.check_keys(
        entries,
        "aggregator",
        AGGREGATOR_KEYS,
        KeyContext::Aggregator,
    );
    for (key, slot) in [("name", &mut a.name), ("version", &mut a.version)] {
        if let Some(e) = get(entries, key) {
            let path = format!("aggregator.{key}");
            if let Some(s) = cx.string(&e.value, &path, e.key_line) {
                if s.value.trim().is_empty() {
                    cx.err(&path, e.key_line, "must not be empty");
                } else {
                    *slot = s.value;
                }
            }
        }
    }
    if let Some(e) = get(entries, "separator") {
        let path = "aggregator.separator";
        if let Some(s) = cx.string(&e.value, path, e.key_line) {
            if check_separator(cx, &s, path, e.key_line) {
                a.separator = s.value;
            }
        }
    }
    if let Some(e) = get(entries, "connection") {
        if let Some(c) = cx.map(&e.value, "aggregator.connection", e.key_line, "a mapping") {
            cx.check_keys(
                c,
                "aggregator.connection",
                CONNECTION_KEYS,
                KeyContext::Connection,
            );
            if let Some(e) = get(c, "connect_timeout") {
                if let Some(d) = cx.positive_duration(
                    &e.value,
                    "aggregator.connection.connect_timeout",
                    e.key_line,
                ) {
                    a.connect_timeout = d;
                }
            }
            if let Some(e) = get(c, "call_timeout") {
                if let Some(d) =
                    cx.positive_duration(&e.value, "aggregator.connection.call_timeout", e.key_line)
                {
                    a.call_timeout = d;
                }
            }
        }
    }
    if let Some(e) = get(entries, "session") {
        if let Some(s) = cx.map(&e.value, "aggregator.session", e.key_line, "a mapping") {
            cx.check_keys(s, "aggregator.session", SESSION_KEYS, KeyContext::Session);
            if let Some(e) = get(s, "idle_timeout") {
                idle = cx
                    .duration(&e.value, "aggregator.session.idle_timeout", e.key_line)
                    .map(|d| (d, e.key_line));
            }
        }
    }
    if let Some(e) = get(entries, "listener") {
        if let Some(l) = cx.map(&e.value, "aggregator.listener", e.key_line, "a mapping") {
            cx.check_keys(
                l,
                "aggregator.listener",
                LISTENER_KEYS,
                KeyContext::Listener,
            );
            if let Some(e) = get(l, "header_read_timeout") {
                let path = "aggregator.listener.header_read_timeout";
                if let Some(d) = cx.positive_duration(&e.value, path, e.key_line) {
                    a.header_read_timeout = d;
                }
            }
            if let Some(e) = get(l, "max_half_open") {
                let path = "aggregator.listener.max_half_open";
                if let Some(n) = cx.whole_number(&e.value, path, e.key_line, 1) {
                    a.max_half_open = usize::try_from(n).unwrap_or(usize::MAX);
                }
            }
        }
    }
    super::supervision::decode(cx, entries, &mut a);
    if let Some(e) = get(entries, "max_message_size") {
        let path = "aggregator.max_message_size";
        if let Some(s) = cx.string(&e.value, path, e.key_line) {
            match parse_size(&s.value) {
                Ok(n) if n < 1024 => cx.err(path, e.key_line, "must be at least 1KiB (1024 bytes)"),
                Ok(n) => match usize::try_from(n) {
                    Ok(n) => a.max_message_size = n,
                    Err(_) => cx.err(path, e.key_line, "too large for this platform"),
                },
                Err(msg) => {
                    let msg = if s.secret {
                        "invalid size (value from the environment); write e.g. '16MiB'".into()
                    } else {
                        msg
                    };
                    cx.err(path, e.key_line, msg)
                }
            }
        }
    }
    (a, idle)
}

/// Separator rules: not empty; `A-Z a-z 0-9 _ - .` fine; `:` accepted with a warning (the Go
/// example mentions it); anything else is an error.
fn check_separator(cx: &mut Ctx, s: &Str, path: &str, line: usize) -> bool {
    if s.value.is_empty() {
        cx.err(path, line, format!("must not be empty (tool names are '<backend id><separator><tool>'; the default is '{DEFAULT_SEPARATOR}')"));
        return false;
    }
    if let Some(bad) = s.value.chars().find(|c| !name_char_ok(*c) && *c != ':') {
        cx.err(
            path,
            line,
            format!("{bad:?} is not allowed: MCP tool names may only use {NAME_CHARS}"),
        );
        return false;
    }
    if s.value.contains(':') {
        cx.warn(
            path,
            line,
            format!("':' is not valid in MCP tool names (allowed: {NAME_CHARS}); some clients reject or rename such tools, prefer '_'"),
        );
    }
    true
}

fn decode_orchestrator(cx: &mut Ctx, node: &Node, line: usize) -> Option<Orchestrator> {
    let entries = cx.map(node, "orchestrator", line, "a mapping")?;
    cx.check_keys(
        entries,
        "orchestrator",
        ORCHESTRATOR_KEYS,
        KeyContext::Orchestrator,
    );
    let mut o = Orchestrator::default();
    if let Some(e) = get(entries, "socket_path") {
        if let Some(s) = cx.string(&e.value, "orchestrator.socket_path", e.key_line) {
            if s.value.is_empty() {
                cx.err("orchestrator.socket_path", e.key_line, "must not be empty");
            } else {
                o.socket_path = PathBuf::from(s.value);
            }
        }
    }
    if let Some(e) = get(entries, "heartbeat_interval") {
        if let Some(d) =
            cx.positive_duration(&e.value, "orchestrator.heartbeat_interval", e.key_line)
        {
            o.heartbeat_interval = d;
        }
    }
    if let Some(e) = get(entries, "reconnect_interval") {
        if let Some(d) =
            cx.positive_duration(&e.value, "orchestrator.reconnect_interval", e.key_line)
        {
            o.reconnect_interval = d;
        }
    }
    Some(o)
}
