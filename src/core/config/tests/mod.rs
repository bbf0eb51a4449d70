use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use super::*;
use crate::core::live::state::{ToolFilter as F, TransportKind};

fn env(name: &str) -> Option<String> {
    match name {
        "GITHUB_TOKEN" => Some("ghp_secret_value".into()),
        "API_TOKEN" => Some("api-secret-value".into()),
        "MCPZ_SHARE_TOKEN" => Some("shr123".into()),
        "DB_PASSWORD" => Some("pw-secret-value".into()),
        "REMOTE_API_TOKEN" => Some("remote-secret-value".into()),
        "MCP_GATEWAY_SHARE_TOKEN" => Some("managed-token".into()),
        "DOCS" => Some("/srv/docs".into()),
        "EMPTY" => Some(String::new()),
        _ => None,
    }
}

fn ok(text: &str) -> (Config, Vec<Warning>) {
    match parse(text, "test.yml", &env) {
        Ok(x) => x,
        Err(e) => panic!("unexpected errors:\n{e}"),
    }
}

fn errs(text: &str) -> String {
    match parse(text, "test.yml", &env) {
        Ok((c, _)) => panic!("expected errors, got {c:?}"),
        Err(e) => e.to_string(),
    }
}

fn warnings(w: &[Warning]) -> Vec<String> {
    w.iter().map(|w| w.to_string()).collect()
}

fn fixture(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

const MINIMAL: &str =
    "backends:\n  - id: fs\n    transport:\n      type: stdio\n      command: mcp-filesystem\n";

#[test]
fn defaults_applied() {
    let (c, w) = ok(MINIMAL);
    assert!(w.is_empty());
    assert_eq!(c.aggregator, Aggregator::default());
    assert_eq!(c.aggregator.name, "mcp-gateway");
    assert_eq!(c.aggregator.version, "1.0.0");
    assert_eq!(c.aggregator.separator, "_");
    assert_eq!(c.aggregator.connect_timeout, Duration::from_secs(30));
    assert_eq!(c.aggregator.call_timeout, Duration::from_secs(60));
    assert_eq!(c.aggregator.idle_timeout, Duration::from_secs(1800));
    assert_eq!(c.aggregator.max_message_size, 16_777_216);
    assert_eq!(c.share_token, None);
    assert_eq!(c.orchestrator, None);
    assert_eq!(c.log_file, None);
    assert_eq!(c.source, "test.yml");
    let b = &c.backends[0];
    assert_eq!(b.id, "fs");
    assert_eq!(b.name, None);
    assert_eq!(b.tools, ToolFilter::none());
    assert_eq!(
        b.transport,
        Transport::Stdio {
            command: "mcp-filesystem".into(),
            args: vec![],
            env: BTreeMap::new(),
            env_policy: EnvPolicy::Additive,
            working_dir: None
        }
    );
    assert_eq!(b.transport.kind(), TransportKind::Stdio);
}

#[test]
fn go_example_equivalent() {
    let (c, w) = ok(&fixture("tests/configs/good/go_example.yml"));
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(c.backends.len(), 2);
    let fs = &c.backends[0];
    assert_eq!(fs.id, "filesystem");
    assert_eq!(fs.name.as_deref(), Some("Filesystem Tools"));
    assert_eq!(fs.tools.mode, FilterMode::Allow);
    assert_eq!(
        fs.tools.check("read_file"),
        F::AllowedBy("read_file".into())
    );
    assert_eq!(fs.tools.check("write_file"), F::NotAllowed);
    let gh = &c.backends[1];
    match &gh.transport {
        Transport::Stdio {
            command, args, env, ..
        } => {
            assert_eq!(command, "npx");
            assert_eq!(args, &["-y", "@modelcontextprotocol/server-github"]);
            assert_eq!(env.get("GITHUB_TOKEN").unwrap(), "ghp_secret_value");
        }
        t => panic!("{t:?}"),
    }
    assert_eq!(
        gh.tools.check("delete_repo"),
        F::DeniedBy("delete_*".into())
    );
    assert_eq!(gh.tools.check("create_issue"), F::Unfiltered);
    assert!(!format!("{c:?}").contains("ghp_secret_value"));
}

#[test]
fn remote_backends() {
    let (c, w) = ok(&fixture("tests/configs/good/remote.yml"));
    assert_eq!(
        warnings(&w),
        ["warning: backends[3].transport.tls.insecure_skip_verify: TLS certificate verification is disabled; use only for development (remote.yml:31)"
            .replace("remote.yml", "test.yml")]
    );
    let kinds: Vec<_> = c.backends.iter().map(|b| b.transport.kind()).collect();
    assert_eq!(
        kinds,
        [
            TransportKind::Zrok,
            TransportKind::Https,
            TransportKind::Https,
            TransportKind::Https,
            TransportKind::Http
        ]
    );
    assert_eq!(
        c.backends[0].transport,
        Transport::Zrok {
            share_token: "xyz789abc".into()
        }
    );
    // Go's default protocol is SSE.
    assert_eq!(
        c.backends[1].transport,
        Transport::Http {
            endpoint: "https://mcp.example.com/sse".parse().unwrap(),
            protocol: HttpProtocol::Sse,
            headers: [("Authorization".into(), "Bearer api-secret-value".into())].into(),
            tls: None,
            allow_insecure: false,
            allow_redirects: false,
            allow_environment_proxy: false,
        }
    );
    match &c.backends[2].transport {
        Transport::Http { protocol, tls, .. } => {
            assert_eq!(*protocol, HttpProtocol::Streamable);
            assert_eq!(
                tls.as_ref().unwrap().ca_cert_file.as_deref(),
                Some(Path::new("tests/configs/good/ca.pem"))
            );
        }
        t => panic!("{t:?}"),
    }
    match &c.backends[4].transport {
        Transport::Http { allow_insecure, .. } => assert!(allow_insecure),
        t => panic!("{t:?}"),
    }
    let dbg = format!("{c:?}");
    assert!(!dbg.contains("api-secret-value"), "{dbg}");
    assert!(dbg.contains("<redacted>"));
}

#[test]
fn managed_mode_and_extensions() {
    let (c, w) = ok(&fixture("tests/configs/good/managed.yml"));
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(c.share_token.as_deref(), Some("shr123"));
    assert_eq!(
        c.orchestrator,
        Some(Orchestrator {
            socket_path: "/run/mcp-orchestrator/orchestrator.sock".into(),
            heartbeat_interval: Duration::from_secs(15),
            reconnect_interval: Duration::from_secs(5),
        })
    );
    assert_eq!(
        c.log_file.as_deref(),
        Some(Path::new("/var/log/mcp-gateway/gateway.log"))
    );
    assert_eq!(c.aggregator.idle_timeout, Duration::from_secs(5400));
    assert_eq!(c.aggregator.max_message_size, 4 << 20);
    match &c.backends[0].transport {
        Transport::Stdio {
            env, working_dir, ..
        } => {
            assert_eq!(
                env["DATABASE_URL"],
                "postgres://app:pw-secret-value@localhost/app"
            );
            assert_eq!(
                env["PGCONNECT_TIMEOUT"], "10",
                "plain numbers are taken as text"
            );
            assert_eq!(working_dir.as_deref(), Some(Path::new("/srv/db")));
        }
        t => panic!("{t:?}"),
    }
    assert!(!format!("{c:?}").contains("pw-secret-value"));
}

#[test]
fn flow_style_and_quoted_keys() {
    let (c, _) = ok(&fixture("tests/configs/good/flow_style.yml"));
    assert_eq!(c.aggregator.separator, "-");
    assert_eq!(c.aggregator.call_timeout, Duration::from_secs(120));
    assert_eq!(c.backends[1].id, "web");
    // Line numbers inside flow style point at the right line.
    let e = errs("{\"backends\": [\n {\"id\": \"a\",\n  \"transport\": {\"type\": \"stdio\"}}]}\n");
    assert_eq!(
        e,
        "backends[0].transport.command: required for stdio transport (test.yml:3)"
    );
}

#[test]
fn etc_example_parses_as_shipped_and_uncommented() {
    let text = fixture("etc/mcp-gateway.yml");
    let (c, w) = ok(&text);
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(
        c.aggregator,
        Aggregator::default(),
        "the example shows the defaults"
    );
    assert_eq!(c.backends.len(), 1);

    // Every commented-out setting ("#key: ..." / "#- id" / "#  ...") must be valid too.
    let uncommented: String = text
        .lines()
        .map(|l| {
            let trimmed = l.trim_start();
            let indent = l.len() - trimmed.len();
            match trimmed.strip_prefix('#') {
                Some(rest)
                    if rest.starts_with("  ") || rest.starts_with(|c: char| !c.is_whitespace()) =>
                {
                    format!("{}{rest}\n", &l[..indent])
                }
                _ => format!("{l}\n"),
            }
        })
        .collect::<String>()
        .replace(
            "/etc/ssl/certs/internal-ca.pem",
            "tests/configs/good/ca.pem",
        );
    // share_token and access_grants exclude each other (as upstream): check each with the other
    // left out.
    let grants = "    access_grants:\n      - \"bob@example.com\"\n";
    assert!(uncommented.contains(grants), "{uncommented}");
    let token_line = "share_token: \"${MCP_GATEWAY_SHARE_TOKEN}\"\n";
    assert!(uncommented.contains(token_line), "{uncommented}");
    // Without share_token the orchestrator section still decodes (`--share-token` and
    // `--listen` use it; `mcp-gateway run` warns when nothing does).
    let (c, w) = ok(&uncommented.replace(token_line, ""));
    assert!(w.is_empty(), "{w:?}");
    assert!(c.orchestrator.is_some());
    assert_eq!(c.share_token, None);
    assert_eq!(c.zrok_share.access_grants, ["bob@example.com"]);
    assert!(c.zrok_share.enabled);
    let uncommented = uncommented.replace(grants, "");
    let (c, w) = ok(&uncommented);
    assert_eq!(c.backends.len(), 4, "{uncommented}");
    assert_eq!(c.share_token.as_deref(), Some("managed-token"));
    assert_eq!(c.orchestrator, Some(Orchestrator::default()));
    assert!(c.log_file.is_some() && c.audit.is_some() && c.metrics.is_some());
    assert!(w.is_empty(), "{w:?}");
    match &c.backends[0].transport {
        Transport::Stdio {
            env, working_dir, ..
        } => {
            assert_eq!(env.len(), 2);
            assert!(working_dir.is_some());
        }
        t => panic!("{t:?}"),
    }
}

#[test]
fn env_expansion() {
    let (c, _) = ok("aggregator:\n  name: \"gw-${EMPTY}x\"\n  version: $${NOT_A_VAR}\nbackends:\n  - id: fs\n    transport:\n      type: stdio\n      command: mcp-filesystem\n      args: [\"${DOCS}\", \"$$HOME\", \"a$b\"]\n");
    assert_eq!(c.aggregator.name, "gw-x");
    assert_eq!(c.aggregator.version, "${NOT_A_VAR}");
    match &c.backends[0].transport {
        Transport::Stdio { args, .. } => assert_eq!(args, &["/srv/docs", "$$HOME", "a$b"]),
        t => panic!("{t:?}"),
    }
    // Typed values are expanded before conversion.
    let e = errs("aggregator:\n  connection:\n    call_timeout: ${DOCS}\nbackends:\n  - id: fs\n    transport: {type: stdio, command: x}\n");
    assert_eq!(
        e,
        "aggregator.connection.call_timeout: invalid duration (value from the environment); write e.g. '30s' (test.yml:3)"
    );
    // Sizes too (found by the `config` fuzz target: the expanded value was quoted).
    let e = errs("aggregator:\n  max_message_size: x${DOCS}\nbackends:\n  - id: fs\n    transport: {type: stdio, command: x}\n");
    assert_eq!(
        e,
        "aggregator.max_message_size: invalid size (value from the environment); write e.g. '16MiB' (test.yml:2)"
    );
    // An unset variable names the variable, the field and the line, and nothing else.
    let e = errs("backends:\n  - id: gh\n    transport:\n      type: stdio\n      command: gh\n      env:\n        TOKEN: \"${GH_TOKEN_UNSET}\"\n");
    assert_eq!(e, "backends[0].transport.env.TOKEN: environment variable 'GH_TOKEN_UNSET' is not set (test.yml:7)");
    // Values from the environment are not echoed in messages.
    let e = errs("backends:\n  - id: x\n    transport:\n      type: https\n      endpoint: \"${GITHUB_TOKEN}\"\n");
    assert!(!e.contains("ghp_secret_value"), "{e}");
    assert!(e.contains("(value from the environment)"), "{e}");
    // Keys are not expanded.
    let (c, _) = ok("backends:\n  - id: x\n    transport:\n      type: stdio\n      command: c\n      env: {\"${A}\": b}\n");
    match &c.backends[0].transport {
        Transport::Stdio { env, .. } => assert!(env.contains_key("${A}")),
        t => panic!("{t:?}"),
    }
}

#[test]
fn durations_and_sizes() {
    let cfg = |agg: &str| {
        format!("aggregator:\n{agg}\nbackends:\n  - id: fs\n    transport: {{type: stdio, command: x}}\n")
    };
    let (c, w) = ok(&cfg("  connection:\n    connect_timeout: 1m30s\n    call_timeout: 500ms\n  session:\n    idle_timeout: 2h\n  max_message_size: 512KiB"));
    assert!(w.is_empty());
    assert_eq!(c.aggregator.connect_timeout, Duration::from_secs(90));
    assert_eq!(c.aggregator.call_timeout, Duration::from_millis(500));
    assert_eq!(c.aggregator.idle_timeout, Duration::from_secs(7200));
    assert_eq!(c.aggregator.max_message_size, 512 * 1024);
    let (c, _) = ok(&cfg("  max_message_size: 16777216"));
    assert_eq!(c.aggregator.max_message_size, 16 << 20);
    // Bare numbers: nanoseconds, as the Go loader does, with a warning.
    let (c, w) = ok(&cfg("  connection:\n    connect_timeout: 30"));
    assert_eq!(c.aggregator.connect_timeout, Duration::from_nanos(30));
    assert_eq!(
        warnings(&w),
        ["warning: aggregator.connection.connect_timeout: bare number 30 is read as 30 nanoseconds (as the Go gateway does); write a unit, e.g. '30s' or '30ms' (test.yml:3)"]
    );
    assert!(
        errs(&cfg("  connection:\n    connect_timeout: 0")).contains("must be greater than zero")
    );
    assert!(errs(&cfg("  connection:\n    connect_timeout: [1]"))
        .contains("expected a string, found a list"));
}

#[test]
fn warnings_are_reported() {
    let text = "aggregator:\n  separator: \":\"\nbackends:\n  - id: my:fs\n    transport: {type: stdio, command: x}\n";
    assert!(errs(text).contains("':' is not allowed in a backend id"));
    let text = "orchestrator: {}\naggregator:\n  separator: \":\"\nbackends:\n  - id: my_fs\n    transport:\n      type: https\n      endpoint: https://e.example/mcp\n      command: x\n      share_token: y\n    tools:\n      list: [\"read_*\"]\n  - id: b\n    transport: {type: stdio, command: x, protocol: sse}\n    tools: {mode: allow}\n";
    let (c, w) = ok(text);
    assert_eq!(c.aggregator.separator, ":");
    assert_eq!(c.backends[0].tools.mode, FilterMode::Allow);
    assert_eq!(
        warnings(&w),
        [
            "warning: aggregator.separator: ':' is not valid in MCP tool names (allowed: A-Z a-z 0-9 _ - .); some clients reject or rename such tools, prefer '_' (test.yml:3)",
            "warning: backends[0].transport.command: ignored for https transport (test.yml:9)",
            "warning: backends[0].transport.share_token: ignored for https transport (test.yml:10)",
            "warning: backends[0].tools.mode: not set; defaulting to 'allow' (only the listed tools are exposed) (test.yml:12)",
            "warning: backends[1].transport.protocol: ignored for stdio transport (test.yml:14)",
            "warning: backends[1].tools.list: empty, so no filtering is done and every tool is exposed (as in the Go gateway); list the tools to allow (test.yml:15)",
        ]
    );
    let (_, w) = ok("backends:\n  - id: my_fs\n    transport: {type: stdio, command: x}\n");
    assert_eq!(
        warnings(&w),
        ["warning: backends[0].id: contains the separator '_', so tool names like 'my_fs_<tool>' are ambiguous to read (routing still works) (test.yml:2)"]
    );
}

#[test]
fn http_rules_follow_go() {
    let b = |t: &str| format!("backends:\n  - id: x\n    transport:\n{t}\n");
    // http accepts https endpoints without allow_insecure (Go: TestValidateAcceptsHTTPTransportWithHTTPSEndpoint)
    let (c, _) = ok(&b(
        "      type: http\n      endpoint: https://e.example/sse",
    ));
    assert_eq!(c.backends[0].transport.kind(), TransportKind::Https);
    // tls is fine on http type with https endpoint
    ok(&b("      type: http\n      endpoint: https://e.example/sse\n      tls: {insecure_skip_verify: false}"));
    // an empty tls mapping counts as present
    assert!(errs(&b("      type: http\n      endpoint: http://e.example/sse\n      allow_insecure: true\n      tls:"))
        .contains("tls: only valid with an https:// endpoint"));
    assert!(errs(&b("      type: https"))
        .contains("backends[0].transport.endpoint: required for https transport"));
    assert!(errs(&b(
        "      type: http\n      endpoint: http://e.example/sse\n      allow_insecure: false"
    ))
    .contains("allow_insecure: must be true"));
    let e = errs(&b("      type: https\n      endpoint: https://e.example\n      tls:\n        ca_cert_file: tests/configs/good/minimal.yml"));
    assert_eq!(
        e,
        "backends[0].transport.tls.ca_cert_file: no PEM certificate ('-----BEGIN CERTIFICATE-----') found in 'tests/configs/good/minimal.yml' (test.yml:7)"
    );
}

#[test]
fn tool_filter_check() {
    let allow = ToolFilter {
        mode: FilterMode::Allow,
        list: vec!["read_file".into(), "list_*".into(), "get_?".into()],
    };
    assert_eq!(allow.check("read_file"), F::AllowedBy("read_file".into()));
    assert_eq!(allow.check("read_files"), F::NotAllowed);
    assert_eq!(allow.check("list_directory"), F::AllowedBy("list_*".into()));
    assert_eq!(allow.check("list_"), F::AllowedBy("list_*".into()));
    assert_eq!(allow.check("get_x"), F::AllowedBy("get_?".into()));
    assert_eq!(allow.check("get_xy"), F::NotAllowed);
    assert_eq!(allow.check("get_"), F::NotAllowed);
    assert!(!allow.check("write_file").exposed());

    let deny = ToolFilter {
        mode: FilterMode::Deny,
        list: vec!["delete_*".into(), "drop".into()],
    };
    assert_eq!(deny.check("delete_repo"), F::DeniedBy("delete_*".into()));
    assert_eq!(deny.check("drop"), F::DeniedBy("drop".into()));
    assert_eq!(deny.check("dropped"), F::Unfiltered);
    assert!(deny.check("create_issue").exposed());

    assert_eq!(ToolFilter::none().check("anything"), F::Unfiltered);
    assert!(ToolFilter::none().is_none());
    // Go: an empty list means no filtering, whatever the mode.
    let empty_allow = ToolFilter {
        mode: FilterMode::Allow,
        list: vec![],
    };
    assert_eq!(empty_allow.check("x"), F::Unfiltered);
    // First matching pattern is reported.
    let all = ToolFilter {
        mode: FilterMode::Allow,
        list: vec!["*".into(), "x".into()],
    };
    assert_eq!(all.check("x"), F::AllowedBy("*".into()));
}

#[test]
fn yaml_features() {
    // Anchors, aliases and merge keys (yaml.v3 supports them too).
    let (c, _) = ok("backends:\n  - id: a\n    transport: &t\n      type: stdio\n      command: srv\n  - id: b\n    transport: *t\n");
    assert_eq!(c.backends.len(), 2);
    assert_eq!(c.backends[0].transport, c.backends[1].transport);
    let (c, _) = ok("backends:\n  - id: a\n    transport: &base {type: stdio, command: srv, args: [x]}\n  - id: b\n    transport:\n      <<: *base\n      command: other\n");
    match &c.backends[1].transport {
        Transport::Stdio { command, args, .. } => {
            assert_eq!(command, "other");
            assert_eq!(args, &["x"]);
        }
        t => panic!("{t:?}"),
    }
    // Comments, quoted keys, document markers, tags.
    let (c, _) = ok("---\n# c\n\"backends\": # c\n  - 'id': !!str 123 # c\n    transport: {type: stdio, command: \"x # not a comment\"}\n...\n");
    assert_eq!(c.backends[0].id, "123");
    // Numbers and booleans in string fields are taken as written.
    let (c, _) = ok("aggregator:\n  version: 2.10\nbackends:\n  - id: a\n    transport: {type: stdio, command: x, args: [1, true, 0x1F]}\n");
    assert_eq!(c.aggregator.version, "2.10");
    match &c.backends[0].transport {
        Transport::Stdio { args, .. } => assert_eq!(args, &["1", "true", "0x1F"]),
        t => panic!("{t:?}"),
    }
}

#[test]
fn hostile_inputs_are_errors_not_panics() {
    // Alias bomb.
    let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..12 {
        let p = i - 1;
        bomb.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    assert!(errs(&bomb).contains("document too large"));
    // Deep nesting.
    let deep = format!("backends: {}{}\n", "[".repeat(10_000), "]".repeat(10_000));
    let e = errs(&deep);
    assert!(
        e.contains("nesting deeper than") || e.contains("recursion limit exceeded"),
        "{e}"
    );
    let deep_map = format!("backends: {}x{}\n", "{a: ".repeat(5_000), "}".repeat(5_000));
    assert!(!errs(&deep_map).is_empty());
    // Odd but valid YAML in odd places.
    for text in [
        "backends:\n  - id: a\n    transport: {type: stdio, command: x}\n    ? [complex, key]\n    : v\n",
        "? |\n  block key\n: x\n",
        "backends: !!map {}\n",
        "\u{feff}backends: []\n",
        "backends:\n  - id: a\n    transport: {type: stdio, command: x}\n  - *nope\n",
        "[",
        "\t",
        "%YAML 1.2\n---\nbackends: x\n",
        "backends:\n  - id: a\n    id: b\n    id: c\n",
        "backends: [{id: é, transport: {type: https, endpoint: 'https://[::1'}}]",
        "backends: [{id: a, transport: {type: https, endpoint: 'https://ex.example', headers: {'': x, 'X\u{1}': y}}}]",
        "backends: [{id: a, transport: {type: stdio, command: x, env: {'A=B': x, B: \"\\0\"}}}]",
        "aggregator: {max_message_size: 99999999999999999999999}\nbackends: []\n",
        "aggregator: {connection: {call_timeout: 9999999999999999999999999h}}\nbackends: []\n",
        "aggregator: {connection: {call_timeout: 1e400}}\nbackends: []\n",
    ] {
        let _ = parse(text, "t.yml", &env); // must not panic
    }
}

#[test]
fn truncated_and_mutated_configs_never_panic() {
    let texts = [
        fixture("etc/mcp-gateway.yml"),
        fixture("tests/configs/good/remote.yml"),
        fixture("tests/configs/good/flow_style.yml"),
    ];
    for text in &texts {
        let bounds: Vec<usize> = (0..=text.len())
            .filter(|i| text.is_char_boundary(*i))
            .collect();
        for &i in bounds.iter().step_by(5) {
            let _ = parse(&text[..i], "t.yml", &env);
        }
        // Replace single characters with YAML-significant ones.
        for (n, &i) in bounds.iter().enumerate().step_by(11) {
            if i >= text.len() {
                break;
            }
            let c = [
                '{', '[', ':', '-', '"', '\'', '&', '*', '!', '|', '>', '\t', '#', '%', '@',
            ][n % 15];
            let mut m = String::with_capacity(text.len());
            m.push_str(&text[..i]);
            m.push(c);
            let next = bounds.get(n + 1).copied().unwrap_or(text.len());
            m.push_str(&text[next..]);
            let _ = parse(&m, "t.yml", &env);
        }
    }
}

#[test]
fn debug_redacts_secrets() {
    let (c, _) = ok("backends:\n  - id: a\n    transport:\n      type: https\n      endpoint: \"https://user:hunter2@e.example/mcp?key=k3y\"\n      headers: {Authorization: \"Bearer tok3n\"}\n  - id: b\n    transport: {type: stdio, command: x, env: {PASSWORD: s3cret}}\n");
    let dbg = format!("{c:?} {:#?}", c.backends);
    for secret in ["hunter2", "k3y", "tok3n", "s3cret"] {
        assert!(!dbg.contains(secret), "{secret} leaked: {dbg}");
    }
    assert!(dbg.contains("Authorization") && dbg.contains("PASSWORD"));
}

#[test]
fn error_display_and_collection() {
    let e = parse("backends:\n  - id: a\n    transport: {type: stdio}\n  - id: a\n    transport: {type: zrok}\n", "c.yml", &env).unwrap_err();
    assert_eq!(e.len(), 3);
    let lines: Vec<String> = e.iter().map(|x| x.to_string()).collect();
    assert_eq!(
        lines,
        [
            "backends[0].transport.command: required for stdio transport (c.yml:3)",
            "backends[1].id: duplicate backend id 'a' (also used by backends[0] on line 2) (c.yml:4)",
            "backends[1].transport.share_token: required for zrok transport (the token printed by mcp-bridge) (c.yml:5)",
        ]
    );
    assert_eq!(e.to_string(), lines.join("\n"));
    assert_eq!(e.0[0].line(), Some(3));
    assert_eq!(e.0[0].field, "backends[0].transport.command");
    let boxed: Box<dyn std::error::Error> = Box::new(e);
    assert!(boxed.to_string().starts_with("backends[0]"));
}

#[test]
fn demo_config() {
    let c = demo(
        Path::new("/home/u/docs"),
        Path::new("/usr/bin/mcp-filesystem"),
    );
    assert_eq!(c.backends.len(), 1);
    assert_eq!(c.backends[0].id, "fs");
    assert_eq!(
        c.backends[0].transport,
        Transport::Stdio {
            command: "/usr/bin/mcp-filesystem".into(),
            args: vec!["/home/u/docs".into()],
            env: BTreeMap::new(),
            env_policy: EnvPolicy::Additive,
            working_dir: None
        }
    );
    assert_eq!(c.aggregator, Aggregator::default());
}

mod keys;
mod resilience;
