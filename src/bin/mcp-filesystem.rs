//! `mcp-filesystem`: stdio MCP server with read/write/list tools confined to
//! the given directories. The logic lives in `mcpz::filesystem`.

use std::path::PathBuf;

use clap::Parser;
use mcpz::filesystem::{self, FsConfig, DEFAULT_MAX_READ_BYTES};

/// A stdio MCP server giving confined access to files.
///
/// Tools: read_file {path}, write_file {path, content}, list_directory {path}
/// (lines "[DIR] name" / "[FILE] name"). Relative paths resolve against the
/// first DIR; absolute paths must lie inside a DIR. Paths that escape the
/// directories (`..`, absolute paths elsewhere, symlinks pointing outside)
/// are refused with a tool error. read_file returns UTF-8 text only.
///
/// stdout carries MCP messages only; logs go to stderr (RUST_LOG sets the
/// level, default "warn").
#[derive(Debug, Parser)]
#[command(
    name = "mcp-filesystem",
    version,
    long_version = concat!(
        env!("CARGO_PKG_VERSION"),
        "\ncommit:   ",
        env!("MCPZ_GIT_COMMIT"),
        "\nbuilt:    ",
        env!("MCPZ_BUILD_DATE"),
        "\ntarget:   ",
        env!("MCPZ_TARGET")
    )
)]
struct Args {
    /// Allowed directories; each must exist.
    #[arg(required = true, value_name = "DIR")]
    dirs: Vec<PathBuf>,

    /// Largest file read_file returns, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_READ_BYTES)]
    max_read_bytes: u64,
}

fn main() {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                // rmcp warns of every error answer (a missing file, an unknown tool): the client
                // gets the error, the gateway's log need not.
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,rmcp::service=error")),
        )
        .init();

    let cfg = match FsConfig::new(&args.dirs, args.max_read_bytes) {
        Ok(cfg) => cfg,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = rt.block_on(filesystem::run_stdio(cfg)) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
