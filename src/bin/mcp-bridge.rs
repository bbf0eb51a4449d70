//! `mcp-bridge`: thin entry point; the work is in `mcpz::cli::bridge`.

fn main() {
    std::process::exit(mcpz::cli::bridge::main());
}
