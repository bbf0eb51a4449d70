//! The channel's tasks: the writer batches queued messages into frames, the reader decodes frames
//! and hands them to the multiplexer, the latency probe measures the round trip.

use std::sync::atomic::Ordering;
use std::sync::Weak;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{RouterChannel, LATENCY_INTERVAL, LATENCY_TIMEOUT};
use crate::core::ziti::wire::{self, ct, hdr, Message};
use crate::core::ziti::ZitiError;

pub(super) async fn writer<W: AsyncWrite + Unpin>(
    closed: CancellationToken,
    mut rx: mpsc::Receiver<Message>,
    mut wr: W,
    name: String,
) {
    let mut buf = BytesMut::with_capacity(64 * 1024);
    loop {
        let first = tokio::select! {
            m = rx.recv() => m,
            _ = closed.cancelled() => None,
        };
        let Some(first) = first else { break };
        buf.clear();
        let mut batch = Some(first);
        while let Some(m) = batch.take() {
            if let Err(e) = m.encode(&mut buf) {
                tracing::warn!(router = %name, "dropping unencodable message: {e}");
            }
            if buf.len() < 256 * 1024 {
                batch = rx.try_recv().ok();
            }
        }
        let ok = async {
            wr.write_all(&buf).await?;
            wr.flush().await
        };
        if let Err(e) = ok.await {
            tracing::debug!(router = %name, "edge router write failed: {e}");
            break;
        }
    }
    closed.cancel();
    let _ = wr.shutdown().await;
}

pub(super) async fn reader<R: AsyncRead + Unpin>(
    ch: Weak<RouterChannel>,
    closed: CancellationToken,
    mut rd: R,
    mut buf: BytesMut,
) {
    let mut why = String::from("closed");
    'outer: loop {
        loop {
            match wire::decode(&mut buf) {
                Ok(Some(m)) => {
                    let Some(c) = ch.upgrade() else { break 'outer };
                    c.dispatch(m).await;
                }
                Ok(None) => break,
                Err(e) => {
                    why = format!("protocol error: {e}");
                    break 'outer;
                }
            }
        }
        let n = tokio::select! {
            r = rd.read_buf(&mut buf) => r,
            _ = closed.cancelled() => break,
        };
        match n {
            Ok(0) => {
                why = "router closed the connection".into();
                break;
            }
            Ok(_) => {}
            Err(e) => {
                why = format!("read error: {e}");
                break;
            }
        }
    }
    if let Some(c) = ch.upgrade() {
        tracing::debug!(router = %c.name, "edge router channel ended: {why}");
        c.shutdown();
    }
    closed.cancel();
}

pub(super) async fn latency_probe(ch: Weak<RouterChannel>, closed: CancellationToken) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(LATENCY_INTERVAL) => {}
            _ = closed.cancelled() => return,
        }
        let Some(c) = ch.upgrade() else { return };
        let sent = Instant::now();
        let mut m = Message::new(ct::LATENCY, Vec::new());
        m.put_u64(hdr::LATENCY_PROBE_TIME, 0);
        match c.request(m, LATENCY_TIMEOUT).await {
            Ok(_) => {
                let ns = sent.elapsed().as_nanos().min(u64::MAX as u128) as u64;
                let old = c.latency_ns.load(Ordering::Relaxed);
                c.latency_ns
                    .store((old / 4 * 3 + ns / 4).max(1), Ordering::Relaxed);
                tracing::trace!(router = %c.name, rtt_us = ns / 1000, "latency probe answered");
            }
            Err(ZitiError::Timeout(_)) => {
                let idle = c.last_read.lock().map(|t| t.elapsed()).unwrap_or_default();
                if idle >= LATENCY_TIMEOUT {
                    tracing::warn!(router = %c.name, "edge router unresponsive, closing channel");
                    c.shutdown();
                    return;
                }
            }
            Err(_) => return,
        }
    }
}
