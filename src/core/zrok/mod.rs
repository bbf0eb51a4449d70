//! zrok v2: the local environment (`~/.zrok2`), a typed REST client for the controller, and a
//! registry of the ephemeral shares this gateway created (so a crash does not leak them).
//!
//! - `env`: the local environment; `api`: the controller's REST API; `state`: the share registry;
//! - `session`: [`connect`] and [`delete_stale_shares`]; `share_name`: [`ShareName`].

pub mod api;
pub mod env;
mod session;
mod share_name;
pub mod state;

#[cfg(test)]
mod api_tests;

pub use api::{ApiError, ShareAccess, ZrokClient};
pub use env::{Environment, NotEnabled, Root};
pub use session::{
    connect, delete_stale_accesses, delete_stale_shares, log_reclaimed, StaleShareOutcome,
    ZrokError,
};
pub use share_name::{InvalidShareName, ShareName};
pub use state::{GatewayKey, ShareRegistry};
