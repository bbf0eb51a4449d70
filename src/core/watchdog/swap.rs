//! The accept side of the watchdog: a listener whose inner listener can be replaced under a
//! running accept loop, and the counters the alive line and the live state read.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use tokio::sync::mpsc;

use crate::core::net::{Accepted, Listener};

/// Accepted connections and the time of the last one, over every generation.
#[derive(Debug)]
pub(crate) struct ListenerStats {
    accepted: AtomicU64,
    /// Milliseconds since the Unix epoch; the start of serving until the first accept.
    last_accept_ms: AtomicU64,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl ListenerStats {
    pub(crate) fn new() -> Self {
        ListenerStats {
            accepted: AtomicU64::new(0),
            last_accept_ms: AtomicU64::new(now_ms()),
        }
    }

    fn record(&self) {
        self.accepted.fetch_add(1, Ordering::Relaxed);
        self.last_accept_ms.store(now_ms(), Ordering::Relaxed);
    }

    pub(crate) fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }

    pub(crate) fn last_accept(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.last_accept_ms.load(Ordering::Relaxed))
    }

    pub(crate) fn seconds_since_last_accept(&self) -> u64 {
        now_ms().saturating_sub(self.last_accept_ms.load(Ordering::Relaxed)) / 1000
    }
}

/// Accepts on the current inner listener; a listener arriving from the watchdog replaces it
/// (the old one is dropped, which unbinds its terminators; the connections it accepted are
/// not its and carry on). An inner accept error means that listener has stopped for good: the
/// watchdog rebuilds it at its next poll, so the accept waits for the replacement, and returns
/// the error only when the watchdog has gone.
pub(crate) struct ResilientListener<L> {
    current: L,
    swaps: Option<mpsc::UnboundedReceiver<L>>,
    stats: std::sync::Arc<ListenerStats>,
}

impl<L> ResilientListener<L> {
    pub(crate) fn new(
        first: L,
        swaps: mpsc::UnboundedReceiver<L>,
        stats: std::sync::Arc<ListenerStats>,
    ) -> Self {
        ResilientListener {
            current: first,
            swaps: Some(swaps),
            stats,
        }
    }
}

enum Next<L> {
    Swap(Option<L>),
    Accepted(Accepted),
    Failed(io::Error),
}

#[async_trait]
impl<L: Listener> Listener for ResilientListener<L> {
    async fn accept(&mut self) -> io::Result<Accepted> {
        loop {
            let next = match self.swaps.as_mut() {
                None => Next::Accepted(self.current.accept().await?),
                Some(swaps) => tokio::select! {
                    biased;
                    l = swaps.recv() => Next::Swap(l),
                    r = self.current.accept() => match r {
                        Ok(a) => Next::Accepted(a),
                        Err(e) => Next::Failed(e),
                    },
                },
            };
            match next {
                Next::Accepted(a) => {
                    self.stats.record();
                    return Ok(a);
                }
                Next::Swap(Some(l)) => self.current = l,
                // The watchdog has ended: accept on the current listener from now on.
                Next::Swap(None) => self.swaps = None,
                Next::Failed(e) => {
                    tracing::warn!(listener = %self.current.describe(), "share listener stopped ({e}); waiting for the watchdog to rebuild it");
                    match self.swaps.as_mut() {
                        Some(swaps) => match swaps.recv().await {
                            Some(l) => self.current = l,
                            None => return Err(e),
                        },
                        None => return Err(e),
                    }
                }
            }
        }
    }

    fn describe(&self) -> String {
        self.current.describe()
    }
}
