//! Native OpenZiti edge client (pure Rust).
