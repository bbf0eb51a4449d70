//! The keys added since the first release: `access`, `env_policy`, `session_idle_timeout`,
//! `allow_redirects` / `allow_environment_proxy`, the listener limits, `orchestrator.reconnect_interval`,
//! `aggregator.health` / `aggregator.restart`, `audit`, `metrics`.

use super::*;

#[test]
fn access_rules_decode_and_bad_ones_name_their_line() {
    let base = "backends:\n  - id: fs\n    transport: {type: stdio, command: x}\n";
    let (c, _) = ok(&format!(
        "{base}access:\n  - caller: [\"bob@*\", local]\n    tools: {{mode: allow, list: [\"fs_read_*\"]}}\n  - caller: \"*\"\n    tools: {{mode: deny, list: [fs_write_file]}}\n"
    ));
    assert_eq!(c.access.len(), 2);
    assert_eq!(c.access[0].callers, ["bob@*", "local"]);
    assert!(c.access[0].matches("bob@example.com-0123456789ab-env"));
    assert!(c.access[0].matches("local"));
    assert!(!c.access[0].matches("alice@example.com-0123456789ab-env"));
    assert!(c.access[0].tools.check("fs_read_file").exposed());
    assert!(!c.access[0].tools.check("fs_write_file").exposed());
    assert!(c.access[1].matches("anyone"));
    let e = errs(&format!(
        "{base}access:\n  - tools: {{mode: allow, list: [x]}}\n  - caller: \"\"\n    tools: {{mode: allow, list: [x]}}\n  - caller: a\n  - caller: a\n    tols: {{}}\n    tools: {{mode: allwo, list: [x]}}\n"
    ));
    assert!(
        e.contains("access[0].caller: required") && e.contains("test.yml:5"),
        "{e}"
    );
    assert!(
        e.contains("access[1].caller: empty caller pattern (test.yml:6)"),
        "{e}"
    );
    assert!(
        e.contains("access[2].tools: required") && e.contains("test.yml:8"),
        "{e}"
    );
    assert!(
        e.contains("access[3].tols") && e.contains("did you mean 'tools'"),
        "{e}"
    );
    assert!(e.contains("access[3].tools.mode"), "{e}");
    let e = errs(&format!("{base}access: {{caller: x}}\n"));
    assert!(e.contains("access: expected a list of rules"), "{e}");
}

#[test]
fn env_policy_upstream_key() {
    let stdio = |extra: &str| {
        format!("backends:\n  - id: fs\n    transport:\n      type: stdio\n      command: x\n      env: {{A: \"1\"}}\n{extra}")
    };
    let policy = |c: &Config| match &c.backends[0].transport {
        Transport::Stdio { env_policy, .. } => *env_policy,
        t => panic!("{t:?}"),
    };
    let (c, w) = ok(&stdio(""));
    assert!(w.is_empty());
    assert_eq!(policy(&c), EnvPolicy::Additive);
    let (c, w) = ok(&stdio("      env_policy: closed\n"));
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(policy(&c), EnvPolicy::Closed);
    assert_eq!(
        policy(&ok(&stdio("      env_policy: additive\n")).0),
        EnvPolicy::Additive
    );
    // A bad value: file:line and the field path, with a suggestion.
    let e = errs(&stdio("      env_policy: close\n"));
    assert!(
        e.contains("backends[0].transport.env_policy: unknown env_policy 'close'")
            && e.contains("did you mean 'closed'?")
            && e.contains("(test.yml:7)"),
        "{e}"
    );
    assert!(errs(&stdio("      env_policy: [closed]\n")).contains("(test.yml:7)"));
    // Not for other transports: warned about and ignored.
    let (_, w) = ok(
        "backends:\n  - id: z\n    transport: {type: zrok, share_token: t, env_policy: closed}\n",
    );
    assert!(
        warnings(&w)[0].contains("env_policy: ignored for zrok transport"),
        "{w:?}"
    );
    // The policy shows in Debug, the values never do.
    let (c, _) = ok(&stdio("      env_policy: closed\n"));
    let d = format!("{c:?}");
    assert!(d.contains("Closed") && !d.contains("\"1\""), "{d}");
}

#[test]
fn session_idle_timeout_both_names() {
    let base = "backends:\n  - id: fs\n    transport: {type: stdio, command: x}\n";
    let (c, w) = ok(&format!("session_idle_timeout: 45m\n{base}"));
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(c.aggregator.idle_timeout, Duration::from_secs(45 * 60));
    let ours = "aggregator:\n  session:\n    idle_timeout: 45m\n";
    let (c, _) = ok(&format!("{ours}{base}"));
    assert_eq!(c.aggregator.idle_timeout, Duration::from_secs(45 * 60));
    // Both, equal: fine.
    let (c, w) = ok(&format!("session_idle_timeout: 2700s\n{ours}{base}"));
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(c.aggregator.idle_timeout, Duration::from_secs(45 * 60));
    // Both, different: one error naming both lines.
    let e = errs(&format!("session_idle_timeout: 10m\n{ours}{base}"));
    assert!(
        e.contains("session_idle_timeout: differs from aggregator.session.idle_timeout (line 4)")
            && e.contains("(test.yml:1)"),
        "{e}"
    );
    // Zero: never idle out (as upstream); the effective timeout is unbounded.
    let (c, _) = ok(&format!("session_idle_timeout: 0s\n{base}"));
    assert!(c.aggregator.idle_timeout.is_zero());
    assert_eq!(c.aggregator.effective_idle_timeout(), Duration::MAX);
    let e = errs(&format!("session_idle_timeout: soon\n{base}"));
    assert!(
        e.contains("session_idle_timeout:") && e.contains("(test.yml:1)"),
        "{e}"
    );
    // Misplaced under aggregator: a suggestion.
    let e = errs(&format!("aggregator:\n  session_idle_timeout: 1m\n{base}"));
    assert!(e.contains("aggregator.session_idle_timeout"), "{e}");
}

#[test]
fn http_opt_ins_decode_and_are_refused_off_http() {
    let http = |extra: &str| {
        format!("backends:\n  - id: h\n    transport:\n      type: https\n      endpoint: https://e.example/mcp\n{extra}")
    };
    let opts = |c: &crate::core::config::Config| match &c.backends[0].transport {
        Transport::Http {
            allow_redirects,
            allow_environment_proxy,
            ..
        } => (*allow_redirects, *allow_environment_proxy),
        t => panic!("{t:?}"),
    };
    let (c, w) = ok(&http(""));
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(
        opts(&c),
        (false, false),
        "both off by default (as upstream)"
    );
    let (c, _) = ok(&http(
        "      allow_redirects: false\n      allow_environment_proxy: false\n",
    ));
    assert_eq!(opts(&c), (false, false));
    let (c, _) = ok(&http("      allow_redirects: true\n"));
    assert_eq!(opts(&c), (true, false));
    let (c, _) = ok(&http("      allow_environment_proxy: true\n"));
    assert_eq!(opts(&c), (false, true));
    let e = errs(&http("      allow_redirects: yes please\n"));
    assert!(
        e.contains("backends[0].transport.allow_redirects:") && e.contains("(test.yml:6)"),
        "{e}"
    );
    // Upstream refuses them on stdio and zrok transports.
    for (ty, key) in [
        ("{type: stdio, command: x", "allow_redirects"),
        ("{type: zrok, share_token: abc", "allow_environment_proxy"),
    ] {
        let e = errs(&format!(
            "backends:\n  - id: h\n    transport: {ty}, {key}: true}}\n"
        ));
        assert!(
            e.contains(&format!(
                "backends[0].transport.{key}: only for http and https transports"
            )),
            "{e}"
        );
    }
    // false there is only the usual "ignored" warning.
    let (_, w) = ok(
        "backends:\n  - id: h\n    transport: {type: stdio, command: x, allow_redirects: false}\n",
    );
    assert_eq!(w.len(), 1, "{w:?}");
}

#[test]
fn path_policy_decodes_and_bad_rules_name_their_line() {
    let head = "backends:\n  - id: fs\n    transport: {type: stdio, command: x}\n    policy:\n      paths:\n";
    let (c, _) = ok(&format!(
        "{head}        - tool: read_file\n          argument: path\n          roots: [/tmp, /var]\n"
    ));
    assert_eq!(c.backends[0].policy.len(), 1);
    assert_eq!(c.backends[0].policy[0].roots, ["/tmp", "/var"]);
    let e = errs(&format!(
        "{head}        - tool: read_file\n          roots: []\n        - argument: ''\n          tool: x\n          roots: [/tmp]\n          rots: 1\n"
    ));
    assert!(
        e.contains("backends[0].policy.paths[0].argument: required (test.yml:6)"),
        "{e}"
    );
    assert!(
        e.contains(
            "backends[0].policy.paths[0].roots: at least one directory is required (test.yml:7)"
        ),
        "{e}"
    );
    assert!(
        e.contains("backends[0].policy.paths[1].argument: must not be empty (test.yml:8)"),
        "{e}"
    );
    assert!(
        e.contains("paths[1].rots") && e.contains("did you mean 'roots'"),
        "{e}"
    );
}

#[test]
fn listener_limits() {
    let cfg = |agg: &str| {
        format!("aggregator:\n{agg}\nbackends:\n  - id: fs\n    transport: {{type: stdio, command: x}}\n")
    };
    let (c, w) = ok(&cfg(
        "  listener:\n    header_read_timeout: 250ms\n    max_half_open: 9",
    ));
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(c.aggregator.header_read_timeout, Duration::from_millis(250));
    assert_eq!(c.aggregator.max_half_open, 9);
    let e = errs(&cfg(
        "  listener:\n    header_read_timeout: 0s\n    max_half_open: none\n    max_pending: 3",
    ));
    assert!(
        e.contains(
            "aggregator.listener.header_read_timeout: must be greater than zero (test.yml:3)"
        ),
        "{e}"
    );
    assert!(e.contains("aggregator.listener.max_half_open: must be a whole number greater than zero 'none' (test.yml:4)"), "{e}");
    assert!(e.contains("aggregator.listener.max_pending"), "{e}");
}

#[test]
fn orchestrator_keys() {
    let base = "backends:\n  - id: fs\n    transport: {type: stdio, command: x}\n";
    let text = format!("{base}orchestrator:\n  socket_path: /tmp/o.sock\n  heartbeat_interval: 250ms\n  reconnect_interval: 2s\n");
    let (c, w) = ok(&text);
    assert!(w.is_empty(), "{w:?}");
    let expected = Orchestrator {
        socket_path: "/tmp/o.sock".into(),
        heartbeat_interval: Duration::from_millis(250),
        reconnect_interval: Duration::from_secs(2),
    };
    assert_eq!(c.orchestrator, Some(expected));
    // Missing keys take upstream's defaults (reconnect: upstream's fixed 5 s).
    let o = ok(&format!("{base}orchestrator: {{}}\n")).0.orchestrator;
    let o = o.expect("decoded");
    assert_eq!(
        (o.heartbeat_interval, o.reconnect_interval),
        (Duration::from_secs(30), Duration::from_secs(5))
    );
    let bad =
        "orchestrator:\n  reconnect_interval: 0s\n  reconnectInterval: 1s\n  retry_interval: 1s\n";
    let e = errs(&format!("{bad}{base}"));
    // The last one: at the top level, a suggestion that names its section.
    let top = errs(&format!("reconnect_interval: 1s\n{base}"));
    for (text, want) in [
        (
            &e,
            "orchestrator.reconnect_interval: must be greater than zero (test.yml:2)",
        ),
        (&e, "reconnectInterval"),
        (&e, "did you mean 'reconnect_interval'"),
        (&e, "orchestrator.retry_interval"),
        (&top, "did you mean 'orchestrator.reconnect_interval'"),
    ] {
        assert!(text.contains(want), "{want}: {text}");
    }
}

#[test]
fn health_and_restart_decode_and_bad_values_name_their_line() {
    let base = "backends:\n  - id: fs\n    transport: {type: stdio, command: x}\n";
    let (c, _) = ok(&format!(
        "aggregator:\n  health: {{interval: 0s, timeout: 2s}}\n  restart:\n    max_attempts: 0\n    backoff: 1s\n    max_backoff: 1m\n{base}"
    ));
    let a = &c.aggregator;
    assert_eq!(
        (a.health.interval, a.health.timeout),
        (Duration::ZERO, Duration::from_secs(2))
    );
    assert_eq!(
        (
            a.restart.max_attempts,
            a.restart.backoff,
            a.restart.max_backoff
        ),
        (0, Duration::from_secs(1), Duration::from_secs(60))
    );
    // Defaults, and the backoff doubling up to its cap.
    let d = ok(base).0.aggregator;
    assert_eq!(
        (d.health.interval, d.health.timeout),
        (Duration::from_secs(30), Duration::from_secs(10))
    );
    let r = d.restart;
    assert_eq!(r.max_attempts, 5);
    let delays: Vec<_> = (1..=8).map(|n| r.delay(n)).collect();
    assert_eq!(
        delays,
        [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000].map(Duration::from_millis)
    );
    assert_eq!(r.delay(1000), Duration::from_secs(30));
    let e = errs(&format!(
        "aggregator:\n  health:\n    timeout: 0s\n    intervall: 1s\n  restart:\n    max_attempts: -1\n    backoff: 10s\n    max_backoff: 1s\n  retsart: {{}}\n{base}"
    ));
    for want in [
        "aggregator.health.timeout: must be greater than zero (test.yml:3)",
        "did you mean 'interval'",
        "aggregator.restart.max_attempts: must be a whole number '-1' (test.yml:6)",
        "aggregator.restart.max_backoff: must not be shorter than aggregator.restart.backoff (1s < 10s) (test.yml:8)",
        "did you mean 'restart'",
    ] {
        assert!(e.contains(want), "{want}: {e}");
    }
}

#[test]
fn audit_and_metrics_decode_and_bad_ones_name_their_line() {
    let base = "backends:\n  - id: fs\n    transport: {type: stdio, command: x}\n";
    let (c, w) = ok(base);
    assert!(w.is_empty() && c.audit.is_none() && c.metrics.is_none());
    let (c, w) = ok(&format!(
        "{base}audit:\n  file: /var/log/a.jsonl\nmetrics:\n  listen: \"[::1]:0\"\n"
    ));
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(
        c.audit,
        Some(Audit {
            file: "/var/log/a.jsonl".into(),
            rotation: Rotation::Daily,
            max_files: 0,
            arguments: false,
        })
    );
    assert_eq!(
        c.metrics,
        Some(Metrics {
            listen: "[::1]:0".into(),
            allow_remote: false
        })
    );
    let (c, _) = ok(&format!(
        "{base}audit: {{file: a, rotation: hourly, max_files: 24, arguments: true}}\nmetrics: {{listen: \"0.0.0.0:9464\", allow_remote: true}}\n"
    ));
    let a = c.audit.unwrap();
    assert_eq!(
        (a.rotation, a.max_files, a.arguments),
        (Rotation::Hourly, 24, true)
    );
    assert!(c.metrics.unwrap().allow_remote);
    let (_, w) = ok(&format!(
        "{base}audit:\n  file: a\n  rotation: never\n  max_files: 3\n"
    ));
    assert_eq!(
        warnings(&w),
        ["warning: audit.max_files: ignored with 'rotation: never' (there is only one file) (test.yml:7)"]
    );
    let e = errs(&format!(
        "{base}audit:\n  rotation: weekly\n  max_files: -1\n  argumnets: true\nmetrics:\n  listen: \"0.0.0.0:9464\"\n"
    ));
    assert!(
        e.contains("audit.file: required") && e.contains("(test.yml:4)"),
        "{e}"
    );
    assert!(
        e.contains("audit.rotation: expected daily, hourly or never, found 'weekly' (test.yml:5)"),
        "{e}"
    );
    assert!(
        e.contains(
            "audit.max_files: must be a whole number (0 keeps every file) '-1' (test.yml:6)"
        ),
        "{e}"
    );
    assert!(
        e.contains("audit.argumnets") && e.contains("did you mean 'arguments'"),
        "{e}"
    );
    assert!(
        e.contains("metrics.listen: 0.0.0.0:9464 is not a loopback address")
            && e.contains("metrics.allow_remote: true")
            && e.contains("(test.yml:9)"),
        "{e}"
    );
    let e = errs(&format!(
        "{base}metrics:\n  allow_remote: true\naudit:\n  file: /tmp/\n"
    ));
    assert!(
        e.contains("metrics.listen: required") && e.contains("(test.yml:4)"),
        "{e}"
    );
    assert!(
        e.contains("audit.file: must name a file '/tmp/' (test.yml:7)"),
        "{e}"
    );
    let e = errs(&format!("{base}metrics: {{listen: \"9464\"}}\n"));
    assert!(e.contains("metrics.listen: expected HOST:PORT"), "{e}");
}
