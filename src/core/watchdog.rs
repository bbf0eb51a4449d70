//! The share-listener watchdog (upstream's `resilience:`, v0.1.8, its "deaf gateway" incident).
//!
//! A share's [`ZitiListener`] re-binds its own terminators when a router channel ends, but it
//! cannot recover from everything: a share deleted and created again under the same name leaves
//! it binding a service that no longer exists, and the gateway stays up, deaf. The watchdog reads
//! the listener's established terminators every `poll_interval`; when they stay at zero for
//! `zero_established_grace` (the listener's own recovery gets that long first), or the listener
//! has stopped, it builds a fresh listener on the same token (a new bind session, a new service
//! look-up, re-authenticating when needed) and hands it to the running accept loop
//! ([`ResilientListener`]), which drops the old one. Connections already accepted are not the
//! listener's: their sessions carry on.
//!
//! Failed recoveries are counted (a rebuild that fails, or a rebuilt listener that never gets a
//! terminator in its own grace window) and reset by a healthy observation. After
//! `max_rebuild_failures` in a row the watchdog escalates: `fail_fast` (no orchestrator, as
//! upstream decides) ends [`Watchdog::run`] with the reason, so that the process exits for its
//! supervisor; otherwise it logs an error and keeps trying. Every `heartbeat_interval` it logs
//! `gateway alive` with the sessions, terminators and seconds since the last accept, and it
//! publishes the same in the live state ([`ListenerState`]).

mod swap;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

use crate::core::config::Resilience;
use crate::core::live::hub::Hub;
use crate::core::live::state::ListenerState;
use crate::core::net::Listener;
use crate::core::overlay::Overlay;
use crate::core::redact::token_prefix;
use crate::core::ziti::ZitiListener;

pub(crate) use swap::{ListenerStats, ResilientListener};

/// The `resilience:` settings and whether escalation ends the process.
#[derive(Debug, Clone)]
pub(crate) struct WatchdogOptions {
    pub resilience: Resilience,
    /// Exit after `max_rebuild_failures` (no orchestrator to restart us, as upstream decides);
    /// otherwise log an error and keep trying.
    pub fail_fast: bool,
}

/// What the watchdog reads of one listener: its established terminators, on a watch whose
/// sender is dropped when that listener has stopped for good.
#[derive(Debug, Clone)]
pub(crate) struct Health(pub(crate) watch::Receiver<usize>);

impl Health {
    fn established(&self) -> usize {
        *self.0.borrow()
    }

    fn closed(&self) -> bool {
        self.0.has_changed().is_err()
    }
}

/// Builds a fresh listener on the share's token.
pub(crate) type Relisten<L> = Box<dyn Fn() -> BoxFuture<'static, Result<L, String>> + Send + Sync>;

/// The watchdog of one share listener (generic over the listener for the tests).
pub(crate) struct Watchdog<L> {
    cfg: Resilience,
    fail_fast: bool,
    /// Token prefix, for logs.
    share: String,
    relisten: Relisten<L>,
    health_of: fn(&L) -> Health,
    /// To the accept loop: each rebuilt listener.
    swaps: mpsc::UnboundedSender<L>,
    stats: Arc<ListenerStats>,
    hub: Option<Hub>,
    /// The current generation: its health and number.
    health: Health,
    generation: u64,
    /// Since when the current generation has had no established terminator.
    zero_since: Option<Instant>,
    /// A rebuilt generation not yet seen healthy; `counted` once its failure is counted.
    pending: Option<u64>,
    counted: Option<u64>,
    failures: u32,
}

/// Why a generation is dead.
#[derive(Clone, Copy)]
enum Dead {
    Closed,
    ZeroEstablished,
}

impl Dead {
    fn as_str(self) -> &'static str {
        match self {
            Dead::Closed => "closed",
            Dead::ZeroEstablished => "zero_established",
        }
    }
}

impl<L: Send + 'static> Watchdog<L> {
    /// A watchdog for `first` (generation 0); rebuilt listeners go to `swaps`.
    pub(crate) fn new(
        opts: &WatchdogOptions,
        token: &str,
        first: &L,
        health_of: fn(&L) -> Health,
        relisten: Relisten<L>,
        swaps: mpsc::UnboundedSender<L>,
        stats: Arc<ListenerStats>,
    ) -> Self {
        Watchdog {
            cfg: opts.resilience.clone(),
            fail_fast: opts.fail_fast,
            share: token_prefix(token),
            relisten,
            health_of,
            swaps,
            stats,
            hub: None,
            health: health_of(first),
            generation: 0,
            zero_since: None,
            pending: None,
            counted: None,
            failures: 0,
        }
    }

    /// Publish the listener's state on `hub` and count its sessions for the alive line.
    pub(crate) fn with_hub(mut self, hub: Hub) -> Self {
        self.hub = Some(hub);
        self
    }

    #[cfg(test)]
    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    #[cfg(test)]
    pub(crate) fn failures(&self) -> u32 {
        self.failures
    }

    /// Poll every `poll_interval` and log the alive line every `heartbeat_interval` (zero: never)
    /// until escalation with `fail_fast`, which ends it with the reason.
    pub(crate) async fn run(mut self) -> String {
        // Zero periods are refused by the config; never a panic here either.
        let every = |d: Duration| d.max(Duration::from_millis(1));
        let start = Instant::now();
        let poll_every = every(self.cfg.poll_interval);
        let mut poll = tokio::time::interval_at(start + poll_every, poll_every);
        poll.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let beat_every = self.cfg.heartbeat_interval;
        let mut beat = tokio::time::interval_at(start + every(beat_every), every(beat_every));
        beat.set_missed_tick_behavior(MissedTickBehavior::Delay);
        self.publish();
        loop {
            tokio::select! {
                _ = poll.tick() => {
                    if let Err(reason) = self.check().await {
                        return reason;
                    }
                    self.publish();
                }
                _ = beat.tick(), if !beat_every.is_zero() => self.alive(),
            }
        }
    }

    /// One health reading and what follows from it. `Err`: escalation with `fail_fast`.
    pub(crate) async fn check(&mut self) -> Result<(), String> {
        if self.health.closed() {
            return self.dead(Dead::Closed).await;
        }
        if self.health.established() > 0 {
            self.healthy();
            return Ok(());
        }
        let now = Instant::now();
        let since = *self.zero_since.get_or_insert(now);
        if now.duration_since(since) < self.cfg.zero_established_grace {
            return Ok(());
        }
        self.dead(Dead::ZeroEstablished).await
    }

    fn healthy(&mut self) {
        self.zero_since = None;
        self.pending = None;
        self.counted = None;
        self.failures = 0;
    }

    async fn dead(&mut self, why: Dead) -> Result<(), String> {
        let generation = self.generation;
        // A rebuilt generation that dies (or burns its whole grace) before it was ever healthy
        // is a failed recovery, counted once.
        if self.pending == Some(generation) && self.counted != Some(generation) {
            self.counted = Some(generation);
            let e = match why {
                Dead::ZeroEstablished => format!(
                    "share listener generation {generation} stayed at zero established terminators"
                ),
                Dead::Closed => {
                    format!(
                        "share listener generation {generation} stopped before becoming healthy"
                    )
                }
            };
            self.failed(e)?;
        }
        tracing::warn!(
            share = %self.share,
            generation,
            reason = why.as_str(),
            rebuild_failures = self.failures,
            established_terminators = self.health.established(),
            "share listener lost, rebuilding"
        );
        match (self.relisten)().await {
            Ok(l) => {
                self.health = (self.health_of)(&l);
                self.generation += 1;
                self.pending = Some(self.generation);
                self.counted = None;
                self.zero_since = None;
                // The accept loop is gone only at shutdown; the listener is then dropped here.
                let _ = self.swaps.send(l);
                tracing::info!(
                    share = %self.share,
                    old_generation = generation,
                    generation = self.generation,
                    rebuild_failures = self.failures,
                    "share listener rebuilt"
                );
                Ok(())
            }
            Err(e) => {
                tracing::warn!(share = %self.share, generation, error = %e, "share listener rebuild failed");
                self.failed(format!("share listener rebuild failed: {e}"))
            }
        }
    }

    /// Count a failed recovery; past `max_rebuild_failures`, escalate.
    fn failed(&mut self, cause: String) -> Result<(), String> {
        self.failures += 1;
        if self.failures < self.cfg.max_rebuild_failures {
            return Ok(());
        }
        let reason = format!(
            "share listener recovery failed after {} attempts: {cause}",
            self.failures
        );
        if self.fail_fast {
            tracing::error!(share = %self.share, rebuild_failures = self.failures, error = %reason, "share listener unrecoverable, shutting down for restart");
            return Err(reason);
        }
        tracing::error!(share = %self.share, rebuild_failures = self.failures, error = %reason, "share listener unrecoverable, awaiting orchestrator restart");
        Ok(())
    }

    fn state(&self) -> ListenerState {
        ListenerState {
            terminators: self.health.established(),
            generation: self.generation,
            rebuild_failures: self.failures,
            accepted: self.stats.accepted(),
            last_accept: self.stats.last_accept(),
        }
    }

    fn publish(&self) {
        if let Some(hub) = &self.hub {
            hub.set_listener(self.state());
        }
    }

    fn alive(&self) {
        let s = self.state();
        tracing::info!(
            share = %self.share,
            active_sessions = self.hub.as_ref().map_or(0, |h| h.session_count()),
            seconds_since_last_accept = self.stats.seconds_since_last_accept(),
            established_terminators = s.terminators,
            generation = s.generation,
            rebuild_failures = s.rebuild_failures,
            "gateway alive"
        );
    }
}

/// A share's listener for the accept loop, and its watchdog task (none when the watchdog is off).
pub(crate) struct Guarded {
    pub listener: Box<dyn Listener>,
    pub watch: Option<WatchTask>,
}

/// The running watchdog: stopped (and joined) by [`WatchTask::stop`], aborted when dropped.
pub(crate) struct WatchTask(Option<JoinHandle<String>>);

impl WatchTask {
    /// Resolves with the reason when the watchdog escalates with `fail_fast`; never otherwise.
    pub(crate) async fn escalated(&mut self) -> String {
        match self.0.as_mut() {
            Some(h) => match h.await {
                Ok(reason) => {
                    self.0 = None;
                    reason
                }
                Err(e) => {
                    self.0 = None;
                    if e.is_panic() {
                        tracing::error!("share listener watchdog failed: {e}");
                    }
                    std::future::pending().await
                }
            },
            None => std::future::pending().await,
        }
    }

    /// Stop the watchdog and wait until it has (no rebuild runs after this returns).
    pub(crate) async fn stop(mut self) {
        if let Some(h) = self.0.take() {
            h.abort();
            let _ = h.await;
        }
    }
}

impl Drop for WatchTask {
    fn drop(&mut self) {
        if let Some(h) = self.0.take() {
            h.abort();
        }
    }
}

/// Serve `listener` (bound to `token` on `overlay`) under its watchdog, publishing on `hub`.
pub(crate) fn watch_share(
    listener: ZitiListener,
    overlay: Arc<Overlay>,
    token: &str,
    opts: &WatchdogOptions,
    hub: Hub,
) -> Guarded {
    if !opts.resilience.watchdog_enabled {
        return Guarded {
            listener: Box::new(listener),
            watch: None,
        };
    }
    let stats = Arc::new(ListenerStats::new());
    let (tx, rx) = mpsc::unbounded_channel();
    let t = token.to_string();
    let relisten: Relisten<ZitiListener> = Box::new(move || {
        let (overlay, t) = (overlay.clone(), t.clone());
        Box::pin(async move { overlay.listen(&t).await.map_err(|e| e.to_string()) })
    });
    let dog = Watchdog::new(
        opts,
        token,
        &listener,
        |l: &ZitiListener| Health(l.terminators()),
        relisten,
        tx,
        stats.clone(),
    )
    .with_hub(hub);
    Guarded {
        listener: Box::new(ResilientListener::new(listener, rx, stats)),
        watch: Some(WatchTask(Some(tokio::spawn(dog.run())))),
    }
}
