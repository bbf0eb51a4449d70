//! What the engine serves: discovery of every backend's catalog at start, the names clients see
//! (`<backend><separator><name>`) and how an exposed name or a resource URI is routed back to a
//! backend, and the capabilities the gateway presents.

use std::sync::Arc;

use rmcp::model::*;
use rmcp::{ErrorData as McpError, Peer, RoleClient};

use crate::core::backend::{self, BackendConn, Downstream};
use crate::core::config;
use crate::core::live::state::{BackendStatus, ToolState};

use super::{Engine, Mode, Session};

/// What discovery learned about one backend.
#[derive(Debug, Clone, Default)]
pub struct Discovered {
    pub info: Option<ServerPeerInfo>,
    pub tools: Vec<Tool>,
    pub prompts: Vec<Prompt>,
    pub resources: Vec<Resource>,
    pub templates: Vec<ResourceTemplate>,
}

pub(super) fn err_str(e: &rmcp::ServiceError) -> String {
    match e {
        rmcp::ServiceError::McpError(e) => e.message.to_string(),
        other => other.to_string(),
    }
}

impl Engine {
    /// Discover one backend (used at start and by a console "restart").
    pub async fn discover(self: Arc<Self>, i: usize) -> Result<Discovered, String> {
        let b = &self.backends[i];
        self.hub
            .set_backend_status(&b.id, BackendStatus::Starting, None);
        let result = async {
            let conn = backend::connect(i, b, Arc::new(Downstream::default()), &self.env)
                .await
                .map_err(|e| e.to_string())?;
            let r = tokio::time::timeout(
                self.agg.connect_timeout,
                list_everything(conn.peer(), &conn),
            )
            .await
            .unwrap_or_else(|_| {
                Err(format!(
                    "discovery did not finish within {:?}",
                    self.agg.connect_timeout
                ))
            });
            conn.close().await;
            let d = r?;
            self.policies[i].validate_tools(&d.tools)?;
            Ok::<_, String>(d)
        }
        .await;
        match result {
            Ok(d) => {
                self.publish_discovered(i, &d);
                self.hub
                    .set_backend_status(&b.id, BackendStatus::Ready, None);
                if let Some(slot) = self
                    .discovered
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get_mut(i)
                {
                    *slot = d.clone();
                }
                Ok(d)
            }
            Err(e) => {
                tracing::error!(backend = %b.id, "discovery failed: {e}");
                self.hub
                    .set_backend_status(&b.id, BackendStatus::Failed, Some(e.clone()));
                Err(e)
            }
        }
    }

    fn publish_discovered(&self, i: usize, d: &Discovered) {
        let b = &self.backends[i];
        let tools: Vec<ToolState> = d
            .tools
            .iter()
            .map(|t| ToolState {
                name: self.expose(i, &t.name),
                original: t.name.to_string(),
                backend: b.id.clone(),
                description: t.description.as_ref().map(|d| d.to_string()),
                input_schema: serde_json::Value::Object((*t.input_schema).clone()),
                filter: b.tools.check(&t.name),
                calls: 0,
                errors: 0,
                latency: Default::default(),
            })
            .collect();
        let exposed = tools.iter().filter(|t| t.filter.exposed()).count();
        let total = tools.len();
        self.hub.set_tools(&b.id, tools);
        let info = d.info.clone();
        let (np, nr) = (d.prompts.len(), d.resources.len());
        self.hub.update_backend(&b.id, move |s| {
            s.tools_exposed = exposed;
            s.tools_total = total;
            s.prompts = np;
            s.resources = nr;
            if let Some(info) = info {
                s.server_info = info
                    .server_info
                    .as_ref()
                    .map(|i| format!("{} {}", i.name, i.version));
                s.protocol_version = Some(info.protocol_version.to_string());
            }
        });
    }

    /// The name clients see for backend `i`'s tool or prompt `name`.
    pub(crate) fn expose(&self, i: usize, name: &str) -> String {
        match self.mode {
            Mode::Transparent => name.to_string(),
            Mode::Gateway => format!("{}{}{}", self.backends[i].id, self.agg.separator, name),
        }
    }

    /// Resolve an exposed name to (backend index, original name).
    pub fn resolve(&self, exposed: &str) -> Option<(usize, String)> {
        if self.mode == Mode::Transparent {
            return (!self.backends.is_empty()).then(|| (0, exposed.to_string()));
        }
        let sep = &self.agg.separator;
        let mut best: Option<(usize, usize)> = None;
        for (i, b) in self.backends.iter().enumerate() {
            if let Some(rest) = exposed.strip_prefix(b.id.as_str()) {
                if rest.len() > sep.len() && rest.starts_with(sep.as_str()) {
                    let len = b.id.len();
                    if best.is_none_or(|(_, l)| len > l) {
                        best = Some((i, len));
                    }
                }
            }
        }
        best.map(|(i, len)| (i, exposed[len + sep.len()..].to_string()))
    }

    /// Capabilities and identity presented to clients in gateway mode.
    pub(super) fn gateway_info(&self) -> ServerConfig {
        let d = self.discovered();
        let any = |f: &dyn Fn(&ServerCapabilities) -> bool| {
            d.iter()
                .filter_map(|x| x.info.as_ref())
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
    /// Route a resource URI to a backend index.
    pub(super) async fn route_uri(&self, uri: &str) -> Result<usize, McpError> {
        let e = &self.inner.engine;
        if e.mode == Mode::Transparent {
            return Ok(0);
        }
        if let Some(i) = self
            .inner
            .resource_routes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(uri)
            .copied()
        {
            return Ok(i);
        }
        let d = e.discovered();
        for (i, x) in d.iter().enumerate() {
            if x.resources.iter().any(|r| r.uri == uri)
                || x.templates
                    .iter()
                    .any(|t| template_matches(&t.uri_template, uri))
            {
                return Ok(i);
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

async fn list_everything(
    peer: &Peer<RoleClient>,
    conn: &BackendConn,
) -> Result<Discovered, String> {
    let info = conn.info.clone();
    let caps = info
        .as_ref()
        .map(|i| i.capabilities.clone())
        .unwrap_or_default();
    let tools = if caps.tools.is_some() {
        peer.list_all_tools()
            .await
            .map_err(|e| format!("tools/list: {}", err_str(&e)))?
    } else {
        Vec::new()
    };
    let prompts = if caps.prompts.is_some() {
        peer.list_all_prompts()
            .await
            .map_err(|e| format!("prompts/list: {}", err_str(&e)))?
    } else {
        Vec::new()
    };
    let (resources, templates) = if caps.resources.is_some() {
        (
            peer.list_all_resources()
                .await
                .map_err(|e| format!("resources/list: {}", err_str(&e)))?,
            peer.list_all_resource_templates()
                .await
                .map_err(|e| format!("resources/templates/list: {}", err_str(&e)))?,
        )
    } else {
        (Vec::new(), Vec::new())
    };
    Ok(Discovered {
        info,
        tools,
        prompts,
        resources,
        templates,
    })
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
