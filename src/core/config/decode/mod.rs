//! From the YAML tree to a validated [`Config`](super::Config): key checks, `${VAR}` expansion,
//! types, rules. Every problem is collected; nothing stops at the first.
//!
//! - `reader`: the context that collects errors and warnings, and typed readers for values;
//! - `keys`: the allowed keys of each section and the did-you-mean suggestions;
//! - `document`: the top level, `aggregator` and `orchestrator`;
//! - `backend`: one `backends` entry and its `tools` filter;
//! - `policy`: a backend's argument-aware path policy;
//! - `transport`: a backend's `transport` and its `tls`;
//! - `access`: the per-caller tool rules;
//! - `supervision`: `aggregator.health` and `aggregator.restart`;
//! - `zrok`: serving on zrok (share enabled, access grants);
//! - `resilience`: the share-listener watchdog;
//! - `ops`: the audit log and the metrics endpoint.

mod access;
mod backend;
mod document;
mod keys;
mod ops;
mod policy;
mod reader;
mod resilience;
mod supervision;
mod transport;
mod zrok;

pub(super) use document::decode;
