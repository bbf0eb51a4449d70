//! `mcp-bridge [flags] [--] <command> [args...]`: one stdio MCP server on a share (or loopback),
//! one subprocess per client.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::Parser;

use crate::cli::common::{self, CliResult, Failure, LogFlags, Signals};
use crate::core::config;
use crate::core::engine::{Engine, EngineOptions, Mode};

#[derive(Debug, Clone, Parser)]
#[command(
    name = "mcp-bridge",
    version,
    about = "Expose one stdio MCP server on a zrok private share (or loopback); every client gets its own subprocess"
)]
pub(crate) struct BridgeArgs {
    /// Environment variables for the command, KEY=VALUE (repeatable).
    #[arg(long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Working directory for the command.
    #[arg(long, value_name = "DIR")]
    pub working_dir: Option<PathBuf>,
    /// Serve on this existing zrok share (managed mode: never deleted).
    #[arg(long, value_name = "TOKEN", conflicts_with = "listen")]
    pub share_token: Option<String>,
    /// Let this zrok account (email) access the new share (repeatable). The share is closed:
    /// only its owner's account and the granted accounts may access it.
    #[arg(long = "access-grant", value_name = "ACCOUNT", conflicts_with_all = ["share_token", "listen"])]
    pub access_grants: Vec<String>,
    /// Serve on this TCP address instead of a zrok share (loopback; port 0 picks a free port).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Allow --listen on a non-loopback address.
    #[arg(long, requires = "listen")]
    pub allow_remote: bool,
    /// Time allowed for the server to start and answer initialize.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub connect_timeout: std::time::Duration,
    /// Time allowed for each request to the server.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub call_timeout: std::time::Duration,
    /// End a client session after this long without requests; 0 never does (upstream's
    /// --session-idle-timeout; --idle-timeout is the older mcpz name).
    #[arg(
        long = "session-idle-timeout",
        visible_alias = "idle-timeout",
        value_name = "DURATION",
        default_value = "30m",
        value_parser = parse_duration
    )]
    pub idle_timeout: std::time::Duration,
    #[command(flatten)]
    pub metrics: common::MetricsFlags,
    /// The MCP server command and its arguments.
    #[arg(
        value_name = "COMMAND",
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub command: Vec<String>,
    #[command(flatten)]
    pub log: LogFlags,
}

/// Parse `500ms`, `30s`, `2m`, `1h`, `1m30s`.
pub(crate) fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let mut total = std::time::Duration::ZERO;
    let mut num = String::new();
    let mut chars = s.trim().chars().peekable();
    if s.trim().is_empty() {
        return Err("empty duration".into());
    }
    // As Go's time.ParseDuration: a bare 0 needs no unit.
    if s.trim() == "0" {
        return Ok(total);
    }
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let mut unit = c.to_string();
        while let Some(&n) = chars.peek() {
            if n.is_ascii_alphabetic() {
                unit.push(n);
                chars.next();
            } else {
                break;
            }
        }
        let v: f64 = num
            .parse()
            .map_err(|_| format!("invalid duration '{s}' (use e.g. 500ms, 30s, 2m)"))?;
        num.clear();
        let secs = match unit.as_str() {
            "ms" => v / 1000.0,
            "s" => v,
            "m" => v * 60.0,
            "h" => v * 3600.0,
            _ => {
                return Err(format!(
                    "invalid duration '{s}': unknown unit '{unit}' (use ms, s, m, h)"
                ))
            }
        };
        total += std::time::Duration::from_secs_f64(secs);
    }
    if !num.is_empty() {
        return Err(format!(
            "invalid duration '{s}': missing unit (use e.g. 500ms, 30s, 2m)"
        ));
    }
    Ok(total)
}

pub(crate) fn parse_env(pairs: &[String]) -> Result<BTreeMap<String, String>, Failure> {
    let mut env = BTreeMap::new();
    for p in pairs {
        let Some((k, v)) = p.split_once('=') else {
            return Err(Failure::usage(format!(
                "--env {}: expected KEY=VALUE",
                p.split('=').next().unwrap_or("")
            )));
        };
        if k.is_empty() {
            return Err(Failure::usage("--env: empty variable name".to_string()));
        }
        env.insert(k.to_string(), v.to_string());
    }
    Ok(env)
}

pub(crate) async fn run(args: BridgeArgs, sig: Signals) -> CliResult {
    let _guard = args.log.init(None)?;
    let env = parse_env(&args.env)?;
    let Some(command) = args.command.first().cloned() else {
        return Err(Failure::usage("missing <command>"));
    };
    let bound = match &args.listen {
        Some(addr) => Some(common::bind_loopback(addr, args.allow_remote).await?),
        None => None,
    };
    let ops = common::prepare_ops(None, args.metrics.bind(None, "")).await?;
    let overlay = match bound {
        Some(_) => None,
        None => Some(common::open_overlay().await?),
    };
    let agg = config::Aggregator {
        name: "mcp-bridge".into(),
        connect_timeout: args.connect_timeout,
        call_timeout: args.call_timeout,
        idle_timeout: args.idle_timeout,
        ..config::Aggregator::default()
    };
    let backend = config::Backend {
        id: "bridge".into(),
        name: None,
        transport: config::Transport::Stdio {
            command,
            args: args.command[1..].to_vec(),
            env,
            env_policy: config::EnvPolicy::Additive,
            working_dir: args.working_dir.clone(),
        },
        tools: config::ToolFilter::none(),
        policy: Vec::new(),
    };
    sig.started();
    let start = Engine::start(EngineOptions {
        aggregator: agg,
        backends: vec![backend],
        mode: Mode::Transparent,
        zrok: None,
        discover: true,
        access: Vec::new(),
    });
    let engine = sig
        .unless_stopped("starting the backend", async {
            start
                .await
                .map_err(|e| Failure::runtime(format!("failed to start bridge: {}", e.cause)))
        })
        .await?;
    let _ops = ops.attach(&engine);
    let share = common::ShareSpec {
        managed: args.share_token.clone(),
        key: crate::core::zrok::GatewayKey::named(&format!(
            "mcp-bridge {}",
            args.command.join(" ")
        )),
        access: crate::core::zrok::ShareAccess::Closed {
            grants: args.access_grants.clone(),
        },
        // Upstream's bridge has no `resilience` settings (nor an orchestrator): the defaults.
        watchdog: crate::core::watchdog::WatchdogOptions {
            resilience: config::Resilience::default(),
            fail_fast: true,
        },
    };
    common::serve_engine(engine, bound, overlay, share, &sig).await
}

pub fn main() -> i32 {
    // `mcp-bridge version` alone is the version command, as upstream's (a server named
    // `version` is still bridged with `mcp-bridge -- version`).
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if argv.len() == 2 && argv[1] == "version" {
        print!("{}", common::version_text("mcp-bridge"));
        return 0;
    }
    common::main(run)
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert!(parse_duration("30").is_err());
        assert!(parse_duration("3x").is_err());
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
    }

    #[test]
    fn session_idle_timeout_flag_and_alias() {
        use clap::Parser;
        let parse = |flags: &[&str]| {
            let mut argv = vec!["mcp-bridge"];
            argv.extend_from_slice(flags);
            argv.extend_from_slice(&["--", "server"]);
            super::BridgeArgs::try_parse_from(argv).map(|a| a.idle_timeout)
        };
        assert_eq!(parse(&[]).unwrap(), Duration::from_secs(30 * 60));
        // Upstream's flag name.
        assert_eq!(
            parse(&["--session-idle-timeout", "45m"]).unwrap(),
            Duration::from_secs(45 * 60)
        );
        // An explicit zero is kept (never idle out), as upstream.
        assert_eq!(
            parse(&["--session-idle-timeout", "0"]).unwrap(),
            Duration::ZERO
        );
        // mcpz's older name.
        assert_eq!(
            parse(&["--idle-timeout", "2m"]).unwrap(),
            Duration::from_secs(120)
        );
        assert!(parse(&["--session-idle-timeout", "soon"]).is_err());
    }

    #[test]
    fn metrics_flags_and_what_they_bind() {
        use clap::{CommandFactory, Parser};
        super::BridgeArgs::command().debug_assert();
        crate::cli::gateway::GatewayCli::command().debug_assert();
        let argv = [
            "mcp-bridge",
            "--metrics",
            "127.0.0.1:0",
            "--",
            "server",
            "--metrics",
        ];
        let a = super::BridgeArgs::try_parse_from(argv).unwrap();
        assert_eq!(a.command, ["server", "--metrics"]);
        let b = a.metrics.bind(None, "").unwrap();
        assert_eq!(
            (&*b.addr, b.allow_remote, &*b.source),
            ("127.0.0.1:0", false, "--metrics")
        );
        // The flag wins over the config; either may allow a remote address.
        let cfg = crate::core::config::Metrics {
            listen: "0.0.0.0:9464".into(),
            allow_remote: true,
        };
        let b = a.metrics.bind(Some(&cfg), "gw.yml").unwrap();
        assert_eq!((&*b.addr, b.allow_remote), ("127.0.0.1:0", true));
        let none = crate::cli::common::MetricsFlags::default();
        let b = none.bind(Some(&cfg), "gw.yml").unwrap();
        assert_eq!(
            (&*b.addr, &*b.source),
            ("0.0.0.0:9464", "gw.yml: metrics.listen")
        );
        assert!(none.bind(None, "gw.yml").is_none());
    }
}
