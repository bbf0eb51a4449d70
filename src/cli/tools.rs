//! `mcp-tools run|http <target>`: connect an agent to a remote MCP server (a zrok share token, or a
//! URL for local use) over stdio or local streamable HTTP.

use std::collections::BTreeMap;

use clap::{Parser, Subcommand};
use rmcp::ServiceExt;

use crate::cli::common::{self, CliResult, Failure, LogFlags, Signals};
use crate::core::config;
use crate::core::engine::{Caller, Engine, EngineOptions, Mode};

#[derive(Debug, Parser)]
#[command(
    name = "mcp-tools",
    version,
    about = "Connect MCP clients to a remote MCP server on a zrok share (or a URL)"
)]
pub(crate) struct ToolsCli {
    #[command(subcommand)]
    pub command: ToolsCommand,
    #[command(flatten)]
    pub log: LogFlags,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ToolsCommand {
    /// Speak MCP on stdio and forward to TARGET (for agents that launch MCP servers).
    Run(TargetArgs),
    /// Serve TARGET as streamable HTTP on a local address.
    Http(HttpArgs),
    /// Create a persistent private share for a gateway or bridge to serve (prints {"share_token":…}).
    Create {
        /// Share token to use: 3-32 characters from a-z, 0-9 and '-' (random when omitted).
        #[arg(value_name = "NAME")]
        name: Option<String>,
        /// Let this zrok account (email) access the share (repeatable). Without --open the share
        /// is closed: only its owner's account and the granted accounts may access it.
        #[arg(long = "access-grant", value_name = "ACCOUNT", conflicts_with = "open")]
        access_grants: Vec<String>,
        /// Any account that holds the token may access the share (permission mode open).
        #[arg(long)]
        open: bool,
    },
    /// Delete a persistent share of this environment.
    Delete {
        #[arg(value_name = "NAME")]
        name: String,
    },
    /// List this environment's private shares (one JSON object per line).
    List,
    /// Show version information (version, commit, build date).
    Version,
}

#[derive(Debug, Clone, clap::Args)]
pub(crate) struct TargetArgs {
    /// A zrok share token, or a URL: `http://HOST:PORT/mcp` (streamable HTTP) or `.../sse` (legacy SSE).
    #[arg(value_name = "TARGET")]
    pub target: String,
    /// Time allowed to connect and initialize.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = crate::cli::bridge::parse_duration)]
    pub connect_timeout: std::time::Duration,
    /// Time allowed for each request.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = crate::cli::bridge::parse_duration)]
    pub call_timeout: std::time::Duration,
}

#[derive(Debug, Clone, clap::Args)]
pub(crate) struct HttpArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Address to serve on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub bind: String,
    /// Allow --bind on a non-loopback address.
    #[arg(long)]
    pub allow_remote: bool,
    /// Stateless mode: no Mcp-Session-Id; every request stands alone.
    #[arg(long)]
    pub stateless: bool,
    /// Prefer application/json responses over SSE streams.
    #[arg(long)]
    pub json_response: bool,
}

/// Turn a target into a backend definition.
pub(crate) fn target_backend(target: &str) -> Result<config::Backend, Failure> {
    let transport = if target.starts_with("http://") || target.starts_with("https://") {
        let url = url::Url::parse(target)
            .map_err(|e| Failure::usage(format!("{target}: invalid URL: {e}")))?;
        let protocol = if url.path().trim_end_matches('/').ends_with("/sse") {
            config::HttpProtocol::Sse
        } else {
            config::HttpProtocol::Streamable
        };
        config::Transport::Http {
            endpoint: url,
            protocol,
            headers: BTreeMap::new(),
            tls: None,
            allow_insecure: true,
            allow_redirects: false,
            allow_environment_proxy: false,
        }
    } else {
        if target.is_empty()
            || !target
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(Failure::usage(format!(
                "{target}: not a share token or an http(s) URL"
            )));
        }
        config::Transport::Zrok {
            share_token: target.to_string(),
        }
    };
    Ok(config::Backend {
        id: "target".into(),
        name: None,
        transport,
        tools: config::ToolFilter::none(),
        policy: Vec::new(),
    })
}

async fn engine_for(args: &TargetArgs, sig: &Signals) -> Result<std::sync::Arc<Engine>, Failure> {
    let backend = target_backend(&args.target)?;
    let zrok = if matches!(backend.transport, config::Transport::Zrok { .. }) {
        Some(common::open_overlay().await?)
    } else {
        None
    };
    let agg = config::Aggregator {
        name: "mcp-tools".into(),
        connect_timeout: args.connect_timeout,
        call_timeout: args.call_timeout,
        ..config::Aggregator::default()
    };
    // Releasing what an earlier run left behind creates nothing: a signal still ends it at once.
    let zrok = match &zrok {
        Some(o) => {
            let key = crate::core::zrok::GatewayKey::named("mcp-tools");
            Some(common::zrok_backends(o, &agg, key).await)
        }
        None => None,
    };
    sig.started();
    Engine::start(EngineOptions {
        zrok,
        aggregator: agg,
        backends: vec![backend],
        mode: Mode::Transparent,
        discover: false,
        access: Vec::new(),
    })
    .await
    .map_err(|e| Failure::runtime(e.cause))
}

pub(crate) async fn run_stdio(args: TargetArgs, sig: Signals) -> CliResult {
    let engine = engine_for(&args, &sig).await?;
    let session = engine.new_session("stdio", Some(Caller::Local), "stdio");
    let ended = session.ended();
    let (stdin, stdout) = crate::core::front::stdio::stdio();
    let front = crate::core::front::stdio::StdioFront::new(engine.clone(), &session, stdin, stdout);
    let service = session
        .serve(front)
        .await
        .map_err(|e| Failure::runtime(format!("stdio session: {e}")));
    let r = match service {
        Ok(service) => {
            let ct = service.cancellation_token();
            tokio::select! {
                r = service.waiting() => { r.map(|_| ()).map_err(|e| Failure::runtime(e.to_string())) }
                _ = sig.wait() => { ct.cancel(); Ok(()) }
                _ = ended.cancelled() => { ct.cancel(); Ok(()) }
            }
        }
        // A client that closes stdin before initializing is not an error.
        Err(e) if e.message.contains("connection closed") => Ok(()),
        Err(e) => Err(e),
    };
    engine.shutdown().await;
    r
}

pub(crate) async fn run_http(args: HttpArgs, sig: Signals) -> CliResult {
    let mut bound = common::bind_loopback(&args.bind, args.allow_remote).await?;
    bound.opts.stateless = args.stateless;
    bound.opts.json_response = args.json_response;
    let engine = engine_for(&args.target, &sig).await?;
    common::serve_bound(engine, bound, true, &sig).await
}

pub(crate) async fn dispatch(cli: ToolsCli, sig: Signals) -> CliResult {
    // stdout carries MCP in `run`: logs always go to stderr.
    let _guard = cli.log.init(None)?;
    match cli.command {
        ToolsCommand::Run(a) => run_stdio(a, sig).await,
        ToolsCommand::Http(a) => run_http(a, sig).await,
        ToolsCommand::Create {
            name,
            access_grants,
            open,
        } => {
            let access = if open {
                crate::core::zrok::ShareAccess::Open
            } else {
                crate::core::zrok::ShareAccess::Closed {
                    grants: access_grants,
                }
            };
            if let Some(n) = &name {
                crate::core::zrok::ShareName::parse(n)
                    .map_err(|e| Failure::usage(e.to_string()))?;
            }
            let o = common::open_overlay().await?;
            sig.started();
            let token = crate::core::overlay::create_persistent(&o, name.as_deref(), &access)
                .await
                .map_err(|e| Failure::runtime(e.to_string()))?;
            common::print_json_line(&serde_json::json!({"share_token": token}))
        }
        ToolsCommand::Delete { name } => {
            let o = common::open_overlay().await?;
            sig.started();
            crate::core::overlay::delete_share(&o, &name)
                .await
                .map_err(|e| Failure::runtime(format!("delete {name}: {e}")))
        }
        ToolsCommand::Version => common::print_version("mcp-tools"),
        ToolsCommand::List => {
            let o = common::open_overlay().await?;
            let shares = o
                .shares(None)
                .await
                .map_err(|e| Failure::runtime(e.to_string()))?;
            for s in shares {
                common::print_json_line(&serde_json::json!({
                    "share_token": s.token,
                    "backend_mode": s.backend_mode,
                    "created_at": s.created_at.and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map(|d| d.as_secs()),
                }))?;
            }
            Ok(())
        }
    }
}

pub fn main() -> i32 {
    common::main(dispatch)
}
