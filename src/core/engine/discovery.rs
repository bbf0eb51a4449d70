//! Learning a backend's catalog: connect once, list every page of its tools, prompts, resources
//! and templates, check its path policy against the tools, and release the connection. Used at
//! start, by a reload (new and changed backends) and by the console's "restart".

use std::sync::Arc;

use rmcp::{Peer, RoleClient};

use crate::core::backend::{self, BackendConn, Downstream};
use crate::core::config;
use crate::core::live::state::{BackendState, BackendStatus, ToolState};

use super::catalog::{target_of, BackendDef, BackendKey, Catalog, Discovered};
use super::policy::PathPolicy;
use super::Engine;

pub(super) fn err_str(e: &rmcp::ServiceError) -> String {
    match e {
        rmcp::ServiceError::McpError(e) => e.message.to_string(),
        other => other.to_string(),
    }
}

impl Engine {
    /// A new backend definition for `cfg` (a fresh key), discovered unless `discover` is off.
    /// The console shows it starting, then ready or failed; nothing else is changed.
    pub(super) async fn define(
        &self,
        cfg: config::Backend,
        discover: bool,
    ) -> Result<Arc<BackendDef>, String> {
        let key = self.next_key();
        let policy = PathPolicy::resolve(&cfg)?;
        let discovered = if discover {
            self.hub
                .set_backend_status(&cfg.id, BackendStatus::Starting, None);
            match self.discover(key, &cfg, &policy).await {
                Ok(d) => d,
                Err(e) => {
                    tracing::error!(backend = %cfg.id, "discovery failed: {e}");
                    self.hub
                        .set_backend_status(&cfg.id, BackendStatus::Failed, Some(e.clone()));
                    return Err(e);
                }
            }
        } else {
            Discovered::default()
        };
        Ok(Arc::new(BackendDef {
            key,
            cfg,
            policy,
            discovered,
        }))
    }

    /// Show `cfg` in the console as a backend about to start.
    pub(super) fn show_backend(&self, cfg: &config::Backend) {
        self.hub.add_backend(BackendState::starting(
            &cfg.id,
            cfg.name.clone(),
            cfg.transport.kind(),
            target_of(&cfg.transport),
        ));
    }

    /// Connect once to the backend, learn its catalog, release the connection.
    async fn discover(
        &self,
        key: BackendKey,
        cfg: &config::Backend,
        policy: &PathPolicy,
    ) -> Result<Discovered, String> {
        let env = self.connect_env_now();
        let started = std::time::Instant::now();
        let conn = backend::connect(key, cfg, Arc::new(Downstream::default()), &env)
            .await
            .map_err(|e| e.to_string())?;
        let listed = async {
            match conn.peer().await {
                Some(p) => list_everything(p, &conn).await,
                None => Err("the backend closed the connection".to_string()),
            }
        };
        let r = tokio::time::timeout(env.connect_timeout, listed)
            .await
            .unwrap_or_else(|_| {
                Err(format!(
                    "discovery did not finish within {:?}",
                    env.connect_timeout
                ))
            });
        conn.close().await;
        let d = r?;
        policy.validate_tools(&d.tools)?;
        let server = d
            .info
            .as_ref()
            .and_then(|i| i.server_info.as_ref())
            .map(|s| format!("{} {}", s.name, s.version));
        tracing::info!(
            backend = %cfg.id,
            server = server.as_deref().unwrap_or("?"),
            tools = d.tools.len(),
            prompts = d.prompts.len(),
            resources = d.resources.len(),
            templates = d.templates.len(),
            "backend discovered in {:?}",
            started.elapsed()
        );
        Ok(d)
    }

    /// Discover backend `id` again (the console's "restart"): its catalog is replaced in the
    /// running configuration; sessions keep their connections.
    pub(crate) async fn rediscover(&self, id: &str) -> Result<(), String> {
        let _reload = self.reload_lock.lock().await;
        let cat = self.catalog();
        let Some(old) = cat.by_id(id).cloned() else {
            return Err(format!("no backend '{id}'"));
        };
        self.hub
            .set_backend_status(id, BackendStatus::Starting, None);
        let d = match self.discover(old.key, &old.cfg, &old.policy).await {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(backend = %id, "discovery failed: {e}");
                self.hub
                    .set_backend_status(id, BackendStatus::Failed, Some(e.clone()));
                return Err(e);
            }
        };
        let def = Arc::new(BackendDef {
            key: old.key,
            cfg: old.cfg.clone(),
            policy: old.policy.clone(),
            discovered: d,
        });
        self.publish_discovered(&def);
        let backends = cat
            .backends
            .iter()
            .map(|b| {
                if b.key == def.key {
                    def.clone()
                } else {
                    b.clone()
                }
            })
            .collect();
        self.install(Catalog {
            generation: cat.generation,
            agg: cat.agg.clone(),
            backends,
            access: cat.access.clone(),
        });
        self.hub.update_backend(id, |s| {
            s.status = BackendStatus::Ready;
            s.settle();
        });
        Ok(())
    }

    /// Show what discovery learned about `def` in the console, and mark it ready.
    pub(super) fn publish_discovered(&self, def: &BackendDef) {
        let b = &def.cfg;
        let d = &def.discovered;
        let tools: Vec<ToolState> = d
            .tools
            .iter()
            .map(|t| ToolState {
                name: self.expose(&b.id, &t.name),
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
        self.hub
            .set_backend_status(&b.id, BackendStatus::Ready, None);
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
