//! The engine and everything it stands on; nothing in here depends on `cli` or `tui`.
//!
//! One call travels `front` → `engine` → `backend` and back; `wire` holds the bytes-level
//! pieces both ends share, `live` the state the console watches. docs/architecture.md has the
//! path of one call, file by file.

pub mod backend;
pub mod config;
pub mod deadline;
pub mod engine;
pub mod front;
pub(crate) mod heap;
pub mod live;
pub mod net;
pub mod ops;
pub mod orchestrator;
pub mod overlay;
pub mod redact;
pub(crate) mod utc;
pub(crate) mod watchdog;
pub mod wire;
pub mod ziti;
pub mod zrok;
