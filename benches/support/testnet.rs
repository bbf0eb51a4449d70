//! Shared by the network benches: read `MCPZ_TESTNET_ENV` (written by `scripts/testnet up DIR`)
//! and numeric knobs from the environment.

use std::collections::HashMap;
use std::path::PathBuf;

pub fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The testnet's `KEY=VALUE` file, or `None` when `MCPZ_TESTNET_ENV` is unset.
pub fn load_env() -> Option<HashMap<String, String>> {
    let p = PathBuf::from(std::env::var_os("MCPZ_TESTNET_ENV")?);
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    Some(
        text.lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect(),
    )
}
