//! What the engine serves: the backends of the running configuration (a [`Catalog`], replaced
//! whole by a reload), the names clients see (`<backend><separator><name>`), how an exposed name
//! or a resource URI is routed back to a backend, and the capabilities the gateway presents.
//! How a backend's catalog is learnt is in `discovery.rs`.

use std::sync::Arc;

use rmcp::model::*;
use rmcp::ErrorData as McpError;

use crate::core::config;

use super::policy::PathPolicy;
use super::{Engine, Mode, Session};

/// A backend's identity inside the engine. It stays the same while the backend's configuration
/// does: a reload that changes a backend gives it a new key, so that a connection made for the
/// old configuration is never taken for the new one.
pub(crate) type BackendKey = usize;

/// What discovery learned about one backend.
#[derive(Debug, Clone, Default)]
pub struct Discovered {
    pub info: Option<ServerPeerInfo>,
    pub tools: Vec<Tool>,
    pub prompts: Vec<Prompt>,
    pub resources: Vec<Resource>,
    pub templates: Vec<ResourceTemplate>,
}

/// One backend of the running configuration.
pub(crate) struct BackendDef {
    pub(crate) key: BackendKey,
    pub(crate) cfg: config::Backend,
    /// Its resolved path policy.
    pub(crate) policy: PathPolicy,
    pub(crate) discovered: Discovered,
}

impl BackendDef {
    pub(crate) fn id(&self) -> &str {
        &self.cfg.id
    }

    /// Whether the backend's own `tools:` filter lets `original` through.
    pub(crate) fn exposes(&self, original: &str) -> bool {
        self.cfg.tools.check(original).exposed()
    }
}

/// The running configuration as calls see it: one snapshot per request, replaced whole by a
/// reload (a request that started under the old one finishes under it).
pub(crate) struct Catalog {
    /// Counts reloads (0 at start).
    pub(crate) generation: u64,
    /// The aggregator settings a reload may change (`call_timeout`, `connect_timeout`, `health`,
    /// `restart`); the rest is read from [`Engine::agg`], fixed at start.
    pub(crate) agg: config::Aggregator,
    /// In configuration order.
    pub(crate) backends: Vec<Arc<BackendDef>>,
    /// Per-caller tool rules (`access:`).
    pub(crate) access: Vec<config::AccessRule>,
}

impl Catalog {
    pub(crate) fn get(&self, key: BackendKey) -> Option<&Arc<BackendDef>> {
        self.backends.iter().find(|b| b.key == key)
    }

    pub(crate) fn by_id(&self, id: &str) -> Option<&Arc<BackendDef>> {
        self.backends.iter().find(|b| b.cfg.id == id)
    }

    /// Where `key` stands in configuration order (for ordering a session's connections).
    pub(crate) fn position(&self, key: BackendKey) -> usize {
        self.backends
            .iter()
            .position(|b| b.key == key)
            .unwrap_or(usize::MAX)
    }
}

impl Engine {
    /// The running configuration, for one request.
    pub(crate) fn catalog(&self) -> Arc<Catalog> {
        self.catalog
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The name clients see for backend `id`'s tool or prompt `name`.
    pub(crate) fn expose(&self, id: &str, name: &str) -> String {
        match self.mode {
            Mode::Transparent => name.to_string(),
            Mode::Gateway => format!("{id}{}{name}", self.agg.separator),
        }
    }

    /// Resolve an exposed name to (backend, original name) in `cat`.
    pub(crate) fn resolve(
        &self,
        cat: &Catalog,
        exposed: &str,
    ) -> Option<(Arc<BackendDef>, String)> {
        if self.mode == Mode::Transparent {
            return cat
                .backends
                .first()
                .map(|b| (b.clone(), exposed.to_string()));
        }
        let sep = &self.agg.separator;
        let mut best: Option<&Arc<BackendDef>> = None;
        for b in &cat.backends {
            if let Some(rest) = exposed.strip_prefix(b.id()) {
                if rest.len() > sep.len()
                    && rest.starts_with(sep.as_str())
                    && best.is_none_or(|x| b.id().len() > x.id().len())
                {
                    best = Some(b);
                }
            }
        }
        best.map(|b| (b.clone(), exposed[b.id().len() + sep.len()..].to_string()))
    }

    /// Capabilities and identity presented to clients in gateway mode.
    pub(super) fn gateway_info(&self) -> ServerConfig {
        let cat = self.catalog();
        let any = |f: &dyn Fn(&ServerCapabilities) -> bool| {
            cat.backends
                .iter()
                .filter_map(|b| b.discovered.info.as_ref())
                .any(|i| f(&i.capabilities))
        };
        let mut caps = ServerCapabilities::default();
        let mut tools = ToolsCapability::default();
        tools.list_changed = Some(true);
        caps.tools = Some(tools);
        if any(&|c| c.prompts.is_some()) {
            let mut p = PromptsCapability::default();
            p.list_changed = Some(true);
            caps.prompts = Some(p);
        }
        if any(&|c| c.resources.is_some()) {
            let mut r = ResourcesCapability::default();
            r.list_changed = Some(true);
            r.subscribe = Some(any(&|c| {
                c.resources
                    .as_ref()
                    .and_then(|r| r.subscribe)
                    .unwrap_or(false)
            }));
            caps.resources = Some(r);
        }
        if any(&|c| c.logging.is_some()) {
            caps.logging = Some(Default::default());
        }
        if any(&|c| c.completions.is_some()) {
            caps.completions = Some(Default::default());
        }
        let mut info = ServerConfig::default();
        info.capabilities = caps;
        info.server_info = Implementation::new(self.agg.name.clone(), self.agg.version.clone());
        info
    }
}

impl Session {
    /// Route a resource URI to a backend.
    pub(super) async fn route_uri(&self, uri: &str) -> Result<BackendKey, McpError> {
        let e = &self.inner.engine;
        let cat = e.catalog();
        if e.mode == Mode::Transparent {
            return cat
                .backends
                .first()
                .map(|b| b.key)
                .ok_or_else(|| McpError::resource_not_found("no backend", None));
        }
        if let Some(k) = self
            .inner
            .resource_routes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(uri)
            .copied()
            .filter(|k| cat.get(*k).is_some())
        {
            return Ok(k);
        }
        for b in &cat.backends {
            let d = &b.discovered;
            if d.resources.iter().any(|r| r.uri == uri)
                || d.templates
                    .iter()
                    .any(|t| template_matches(&t.uri_template, uri))
            {
                return Ok(b.key);
            }
        }
        // First backend offering resources at all.
        let conns = self.conns().await?;
        conns
            .iter()
            .find(|c| Self::has_cap(c, |c| c.resources.is_some()))
            .map(|c| c.idx)
            .ok_or_else(|| {
                McpError::resource_not_found(format!("no backend serves resource '{uri}'"), None)
            })
    }
}

pub(super) fn target_of(t: &config::Transport) -> String {
    match t {
        config::Transport::Stdio { command, args, .. } => {
            let mut s = command.clone();
            for a in args {
                s.push(' ');
                s.push_str(a);
            }
            s
        }
        config::Transport::Http { endpoint, .. } => {
            let mut u = endpoint.clone();
            let _ = u.set_password(None);
            u.set_query(None);
            u.to_string()
        }
        config::Transport::Zrok { share_token } => {
            format!("zrok:{}", crate::core::redact::token_prefix(share_token))
        }
    }
}

/// RFC 6570 level-1 matching: literal parts must match in order; `{var}` matches any run.
pub(crate) fn template_matches(template: &str, uri: &str) -> bool {
    let mut pattern = String::new();
    let mut in_var = false;
    for ch in template.chars() {
        match (ch, in_var) {
            ('{', false) => {
                in_var = true;
                pattern.push('*');
            }
            ('}', true) => in_var = false,
            (_, true) => {}
            ('*', false) | ('?', false) => pattern.push('?'),
            (c, false) => pattern.push(c),
        }
    }
    wildmatch::WildMatch::new(&pattern).matches(uri)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates() {
        assert!(template_matches("file:///{path}", "file:///a/b.txt"));
        assert!(template_matches(
            "test://static/resource/{id}",
            "test://static/resource/7"
        ));
        assert!(!template_matches(
            "test://static/resource/{id}",
            "other://x"
        ));
    }
}
