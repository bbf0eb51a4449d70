//! `mcp-gateway run CONFIG`.

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Parser, Subcommand};

use crate::cli::common::{self, CliResult, Failure, LogFlags, Signals};
use crate::core::config;
use crate::core::engine::{Engine, EngineOptions, Mode};
use crate::core::orchestrator::{self, Orchestrator, Registration};
use crate::core::overlay::Overlay;

#[derive(Debug, Parser)]
#[command(
    name = "mcp-gateway",
    version,
    about = "Aggregate many MCP servers into one endpoint, reachable over a zrok private share or loopback"
)]
pub(crate) struct GatewayCli {
    #[command(subcommand)]
    pub command: GatewayCommand,
    #[command(flatten)]
    pub log: LogFlags,
}

#[derive(Debug, Subcommand)]
pub(crate) enum GatewayCommand {
    /// Run the MCP gateway.
    Run(RunArgs),
    /// Show version information (version, commit, build date).
    Version,
}

#[derive(Debug, Clone, clap::Args)]
pub(crate) struct RunArgs {
    /// Path to the gateway configuration (YAML).
    #[arg(value_name = "CONFIG")]
    pub config: PathBuf,
    /// Validate the configuration and exit (0 valid, 2 invalid).
    #[arg(long)]
    pub check: bool,
    /// Serve on this TCP address instead of a zrok share (loopback; port 0 picks a free port).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Allow --listen on a non-loopback address.
    #[arg(long, requires = "listen")]
    pub allow_remote: bool,
    /// Serve on this existing zrok share (managed mode; overrides `share_token` in the config).
    #[arg(long, value_name = "TOKEN", conflicts_with = "listen")]
    pub share_token: Option<String>,
    /// Reload the configuration when the file changes (as on SIGHUP).
    #[arg(long)]
    pub watch: bool,
    #[command(flatten)]
    pub metrics: common::MetricsFlags,
}

/// Load the config, printing warnings; errors become exit code 2. The file is read on a
/// blocking thread, so that a read that hangs (a FIFO, a hung mount) leaves the runtime, and
/// with it the signal handler, running.
pub(crate) async fn load_config(
    path: &std::path::Path,
    sig: &Signals,
) -> Result<config::Config, Failure> {
    sig.doing(format!("reading {}", path.display()));
    let p = path.to_path_buf();
    let loaded = tokio::task::spawn_blocking(move || config::load(&p))
        .await
        .map_err(|e| Failure::runtime(format!("{}: {e}", path.display())))?;
    match loaded {
        Ok((cfg, warnings)) => {
            for w in warnings {
                eprintln!("{w}");
            }
            Ok(cfg)
        }
        Err(errs) => Err(Failure::usage(errs.to_string())),
    }
}

pub(crate) async fn run(args: RunArgs, log: LogFlags, sig: Signals) -> CliResult {
    let cfg = load_config(&args.config, &sig).await?;
    // The combinations upstream refuses that involve flags as well as the file.
    let file = args.config.display();
    if !cfg.zrok_share.enabled && args.listen.is_none() {
        return Err(Failure::usage(format!(
            "{file}: zrok.share.enabled is false and there is no --listen: nothing to serve on\n\
             hint: serve on loopback with --listen 127.0.0.1:0, or enable the zrok share"
        )));
    }
    if args.share_token.is_some() && !cfg.zrok_share.access_grants.is_empty() {
        return Err(Failure::usage(format!(
            "{file}: zrok.share.access_grants apply only to newly created shares and cannot be used with --share-token"
        )));
    }
    if args.share_token.is_some() && !cfg.zrok_share.enabled {
        return Err(Failure::usage(format!(
            "{file}: --share-token requires zrok.share.enabled"
        )));
    }
    let managed = args.share_token.clone().or(cfg.share_token.clone());
    if cfg.orchestrator.is_some() && managed.is_none() && args.listen.is_none() {
        eprintln!(
            "warning: {file}: orchestrator: ignored when serving on a new zrok share (the IPC is used in managed mode, with share_token or --share-token, and with --listen)"
        );
    }
    if args.check {
        eprintln!(
            "{}: ok ({} backends)",
            args.config.display(),
            cfg.backends.len()
        );
        return Ok(());
    }
    let _guard = log.init(cfg.log_file.as_deref())?;
    // Bind before starting backends so a bad address fails fast and nothing is left behind.
    let bound = match &args.listen {
        Some(addr) => Some(common::bind_loopback(addr, args.allow_remote).await?),
        None => None,
    };
    let metrics = args.metrics.bind(cfg.metrics.as_ref(), &file.to_string());
    let ops = common::prepare_ops(cfg.audit.as_ref(), metrics).await?;
    let needs_zrok = bound.is_none()
        || cfg
            .backends
            .iter()
            .any(|b| matches!(b.transport, config::Transport::Zrok { .. }));
    let overlay = if needs_zrok {
        Some(common::open_overlay().await?)
    } else {
        None
    };
    let key = || crate::core::zrok::GatewayKey::from_config_path(&args.config);
    let orch = orchestrator(&cfg, managed.as_deref(), bound.as_ref());
    let started = start_engine(&cfg, overlay.as_ref(), key(), &sig);
    let engine = match orch {
        None => started.await?,
        Some(ref o) => match reported_start(o, started).await {
            Some(Ok(engine)) => engine,
            failed_or_abandoned => {
                if let Some(o) = orch {
                    o.finish().await;
                }
                return failed_or_abandoned.map_or(Ok(()), |r| r.map(drop));
            }
        },
    };
    let _ops = ops.attach(&engine);
    crate::cli::reload::enable(&engine, &args.config, &cfg, args.watch, &sig);
    let share = common::ShareSpec {
        managed,
        key: key(),
        access: crate::core::zrok::ShareAccess::Closed {
            grants: cfg.zrok_share.access_grants.clone(),
        },
        // Upstream's rule: without an orchestrator, nothing else restarts a deaf gateway.
        watchdog: crate::core::watchdog::WatchdogOptions {
            resilience: cfg.resilience.clone(),
            fail_fast: cfg.orchestrator.is_none(),
        },
    };
    let served = common::serve_engine(engine, bound, overlay, share, &sig).await;
    if let Some(o) = orch {
        o.finish().await;
    }
    served
}

/// The orchestrator client, when the config has an `orchestrator` section and the gateway serves
/// in managed mode (registering its share token) or on `--listen` (registering the share token
/// if there is one, else the listen URL: an mcpz extension).
fn orchestrator(
    cfg: &config::Config,
    managed: Option<&str>,
    bound: Option<&common::Bound>,
) -> Option<Orchestrator> {
    let o = cfg.orchestrator.as_ref()?;
    let registration = match (managed, bound) {
        (Some(t), _) => Registration::ShareToken(t.to_string()),
        (None, Some(b)) => Registration::ListenUrl(b.mcp_url.clone()),
        (None, None) => return None,
    };
    Some(Orchestrator::spawn(orchestrator::Options {
        socket_path: o.socket_path.clone(),
        heartbeat_interval: o.heartbeat_interval,
        reconnect_interval: o.reconnect_interval,
        registration,
        version: common::version_string(),
    }))
}

/// Start the engine while `orch` watches: a failed start is reported as `failed`; a shutdown
/// request abandons the start (`None`: what was started is released as the start is dropped).
async fn reported_start(
    orch: &Orchestrator,
    started: impl std::future::Future<Output = Result<Arc<Engine>, Failure>>,
) -> Option<Result<Arc<Engine>, Failure>> {
    tokio::select! {
        r = started => {
            match &r {
                Ok(engine) => orch.attach(engine),
                Err(e) => orch.failed(&e.message),
            }
            Some(r)
        }
        _ = orch.requested() => {
            tracing::info!("start abandoned: the orchestrator asked for a shutdown");
            None
        }
    }
}

/// Start the engine of a gateway configuration (zrok backends through `overlay`).
pub(crate) async fn start_engine(
    cfg: &config::Config,
    overlay: Option<&Arc<Overlay>>,
    key: crate::core::zrok::GatewayKey,
    sig: &Signals,
) -> Result<Arc<Engine>, Failure> {
    // Releasing what an earlier run left behind creates nothing: a signal still ends it at once.
    let zrok = match overlay {
        Some(o) => Some(common::zrok_backends(o, &cfg.aggregator, key).await),
        None => None,
    };
    sig.started();
    let start = Engine::start(EngineOptions {
        aggregator: cfg.aggregator.clone(),
        backends: cfg.backends.clone(),
        mode: Mode::Gateway,
        zrok,
        discover: true,
        access: cfg.access.clone(),
    });
    sig.unless_stopped("starting the backends", async {
        start
            .await
            .map_err(|e| Failure::runtime(format!("failed to start gateway: {e}")))
    })
    .await
}

pub(crate) async fn dispatch(cli: GatewayCli, sig: Signals) -> CliResult {
    match cli.command {
        GatewayCommand::Run(args) => run(args, cli.log, sig).await,
        GatewayCommand::Version => common::print_version("mcp-gateway"),
    }
}

pub fn main() -> i32 {
    common::main(dispatch)
}
