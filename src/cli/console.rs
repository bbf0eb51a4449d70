//! `mcpz tui [CONFIG]`: run a gateway in-process and show it live in the operator console.

use std::path::PathBuf;

use crate::cli::common::{self, CliResult, Failure};
use crate::cli::gateway::load_config;
use crate::core::config;
use crate::core::engine::{Engine, EngineOptions, Mode};
use crate::core::serve;
use crate::core::state::Overlay;
use crate::core::telemetry::{self, LogFormat, LogOptions};

#[derive(Debug, Clone, clap::Args)]
pub struct TuiArgs {
    /// Gateway configuration; without it, a demo gateway over mcp-filesystem on the current directory.
    #[arg(value_name = "CONFIG")]
    pub config: Option<PathBuf>,
    /// Serve on this TCP address (loopback; port 0 picks a free port) instead of a zrok share.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Disable every action that changes something (restart, end session, try tool, shares).
    #[arg(long)]
    pub read_only: bool,
    /// ASCII only (no box drawing or symbols).
    #[arg(long)]
    pub ascii: bool,
    /// No colours (also with NO_COLOR set).
    #[arg(long)]
    pub no_color: bool,
    /// Capture the mouse (click to focus, wheel to scroll).
    #[arg(long)]
    pub mouse: bool,
    /// Log file (default ~/.cache/mcpz/logs/mcpz-tui.log); logs never go to the terminal.
    #[arg(long, value_name = "FILE")]
    pub log_file: Option<PathBuf>,
    /// More logging in the log file and the Logs pane (-v debug, -vv trace).
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

fn default_log_file() -> PathBuf {
    let base = std::env::var_os("MCPZ_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/mcpz")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("logs").join("mcpz-tui.log")
}

pub async fn run(args: TuiArgs) -> CliResult {
    let demo = args.config.is_none();
    let cfg = match &args.config {
        Some(p) => load_config(p)?,
        None => {
            let cwd = std::env::current_dir()
                .map_err(|e| Failure::runtime(format!("current directory: {e}")))?;
            let mut c = config::demo(&cwd, std::path::Path::new("mcp-filesystem"));
            c.aggregator.name = "mcpz-demo".into();
            c
        }
    };
    let log_file = args
        .log_file
        .clone()
        .or(cfg.log_file.clone())
        .unwrap_or_else(default_log_file);
    let _guard = telemetry::init(&LogOptions {
        format: LogFormat::Json,
        verbosity: args.verbose.min(3) as i8,
        file: Some(log_file.clone()),
        stderr: false,
    })
    .map_err(|e| Failure::usage(e.to_string()))?;
    // The demo falls back to loopback when no zrok environment is enabled.
    let listen = match (&args.listen, demo) {
        (Some(a), _) => a.clone(),
        (None, true) => "127.0.0.1:0".to_string(),
        (None, false) => return Err(common::zrok_unavailable()),
    };
    let bound = common::bind_loopback(&listen, false).await?;
    let engine = Engine::start(EngineOptions {
        aggregator: cfg.aggregator.clone(),
        backends: cfg.backends.clone(),
        mode: Mode::Gateway,
        zrok: None,
        discover: true,
    })
    .await
    .map_err(|e| Failure::runtime(format!("failed to start gateway: {e}")))?;
    telemetry::attach_hub(&engine.hub);
    engine.hub.set_overlay(Overlay::Loopback {
        mcp_url: bound.mcp_url.clone(),
        sse_url: bound.sse_url.clone(),
    });
    engine.hub.publish();
    tracing::info!(mcp_url = %bound.mcp_url, log_file = %log_file.display(), "console serving");
    let app = serve::router(engine.clone(), &bound.opts);
    let server = tokio::spawn(serve::serve(
        Box::new(bound.listener),
        app,
        engine.shutdown.clone(),
    ));
    let commands = crate::core::console::spawn(engine.clone(), None);
    let banner = if demo {
        Some(format!(
            "demo gateway on loopback (no zrok environment): connect with  mcp-tools run {}",
            bound.mcp_url
        ))
    } else {
        Some(format!("serving on loopback: {}", bound.mcp_url))
    };
    let opts = crate::tui::ConsoleOptions {
        read_only: args.read_only,
        ascii: args.ascii,
        no_color: args.no_color,
        mouse: args.mouse,
        banner,
    };
    let ui = crate::tui::run(engine.hub.subscribe(), engine.hub.events(), commands, opts);
    let r = tokio::select! {
        r = ui => r.map_err(|e| Failure::runtime(format!("console: {e}"))),
        _ = common::shutdown_signal() => Ok(()),
    };
    engine.shutdown().await;
    let _ = tokio::time::timeout(std::time::Duration::from_secs(3), server).await;
    r
}
