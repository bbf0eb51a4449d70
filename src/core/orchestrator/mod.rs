//! The orchestrator IPC of the Go gateway's managed mode: one gRPC bidirectional stream
//! (`/GatewayIPC/Connect`, messages in [`proto`]) over a unix socket to the process that manages
//! the gateway.
//!
//! The gateway registers (its share token, or with `--listen` the listen URL, and its pid),
//! reports its state (`starting`, `running`, `stopping`, `failed`), sends a heartbeat every
//! `heartbeat_interval` with its live client sessions and the `tools/call`s finished so far,
//! answers pings with its version and, when the orchestrator asks, acknowledges and shuts down
//! gracefully. A stream that ends or fails is reconnected every `reconnect_interval` and the
//! gateway registers again (and reports its current state, which upstream does not); a socket
//! that does not exist yet is waited for, as upstream does.
//!
//! Nothing here blocks the gateway: the gateway only sets a state on a `watch`; one task owns the
//! stream, its outbox is bounded and a message that does not fit (an orchestrator that does not
//! read) is dropped with a warning, never queued without bound.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::core::engine::Engine;
use crate::core::live::hub::Hub;
use crate::core::live::state::Serving;

mod link;
pub(crate) mod proto;

/// Longest wait at exit for the last state to reach the orchestrator.
const FINAL_FLUSH: Duration = Duration::from_secs(2);

/// What the gateway registers as: its share token in managed mode, its listen URL with
/// `--listen` and no token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registration {
    ShareToken(String),
    ListenUrl(String),
}

impl Registration {
    /// The `share_token` field of every message.
    fn value(&self) -> &str {
        match self {
            Registration::ShareToken(t) | Registration::ListenUrl(t) => t,
        }
    }

    /// For logs: a token only by its prefix.
    fn shown(&self) -> String {
        match self {
            Registration::ShareToken(t) => {
                format!("share {}", crate::core::redact::token_prefix(t))
            }
            Registration::ListenUrl(u) => u.clone(),
        }
    }
}

pub struct Options {
    pub socket_path: PathBuf,
    pub heartbeat_interval: Duration,
    pub reconnect_interval: Duration,
    pub registration: Registration,
    /// `PingResponse.version`.
    pub version: String,
}

/// The gateway's state as the orchestrator sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    Starting,
    Running,
    Stopping,
    Failed(String),
}

impl Phase {
    fn state(&self) -> &'static str {
        match self {
            Phase::Starting => "starting",
            Phase::Running => "running",
            Phase::Stopping => "stopping",
            Phase::Failed(_) => "failed",
        }
    }

    fn error(&self) -> &str {
        match self {
            Phase::Failed(e) => e,
            _ => "",
        }
    }

    /// The gateway is going away: once this is delivered, the task ends.
    fn is_final(&self) -> bool {
        matches!(self, Phase::Stopping | Phase::Failed(_))
    }
}

/// The engine, once started: where heartbeats read their counts, and what a shutdown request
/// cancels.
#[derive(Clone)]
struct Attached {
    hub: Hub,
    shutdown: CancellationToken,
}

struct Shared {
    opts: Options,
    phase: watch::Sender<Phase>,
    engine: watch::Sender<Option<Attached>>,
    /// The orchestrator asked for a shutdown.
    requested: CancellationToken,
    /// Ends every task of this client.
    stop: CancellationToken,
}

impl Shared {
    /// Move to `next` unless the gateway is already going away (the first final state stays).
    fn advance(&self, next: Phase) {
        self.phase.send_if_modified(|p| {
            let moves = !p.is_final() && *p != next;
            if moves {
                *p = next;
            }
            moves
        });
    }

    /// The orchestrator asked for a shutdown: cancel the engine, now or once it is attached.
    fn shutdown_requested(&self) {
        self.requested.cancel();
        if let Some(a) = self.engine.borrow().as_ref() {
            a.shutdown.cancel();
        }
    }

    /// Live client sessions and finished `tools/call`s (zero before the engine is attached).
    fn activity(&self) -> (i32, i64) {
        let (sessions, calls) = self
            .engine
            .borrow()
            .as_ref()
            .map_or((0, 0), |a| a.hub.activity());
        (
            i32::try_from(sessions).unwrap_or(i32::MAX),
            i64::try_from(calls).unwrap_or(i64::MAX),
        )
    }
}

/// The client: its task connects at once and reports `starting`.
pub struct Orchestrator {
    shared: Arc<Shared>,
    task: Option<JoinHandle<()>>,
}

impl Orchestrator {
    pub fn spawn(opts: Options) -> Orchestrator {
        tracing::info!(
            socket = %opts.socket_path.display(),
            registering = %opts.registration.shown(),
            "orchestrator IPC enabled"
        );
        let shared = Arc::new(Shared {
            opts,
            phase: watch::channel(Phase::Starting).0,
            engine: watch::channel(None).0,
            requested: CancellationToken::new(),
            stop: CancellationToken::new(),
        });
        let task = tokio::spawn(link::run(shared.clone()));
        Orchestrator {
            shared,
            task: Some(task),
        }
    }

    /// The engine has started: heartbeats count its sessions and calls, `running` is reported
    /// once it serves (its hub says where), `stopping` once its shutdown begins, and a shutdown
    /// request cancels it. A request that came during the start cancels it at once.
    pub fn attach(&self, engine: &Engine) {
        let a = Attached {
            hub: engine.hub.clone(),
            shutdown: engine.shutdown.clone(),
        };
        self.shared.engine.send_replace(Some(a.clone()));
        if self.shared.requested.is_cancelled() {
            a.shutdown.cancel();
        }
        let shared = self.shared.clone();
        tokio::spawn(async move {
            let mut snaps = a.hub.subscribe();
            tokio::select! {
                r = snaps.wait_for(|s| !matches!(s.gateway.serving, Serving::Starting)) => {
                    if r.is_ok() {
                        shared.advance(Phase::Running);
                    }
                }
                _ = a.shutdown.cancelled() => {}
                _ = shared.stop.cancelled() => return,
            }
            drop(snaps);
            tokio::select! {
                _ = a.shutdown.cancelled() => shared.advance(Phase::Stopping),
                _ = shared.stop.cancelled() => {}
            }
        });
    }

    /// Resolves once the orchestrator has asked for a shutdown.
    pub async fn requested(&self) {
        self.shared.requested.cancelled().await
    }

    /// The start failed: report `failed` with `error`.
    pub fn failed(&self, error: &str) {
        self.shared.advance(Phase::Failed(error.to_string()));
    }

    /// The gateway is exiting: report `stopping` (unless a final state was reported already),
    /// give it [`FINAL_FLUSH`] to reach the orchestrator, and end the client.
    pub async fn finish(mut self) {
        self.shared.advance(Phase::Stopping);
        if let Some(mut task) = self.task.take() {
            if tokio::time::timeout(FINAL_FLUSH, &mut task).await.is_err() {
                self.shared.stop.cancel();
                let _ = task.await;
            }
        }
    }
}

impl Drop for Orchestrator {
    fn drop(&mut self) {
        self.shared.stop.cancel();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_final_state_stays() {
        let (phase, _) = watch::channel(Phase::Starting);
        let shared = Shared {
            opts: Options {
                socket_path: "/nonexistent".into(),
                heartbeat_interval: Duration::from_secs(1),
                reconnect_interval: Duration::from_secs(1),
                registration: Registration::ListenUrl("http://127.0.0.1:1/mcp".into()),
                version: "v0".into(),
            },
            phase,
            engine: watch::channel(None).0,
            requested: CancellationToken::new(),
            stop: CancellationToken::new(),
        };
        shared.advance(Phase::Running);
        assert_eq!(*shared.phase.borrow(), Phase::Running);
        shared.advance(Phase::Failed("boom".into()));
        shared.advance(Phase::Stopping);
        shared.advance(Phase::Running);
        assert_eq!(*shared.phase.borrow(), Phase::Failed("boom".into()));
        assert_eq!(
            (Phase::Failed("x".into()).state(), Phase::Running.error()),
            ("failed", "")
        );
        // Nothing attached: the heartbeat counts nothing.
        assert_eq!(shared.activity(), (0, 0));
        assert_eq!(
            Registration::ShareToken("abcdefgh".into()).shown(),
            "share abcd…"
        );
    }
}
