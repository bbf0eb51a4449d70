//! SIGINT, SIGTERM and SIGHUP for one process, from one place: installed first thing by
//! `common::main` and handed to the command (no global). SIGHUP never ends the process: a
//! gateway reloads its configuration on it ([`hangups`]), every other command ignores it. Until the command says it has [`started`] something
//! that must be released (backend processes, shares, accesses), a signal ends the process at
//! once with exit status 1 and a message naming what it was doing (reading a config from a FIFO
//! or a hung mount, say). After that, a signal asks for the graceful shutdown ([`wait`]).
//!
//! [`started`]: Signals::started
//! [`wait`]: Signals::wait
//! [`hangups`]: Signals::hangups

use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

use super::common::{Failure, EXIT_FAILURE};

#[derive(Clone)]
pub(crate) struct Signals(Arc<Inner>);

struct Inner {
    name: String,
    stop: CancellationToken,
    /// `Some(what the process is doing)` while nothing needs releasing.
    doing: Mutex<Option<String>>,
    /// Counts SIGHUPs.
    hangups: tokio::sync::watch::Sender<u64>,
}

impl Signals {
    /// Listen for SIGINT and SIGTERM from now on (inside the runtime).
    pub(crate) fn install(name: &str) -> Signals {
        use tokio::signal::unix::{signal, SignalKind};
        let s = Signals(Arc::new(Inner {
            name: name.to_string(),
            stop: CancellationToken::new(),
            doing: Mutex::new(Some("starting".into())),
            hangups: tokio::sync::watch::channel(0).0,
        }));
        if let Ok(mut hup) = signal(SignalKind::hangup()) {
            let me = s.clone();
            tokio::spawn(async move {
                while hup.recv().await.is_some() {
                    me.0.hangups.send_modify(|n| *n += 1);
                }
            });
        }
        let (term, int) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        );
        let me = s.clone();
        tokio::spawn(async move {
            match (term, int) {
                (Ok(mut term), Ok(mut int)) => {
                    tokio::select! {
                        _ = term.recv() => {}
                        _ = int.recv() => {}
                    }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
            me.arrived();
        });
        s
    }

    fn arrived(&self) {
        let doing = self
            .0
            .doing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        match doing {
            Some(what) => {
                eprintln!(
                    "{}: interrupted while {what}; nothing was started",
                    self.0.name
                );
                std::process::exit(EXIT_FAILURE);
            }
            None => self.0.stop.cancel(),
        }
    }

    /// What the process is doing before it has started anything (named if a signal ends it).
    pub(crate) fn doing(&self, what: impl Into<String>) {
        if let Some(d) = self
            .0
            .doing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
        {
            *d = what.into();
        }
    }

    /// From now on the process holds what must be released: a signal asks for the graceful
    /// shutdown instead of ending the process.
    pub(crate) fn started(&self) {
        *self.0.doing.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// Ticks once per SIGHUP received from now on.
    pub(crate) fn hangups(&self) -> tokio::sync::watch::Receiver<u64> {
        let mut rx = self.0.hangups.subscribe();
        rx.mark_unchanged();
        rx
    }

    /// Resolves once a signal has asked for the graceful shutdown.
    pub(crate) async fn wait(&self) {
        self.0.stop.cancelled().await
    }

    /// Run start-up step `step` (called `what` in the error) unless a signal comes first; the
    /// step's future is dropped then, which releases what it had started.
    pub(crate) async fn unless_stopped<T>(
        &self,
        what: &str,
        step: impl Future<Output = Result<T, Failure>>,
    ) -> Result<T, Failure> {
        tokio::select! {
            r = step => r,
            _ = self.wait() => Err(Failure::runtime(format!("interrupted while {what}"))),
        }
    }
}
