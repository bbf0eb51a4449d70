//! The live state the console watches: the snapshot types ([`state`]), the hub that keeps and
//! publishes them ([`hub`]), the console's commands ([`control`]) and the log pipeline into the
//! hub ([`telemetry`]).

pub mod control;
pub mod hub;
pub mod state;
pub mod telemetry;
