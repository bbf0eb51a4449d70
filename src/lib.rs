//! mcpz: zero-trust access to MCP tools over OpenZiti and zrok.
//!
//! `core` holds the engine (config, backends, aggregation, serving, overlay); `cli` and `tui` are
//! front ends on top of it. `core` never imports `cli` or `tui`.

pub mod cli;
pub mod core;
pub mod filesystem;
pub mod tui;
