//! `mcpz tui [CONFIG]`: run a gateway in-process and show it live in the operator console.

use std::path::PathBuf;

use crate::cli::common::{self, CliResult, Failure, Signals};
use crate::cli::gateway::{load_config, start_engine};
use crate::core::config;
use crate::core::front;
use crate::core::live::telemetry::{self, LogFormat, LogOptions};

#[derive(Debug, Clone, clap::Args)]
pub(crate) struct TuiArgs {
    /// Gateway configuration; without it, a demo gateway over mcp-filesystem on the current directory.
    #[arg(value_name = "CONFIG")]
    pub config: Option<PathBuf>,
    /// Serve on this TCP address (loopback; port 0 picks a free port) instead of a zrok share.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Disable every action that changes something (restart, end session, try tool, shares,
    /// reload).
    #[arg(long)]
    pub read_only: bool,
    /// Reload the configuration when the file changes (as on SIGHUP or C-r).
    #[arg(long, requires = "config")]
    pub watch: bool,
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

pub(crate) async fn run(args: TuiArgs, sig: Signals) -> CliResult {
    let demo = args.config.is_none();
    let cfg = match &args.config {
        Some(p) => load_config(p, &sig).await?,
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
    // Overlay: an enabled zrok environment serves on a share; the demo falls back to loopback.
    let overlay = if args.listen.is_some() {
        None
    } else {
        let root = crate::core::zrok::Root::load();
        match crate::core::overlay::Overlay::open(&root).await {
            Ok(o) => Some(o),
            Err(e) if demo => {
                tracing::info!("no zrok overlay ({e}); demo on loopback");
                None
            }
            Err(e) => {
                let mut msg = format!("{e}");
                if let Some(h) = e.hint() {
                    msg.push_str(&format!("\nhint: {h}"));
                }
                return Err(Failure::usage(msg));
            }
        }
    };
    let bound = match (&overlay, &args.listen) {
        (None, Some(a)) => Some(common::bind_loopback(a, false).await?),
        (None, None) => Some(common::bind_loopback("127.0.0.1:0", false).await?),
        (Some(_), _) => None,
    };
    let key = match &args.config {
        Some(p) => crate::core::zrok::GatewayKey::from_config_path(p),
        None => crate::core::zrok::GatewayKey::named("mcpz tui demo"),
    };
    // The config's audit log and metrics, as `mcp-gateway run` has them.
    let metrics = common::MetricsFlags::default().bind(cfg.metrics.as_ref(), &cfg.source);
    let ops = common::prepare_ops(cfg.audit.as_ref(), metrics).await?;
    let engine = start_engine(&cfg, overlay.as_ref(), key.clone(), &sig).await?;
    let _ops = ops.attach(&engine);
    if let Some(p) = &args.config {
        crate::cli::reload::enable(&engine, p, &cfg, args.watch, &sig);
    }
    telemetry::attach_hub(&engine.hub);
    let (listener, banner, served, serve_opts, watch): (
        Box<dyn crate::core::net::Listener>,
        String,
        _,
        _,
        _,
    ) = match (bound, &overlay) {
        (Some(b), _) => {
            common::announce_loopback(&engine, &b);
            let banner = if demo {
                format!(
                        "demo gateway on loopback (no zrok environment): connect with  mcp-tools run {}",
                        b.mcp_url
                    )
            } else {
                format!(
                    "serving on loopback: connect with  mcp-tools run {}",
                    b.mcp_url
                )
            };
            (Box::new(b.listener), banner, None, b.opts, None)
        }
        (None, Some(o)) => {
            let managed = cfg.share_token.clone();
            let access = crate::core::zrok::ShareAccess::Closed {
                grants: cfg.zrok_share.access_grants.clone(),
            };
            let served = common::start_share(&engine, o, managed, key, &access).await?;
            // A console is watched by its operator: the watchdog never ends it (as managed mode).
            let opts = crate::core::watchdog::WatchdogOptions {
                resilience: cfg.resilience.clone(),
                fail_fast: false,
            };
            let (served, l) = match common::share_listener(&engine, o, served, &opts).await {
                Ok(served_and_listener) => served_and_listener,
                Err(e) => {
                    engine.shutdown().await;
                    return Err(e);
                }
            };
            let banner = format!(
                "{} on zrok share {}: connect with  mcp-tools run {}",
                if demo { "demo gateway" } else { "serving" },
                served.token,
                served.token
            );
            (
                l.listener,
                banner,
                Some(served),
                crate::core::front::ServeOptions::overlay(),
                l.watch,
            )
        }
        (None, None) => return Err(common::zrok_unavailable()),
    };
    engine.hub.publish();
    tracing::info!(log_file = %log_file.display(), "console serving");
    let app = front::router(engine.clone(), &serve_opts);
    let server = tokio::spawn(front::serve(listener, app, engine.shutdown.clone()));
    let shares: Option<std::sync::Arc<dyn crate::core::engine::console::ShareOps>> =
        overlay.as_ref().map(|o| {
            std::sync::Arc::new(ConsoleShares {
                overlay: o.clone(),
                running: served.as_ref().map(|s| s.token.clone()),
            }) as std::sync::Arc<dyn crate::core::engine::console::ShareOps>
        });
    let commands = crate::core::engine::console::spawn(engine.clone(), shares);
    let banner = Some(banner);
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
        _ = sig.wait() => Ok(()),
    };
    if let Some(w) = watch {
        w.stop().await;
    }
    engine.shutdown().await;
    let _ = tokio::time::timeout(std::time::Duration::from_secs(3), server).await;
    if let Some(s) = served {
        s.close().await;
    }
    r
}

/// Share actions for the console's Shares pane.
struct ConsoleShares {
    overlay: std::sync::Arc<crate::core::overlay::Overlay>,
    running: Option<String>,
}

#[async_trait::async_trait]
impl crate::core::engine::console::ShareOps for ConsoleShares {
    async fn list(&self) -> Result<Vec<crate::core::live::state::ShareState>, String> {
        self.overlay
            .shares(self.running.as_deref())
            .await
            .map_err(|e| e.to_string())
    }

    async fn create(&self, name: Option<String>) -> Result<String, String> {
        // Closed, as every share mcpz creates: the owner's account only.
        let owner_only = crate::core::zrok::ShareAccess::Closed { grants: Vec::new() };
        crate::core::overlay::create_persistent(&self.overlay, name.as_deref(), &owner_only)
            .await
            .map_err(|e| e.to_string())
    }

    async fn delete(&self, token: &str) -> Result<(), String> {
        if Some(token) == self.running.as_deref() {
            return Err("this gateway is serving that share".into());
        }
        crate::core::overlay::delete_share(&self.overlay, token)
            .await
            .map_err(|e| e.to_string())
    }
}
