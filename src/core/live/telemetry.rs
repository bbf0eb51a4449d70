//! tracing setup: stderr (text or JSON), an optional log file through tracing-appender, and an
//! optional sink into the engine's event stream (the console's Logs pane). stdout is never used.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::SystemTime;

use tracing::field::{Field, Visit};
use tracing::{Event as TEvent, Level, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::core::live::hub::Hub;
use crate::core::live::state::{Event, LogLevel, LogLine};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    pub format: LogFormat,
    /// -q = -1, default 0, -v = 1, -vv = 2.
    pub verbosity: i8,
    pub file: Option<PathBuf>,
    /// Write to stderr (off for the console, which owns the terminal).
    pub stderr: bool,
}

/// Keeps the non-blocking file writer flushing; drop at exit.
pub struct LogGuard {
    _file: Option<tracing_appender::non_blocking::WorkerGuard>,
}

static HUB_SINK: OnceLock<Hub> = OnceLock::new();

/// Route tracing events into `hub` as [`Event::Log`] (for the console). Set once per process.
pub(crate) fn attach_hub(hub: &Hub) {
    let _ = HUB_SINK.set(hub.clone());
}

/// The default filter for verbosity `v` (when `RUST_LOG` is not set). rmcp's service logs every
/// error answer (an unknown method, a refused or failed call) as a warning with its whole error,
/// while the engine logs the refusals and failures that matter itself: below `-v` those are
/// left out (`rmcp::service=error`).
fn default_directives(v: i8) -> String {
    let lvl = level_name(v);
    let service = if v >= 1 { "" } else { ",rmcp::service=error" };
    format!("{lvl},rmcp=warn{service},hyper=warn,h2=warn,reqwest=warn")
}

fn level_name(v: i8) -> &'static str {
    match v {
        i8::MIN..=-1 => "warn",
        0 => "info",
        1 => "debug",
        _ => "trace",
    }
}

/// Install the global subscriber. Respects `RUST_LOG` when set.
pub fn init(opts: &LogOptions) -> std::io::Result<LogGuard> {
    let filter = || {
        EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| EnvFilter::new(default_directives(opts.verbosity)))
    };
    let stderr_layer = opts.stderr.then(|| {
        let l = tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(std::env::var_os("NO_COLOR").is_none() && is_tty_stderr());
        match opts.format {
            LogFormat::Text => l.boxed(),
            LogFormat::Json => l.json().boxed(),
        }
        .with_filter(filter())
    });
    let (file_layer, guard) = match &opts.file {
        Some(path) => {
            let (dir, name) = split(path)?;
            std::fs::create_dir_all(&dir)?;
            // Fail early with a clear error when the file cannot be opened.
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| {
                    std::io::Error::new(e.kind(), format!("log file {}: {e}", path.display()))
                })?;
            let appender = tracing_appender::rolling::never(dir, name);
            let (nb, guard) = tracing_appender::non_blocking(appender);
            let l = tracing_subscriber::fmt::layer()
                .with_writer(nb)
                .with_ansi(false)
                .json()
                .with_filter(filter());
            (Some(l), Some(guard))
        }
        None => (None, None),
    };
    let hub_layer = HubLayer.with_filter(filter());
    let _ = tracing_subscriber::registry()
        .with(stderr_layer)
        .with(file_layer)
        .with(hub_layer)
        .try_init();
    Ok(LogGuard { _file: guard })
}

fn split(path: &Path) -> std::io::Result<(PathBuf, String)> {
    let name = path
        .file_name()
        .ok_or_else(|| {
            std::io::Error::other(format!("log file {}: not a file path", path.display()))
        })?
        .to_string_lossy()
        .to_string();
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    Ok((dir, name))
}

fn is_tty_stderr() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal()
}

struct HubLayer;

#[derive(Default)]
struct Msg {
    message: String,
    fields: String,
}

impl Visit for Msg {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        } else {
            self.fields
                .push_str(&format!(" {}={:?}", field.name(), value));
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_string();
        } else {
            self.fields
                .push_str(&format!(" {}={}", field.name(), value));
        }
    }
}

impl<S: Subscriber> Layer<S> for HubLayer {
    fn on_event(&self, event: &TEvent<'_>, _ctx: Context<'_, S>) {
        let Some(hub) = HUB_SINK.get() else { return };
        let meta = event.metadata();
        // Child stderr already reaches the hub directly (with its backend id).
        if meta.target() == "backend" {
            return;
        }
        let mut m = Msg::default();
        event.record(&mut m);
        let level = match *meta.level() {
            Level::TRACE => LogLevel::Trace,
            Level::DEBUG => LogLevel::Debug,
            Level::INFO => LogLevel::Info,
            Level::WARN => LogLevel::Warn,
            Level::ERROR => LogLevel::Error,
        };
        hub.emit(Event::Log(LogLine {
            at: SystemTime::now(),
            level,
            target: meta.target().to_string(),
            message: format!("{}{}", m.message, m.fields),
        }));
    }
}
