//! `mcp-tools`: thin entry point; the work is in `mcpz::cli::tools`.

fn main() {
    std::process::exit(mcpz::cli::tools::main());
}
