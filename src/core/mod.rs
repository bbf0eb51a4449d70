//! The engine: nothing in here depends on `cli` or `tui`.

pub mod backend;
pub mod config;
pub mod console;
pub mod control;
pub mod deadline;
pub mod engine;
pub mod fastpath;
pub mod filesystem;
pub mod http_backend;
pub mod http_client;
pub mod hub;
pub mod net;
pub mod overlay;
pub mod process;
pub mod redact;
pub mod serve;
pub mod sse;
pub mod sse_serve;
pub mod state;
pub mod stdio_serve;
pub mod telemetry;
pub mod ziti;
pub mod zrok;
