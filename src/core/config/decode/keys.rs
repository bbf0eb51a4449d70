//! Key tables of every config section, and the did-you-mean suggestions for unknown keys and values.

pub(super) const ROOT_KEYS: &[&str] = &[
    "aggregator",
    "backends",
    "share_token",
    "session_idle_timeout",
    "orchestrator",
    "access",
    "zrok",
    "log_file",
    "resilience",
    "audit",
    "metrics",
];
pub(super) const AGGREGATOR_KEYS: &[&str] = &[
    "name",
    "version",
    "separator",
    "connection",
    "session",
    "max_message_size",
    "listener",
    "health",
    "restart",
];
pub(super) const CONNECTION_KEYS: &[&str] = &["connect_timeout", "call_timeout"];
pub(super) const SESSION_KEYS: &[&str] = &["idle_timeout"];
pub(super) const LISTENER_KEYS: &[&str] = &["header_read_timeout", "max_half_open"];
pub(super) const HEALTH_KEYS: &[&str] = &["interval", "timeout"];
pub(super) const RESTART_KEYS: &[&str] = &["max_attempts", "backoff", "max_backoff"];
pub(super) const BACKEND_KEYS: &[&str] = &["id", "name", "transport", "tools", "policy"];
pub(super) const POLICY_KEYS: &[&str] = &["paths"];
pub(super) const PATH_RULE_KEYS: &[&str] = &["tool", "argument", "roots"];
/// Every transport key: `type`, then the fields of each transport type.
pub(super) static TRANSPORT_KEYS: std::sync::LazyLock<Vec<&'static str>> =
    std::sync::LazyLock::new(|| [&["type"][..], STDIO_FIELDS, ZROK_FIELDS, HTTP_FIELDS].concat());
pub(super) const TLS_KEYS: &[&str] = &["ca_cert_file", "insecure_skip_verify"];
pub(super) const TOOLS_KEYS: &[&str] = &["mode", "list"];
pub(super) const ACCESS_KEYS: &[&str] = &["caller", "tools"];
pub(super) const ZROK_KEYS: &[&str] = &["share"];
pub(super) const ZROK_SHARE_KEYS: &[&str] = &["enabled", "access_grants"];
pub(super) const ORCHESTRATOR_KEYS: &[&str] =
    &["socket_path", "heartbeat_interval", "reconnect_interval"];
pub(super) const RESILIENCE_KEYS: &[&str] = &[
    "watchdog_enabled",
    "poll_interval",
    "zero_established_grace",
    "max_rebuild_failures",
    "heartbeat_interval",
];
pub(super) const AUDIT_KEYS: &[&str] = &["file", "rotation", "max_files", "arguments"];
pub(super) const METRICS_KEYS: &[&str] = &["listen", "allow_remote"];

pub(super) const STDIO_FIELDS: &[&str] = &["command", "args", "env", "env_policy", "working_dir"];
pub(super) const HTTP_FIELDS: &[&str] = &[
    "endpoint",
    "protocol",
    "headers",
    "allow_insecure",
    "allow_environment_proxy",
    "allow_redirects",
    "tls",
];
pub(super) const ZROK_FIELDS: &[&str] = &["share_token"];

pub(super) const NAME_CHARS: &str = "A-Z a-z 0-9 _ - .";

pub(super) fn name_char_ok(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')
}

#[derive(Clone, Copy)]
pub(super) enum KeyContext {
    Root,
    Aggregator,
    Connection,
    Session,
    Listener,
    Health,
    Restart,
    Backend,
    Transport,
    Tls,
    Tools,
    Orchestrator,
    Access,
    Zrok,
    ZrokShare,
    Policy,
    PathRule,
    Resilience,
    Audit,
    Metrics,
}

/// A key that belongs to the enclosing mapping, one level up.
pub(super) fn up_level_hint(key: &str, context: KeyContext) -> Option<String> {
    match context {
        KeyContext::Transport | KeyContext::Tools if BACKEND_KEYS.contains(&key) => {
            Some(format!("'{key}' belongs to the backend, one level up"))
        }
        KeyContext::Tls if TRANSPORT_KEYS.contains(&key) => {
            Some(format!("'{key}' belongs to 'transport', one level up"))
        }
        KeyContext::Connection
        | KeyContext::Session
        | KeyContext::Listener
        | KeyContext::Health
        | KeyContext::Restart
            if AGGREGATOR_KEYS.contains(&key) =>
        {
            Some(format!("'{key}' belongs to 'aggregator', one level up"))
        }
        KeyContext::Root
            if key != "name"
                && key != "share_token"
                && (BACKEND_KEYS.contains(&key) || TRANSPORT_KEYS.contains(&key)) =>
        {
            Some(format!(
                "'{key}' is a backend setting; backends go in a list under 'backends:' (- id: ...)"
            ))
        }
        _ => None,
    }
}

fn normalize(s: &str) -> String {
    s.chars()
        .filter(|c| *c != '_' && *c != '-')
        .flat_map(|c| c.to_lowercase())
        .collect()
}

/// Did-you-mean: same key modulo case/`_`/`-` (camelCase), a small edit distance, or a key that
/// belongs one level up or down.
pub(super) fn suggest(key: &str, allowed: &[&str], context: KeyContext) -> Option<String> {
    let nk = normalize(key);
    if let Some(a) = allowed.iter().find(|a| normalize(a) == nk) {
        return Some((*a).to_string());
    }
    let misplaced: &[(&[&str], &str)] = match context {
        KeyContext::Root => &[
            (AGGREGATOR_KEYS, "aggregator."),
            (CONNECTION_KEYS, "aggregator.connection."),
            (SESSION_KEYS, "aggregator.session."),
            (ORCHESTRATOR_KEYS, "orchestrator."),
            (RESILIENCE_KEYS, "resilience."),
        ],
        KeyContext::Aggregator => &[(CONNECTION_KEYS, "connection."), (SESSION_KEYS, "session.")],
        KeyContext::Backend => &[(&TRANSPORT_KEYS, "transport."), (TOOLS_KEYS, "tools.")],
        KeyContext::Transport => &[(TLS_KEYS, "tls.")],
        _ => &[],
    };
    for (keys, prefix) in misplaced {
        if let Some(k) = keys.iter().find(|k| normalize(k) == nk) {
            return Some(format!("{prefix}{k}"));
        }
    }
    let max = if key.chars().count() <= 4 { 1 } else { 2 };
    allowed
        .iter()
        .map(|a| (strsim::damerau_levenshtein(&key.to_lowercase(), a), *a))
        .filter(|(d, _)| *d <= max)
        .min_by_key(|(d, _)| *d)
        .map(|(_, a)| a.to_string())
}

fn common_prefix(a: &str, b: &str) -> usize {
    a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count()
}

pub(super) fn suggest_value(value: &str, allowed: &[&str]) -> String {
    let v = value.to_lowercase();
    match allowed
        .iter()
        .map(|a| (strsim::damerau_levenshtein(&v, a), *a))
        .min_by_key(|(d, _)| *d)
    {
        Some((d, a)) if d <= 2 || common_prefix(&v, a) >= 4.min(a.len()) && !v.is_empty() => {
            format!(", did you mean '{a}'?")
        }
        _ => String::new(),
    }
}
