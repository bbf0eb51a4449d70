//! From the YAML tree to a validated [`Config`]: key checks, `${VAR}` expansion, types, rules.
//! Every problem is collected; nothing stops at the first.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::Duration;

use super::error::{ConfigError, ConfigErrors, Location, Warning};
use super::values::{expand, parse_duration, parse_size, Expanded};
use super::yaml::{self, Entry, Kind, Node, Parsed};
use super::*;

const ROOT_KEYS: &[&str] = &[
    "aggregator",
    "backends",
    "share_token",
    "orchestrator",
    "log_file",
];
const AGGREGATOR_KEYS: &[&str] = &[
    "name",
    "version",
    "separator",
    "connection",
    "session",
    "max_message_size",
];
const CONNECTION_KEYS: &[&str] = &["connect_timeout", "call_timeout"];
const SESSION_KEYS: &[&str] = &["idle_timeout"];
const BACKEND_KEYS: &[&str] = &["id", "name", "transport", "tools"];
const TRANSPORT_KEYS: &[&str] = &[
    "type",
    "command",
    "args",
    "env",
    "working_dir",
    "share_token",
    "endpoint",
    "protocol",
    "headers",
    "allow_insecure",
    "tls",
];
const TLS_KEYS: &[&str] = &["ca_cert_file", "insecure_skip_verify"];
const TOOLS_KEYS: &[&str] = &["mode", "list"];
const ORCHESTRATOR_KEYS: &[&str] = &["socket_path", "heartbeat_interval"];

const STDIO_FIELDS: &[&str] = &["command", "args", "env", "working_dir"];
const HTTP_FIELDS: &[&str] = &["endpoint", "protocol", "headers", "allow_insecure", "tls"];
const ZROK_FIELDS: &[&str] = &["share_token"];

const NAME_CHARS: &str = "A-Z a-z 0-9 _ - .";

fn name_char_ok(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')
}

/// A string value after `${VAR}` expansion.
struct Str {
    value: String,
    /// Came (partly) from the environment: never echo it.
    secret: bool,
}

struct Ctx<'a> {
    source: &'a str,
    env: &'a dyn Fn(&str) -> Option<String>,
    errors: Vec<ConfigError>,
    warnings: Vec<Warning>,
    /// Field paths an unknown key was suggested for: "required" errors for them are redundant.
    suggested: std::collections::HashSet<String>,
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Shows a value in a message, shortened; `None` when it must not be shown.
fn show(s: &Str) -> Option<String> {
    if s.secret {
        return None;
    }
    let mut v: String = s.value.chars().take(60).collect();
    if v.len() < s.value.len() {
        v.push('…');
    }
    Some(v)
}

fn quoted(s: &Str) -> String {
    match show(s) {
        Some(v) => format!(" '{v}'"),
        None => " (value from the environment)".to_string(),
    }
}

impl Ctx<'_> {
    fn loc(&self, line: usize) -> Option<Location> {
        Some(Location {
            source: self.source.to_string(),
            line,
            column: None,
        })
    }

    fn err(&mut self, field: &str, line: usize, msg: impl Into<String>) {
        let e = ConfigError::new(field, msg, self.loc(line));
        self.errors.push(e);
    }

    /// A required field is missing, unless a misspelled key already pointed at it.
    fn missing(&mut self, field: &str, line: usize, msg: impl Into<String>) {
        if !self.suggested.contains(field) {
            self.err(field, line, msg);
        }
    }

    fn warn(&mut self, field: &str, line: usize, msg: impl AsRef<str>) {
        let message = format!("{field}: {} ({}:{line})", msg.as_ref(), self.source);
        self.warnings.push(Warning { message });
    }

    /// The entries of a mapping value; `None` (after reporting) when it is not a mapping.
    /// Null counts as an empty mapping.
    fn map<'n>(
        &mut self,
        node: &'n Node,
        path: &str,
        line: usize,
        what: &str,
    ) -> Option<&'n [Entry]> {
        match &node.kind {
            Kind::Map(entries) => Some(entries),
            Kind::Null => Some(&[]),
            _ => {
                self.err(
                    path,
                    line,
                    format!("expected {what}, found {}", node.type_name()),
                );
                None
            }
        }
    }

    /// Reports keys not in `allowed`, with a suggestion.
    fn check_keys(&mut self, entries: &[Entry], path: &str, allowed: &[&str], context: KeyContext) {
        for e in entries {
            if allowed.contains(&e.key.as_str()) {
                continue;
            }
            let field = join(path, &e.key);
            let msg = match (
                up_level_hint(&e.key, context),
                suggest(&e.key, allowed, context),
            ) {
                (Some(hint), _) => format!("unknown field; {hint}"),
                (None, Some(s)) => {
                    self.suggested.insert(join(path, &s));
                    format!("unknown field, did you mean '{s}'?")
                }
                (None, None) => format!("unknown field (expected one of: {})", allowed.join(", ")),
            };
            self.err(&field, e.key_line, msg);
        }
    }

    /// A scalar as a string, `${VAR}`-expanded. Null gives `None` without error.
    fn string(&mut self, node: &Node, path: &str, line: usize) -> Option<Str> {
        match &node.kind {
            Kind::Null => None,
            Kind::Scalar { text, .. } => match expand(text, self.env) {
                Expanded::Ok(value, secret) => Some(Str { value, secret }),
                Expanded::Unset(name) => {
                    self.err(
                        path,
                        line,
                        format!("environment variable '{name}' is not set"),
                    );
                    None
                }
                Expanded::Bad(msg) => {
                    self.err(path, line, msg);
                    None
                }
            },
            _ => {
                self.err(
                    path,
                    line,
                    format!("expected a string, found {}", node.type_name()),
                );
                None
            }
        }
    }

    fn bool(&mut self, node: &Node, path: &str, line: usize) -> Option<bool> {
        let s = self.string(node, path, line)?;
        match s.value.trim() {
            // Go's strconv.ParseBool set (what the Go gateway's loader accepts).
            "true" | "True" | "TRUE" | "t" | "T" | "1" => Some(true),
            "false" | "False" | "FALSE" | "f" | "F" | "0" => Some(false),
            _ => {
                self.err(
                    path,
                    line,
                    format!("expected true or false, found{}", quoted(&s)),
                );
                None
            }
        }
    }

    fn duration(&mut self, node: &Node, path: &str, line: usize) -> Option<Duration> {
        if let Kind::Scalar { text, plain: true } = &node.kind {
            // A bare YAML number: the Go loader takes it as nanoseconds. Keep that, but say so.
            let t = text.trim();
            if !t.is_empty() && t.chars().all(|c| c.is_ascii_digit() || c == '.') {
                if let Ok(f) = t.parse::<f64>() {
                    if f != 0.0 {
                        self.warn(
                            path,
                            line,
                            format!(
                                "bare number {t} is read as {t} nanoseconds (as the Go gateway does); write a unit, e.g. '{t}s' or '{t}ms'"
                            ),
                        );
                    }
                    return Some(Duration::from_nanos(f.min(i64::MAX as f64) as u64));
                }
            }
        }
        let s = self.string(node, path, line)?;
        match parse_duration(&s.value) {
            Ok(d) => Some(d),
            Err(msg) => {
                let msg = if s.secret {
                    "invalid duration (value from the environment); write e.g. '30s'".into()
                } else {
                    msg
                };
                self.err(path, line, msg);
                None
            }
        }
    }

    fn positive_duration(&mut self, node: &Node, path: &str, line: usize) -> Option<Duration> {
        let d = self.duration(node, path, line)?;
        if d.is_zero() {
            self.err(path, line, "must be greater than zero");
            return None;
        }
        Some(d)
    }

    fn string_list(&mut self, node: &Node, path: &str, line: usize) -> Option<Vec<(Str, usize)>> {
        match &node.kind {
            Kind::Null => Some(Vec::new()),
            Kind::Seq(items) => {
                let mut out = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    let p = format!("{path}[{i}]");
                    match &item.kind {
                        Kind::Seq(_) | Kind::Map(_) => self.err(
                            &p,
                            item.line,
                            format!("expected a string, found {}", item.type_name()),
                        ),
                        Kind::Null => {
                            self.err(&p, item.line, "expected a string, found an empty value")
                        }
                        _ => {
                            if let Some(s) = self.string(item, &p, item.line) {
                                out.push((s, item.line));
                            }
                        }
                    }
                }
                Some(out)
            }
            Kind::Scalar { .. } => {
                self.err(path, line, "expected a list of strings, found a string (write one item per line with '- ', or [\"a\", \"b\"])");
                None
            }
            Kind::Map(_) => {
                self.err(path, line, "expected a list of strings, found a mapping");
                None
            }
        }
    }

    /// A string-to-string map (env, headers). Values are never echoed.
    fn string_map(
        &mut self,
        node: &Node,
        path: &str,
        line: usize,
    ) -> Option<Vec<(String, Str, usize)>> {
        let entries = self.map(node, path, line, "a mapping of names to values")?;
        let mut out = Vec::new();
        for e in entries {
            let p = join(path, &e.key);
            match &e.value.kind {
                Kind::Seq(_) | Kind::Map(_) => self.err(
                    &p,
                    e.key_line,
                    format!("expected a string value, found {}", e.value.type_name()),
                ),
                Kind::Null => out.push((
                    e.key.clone(),
                    Str {
                        value: String::new(),
                        secret: false,
                    },
                    e.key_line,
                )),
                _ => {
                    if let Some(s) = self.string(&e.value, &p, e.key_line) {
                        out.push((
                            e.key.clone(),
                            Str {
                                value: s.value,
                                secret: true,
                            },
                            e.key_line,
                        ));
                    }
                }
            }
        }
        Some(out)
    }
}

fn get<'n>(entries: &'n [Entry], key: &str) -> Option<&'n Entry> {
    entries.iter().find(|e| e.key == key)
}

#[derive(Clone, Copy)]
enum KeyContext {
    Root,
    Aggregator,
    Connection,
    Session,
    Backend,
    Transport,
    Tls,
    Tools,
    Orchestrator,
}

/// A key that belongs to the enclosing mapping, one level up.
fn up_level_hint(key: &str, context: KeyContext) -> Option<String> {
    match context {
        KeyContext::Transport | KeyContext::Tools if BACKEND_KEYS.contains(&key) => {
            Some(format!("'{key}' belongs to the backend, one level up"))
        }
        KeyContext::Tls if TRANSPORT_KEYS.contains(&key) => {
            Some(format!("'{key}' belongs to 'transport', one level up"))
        }
        KeyContext::Connection | KeyContext::Session if AGGREGATOR_KEYS.contains(&key) => {
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
fn suggest(key: &str, allowed: &[&str], context: KeyContext) -> Option<String> {
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
        ],
        KeyContext::Aggregator => &[(CONNECTION_KEYS, "connection."), (SESSION_KEYS, "session.")],
        KeyContext::Backend => &[(TRANSPORT_KEYS, "transport."), (TOOLS_KEYS, "tools.")],
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

fn suggest_value(value: &str, allowed: &[&str]) -> String {
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

pub(super) fn decode(
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
        Err(vec![yaml::BuildError {
            field: String::new(),
            message: "YAML parser failed on this input (internal error; please report it)".into(),
            line: 1,
            col: None,
        }])
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

    let aggregator = match get(entries, "aggregator") {
        Some(e) => decode_aggregator(&mut cx, &e.value, e.key_line),
        None => Aggregator::default(),
    };

    let share_token = get(entries, "share_token")
        .and_then(|e| cx.string(&e.value, "share_token", e.key_line))
        .map(|s| s.value)
        .filter(|s| !s.is_empty());

    let orchestrator = get(entries, "orchestrator").and_then(|e| {
        let o = decode_orchestrator(&mut cx, &e.value, e.key_line)?;
        if share_token.is_none() {
            cx.warn(
                "orchestrator",
                e.key_line,
                "ignored without a top-level 'share_token' (orchestrator IPC is for managed mode only)",
            );
        }
        Some(o)
    });

    let log_file = get(entries, "log_file")
        .and_then(|e| cx.string(&e.value, "log_file", e.key_line))
        .map(|s| s.value)
        .filter(|s| !s.is_empty())
        .map(PathBuf::from);

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

fn decode_aggregator(cx: &mut Ctx, node: &Node, line: usize) -> Aggregator {
    let mut a = Aggregator::default();
    let Some(entries) = cx.map(node, "aggregator", line, "a mapping") else {
        return a;
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
                if let Some(d) =
                    cx.positive_duration(&e.value, "aggregator.session.idle_timeout", e.key_line)
                {
                    a.idle_timeout = d;
                }
            }
        }
    }
    if let Some(e) = get(entries, "max_message_size") {
        let path = "aggregator.max_message_size";
        if let Some(s) = cx.string(&e.value, path, e.key_line) {
            match parse_size(&s.value) {
                Ok(n) if n < 1024 => cx.err(path, e.key_line, "must be at least 1KiB (1024 bytes)"),
                Ok(n) => match usize::try_from(n) {
                    Ok(n) => a.max_message_size = n,
                    Err(_) => cx.err(path, e.key_line, "too large for this platform"),
                },
                Err(msg) => cx.err(path, e.key_line, msg),
            }
        }
    }
    a
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
    Some(o)
}

fn decode_backend(
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

    if cx.errors.len() > before {
        return None;
    }
    Some(Backend {
        id: id?,
        name,
        transport: transport?,
        tools,
    })
}

/// Raw transport fields, decoded whatever the type, so all type errors are reported.
#[derive(Default)]
struct RawTransport {
    command: Option<Str>,
    args: Vec<String>,
    env: BTreeMap<String, String>,
    working_dir: Option<String>,
    share_token: Option<Str>,
    endpoint: Option<(Str, usize)>,
    protocol: Option<HttpProtocol>,
    headers: BTreeMap<String, String>,
    allow_insecure: Option<(bool, usize)>,
    /// `allow_insecure` was given but is not a boolean (already reported).
    allow_insecure_bad: bool,
    tls: Option<(Tls, usize)>,
}

fn decode_transport(cx: &mut Ctx, node: &Node, path: &str, line: usize) -> Option<Transport> {
    let entries = cx.map(node, path, line, "a mapping with 'type' and its settings")?;
    cx.check_keys(entries, path, TRANSPORT_KEYS, KeyContext::Transport);
    let before = cx.errors.len();
    let p = |k: &str| format!("{path}.{k}");
    let mut r = RawTransport::default();

    const TYPES: &[&str] = &["stdio", "http", "https", "zrok"];
    let ty = match get(entries, "type") {
        None => {
            cx.missing(
                &p("type"),
                line,
                "required: one of stdio, http, https, zrok",
            );
            None
        }
        Some(e) => match cx.string(&e.value, &p("type"), e.key_line) {
            None => {
                if matches!(e.value.kind, Kind::Null) {
                    cx.err(
                        &p("type"),
                        e.key_line,
                        "required: one of stdio, http, https, zrok",
                    );
                }
                None
            }
            Some(s) if TYPES.contains(&s.value.as_str()) => Some((s.value, e.key_line)),
            Some(s) => {
                let hint = if s.secret {
                    String::new()
                } else {
                    suggest_value(&s.value, TYPES)
                };
                cx.err(
                    &p("type"),
                    e.key_line,
                    format!("unsupported transport type{}; expected one of stdio, http, https, zrok{hint}", quoted(&s)),
                );
                None
            }
        },
    };

    if let Some(e) = get(entries, "command") {
        r.command = cx.string(&e.value, &p("command"), e.key_line);
    }
    if let Some(e) = get(entries, "args") {
        if let Some(list) = cx.string_list(&e.value, &p("args"), e.key_line) {
            r.args = list.into_iter().map(|(s, _)| s.value).collect();
        }
    }
    if let Some(e) = get(entries, "env") {
        if let Some(map) = cx.string_map(&e.value, &p("env"), e.key_line) {
            for (k, v, l) in map {
                let kp = format!("{}.{k}", p("env"));
                if k.is_empty() || k.contains('=') || k.contains('\0') {
                    cx.err(
                        &kp,
                        l,
                        "invalid environment variable name (must be non-empty, without '=')",
                    );
                } else if v.value.contains('\0') {
                    cx.err(&kp, l, "value contains a NUL character");
                } else {
                    r.env.insert(k, v.value);
                }
            }
        }
    }
    if let Some(e) = get(entries, "working_dir") {
        r.working_dir = cx
            .string(&e.value, &p("working_dir"), e.key_line)
            .map(|s| s.value)
            .filter(|s| !s.is_empty());
    }
    if let Some(e) = get(entries, "share_token") {
        r.share_token = cx.string(&e.value, &p("share_token"), e.key_line);
    }
    if let Some(e) = get(entries, "endpoint") {
        r.endpoint = cx
            .string(&e.value, &p("endpoint"), e.key_line)
            .map(|s| (s, e.key_line));
    }
    if let Some(e) = get(entries, "protocol") {
        if let Some(s) = cx.string(&e.value, &p("protocol"), e.key_line) {
            match s.value.as_str() {
                "sse" => r.protocol = Some(HttpProtocol::Sse),
                "streamable" => r.protocol = Some(HttpProtocol::Streamable),
                "" => {}
                _ => {
                    let hint = if s.secret {
                        String::new()
                    } else {
                        suggest_value(&s.value, &["sse", "streamable"])
                    };
                    cx.err(
                        &p("protocol"),
                        e.key_line,
                        format!("unsupported protocol{}; expected 'sse' (the default) or 'streamable'{hint}", quoted(&s)),
                    )
                }
            }
        }
    }
    if let Some(e) = get(entries, "headers") {
        if let Some(map) = cx.string_map(&e.value, &p("headers"), e.key_line) {
            for (k, v, l) in map {
                let kp = format!("{}.{k}", p("headers"));
                if http::HeaderName::from_bytes(k.as_bytes()).is_err() {
                    cx.err(&kp, l, "invalid HTTP header name");
                } else if http::HeaderValue::from_str(&v.value).is_err() {
                    cx.err(
                        &kp,
                        l,
                        "invalid HTTP header value (control characters or non-ASCII text)",
                    );
                } else {
                    r.headers.insert(k, v.value);
                }
            }
        }
    }
    if let Some(e) = get(entries, "allow_insecure") {
        r.allow_insecure = cx
            .bool(&e.value, &p("allow_insecure"), e.key_line)
            .map(|b| (b, e.key_line));
        r.allow_insecure_bad = r.allow_insecure.is_none() && !matches!(e.value.kind, Kind::Null);
    }
    if let Some(e) = get(entries, "tls") {
        r.tls = decode_tls(cx, &e.value, &p("tls"), e.key_line).map(|t| (t, e.key_line));
    }

    let (ty, ty_line) = ty?;
    // Fields that do not apply to this type: warn (the Go gateway silently ignores them).
    let applicable: &[&str] = match ty.as_str() {
        "stdio" => STDIO_FIELDS,
        "zrok" => ZROK_FIELDS,
        _ => HTTP_FIELDS,
    };
    for e in entries {
        if e.key != "type"
            && TRANSPORT_KEYS.contains(&e.key.as_str())
            && !applicable.contains(&e.key.as_str())
        {
            cx.warn(
                &p(&e.key),
                e.key_line,
                format!("ignored for {ty} transport"),
            );
        }
    }

    let transport = match ty.as_str() {
        "stdio" => match r.command {
            Some(c) if !c.value.trim().is_empty() => Some(Transport::Stdio {
                command: c.value,
                args: r.args,
                env: r.env,
                working_dir: r.working_dir.map(PathBuf::from),
            }),
            Some(_) => {
                let l = get(entries, "command").map_or(line, |e| e.key_line);
                cx.err(&p("command"), l, "must not be empty");
                None
            }
            None => {
                let l = get(entries, "command").map_or(line, |e| e.key_line);
                cx.missing(&p("command"), l, "required for stdio transport");
                None
            }
        },
        "zrok" => match r.share_token {
            Some(s) if !s.value.trim().is_empty() => Some(Transport::Zrok {
                share_token: s.value,
            }),
            _ => {
                let l = get(entries, "share_token").map_or(line, |e| e.key_line);
                cx.missing(
                    &p("share_token"),
                    l,
                    "required for zrok transport (the token printed by mcp-bridge)",
                );
                None
            }
        },
        _ => http_transport(cx, r, &ty, ty_line, path, line),
    };
    if cx.errors.len() > before {
        return None;
    }
    transport
}

fn http_transport(
    cx: &mut Ctx,
    r: RawTransport,
    ty: &str,
    _ty_line: usize,
    path: &str,
    line: usize,
) -> Option<Transport> {
    let p = |k: &str| format!("{path}.{k}");
    let Some((ep, ep_line)) = r.endpoint.filter(|(s, _)| !s.value.trim().is_empty()) else {
        cx.missing(
            &p("endpoint"),
            line,
            format!("required for {ty} transport (e.g. 'https://mcp.example.com/sse')"),
        );
        return None;
    };
    let url = match url::Url::parse(ep.value.trim()) {
        Ok(u) if u.has_host() && matches!(u.scheme(), "http" | "https") => u,
        Ok(u) if !matches!(u.scheme(), "http" | "https") => {
            let want = if ty == "https" {
                "'https'"
            } else {
                "'http' or 'https'"
            };
            cx.err(
                &p("endpoint"),
                ep_line,
                format!(
                    "endpoint scheme must be {want} for {ty} transport, found '{}'",
                    u.scheme()
                ),
            );
            return None;
        }
        Ok(_) => {
            cx.err(
                &p("endpoint"),
                ep_line,
                format!("invalid endpoint URL{}: no host", quoted(&ep)),
            );
            return None;
        }
        Err(e) => {
            cx.err(
                &p("endpoint"),
                ep_line,
                format!(
                    "invalid endpoint URL{}: {e} (write a full URL like 'https://host:port/sse')",
                    quoted(&ep)
                ),
            );
            return None;
        }
    };
    let plain = url.scheme() == "http";
    let mut ok = true;
    if ty == "https" && plain {
        cx.err(
            &p("endpoint"),
            ep_line,
            "https transport requires an https:// endpoint (for plain HTTP use 'type: http' with 'allow_insecure: true')",
        );
        ok = false;
    }
    let allow_insecure = r.allow_insecure.map(|(b, _)| b).unwrap_or(false);
    if ty == "http" && plain && !allow_insecure && !r.allow_insecure_bad {
        let l = r.allow_insecure.map_or(ep_line, |(_, l)| l);
        cx.err(
            &p("allow_insecure"),
            l,
            "must be true for a plain http:// endpoint (traffic is unencrypted); or use an https:// endpoint",
        );
        ok = false;
    }
    if let Some((tls, tls_line)) = &r.tls {
        if plain {
            cx.err(&p("tls"), *tls_line, "only valid with an https:// endpoint");
            ok = false;
        } else if tls.insecure_skip_verify {
            cx.warn(
                &p("tls.insecure_skip_verify"),
                *tls_line,
                "TLS certificate verification is disabled; use only for development",
            );
        }
    }
    if !ok {
        return None;
    }
    Some(Transport::Http {
        endpoint: url,
        protocol: r.protocol.unwrap_or_default(),
        headers: r.headers,
        tls: r.tls.map(|(t, _)| t),
        allow_insecure,
    })
}

fn decode_tls(cx: &mut Ctx, node: &Node, path: &str, line: usize) -> Option<Tls> {
    let entries = cx.map(node, path, line, "a mapping")?;
    cx.check_keys(entries, path, TLS_KEYS, KeyContext::Tls);
    let mut t = Tls::default();
    if let Some(e) = get(entries, "insecure_skip_verify") {
        t.insecure_skip_verify = cx
            .bool(
                &e.value,
                &format!("{path}.insecure_skip_verify"),
                e.key_line,
            )
            .unwrap_or(false);
    }
    if let Some(e) = get(entries, "ca_cert_file") {
        let fp = format!("{path}.ca_cert_file");
        if let Some(s) = cx.string(&e.value, &fp, e.key_line) {
            if !s.value.is_empty() {
                if let Err(msg) = check_ca_file(&s.value) {
                    cx.err(&fp, e.key_line, msg);
                }
                t.ca_cert_file = Some(PathBuf::from(s.value));
            }
        }
    }
    Some(t)
}

/// The CA file must be readable and hold at least one PEM certificate. Relative paths are
/// relative to the working directory (as in the Go gateway).
fn check_ca_file(path: &str) -> Result<(), String> {
    let p = std::path::Path::new(path);
    if p.is_dir() {
        return Err(format!("'{path}' is a directory, not a PEM file"));
    }
    let bytes = std::fs::read(p).map_err(|e| format!("cannot read '{path}': {e}"))?;
    let mut reader = std::io::BufReader::new(bytes.as_slice());
    let count = rustls_pemfile::certs(&mut reader)
        .filter(|c| c.is_ok())
        .count();
    if count == 0 {
        return Err(format!(
            "no PEM certificate ('-----BEGIN CERTIFICATE-----') found in '{path}'"
        ));
    }
    Ok(())
}

fn decode_tools(cx: &mut Ctx, node: &Node, path: &str, line: usize) -> ToolFilter {
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
                let hint = if s.secret {
                    String::new()
                } else {
                    suggest_value(&s.value, &["allow", "deny"])
                };
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
