//! `mcpz`: thin entry point; the work is in `mcpz::cli::mcpz`.

fn main() {
    std::process::exit(mcpz::cli::mcpz::main());
}
