//! `mcp-gateway`: thin entry point; the work is in `mcpz::cli::gateway`.

fn main() {
    std::process::exit(mcpz::cli::gateway::main());
}
