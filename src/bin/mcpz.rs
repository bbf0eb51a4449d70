fn main() {
    eprintln!("mcpz: not yet implemented");
    std::process::exit(1);
}
