//! The engine: nothing in here depends on `cli` or `tui`.

pub mod config;
pub mod control;
pub mod http_client;
pub mod net;
pub mod sse;
pub mod state;
pub mod ziti;
