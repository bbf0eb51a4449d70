//! Reading a config file, parsing config text, and the built-in demo configuration.

use std::collections::BTreeMap;
use std::path::Path;

use super::{decode, Aggregator, Backend, Config, ConfigError, ConfigErrors, Location};
use super::{ToolFilter, Transport, Warning};

/// Reads and validates a config file. Messages name the file as `path` was given.
/// `${VAR}` references are expanded from the process environment.
pub fn load(path: &Path) -> Result<(Config, Vec<Warning>), ConfigErrors> {
    let source = path.display().to_string();
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            let what = if path.is_dir() {
                "is a directory".to_string()
            } else {
                e.to_string()
            };
            return Err(ConfigError::new(
                "",
                format!("cannot read config file '{source}': {what}"),
                None,
            )
            .into());
        }
    };
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let before = &e.as_bytes()[..e.utf8_error().valid_up_to()];
            let line = before.iter().filter(|b| **b == b'\n').count() + 1;
            return Err(ConfigError::new(
                "",
                "config file is not valid UTF-8",
                Some(Location {
                    source,
                    line,
                    column: None,
                }),
            )
            .into());
        }
    };
    parse(&text, &source, &|name| std::env::var(name).ok())
}

/// Parses and validates config text. `source` is the file name used in messages; `env` looks up
/// `${VAR}` references (return `None` for unset).
pub fn parse(
    text: &str,
    source: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(Config, Vec<Warning>), ConfigErrors> {
    decode::decode(text, source, env)
}

/// The embedded default used by `mcpz tui` without a config: one stdio backend `fs` running
/// `<filesystem_bin> <dir>`.
pub fn demo(dir: &Path, filesystem_bin: &Path) -> Config {
    Config {
        aggregator: Aggregator::default(),
        backends: vec![Backend {
            id: "fs".into(),
            name: Some("Filesystem".into()),
            transport: Transport::Stdio {
                command: filesystem_bin.display().to_string(),
                args: vec![dir.display().to_string()],
                env: BTreeMap::new(),
                env_policy: Default::default(),
                working_dir: None,
            },
            tools: ToolFilter::none(),
            policy: Vec::new(),
        }],
        share_token: None,
        orchestrator: None,
        log_file: None,
        access: Vec::new(),
        zrok_share: Default::default(),
        resilience: Default::default(),
        audit: None,
        metrics: None,
        source: "<built-in demo>".into(),
    }
}
