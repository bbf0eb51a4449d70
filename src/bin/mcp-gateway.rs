fn main() {
    eprintln!("mcp-gateway: not yet implemented");
    std::process::exit(1);
}
