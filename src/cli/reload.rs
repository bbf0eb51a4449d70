//! Reloading a running gateway's configuration file: on SIGHUP, from the console (`C-r`), and
//! with `--watch` when the file changes. The engine applies it (`Engine::reload`); here the
//! file is read and the settings the engine does not own are compared with the running ones.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::cli::common::Signals;
use crate::core::config;
use crate::core::engine::{Engine, Loaded};

/// How often `--watch` looks at the file.
const WATCH_EVERY: Duration = Duration::from_secs(1);

/// Let `engine` reload `path` on SIGHUP and from the console (and when it changes, with
/// `watch`); `running` is the configuration it started with.
pub(crate) fn enable(
    engine: &Arc<Engine>,
    path: &Path,
    running: &config::Config,
    watch: bool,
    sig: &Signals,
) {
    let (file, running) = (path.to_path_buf(), running.clone());
    engine.set_reloader(Arc::new(move || {
        Box::pin(read(file.clone(), running.clone()))
    }));
    let mut hangups = sig.hangups();
    let e = engine.clone();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = e.shutdown.cancelled() => break,
                r = hangups.changed() => {
                    if r.is_err() {
                        break;
                    }
                    tracing::info!("SIGHUP: reloading the configuration");
                    let _ = e.reload_from_source().await;
                }
            }
        }
    });
    if watch {
        tokio::spawn(watch_file(engine.clone(), path.to_path_buf()));
    }
}

/// Read the file for a reload; name the changed settings that only a restart applies.
async fn read(path: PathBuf, running: config::Config) -> Result<Loaded, String> {
    let p = path.clone();
    let loaded = tokio::task::spawn_blocking(move || config::load(&p))
        .await
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let (cfg, warnings) = loaded.map_err(|errs| errs.to_string())?;
    for w in warnings {
        tracing::warn!("{w}");
    }
    let needs_restart = [
        (cfg.share_token != running.share_token, "share_token"),
        (cfg.zrok_share != running.zrok_share, "zrok.share"),
        (cfg.orchestrator != running.orchestrator, "orchestrator"),
        (cfg.log_file != running.log_file, "log_file"),
        (cfg.resilience != running.resilience, "resilience"),
    ]
    .into_iter()
    .filter(|(changed, _)| *changed)
    .map(|(_, name)| name.to_string())
    .collect();
    Ok(Loaded {
        config: cfg,
        needs_restart,
    })
}

/// The file's identity as a poll sees it: modification time and length (`None`: unreadable).
fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

/// Reload whenever the file has changed and then held still for one poll (an editor's save
/// in several writes is read once, complete).
async fn watch_file(engine: Arc<Engine>, path: PathBuf) {
    let look = |p: PathBuf| async move {
        tokio::task::spawn_blocking(move || stamp(&p))
            .await
            .ok()
            .flatten()
    };
    let mut applied = look(path.clone()).await;
    let mut seen = applied;
    let mut tick = tokio::time::interval(WATCH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tracing::info!(file = %path.display(), "watching the configuration file for changes");
    loop {
        tokio::select! {
            _ = engine.shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let now = look(path.clone()).await;
        if now.is_some() && now == seen && now != applied {
            applied = now;
            tracing::info!(file = %path.display(), "configuration file changed: reloading");
            let _ = engine.reload_from_source().await;
        }
        seen = now;
    }
}
