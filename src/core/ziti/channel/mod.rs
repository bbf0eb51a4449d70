//! One channel (openziti/channel v4, classic underlay, wire version 2) to one edge router over mutual TLS.
//!
//! A reader task decodes frames and routes them: replies to waiting requests (by reply-for), latency probes and
//! heartbeats are answered here, everything else goes to the sink registered for its connection id. A writer task
//! owns the TLS write half and batches queued messages. When either side ends, the channel is closed: waiting
//! requests fail and every registered sink is dropped, which the streams see as "router connection lost".
//!
//! - `hello`: TCP + TLS to the router, the hello exchange, starting the tasks;
//! - `mux`: request/reply by sequence number, per-connection sinks, answering probes and heartbeats;
//! - `framing`: the reader and writer tasks (frames on the byte stream) and the latency probe.

mod framing;
mod hello;
mod mux;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::wire::Message;

/// Queue depth towards the writer task (messages, not bytes).
const WRITE_QUEUE: usize = 256;
/// Queue depth towards one connection. The reader waits when it is full (backpressure, as sdk-golang's sequencer).
pub const SINK_QUEUE: usize = 128;
/// How often we measure latency (sdk-golang uses a latency probe per router connection).
const LATENCY_INTERVAL: Duration = Duration::from_secs(10);
const LATENCY_TIMEOUT: Duration = Duration::from_secs(10);
/// Time allowed for TCP + TLS + hello.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// A live channel to one edge router.
pub struct RouterChannel {
    pub name: String,
    pub addr: String,
    tx: mpsc::Sender<Message>,
    seq: AtomicI32,
    pending: Mutex<HashMap<i32, oneshot::Sender<Message>>>,
    sinks: Mutex<HashMap<u32, mpsc::Sender<Message>>>,
    closed: CancellationToken,
    latency_ns: AtomicU64,
    last_read: Mutex<Instant>,
}

impl std::fmt::Debug for RouterChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouterChannel")
            .field("name", &self.name)
            .field("addr", &self.addr)
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl RouterChannel {
    pub fn is_closed(&self) -> bool {
        self.closed.is_cancelled()
    }

    /// Resolves when the channel is closed.
    pub async fn closed(&self) {
        self.closed.cancelled().await
    }

    /// Smoothed round-trip latency.
    pub fn latency(&self) -> Duration {
        Duration::from_nanos(self.latency_ns.load(Ordering::Relaxed))
    }
}
