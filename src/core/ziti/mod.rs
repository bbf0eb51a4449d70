//! Native OpenZiti edge client (pure Rust, tokio, no C SDK).
//!
//! Owns: identity files, the controller's edge client API, channels to edge routers, dialing and hosting services,
//! end-to-end encryption. Must not: log secrets (tokens are shortened by `ctrl::short`), panic on network input
//! (every decoder is bounded and checked), or depend on anything outside `core::net`.
//!
//! ```text
//! Context ──ctrl (HTTPS mTLS)──▶ controller: authenticate, services, sessions
//!    │
//!    ├─ RouterChannel (TLS + channel v2) per edge router, shared by all connections
//!    │     reader task ─▶ replies / latency / per-connection sinks
//!    │     writer task ◀─ queued messages
//!    ├─ dial(service)   ─▶ ZitiStream (AsyncRead + AsyncWrite)
//!    └─ listen(service) ─▶ ZitiListener ─▶ ZitiStream per incoming dial
//! ```
//!
//! Layout: `wire` (framing and constants), `crypto` (kx + secretstream), `identity`, `der`, `ctrl`, `channel`,
//! `conn` (streams and stats), `context` (dial), `listener` (bind/host), `error` ([`ZitiError`]) and
//! `adapters` ([`ZitiDialer`] and the listener for `core::net`).

mod adapters;
pub(crate) mod channel;
pub(crate) mod conn;
pub(crate) mod context;
pub mod crypto;
pub(crate) mod ctrl;
pub mod der;
mod error;
pub(crate) mod identity;
pub(crate) mod listener;
pub mod wire;

pub use adapters::ZitiDialer;
pub use conn::{ConnInfo, ConnState, Direction, ZitiStream};
pub use context::Context;
pub use error::ZitiError;
pub use identity::Identity;
pub use listener::{ListenOptions, ZitiListener};
