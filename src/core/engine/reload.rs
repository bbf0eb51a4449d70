//! Hot reload: a new configuration replaces the running one without dropping a session.
//!
//! Backends are matched by id. An unchanged backend keeps its key, its catalog and every
//! session's connection to it; a new or changed one is discovered first, and a backend that
//! cannot be discovered refuses the whole reload (the running configuration stays, every error
//! is reported). Once the new [`Catalog`] is installed, new sessions see it at once; each live
//! session drops its connections to removed or changed backends (requests in flight on them
//! finish first), connects to new ones, and is sent `notifications/tools/list_changed` (and the
//! prompts and resources ones when those lists can have changed). Access rules, tool filters,
//! path policies, `call_timeout`, `connect_timeout`, `health` and `restart` take effect at
//! once; the settings the listeners were built with need a restart and are named as such.

use std::fmt;
use std::sync::Arc;

use futures::future::BoxFuture;

use crate::core::backend::ListChanged;
use crate::core::config;

use super::catalog::{BackendDef, Catalog};
use super::{Engine, Mode};

/// Where a reload reads the configuration from: the loaded configuration and the settings of it
/// that changed but need a restart (the caller knows the ones outside the engine), or every
/// error of the file.
pub type Reloader = Arc<dyn Fn() -> BoxFuture<'static, Result<Loaded, String>> + Send + Sync>;

/// A configuration read for a reload.
pub struct Loaded {
    pub config: config::Config,
    /// Changed settings that only a restart applies (dotted paths).
    pub needs_restart: Vec<String>,
}

/// What a reload changed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReloadReport {
    /// Counts reloads since start.
    pub generation: u64,
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<String>,
    pub unchanged: usize,
    /// Whether anything else calls see changed (access rules, timeouts, health, restart).
    pub settings_changed: bool,
    /// Changed settings that only a restart applies.
    pub needs_restart: Vec<String>,
    /// Live sessions brought in step.
    pub sessions: usize,
}

impl fmt::Display for ReloadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |v: &[String]| {
            if v.is_empty() {
                "none".to_string()
            } else {
                v.join(", ")
            }
        };
        write!(
            f,
            "generation {}: added {}; removed {}; changed {}; {} unchanged{}; {} sessions updated",
            self.generation,
            list(&self.added),
            list(&self.removed),
            list(&self.changed),
            self.unchanged,
            if self.settings_changed {
                "; settings changed"
            } else {
                ""
            },
            self.sessions
        )?;
        if !self.needs_restart.is_empty() {
            write!(
                f,
                "; changed but applied only after a restart: {}",
                self.needs_restart.join(", ")
            )?;
        }
        Ok(())
    }
}

impl Engine {
    /// Where [`Engine::reload_from_source`] reads the configuration (set once).
    pub fn set_reloader(&self, r: Reloader) {
        let _ = self.reloader.set(r);
    }

    /// Read the configuration again and apply it; logs the outcome and tells the console.
    pub async fn reload_from_source(self: &Arc<Self>) -> Result<ReloadReport, String> {
        let Some(read) = self.reloader.get().cloned() else {
            return Err("this process was not started from a configuration file".into());
        };
        tracing::info!("reloading the configuration");
        let r = match read().await {
            Ok(loaded) => self.reload(loaded).await,
            Err(e) => Err(e),
        };
        match &r {
            Ok(report) => {
                tracing::info!("configuration reloaded: {report}");
                let msg = format!("configuration reloaded: {report}");
                self.hub.reloaded(Some(report.generation), msg);
            }
            Err(e) => {
                tracing::error!(
                    "configuration reload refused, the running configuration is kept:\n{e}"
                );
                let msg = format!("reload refused, running configuration kept: {e}");
                self.hub.reloaded(None, msg);
            }
        }
        r
    }

    /// Apply `loaded` as the running configuration (see the module docs).
    pub async fn reload(self: &Arc<Self>, loaded: Loaded) -> Result<ReloadReport, String> {
        let _one = self.reload_lock.lock().await;
        if self.mode != Mode::Gateway {
            return Err("only a gateway reloads its configuration".into());
        }
        let cfg = loaded.config;
        let mut report = ReloadReport {
            needs_restart: loaded.needs_restart,
            ..Default::default()
        };
        report
            .needs_restart
            .extend(fixed_changes(&self.agg, &cfg.aggregator));
        let old = self.catalog();
        let mut plan = Vec::with_capacity(cfg.backends.len());
        for b in &cfg.backends {
            match old.by_id(&b.id) {
                Some(d) if d.cfg == *b => {
                    report.unchanged += 1;
                    plan.push(Ok(d.clone()));
                }
                Some(_) => {
                    report.changed.push(b.id.clone());
                    plan.push(Err(b.clone()));
                }
                None => {
                    report.added.push(b.id.clone());
                    self.show_backend(b);
                    plan.push(Err(b.clone()));
                }
            }
        }
        report.removed = old
            .backends
            .iter()
            .filter(|d| !cfg.backends.iter().any(|b| b.id == d.id()))
            .map(|d| d.id().to_string())
            .collect();
        let discovered = futures::future::join_all(plan.iter().map(|p| async move {
            match p {
                Ok(d) => Ok(d.clone()),
                Err(b) => self
                    .define(b.clone(), self.discover)
                    .await
                    .map_err(|e| format!("backend '{}': {e}", b.id)),
            }
        }))
        .await;
        let errors: Vec<String> = discovered.iter().filter_map(|r| r.clone().err()).collect();
        if !errors.is_empty() {
            for id in &report.added {
                self.hub.remove_backend(id);
            }
            for id in &report.changed {
                self.hub.update_backend(id, |s| {
                    s.status = crate::core::live::state::BackendStatus::Ready;
                    s.settle();
                });
            }
            return Err(errors.join("\n"));
        }
        let backends: Vec<Arc<BackendDef>> = discovered.into_iter().flatten().collect();
        report.settings_changed =
            old.access != cfg.access || live_changes(&old.agg, &cfg.aggregator);
        report.generation = old.generation + 1;
        let cat = Catalog {
            generation: report.generation,
            agg: cfg.aggregator.clone(),
            backends,
            access: cfg.access.clone(),
        };
        let fresh: Vec<Arc<BackendDef>> = cat
            .backends
            .iter()
            .filter(|d| old.get(d.key).is_none())
            .cloned()
            .collect();
        // What the sessions' lists can have lost or gained.
        let touched = |f: &dyn Fn(&BackendDef) -> bool| {
            fresh.iter().any(|d| f(d))
                || old
                    .backends
                    .iter()
                    .filter(|d| cat.get(d.key).is_none())
                    .any(|d| f(d))
        };
        let prompts = touched(&|d| !d.discovered.prompts.is_empty());
        let resources =
            touched(&|d| !d.discovered.resources.is_empty() || !d.discovered.templates.is_empty());
        let tools = !fresh.is_empty() || !report.removed.is_empty() || report.settings_changed;
        self.install(cat);
        for id in &report.removed {
            self.hub.remove_backend(id);
        }
        for d in &fresh {
            self.publish_discovered(d);
        }
        self.hub.publish();
        let cat = self.catalog();
        let sessions = self.live_sessions();
        report.sessions = sessions.len();
        futures::future::join_all(sessions.into_iter().map(|s| {
            let cat = cat.clone();
            async move {
                s.sync(&cat).await;
                for (changed, what) in [
                    (tools, ListChanged::Tools(0)),
                    (prompts, ListChanged::Prompts(0)),
                    (resources, ListChanged::Resources(0)),
                ] {
                    if changed {
                        s.list_changed(what).await;
                    }
                }
            }
        }))
        .await;
        Ok(report)
    }
}

/// The aggregator settings fixed at start that `new` changes.
fn fixed_changes(old: &config::Aggregator, new: &config::Aggregator) -> Vec<String> {
    let mut out = Vec::new();
    let mut check = |changed: bool, name: &str| {
        if changed {
            out.push(name.to_string());
        }
    };
    check(old.name != new.name, "aggregator.name");
    check(old.version != new.version, "aggregator.version");
    check(old.separator != new.separator, "aggregator.separator");
    check(
        old.max_message_size != new.max_message_size,
        "aggregator.max_message_size",
    );
    check(old.idle_timeout != new.idle_timeout, "session_idle_timeout");
    check(
        old.header_read_timeout != new.header_read_timeout,
        "aggregator.listener.header_read_timeout",
    );
    check(
        old.max_half_open != new.max_half_open,
        "aggregator.listener.max_half_open",
    );
    out
}

/// Whether `new` changes an aggregator setting that a reload applies.
fn live_changes(old: &config::Aggregator, new: &config::Aggregator) -> bool {
    old.call_timeout != new.call_timeout
        || old.connect_timeout != new.connect_timeout
        || old.health != new.health
        || old.restart != new.restart
}
