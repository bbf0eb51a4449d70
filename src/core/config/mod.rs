//! Gateway configuration (YAML), compatible with the Go original's file (openziti/mcp-gateway
//! v0.1.3, `aggregator/config.go`, `gateway/config.go`) plus a few mcpz extensions.
//!
//! [`load`] / [`parse`] read a file into a validated [`Config`] and a list of [`Warning`]s, or
//! return *all* problems found as [`ConfigErrors`], each naming the field path and the line:
//!
//! ```text
//! backends[1].transport.command: required for stdio transport (config.yml:14)
//! backends[0].transprot: unknown field, did you mean 'transport'? (config.yml:5)
//! ```
//!
//! The reference for every key is `docs/config.md`; `etc/mcp-gateway.yml` shows them all.
//! Nothing here touches the network or starts processes; the only filesystem access is reading
//! the config file and checking that `tls.ca_cert_file` holds PEM certificates.
//!
//! - `model`: [`Config`] and its parts, with their defaults;
//! - `load`: [`load`], [`parse`] and [`demo`];
//! - `error`: [`ConfigError`], [`ConfigErrors`] and [`Warning`];
//! - `decode` (with `yaml` and `values`): from YAML text to a validated [`Config`].

mod decode;
mod error;
mod load;
mod model;
mod values;
mod yaml;

pub use error::{ConfigError, ConfigErrors, Location, Warning};
pub use load::{demo, load, parse};
pub use model::{
    AccessRule, Aggregator, Audit, Backend, Config, EnvPolicy, FilterMode, Health, HttpProtocol,
    Metrics, Orchestrator, PathRule, Resilience, Restart, Rotation, Tls, ToolFilter, Transport,
    ZrokShare,
};

#[cfg(test)]
mod tests;
