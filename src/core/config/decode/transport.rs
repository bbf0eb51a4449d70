//! A backend's `transport`: the fields of every type, then the stdio, zrok or HTTP(S) transport.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::super::yaml::{Kind, Node};
use super::super::{EnvPolicy, HttpProtocol, Tls, Transport};
use super::keys::{KeyContext, HTTP_FIELDS, STDIO_FIELDS, TLS_KEYS, TRANSPORT_KEYS, ZROK_FIELDS};
use super::reader::{get, quoted, value_hint, Ctx, Str};

/// Raw transport fields, decoded whatever the type, so all type errors are reported.
#[derive(Default)]
struct RawTransport {
    command: Option<Str>,
    args: Vec<String>,
    env: BTreeMap<String, String>,
    env_policy: EnvPolicy,
    working_dir: Option<String>,
    share_token: Option<Str>,
    endpoint: Option<(Str, usize)>,
    protocol: Option<HttpProtocol>,
    headers: BTreeMap<String, String>,
    allow_insecure: Option<(bool, usize)>,
    /// `allow_insecure` was given but is not a boolean (already reported).
    allow_insecure_bad: bool,
    tls: Option<(Tls, usize)>,
    allow_redirects: bool,
    allow_environment_proxy: bool,
}

pub(super) fn decode_transport(
    cx: &mut Ctx,
    node: &Node,
    path: &str,
    line: usize,
) -> Option<Transport> {
    let entries = cx.map(node, path, line, "a mapping with 'type' and its settings")?;
    cx.check_keys(entries, path, &TRANSPORT_KEYS, KeyContext::Transport);
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
                let hint = value_hint(&s, TYPES);
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
    if let Some(e) = get(entries, "env_policy") {
        if let Some(s) = cx.string(&e.value, &p("env_policy"), e.key_line) {
            match s.value.as_str() {
                "additive" | "" => r.env_policy = EnvPolicy::Additive,
                "closed" => r.env_policy = EnvPolicy::Closed,
                _ => {
                    let hint = value_hint(&s, &["additive", "closed"]);
                    cx.err(
                        &p("env_policy"),
                        e.key_line,
                        format!("unknown env_policy{}; expected 'additive' (the default: the gateway's environment plus 'env') or 'closed' (only 'env'){hint}", quoted(&s)),
                    )
                }
            }
        }
    }
    // Upstream's opt-ins for HTTP backends (v0.1.8): both off unless set.
    if let Some(e) = get(entries, "allow_redirects") {
        r.allow_redirects = cx.bool(&e.value, &p("allow_redirects"), e.key_line) == Some(true);
    }
    if let Some(e) = get(entries, "allow_environment_proxy") {
        r.allow_environment_proxy =
            cx.bool(&e.value, &p("allow_environment_proxy"), e.key_line) == Some(true);
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
                    let hint = value_hint(&s, &["sse", "streamable"]);
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

    // Upstream refuses the HTTP opt-ins on other transports rather than ignoring them.
    if !matches!(ty.as_str(), "http" | "https") {
        for (key, on) in [
            ("allow_redirects", r.allow_redirects),
            ("allow_environment_proxy", r.allow_environment_proxy),
        ] {
            if on {
                let l = get(entries, key).map_or(line, |e| e.key_line);
                cx.err(
                    &p(key),
                    l,
                    format!("only for http and https transports, not {ty}"),
                );
            }
        }
    }

    let transport = match ty.as_str() {
        "stdio" => match r.command {
            Some(c) if !c.value.trim().is_empty() => Some(Transport::Stdio {
                command: c.value,
                args: r.args,
                env: r.env,
                env_policy: r.env_policy,
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
        allow_redirects: r.allow_redirects,
        allow_environment_proxy: r.allow_environment_proxy,
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
