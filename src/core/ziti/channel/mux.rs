//! Request/reply multiplexing over one channel: sequence numbers, waiting requests, the sinks of
//! the connections, and the messages the channel answers itself (latency probes, heartbeats).

use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::{timeout, Instant};

use super::{RouterChannel, SINK_QUEUE};
use crate::core::ziti::wire::{ct, hdr, Message};
use crate::core::ziti::ZitiError;

impl RouterChannel {
    pub fn next_seq(&self) -> i32 {
        loop {
            let s = self.seq.fetch_add(1, Ordering::Relaxed);
            if s > 0 {
                return s;
            }
            // Wrapped: restart at 1, never -1 (hello) or 0.
            let _ = self
                .seq
                .compare_exchange(s + 1, 1, Ordering::Relaxed, Ordering::Relaxed);
        }
    }

    /// A sender towards the writer task, for streams.
    pub fn sender(&self) -> mpsc::Sender<Message> {
        self.tx.clone()
    }

    /// Queue a message (waits while the write queue is full).
    pub async fn send(&self, mut msg: Message) -> Result<(), ZitiError> {
        if self.is_closed() {
            return Err(ZitiError::RouterLost(self.name.clone()));
        }
        if msg.sequence == 0 {
            msg.sequence = self.next_seq();
        }
        self.tx
            .send(msg)
            .await
            .map_err(|_| ZitiError::RouterLost(self.name.clone()))
    }

    /// Try to queue without waiting (for Drop paths).
    pub fn try_send(&self, mut msg: Message) {
        if msg.sequence == 0 {
            msg.sequence = self.next_seq();
        }
        if let Err(mpsc::error::TrySendError::Full(m)) = self.tx.try_send(msg) {
            let tx = self.tx.clone();
            if let Ok(h) = tokio::runtime::Handle::try_current() {
                h.spawn(async move {
                    let _ = tokio::time::timeout(Duration::from_secs(5), tx.send(m)).await;
                });
            }
        }
    }

    /// Send a request and wait for the message that replies to it.
    pub async fn request(&self, mut msg: Message, wait: Duration) -> Result<Message, ZitiError> {
        let seq = self.next_seq();
        msg.sequence = seq;
        let (otx, orx) = oneshot::channel();
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(seq, otx);
        let res = async {
            self.send(msg).await?;
            tokio::select! {
                r = orx => r.map_err(|_| ZitiError::RouterLost(self.name.clone())),
                _ = self.closed.cancelled() => Err(ZitiError::RouterLost(self.name.clone())),
            }
        };
        let out = timeout(wait, res).await;
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&seq);
        out.map_err(|_| {
            ZitiError::Timeout(format!("waiting for edge router {} to answer", self.name))
        })?
    }

    /// Route messages for `conn_id` to a new receiver.
    pub fn register(&self, conn_id: u32) -> Result<mpsc::Receiver<Message>, ZitiError> {
        let (tx, rx) = mpsc::channel(SINK_QUEUE);
        let mut sinks = self.sinks.lock().unwrap_or_else(|e| e.into_inner());
        if self.is_closed() {
            return Err(ZitiError::RouterLost(self.name.clone()));
        }
        if sinks.contains_key(&conn_id) {
            return Err(ZitiError::Protocol(format!(
                "connection id {conn_id} already in use"
            )));
        }
        sinks.insert(conn_id, tx);
        Ok(rx)
    }

    pub fn unregister(&self, conn_id: u32) {
        self.sinks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&conn_id);
    }

    fn sink(&self, conn_id: u32) -> Option<mpsc::Sender<Message>> {
        self.sinks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&conn_id)
            .cloned()
    }

    pub(super) fn shutdown(&self) {
        self.closed.cancel();
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        self.sinks.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    pub(super) async fn dispatch(&self, msg: Message) {
        if let Ok(mut t) = self.last_read.lock() {
            *t = Instant::now();
        }
        // Heartbeats may ride on any message (channel v4 heartbeater.go); answer with a standalone heartbeat.
        if let Some(hb) = msg.get_u64(hdr::HEARTBEAT) {
            let mut r = Message::new(ct::HEARTBEAT, Vec::new());
            r.put_u64(hdr::HEARTBEAT_RESPONSE, hb);
            self.try_send(r);
        }
        if let Some(rf) = msg.reply_for() {
            let waiter = self
                .pending
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&rf);
            if let Some(w) = waiter {
                let _ = w.send(msg);
                return;
            }
        }
        match msg.content_type {
            ct::LATENCY => {
                // channel v4 latency.go LatencyHandler: Result(success) replying to the probe, reflected headers.
                let mut r = Message::new(ct::RESULT, Vec::new());
                r.put_bool(hdr::RESULT_SUCCESS, true).reply_to(&msg);
                self.try_send(r);
            }
            ct::HEARTBEAT | ct::RESULT => {}
            _ => {
                let Some(conn_id) = msg.get_u32(hdr::CONN_ID) else {
                    tracing::debug!(router = %self.name, ct = msg.content_type, "message without connection id ignored");
                    return;
                };
                match self.sink(conn_id) {
                    Some(s) => {
                        if s.send(msg).await.is_err() {
                            self.unregister(conn_id);
                        }
                    }
                    None => {
                        tracing::debug!(router = %self.name, conn_id, ct = msg.content_type, "message for unknown connection dropped");
                    }
                }
            }
        }
    }
}
