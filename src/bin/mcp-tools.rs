fn main() {
    eprintln!("mcp-tools: not yet implemented");
    std::process::exit(1);
}
