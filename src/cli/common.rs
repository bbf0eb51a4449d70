//! Shared flags, error printing, signals and the serve loop used by every command.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;

use clap::Args;

use crate::core::config;
use crate::core::engine::Engine;
use crate::core::front::{self, ServeOptions};
use crate::core::live::state;
use crate::core::live::telemetry::{self, LogFormat, LogGuard, LogOptions};
use crate::core::net::TcpListener;
use crate::core::ops::{self, MetricsBind};
use crate::core::overlay::{self, Served};
use crate::core::watchdog::{self, Guarded, WatchTask, WatchdogOptions};
use crate::core::zrok::{GatewayKey, ShareAccess};

pub(crate) use super::signals::Signals;

/// Exit codes: 0 success, 1 runtime failure, 2 bad usage or bad configuration.
pub(crate) const EXIT_FAILURE: i32 = 1;
pub(crate) const EXIT_USAGE: i32 = 2;

/// An error that carries its exit code.
#[derive(Debug)]
pub(crate) struct Failure {
    pub code: i32,
    pub message: String,
}

impl Failure {
    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Failure {
            code: EXIT_USAGE,
            message: message.into(),
        }
    }

    pub(crate) fn runtime(message: impl Into<String>) -> Self {
        Failure {
            code: EXIT_FAILURE,
            message: message.into(),
        }
    }
}

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure::runtime(e.to_string())
    }
}

pub(crate) type CliResult = Result<(), Failure>;

/// Logging flags shared by every command.
#[derive(Debug, Clone, Args)]
pub(crate) struct LogFlags {
    /// Log format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
    /// More logging (-v debug, -vv trace).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Less logging (warnings and errors only).
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Also write JSON logs to this file.
    #[arg(long, global = true, value_name = "FILE")]
    pub log_file: Option<std::path::PathBuf>,
}

impl LogFlags {
    /// With a log file (flag or config `log_file`), logs go to the file instead of stderr, as in
    /// the Go gateway; errors that stop the process are still printed on stderr.
    pub(crate) fn options(&self, config_file: Option<&std::path::Path>) -> LogOptions {
        let file = self
            .log_file
            .clone()
            .or(config_file.map(|p| p.to_path_buf()));
        LogOptions {
            format: self.log_format,
            verbosity: if self.quiet {
                -1
            } else {
                self.verbose.min(3) as i8
            },
            stderr: file.is_none(),
            file,
        }
    }

    pub(crate) fn init(&self, config_file: Option<&std::path::Path>) -> Result<LogGuard, Failure> {
        telemetry::init(&self.options(config_file)).map_err(|e| Failure::usage(e.to_string()))
    }
}

/// `--metrics ADDR` and `--metrics-allow-remote` (mcp-gateway, mcp-bridge).
#[derive(Debug, Clone, Default, Args)]
pub(crate) struct MetricsFlags {
    /// Serve Prometheus metrics at http://ADDR/metrics (loopback; port 0 picks a free port).
    /// Overrides `metrics.listen` in the config.
    #[arg(long = "metrics", value_name = "ADDR")]
    pub metrics: Option<String>,
    /// Allow --metrics (or `metrics.listen`) on a non-loopback address.
    #[arg(long = "metrics-allow-remote")]
    pub metrics_allow_remote: bool,
}

impl MetricsFlags {
    /// Where to serve metrics: the flag, else the config's `metrics:` (of file `file`).
    pub(crate) fn bind(&self, cfg: Option<&config::Metrics>, file: &str) -> Option<MetricsBind> {
        let allow = self.metrics_allow_remote;
        match (&self.metrics, cfg) {
            (Some(a), _) => Some(MetricsBind {
                addr: a.clone(),
                allow_remote: allow || cfg.is_some_and(|m| m.allow_remote),
                source: "--metrics".into(),
            }),
            (None, Some(m)) => Some(MetricsBind {
                addr: m.listen.clone(),
                allow_remote: allow || m.allow_remote,
                source: format!("{file}: metrics.listen"),
            }),
            (None, None) => None,
        }
    }
}

/// Open the audit file and bind the metrics listener: before any backend starts, so a bad path
/// or address fails fast (exit 2) with nothing left behind.
pub(crate) async fn prepare_ops(
    audit: Option<&config::Audit>,
    metrics: Option<MetricsBind>,
) -> Result<ops::Prepared, Failure> {
    ops::prepare(audit, metrics.as_ref())
        .await
        .map_err(Failure::usage)
}

/// The JSON line's `metrics_url`, when metrics are served.
fn add_metrics_url(engine: &Engine, mut line: serde_json::Value) -> serde_json::Value {
    if let (Some(url), Some(m)) = (
        engine.observer().and_then(|o| o.metrics_url()),
        line.as_object_mut(),
    ) {
        m.insert("metrics_url".into(), url.into());
    }
    line
}

/// A binary's `main`: parse `C` from the command line, run `dispatch` on a runtime and return
/// the exit code.
pub(crate) fn main<C: clap::Parser, F: std::future::Future<Output = CliResult>>(
    dispatch: impl FnOnce(C, Signals) -> F,
) -> i32 {
    let cli = C::parse();
    let name = C::command().get_name().to_string();
    run_main(&name, |sig| dispatch(cli, sig))
}

/// Run a command's future on a multi-threaded runtime and turn its result into an exit code.
fn run_main<F>(name: &str, f: impl FnOnce(Signals) -> F) -> i32
where
    F: std::future::Future<Output = CliResult>,
{
    let mut b = tokio::runtime::Builder::new_multi_thread();
    // `MCPZ_WORKER_THREADS=N`: runtime worker threads (default: one per CPU).
    if let Some(n) = crate::core::front::worker_threads() {
        b.worker_threads(n);
    }
    let rt = match b.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{name}: error: cannot start runtime: {e}");
            return EXIT_FAILURE;
        }
    };
    // Signals first: from here on SIGINT/SIGTERM never kill the process by default.
    let r = rt.block_on(async { f(Signals::install(name)).await });
    rt.shutdown_timeout(std::time::Duration::from_secs(2));
    match r {
        Ok(()) => 0,
        Err(f) => {
            for line in f.message.lines() {
                if line.starts_with("warning:")
                    || line.starts_with("error:")
                    || line.starts_with("hint:")
                {
                    eprintln!("{line}");
                } else {
                    eprintln!("error: {line}");
                }
            }
            f.code
        }
    }
}

/// Print exactly one JSON line on stdout (the orchestrator contract) and flush.
pub(crate) fn print_json_line(v: &serde_json::Value) -> CliResult {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{v}").map_err(|e| Failure::runtime(format!("stdout: {e}")))?;
    out.flush()
        .map_err(|e| Failure::runtime(format!("stdout: {e}")))?;
    Ok(())
}

fn is_loopback(addr: &SocketAddr) -> bool {
    addr.ip().is_loopback()
}

/// Where a running server is reachable.
pub(crate) struct Bound {
    pub listener: TcpListener,
    pub mcp_url: String,
    pub sse_url: String,
    pub opts: ServeOptions,
}

/// Bind `addr` (TCP), refusing non-loopback addresses unless `allow_remote`.
pub(crate) async fn bind_loopback(addr: &str, allow_remote: bool) -> Result<Bound, Failure> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| Failure::usage(format!("--listen {addr}: {e}")))?;
    let local = listener.local_addr();
    let mut opts = ServeOptions::loopback(local.port());
    if !is_loopback(&local) {
        if !allow_remote {
            return Err(Failure::usage(format!(
                "--listen {addr}: not a loopback address; MCP on a network address is reachable by anyone who can route to it. Use a zrok share instead, or pass --allow-remote"
            )));
        }
        tracing::warn!("serving on non-loopback address {local}: no Host/Origin check");
        opts.allowed_hosts = None;
    }
    let host = match local {
        SocketAddr::V4(a) => a.to_string(),
        SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
    };
    Ok(Bound {
        listener,
        mcp_url: format!("http://{host}/mcp"),
        sse_url: format!("http://{host}/sse"),
        opts,
    })
}

/// Publish that `engine` serves on `bound` (the console header, `/status`).
pub(crate) fn announce_loopback(engine: &Engine, bound: &Bound) {
    engine.hub.set_serving(state::Serving::Loopback {
        mcp_url: bound.mcp_url.clone(),
        sse_url: bound.sse_url.clone(),
    });
}

/// Serve `engine` on a bound TCP listener: print the JSON line, serve until a signal or
/// `engine.shutdown` fires, then shut everything down.
pub(crate) async fn serve_bound(
    engine: Arc<Engine>,
    bound: Bound,
    print_line: bool,
    sig: &Signals,
) -> CliResult {
    announce_loopback(&engine, &bound);
    let app = front::router(engine.clone(), &bound.opts);
    if print_line {
        let line = serde_json::json!({"mcp_url": bound.mcp_url, "sse_url": bound.sse_url});
        print_json_line(&add_metrics_url(&engine, line))?;
    }
    tracing::info!(mcp_url = %bound.mcp_url, sse_url = %bound.sse_url, "serving");
    let stop = engine.shutdown.clone();
    let server = tokio::spawn(front::serve(Box::new(bound.listener), app, stop));
    serve_until_stopped(&engine, server, sig, None).await
}

/// Wait for a signal, `engine.shutdown` or the share watchdog's escalation (an error), then stop
/// the watchdog, shut the engine down and give the server 3 s.
async fn serve_until_stopped<T>(
    engine: &Engine,
    server: tokio::task::JoinHandle<T>,
    sig: &Signals,
    mut watch: Option<WatchTask>,
) -> CliResult {
    let escalated = async {
        match watch.as_mut() {
            Some(w) => w.escalated().await,
            None => std::future::pending().await,
        }
    };
    let r = tokio::select! {
        _ = sig.wait() => {
            tracing::info!("shutting down");
            Ok(())
        }
        _ = engine.shutdown.cancelled() => Ok(()),
        reason = escalated => Err(Failure::runtime(reason)),
    };
    if let Some(w) = watch {
        w.stop().await;
    }
    engine.shutdown().await;
    let _ = tokio::time::timeout(std::time::Duration::from_secs(3), server).await;
    r
}

/// How to serve on zrok: an existing share (`managed`) or a new one recorded under `key` with
/// `access`, and the listener watchdog.
pub(crate) struct ShareSpec {
    pub managed: Option<String>,
    pub key: GatewayKey,
    pub access: ShareAccess,
    pub watchdog: WatchdogOptions,
}

/// Serve `engine` on `bound` if given, else on a zrok share of `overlay` as `share` says.
pub(crate) async fn serve_engine(
    engine: Arc<Engine>,
    bound: Option<Bound>,
    overlay: Option<Arc<overlay::Overlay>>,
    share: ShareSpec,
    sig: &Signals,
) -> CliResult {
    match (bound, overlay) {
        (Some(b), _) => serve_bound(engine, b, true, sig).await,
        (None, Some(o)) => {
            let served = start_share(&engine, &o, share.managed, share.key, &share.access).await?;
            serve_share(engine, o, served, &share.watchdog, sig).await
        }
        (None, None) => Err(zrok_unavailable()),
    }
}

/// Create or adopt the share to serve on; if that fails, shut the engine down.
pub(crate) async fn start_share(
    engine: &Engine,
    overlay: &Arc<overlay::Overlay>,
    managed: Option<String>,
    key: GatewayKey,
    access: &ShareAccess,
) -> Result<Served, Failure> {
    match Served::start(overlay.clone(), managed, key, access).await {
        Ok(s) => Ok(s),
        Err(e) => {
            engine.shutdown().await;
            Err(Failure::runtime(format!("failed to serve on zrok: {e}")))
        }
    }
}

/// Publish that `engine` serves on `served`'s share and take the share's listener, under its
/// watchdog unless `resilience.watchdog_enabled` is off; without a listener, the share is closed.
pub(crate) async fn share_listener(
    engine: &Engine,
    overlay: &Arc<overlay::Overlay>,
    mut served: Served,
    opts: &WatchdogOptions,
) -> Result<(Served, Guarded), Failure> {
    engine.hub.set_serving(state::Serving::Zrok {
        api_endpoint: overlay.endpoint.clone(),
        share_token: served.token.clone(),
        ephemeral: served.ephemeral,
    });
    match served.listener.take() {
        Some(l) => {
            let guarded =
                watchdog::watch_share(l, overlay.clone(), &served.token, opts, engine.hub.clone());
            Ok((served, guarded))
        }
        None => {
            served.close().await;
            Err(Failure::runtime("share has no listener"))
        }
    }
}

/// The zrok overlay is not available: explain how to serve instead.
pub(crate) fn zrok_unavailable() -> Failure {
    Failure::usage(
        "zrok environment is not enabled\nhint: run 'zrok2 enable <token>', or serve on loopback with --listen 127.0.0.1:0",
    )
}

/// Open the zrok overlay of this machine's environment (`~/.zrok2`). Not enabled is a usage error
/// with the hint to enable it or serve on loopback.
pub(crate) async fn open_overlay() -> Result<Arc<overlay::Overlay>, Failure> {
    let root = crate::core::zrok::Root::load();
    overlay::Overlay::open(&root).await.map_err(|e| {
        let mut msg = e.to_string();
        if let Some(h) = e.hint() {
            msg.push_str(&format!("\nhint: {h}"));
        }
        match e {
            overlay::OverlayError::Zrok(crate::core::zrok::ZrokError::NotEnabled(_)) => {
                Failure::usage(msg)
            }
            _ => Failure::runtime(msg),
        }
    })
}

/// The zrok connector for engines whose backends include zrok shares; its accesses are recorded
/// under `key`, and those an earlier run under the same key left behind are released first.
pub(crate) async fn zrok_backends(
    overlay: &Arc<overlay::Overlay>,
    agg: &crate::core::config::Aggregator,
    key: crate::core::zrok::GatewayKey,
) -> Arc<dyn crate::core::backend::ZrokConnector> {
    let registry = crate::core::zrok::state::ShareRegistry::default_path()
        .map(|p| crate::core::zrok::state::ShareRegistry::new(p, key, overlay.env.env_zid()));
    let backends = crate::core::backend::zrok::ZrokBackends {
        overlay: overlay.clone(),
        connect_timeout: agg.connect_timeout,
        max_message_size: agg.max_message_size,
        registry,
        known: Default::default(),
    };
    backends.reclaim().await;
    Arc::new(backends)
}

/// Serve `engine` on a zrok share: print `{"share_token":…}`, serve until a signal or
/// `engine.shutdown`, then shut down and delete the share if it is ephemeral.
async fn serve_share(
    engine: Arc<Engine>,
    overlay: Arc<overlay::Overlay>,
    served: Served,
    opts: &WatchdogOptions,
    sig: &Signals,
) -> CliResult {
    let (served, guarded) = share_listener(&engine, &overlay, served, opts).await?;
    let line = add_metrics_url(&engine, serde_json::json!({"share_token": served.token}));
    if let Err(e) = print_json_line(&line) {
        if let Some(w) = guarded.watch {
            w.stop().await;
        }
        drop(guarded.listener);
        served.close().await;
        return Err(e);
    }
    tracing::info!(
        share = %crate::core::redact::token_prefix(&served.token),
        ephemeral = served.ephemeral,
        "serving on zrok share"
    );
    // What creating the share took (REST, TLS, the router's channel setup) is freed by now.
    engine.heap_freed();
    let app = front::router(engine.clone(), &ServeOptions::overlay());
    let stop = engine.shutdown.clone();
    let server = tokio::spawn(front::serve(guarded.listener, app, stop));
    let r = serve_until_stopped(&engine, server, sig, guarded.watch).await;
    served.close().await;
    r
}

/// Commit of this build (`git rev-parse --short=12 HEAD` at build time, or "unknown").
pub(crate) const COMMIT: &str = env!("MCPZ_GIT_COMMIT");
/// Build date, UTC RFC 3339 (`SOURCE_DATE_EPOCH`, else the commit date, or "unknown").
pub(crate) const BUILD_DATE: &str = env!("MCPZ_BUILD_DATE");

/// The version, as the `version:` line of `<binary> version` shows it (and a ping from the
/// orchestrator is answered with).
pub(crate) fn version_string() -> String {
    format!("v{}", env!("CARGO_PKG_VERSION"))
}

/// What `<binary> version` prints: the `label:  value` lines of upstream's `version` command
/// (without its banner), with mcpz's fields.
pub(crate) fn version_text(name: &str) -> String {
    format!(
        "{name}\nversion:  {}\ncommit:   {COMMIT}\nbuilt:    {BUILD_DATE}\ntarget:   {}\n",
        version_string(),
        env!("MCPZ_TARGET"),
    )
}

/// `<binary> version`.
pub(crate) fn print_version(name: &str) -> CliResult {
    print!("{}", version_text(name));
    Ok(())
}
