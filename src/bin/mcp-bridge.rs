fn main() {
    eprintln!("mcp-bridge: not yet implemented");
    std::process::exit(1);
}
