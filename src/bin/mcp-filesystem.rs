fn main() {
    eprintln!("mcp-filesystem: not yet implemented");
    std::process::exit(1);
}
