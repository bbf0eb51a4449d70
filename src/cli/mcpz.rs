//! `mcpz`: the umbrella command.

use clap::{CommandFactory, Parser, Subcommand};

use crate::cli::common::{self, CliResult, Signals};

#[derive(Debug, Parser)]
#[command(
    name = "mcpz",
    version,
    about = "Zero-trust access to MCP tools over OpenZiti and zrok"
)]
pub(crate) struct McpzCli {
    #[command(subcommand)]
    pub command: McpzCommand,
}

#[derive(Debug, Subcommand)]
pub(crate) enum McpzCommand {
    /// The MCP gateway (same as `mcp-gateway`).
    Gateway(crate::cli::gateway::GatewayCli),
    /// Expose one stdio MCP server (same as `mcp-bridge`).
    Bridge(crate::cli::bridge::BridgeArgs),
    /// Connect MCP clients to a remote server (same as `mcp-tools`).
    Tools(crate::cli::tools::ToolsCli),
    /// The operator console: run a gateway and watch it live.
    Tui(crate::cli::console::TuiArgs),
    /// Show version information (version, commit, build date).
    Version,
    /// Print shell completions.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

pub(crate) async fn dispatch(cli: McpzCli, sig: Signals) -> CliResult {
    match cli.command {
        McpzCommand::Gateway(g) => crate::cli::gateway::dispatch(g, sig).await,
        McpzCommand::Bridge(b) => crate::cli::bridge::run(b, sig).await,
        McpzCommand::Tools(t) => crate::cli::tools::dispatch(t, sig).await,
        McpzCommand::Tui(a) => crate::cli::console::run(a, sig).await,
        McpzCommand::Version => common::print_version("mcpz"),
        McpzCommand::Completions { shell } => {
            let mut cmd = McpzCli::command();
            clap_complete::generate(shell, &mut cmd, "mcpz", &mut std::io::stdout());
            Ok(())
        }
    }
}

pub fn main() -> i32 {
    common::main(dispatch)
}
