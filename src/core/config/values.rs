//! Scalar value syntax: `${VAR}` expansion, Go-style durations, byte sizes, tool-name globs.

use std::time::Duration;

/// Result of expanding `${VAR}` references in one string.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Expanded {
    /// The text, and whether any variable was substituted (then the value must not be echoed).
    Ok(String, bool),
    /// A variable is not set: its name.
    Unset(String),
    /// Malformed reference; message says why (never includes values).
    Bad(String),
}

/// Expands `${NAME}` (NAME = `[A-Za-z_][A-Za-z0-9_]*`) from `env`; `$${` is a literal `${`.
/// A `$` not followed by `{` is kept as is.
pub(crate) fn expand(s: &str, env: &dyn Fn(&str) -> Option<String>) -> Expanded {
    if !s.contains('$') {
        return Expanded::Ok(s.to_string(), false);
    }
    let mut out = String::with_capacity(s.len());
    let mut substituted = false;
    let mut rest = s;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos..];
        if let Some(tail) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = tail;
        } else if let Some(tail) = after.strip_prefix("${") {
            let Some(end) = tail.find('}') else {
                return Expanded::Bad("unterminated '${' (write '$${' for a literal '${')".into());
            };
            let name = &tail[..end];
            if !valid_var_name(name) {
                return Expanded::Bad(format!(
                    "invalid variable reference '${{{}}}': names are letters, digits and '_', not starting with a digit (write '$${{' for a literal '${{')",
                    name.chars().take(40).collect::<String>()
                ));
            }
            match env(name) {
                Some(v) => {
                    out.push_str(&v);
                    substituted = true;
                }
                None => return Expanded::Unset(name.to_string()),
            }
            rest = &tail[end + 1..];
        } else {
            out.push('$');
            rest = &after[1..];
        }
    }
    out.push_str(rest);
    Expanded::Ok(out, substituted)
}

fn valid_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Parses a duration the way Go's `time.ParseDuration` does: a sequence of decimal numbers, each
/// with optional fraction and a unit (`ns`, `us`/`µs`, `ms`, `s`, `m`, `h`), e.g. `500ms`, `1m30s`,
/// `1.5h`; `0` alone is zero. Negative durations are rejected (no config field can use them).
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    let orig = s;
    let s = s.trim();
    let s = s.strip_prefix('+').unwrap_or(s);
    if s.starts_with('-') {
        return Err("must not be negative".into());
    }
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err("empty duration; write e.g. '30s'".into());
    }
    let bad = || {
        format!("invalid duration '{orig}'; use a number with a unit: ns, us, ms, s, m, h (e.g. '500ms', '30s', '1m30s')")
    };
    let mut total: u128 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let int_len = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let int_part = &rest[..int_len];
        rest = &rest[int_len..];
        let mut frac_part = "";
        if let Some(r) = rest.strip_prefix('.') {
            let flen = r.find(|c: char| !c.is_ascii_digit()).unwrap_or(r.len());
            frac_part = &r[..flen];
            rest = &r[flen..];
        }
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(bad());
        }
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let nanos_per: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "" => {
                return Err(format!(
                    "missing unit in duration '{orig}'; use ns, us, ms, s, m or h (e.g. '30s')"
                ))
            }
            _ => {
                return Err(format!(
                    "unknown unit '{unit}' in duration '{orig}'; use ns, us, ms, s, m or h"
                ))
            }
        };
        let int: u128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().map_err(|_| too_large(orig))?
        };
        total = total
            .checked_add(int.checked_mul(nanos_per).ok_or_else(|| too_large(orig))?)
            .ok_or_else(|| too_large(orig))?;
        if !frac_part.is_empty() {
            // Use at most 18 fraction digits; more cannot change a nanosecond value.
            let digits = &frac_part[..frac_part.len().min(18)];
            let f: u128 = digits.parse().map_err(|_| bad())?;
            let scale = 10u128.pow(digits.len() as u32);
            total = total
                .checked_add(f * nanos_per / scale)
                .ok_or_else(|| too_large(orig))?;
        }
        // Go's limit: durations are int64 nanoseconds (~292 years).
        if total > i64::MAX as u128 {
            return Err(too_large(orig));
        }
    }
    Ok(Duration::from_nanos(total as u64))
}

fn too_large(orig: &str) -> String {
    format!("duration '{orig}' is too large")
}

/// Parses a byte size: a plain number of bytes (`16777216`) or a number with a unit:
/// `B`, `KiB`/`MiB`/`GiB` (1024-based), `KB`/`MB`/`GB` (1000-based); units are case-insensitive and
/// may follow a space (`16MiB`, `512 KiB`).
pub(crate) fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let num_len = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(num_len);
    let unit = unit.trim();
    let bad = || {
        format!("invalid size '{s}'; write a number of bytes or use a unit: B, KiB, MiB, GiB, KB, MB, GB (e.g. '16MiB')")
    };
    if num.is_empty() {
        return Err(bad());
    }
    let n: u64 = num
        .parse()
        .map_err(|_| format!("size '{s}' is too large"))?;
    let mult: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        _ => return Err(bad()),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("size '{s}' is too large"))
}

/// Glob match over characters: `*` matches any run (also empty), `?` exactly one character;
/// everything else matches itself. Linear-time backtracking (no exponential blow-up).
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let (mut pi, mut ni) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || (p[pi] != '*' && p[pi] == n[ni])) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ni));
            pi += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOME" => Some("/home/u".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn expansion() {
        assert_eq!(expand("plain", &env), Expanded::Ok("plain".into(), false));
        assert_eq!(
            expand("${HOME}/x", &env),
            Expanded::Ok("/home/u/x".into(), true)
        );
        assert_eq!(expand("a${EMPTY}b", &env), Expanded::Ok("ab".into(), true));
        assert_eq!(
            expand("$${HOME}", &env),
            Expanded::Ok("${HOME}".into(), false)
        );
        assert_eq!(
            expand("cost $5 $HOME", &env),
            Expanded::Ok("cost $5 $HOME".into(), false)
        );
        assert_eq!(expand("${NOPE}", &env), Expanded::Unset("NOPE".into()));
        assert!(matches!(expand("${HOME", &env), Expanded::Bad(_)));
        assert!(matches!(expand("${1X}", &env), Expanded::Bad(_)));
        assert!(matches!(expand("${}", &env), Expanded::Bad(_)));
        assert_eq!(
            expand("${HOME}${HOME}", &env),
            Expanded::Ok("/home/u/home/u".into(), true)
        );
    }

    #[test]
    fn durations() {
        let ms = Duration::from_millis;
        assert_eq!(parse_duration("500ms"), Ok(ms(500)));
        assert_eq!(parse_duration("30s"), Ok(ms(30_000)));
        assert_eq!(parse_duration("2m"), Ok(ms(120_000)));
        assert_eq!(parse_duration("1h"), Ok(ms(3_600_000)));
        assert_eq!(parse_duration("1m30s"), Ok(ms(90_000)));
        assert_eq!(parse_duration("1.5s"), Ok(ms(1_500)));
        assert_eq!(parse_duration(".5s"), Ok(ms(500)));
        assert_eq!(
            parse_duration("1h2m3s4ms5us6ns"),
            Ok(Duration::new(3723, 4_005_006))
        );
        assert_eq!(parse_duration("10µs"), Ok(Duration::from_micros(10)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("+5s"), Ok(ms(5_000)));
        for bad in [
            "",
            "30",
            "s",
            "5 s",
            "1d",
            "-5s",
            "1.s.",
            ".s",
            "99999999999999999999999h",
            "3000000h",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should fail");
        }
        assert!(parse_duration("30").unwrap_err().contains("missing unit"));
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("16777216"), Ok(16 << 20));
        assert_eq!(parse_size("16MiB"), Ok(16 << 20));
        assert_eq!(parse_size("512 KiB"), Ok(512 << 10));
        assert_eq!(parse_size("1gib"), Ok(1 << 30));
        assert_eq!(parse_size("2MB"), Ok(2_000_000));
        assert_eq!(parse_size("10B"), Ok(10));
        for bad in [
            "",
            "MiB",
            "1.5MiB",
            "16 MiBs",
            "-1",
            "99999999999999999999",
            "99999999999GiB",
        ] {
            assert!(parse_size(bad).is_err(), "{bad:?} should fail");
        }
    }

    #[test]
    fn globs() {
        assert!(glob_match("read_file", "read_file"));
        assert!(!glob_match("read_file", "read_files"));
        assert!(glob_match("read_*", "read_file"));
        assert!(glob_match("read_*", "read_"));
        assert!(glob_match("*", ""));
        assert!(glob_match("*", "anything"));
        assert!(glob_match("*_file", "write_file"));
        assert!(glob_match("*file*", "list_files_now"));
        assert!(glob_match("?", "a"));
        assert!(!glob_match("?", ""));
        assert!(!glob_match("?", "ab"));
        assert!(glob_match("get_?", "get_x"));
        assert!(glob_match("a*b*c", "aXbYbZc"));
        assert!(!glob_match("a*b*c", "aXbYbZ"));
        assert!(glob_match("é?", "éü"));
        assert!(!glob_match("Read_*", "read_file"));
        assert!(!glob_match("a*a*a*a*a*a*b", &"a".repeat(200)));
    }
}
