//! Gateway configuration (YAML). TEMPORARY STUB: replaced by the config branch.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::core::state::{ToolFilter as Verdict, TransportKind};

#[derive(Debug, Clone)]
pub struct Config {
    pub aggregator: Aggregator,
    pub backends: Vec<Backend>,
    pub share_token: Option<String>,
    pub orchestrator: Option<Orchestrator>,
    pub log_file: Option<PathBuf>,
    pub source: String,
}
#[derive(Debug, Clone)]
pub struct Aggregator {
    pub name: String,
    pub version: String,
    pub separator: String,
    pub connect_timeout: Duration,
    pub call_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_message_size: usize,
}
impl Default for Aggregator {
    fn default() -> Self {
        Aggregator {
            name: "mcp-gateway".into(),
            version: "1.0.0".into(),
            separator: "_".into(),
            connect_timeout: Duration::from_secs(30),
            call_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(1800),
            max_message_size: 16 * 1024 * 1024,
        }
    }
}
#[derive(Debug, Clone)]
pub struct Backend {
    pub id: String,
    pub name: Option<String>,
    pub transport: Transport,
    pub tools: ToolFilter,
}
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpProtocol {
    Sse,
    Streamable,
}
#[derive(Debug, Clone)]
pub enum Transport {
    Stdio {
        command: String,
        args: Vec<String>,
        env: BTreeMap<String, String>,
        working_dir: Option<PathBuf>,
    },
    Http {
        endpoint: url::Url,
        protocol: HttpProtocol,
        headers: BTreeMap<String, String>,
        tls: Option<Tls>,
        allow_insecure: bool,
    },
    Zrok {
        share_token: String,
    },
}
impl Transport {
    pub fn kind(&self) -> TransportKind {
        match self {
            Transport::Stdio { .. } => TransportKind::Stdio,
            Transport::Http { endpoint, .. } if endpoint.scheme() == "https" => {
                TransportKind::Https
            }
            Transport::Http { .. } => TransportKind::Http,
            Transport::Zrok { .. } => TransportKind::Zrok,
        }
    }
}
#[derive(Debug, Clone)]
pub struct Tls {
    pub ca_cert_file: Option<PathBuf>,
    pub insecure_skip_verify: bool,
}
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterMode {
    Allow,
    Deny,
}
#[derive(Debug, Clone)]
pub struct ToolFilter {
    pub mode: FilterMode,
    pub list: Vec<String>,
}
impl ToolFilter {
    pub fn none() -> Self {
        ToolFilter {
            mode: FilterMode::Deny,
            list: vec![],
        }
    }
    pub fn check(&self, tool: &str) -> Verdict {
        let hit = self
            .list
            .iter()
            .find(|p| wildmatch::WildMatch::new(p).matches(tool))
            .cloned();
        match (self.mode, hit) {
            (FilterMode::Deny, _) if self.list.is_empty() => Verdict::Unfiltered,
            (FilterMode::Deny, Some(p)) => Verdict::DeniedBy(p),
            (FilterMode::Deny, None) => Verdict::Unfiltered,
            (FilterMode::Allow, Some(p)) => Verdict::AllowedBy(p),
            (FilterMode::Allow, None) => Verdict::NotAllowed,
        }
    }
}
#[derive(Debug, Clone)]
pub struct Orchestrator {
    pub socket_path: PathBuf,
    pub heartbeat_interval: Duration,
}
#[derive(Debug, Clone)]
pub struct Warning {
    pub message: String,
}
impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "warning: {}", self.message)
    }
}
#[derive(Debug)]
pub struct ConfigErrors(pub Vec<String>);
impl std::fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0.join("\n"))
    }
}
impl std::error::Error for ConfigErrors {}
pub fn load(path: &Path) -> Result<(Config, Vec<Warning>), ConfigErrors> {
    Err(ConfigErrors(vec![format!(
        "{}: config loader not merged yet",
        path.display()
    )]))
}
pub fn demo(dir: &Path, filesystem_bin: &Path) -> Config {
    Config {
        aggregator: Aggregator::default(),
        backends: vec![Backend {
            id: "fs".into(),
            name: Some("filesystem".into()),
            transport: Transport::Stdio {
                command: filesystem_bin.display().to_string(),
                args: vec![dir.display().to_string()],
                env: BTreeMap::new(),
                working_dir: None,
            },
            tools: ToolFilter::none(),
        }],
        share_token: None,
        orchestrator: None,
        log_file: None,
        source: "<demo>".into(),
    }
}
