//! Command-line front ends. Binaries parse arguments here and call into `core`.

pub mod bridge;
pub mod common;
pub mod console;
pub mod gateway;
pub mod mcpz;
pub mod tools;
