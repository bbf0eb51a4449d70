//! Command-line front ends. Binaries parse arguments here and call into `core`.

pub mod bridge;
pub(crate) mod common;
pub(crate) mod console;
pub mod gateway;
pub mod mcpz;
mod reload;
mod signals;
pub mod tools;
