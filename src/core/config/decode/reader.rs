//! The decoding context: collected errors and warnings, and typed readers for YAML values
//! (strings with `${VAR}` expansion, booleans, durations, lists, maps).

use std::collections::HashSet;
use std::time::Duration;

use super::super::error::{ConfigError, Location, Warning};
use super::super::values::{expand, parse_duration, Expanded};
use super::super::yaml::{Entry, Kind, Node};
use super::keys::{suggest, suggest_value, up_level_hint, KeyContext};

/// A string value after `${VAR}` expansion.
pub(super) struct Str {
    pub(super) value: String,
    /// Came (partly) from the environment: never echo it.
    pub(super) secret: bool,
}

pub(super) struct Ctx<'a> {
    pub(super) source: &'a str,
    pub(super) env: &'a dyn Fn(&str) -> Option<String>,
    pub(super) errors: Vec<ConfigError>,
    pub(super) warnings: Vec<Warning>,
    /// Field paths an unknown key was suggested for: "required" errors for them are redundant.
    pub(super) suggested: HashSet<String>,
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

/// `, did you mean '…'?` for a value that is not one of `allowed`; empty for a secret value.
pub(super) fn value_hint(s: &Str, allowed: &[&str]) -> String {
    if s.secret {
        String::new()
    } else {
        suggest_value(&s.value, allowed)
    }
}

pub(super) fn quoted(s: &Str) -> String {
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

    pub(super) fn err(&mut self, field: &str, line: usize, msg: impl Into<String>) {
        let e = ConfigError::new(field, msg, self.loc(line));
        self.errors.push(e);
    }

    /// A required field is missing, unless a misspelled key already pointed at it.
    pub(super) fn missing(&mut self, field: &str, line: usize, msg: impl Into<String>) {
        if !self.suggested.contains(field) {
            self.err(field, line, msg);
        }
    }

    pub(super) fn warn(&mut self, field: &str, line: usize, msg: impl AsRef<str>) {
        let message = format!("{field}: {} ({}:{line})", msg.as_ref(), self.source);
        self.warnings.push(Warning { message });
    }

    /// The entries of a mapping value; `None` (after reporting) when it is not a mapping.
    /// Null counts as an empty mapping.
    pub(super) fn map<'n>(
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
    pub(super) fn check_keys(
        &mut self,
        entries: &[Entry],
        path: &str,
        allowed: &[&str],
        context: KeyContext,
    ) {
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
    pub(super) fn string(&mut self, node: &Node, path: &str, line: usize) -> Option<Str> {
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

    pub(super) fn bool(&mut self, node: &Node, path: &str, line: usize) -> Option<bool> {
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

    pub(super) fn duration(&mut self, node: &Node, path: &str, line: usize) -> Option<Duration> {
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

    /// A whole number of at least `min` (a count: attempts, connections).
    pub(super) fn whole_number(
        &mut self,
        node: &Node,
        path: &str,
        line: usize,
        min: u64,
    ) -> Option<u64> {
        let s = self.string(node, path, line)?;
        match s.value.trim().parse::<u64>() {
            Ok(n) if n >= min => Some(n),
            _ => {
                let what = match min {
                    0 => "a whole number".to_string(),
                    1 => "a whole number greater than zero".to_string(),
                    n => format!("a whole number of at least {n}"),
                };
                self.err(path, line, format!("must be {what}{}", quoted(&s)));
                None
            }
        }
    }

    pub(super) fn positive_duration(
        &mut self,
        node: &Node,
        path: &str,
        line: usize,
    ) -> Option<Duration> {
        let d = self.duration(node, path, line)?;
        if d.is_zero() {
            self.err(path, line, "must be greater than zero");
            return None;
        }
        Some(d)
    }

    pub(super) fn string_list(
        &mut self,
        node: &Node,
        path: &str,
        line: usize,
    ) -> Option<Vec<(Str, usize)>> {
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
    pub(super) fn string_map(
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

pub(super) fn get<'n>(entries: &'n [Entry], key: &str) -> Option<&'n Entry> {
    entries.iter().find(|e| e.key == key)
}
