//! `ZitiStream`: one OpenZiti connection (dialed or accepted) as a tokio byte stream, with optional end-to-end
//! encryption, half-close (`shutdown` sends a FIN data message, as sdk-golang `CloseWrite`), and live counters.

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{ready, Context as TaskContext, Poll};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::mpsc;
use tokio_util::sync::PollSender;

use super::channel::RouterChannel;
use super::crypto::{Decryptor, Encryptor, TAG_MESSAGE};
use super::wire::{self, ct, flag, hdr, Message};

/// Largest plaintext we put in one data message.
pub const MAX_CHUNK: usize = 32 * 1024;

/// Connection state as shown on the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ConnState {
    Connecting = 0,
    Connected = 1,
    /// We sent FIN; reading still possible.
    HalfClosedLocal = 2,
    /// Peer sent FIN; writing still possible.
    HalfClosedRemote = 3,
    Closed = 4,
    /// The router connection died under us.
    Broken = 5,
}

impl ConnState {
    fn from_u8(v: u8) -> Self {
        match v {
            0 => ConnState::Connecting,
            1 => ConnState::Connected,
            2 => ConnState::HalfClosedLocal,
            3 => ConnState::HalfClosedRemote,
            5 => ConnState::Broken,
            _ => ConnState::Closed,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            ConnState::Connecting => "connecting",
            ConnState::Connected => "connected",
            ConnState::HalfClosedLocal => "half-closed (local)",
            ConnState::HalfClosedRemote => "half-closed (remote)",
            ConnState::Closed => "closed",
            ConnState::Broken => "broken",
        }
    }
}

/// Dialed by us or accepted from a listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Dial,
    Accept,
}

/// Live counters of one connection, shared with the context's registry.
#[derive(Debug)]
pub struct ConnStats {
    /// What does not change. Its `bytes_in`, `bytes_out` and `state` are not kept up to date:
    /// [`ConnStats::info`] reads the live counters below.
    fixed: ConnInfo,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    state: AtomicU8,
}

/// A plain snapshot for UIs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnInfo {
    pub conn_id: u32,
    pub service: String,
    pub router: String,
    pub direction: Direction,
    /// Dialing identity (accepted connections) or empty.
    pub peer: String,
    pub encrypted: bool,
    pub circuit_id: String,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub state: ConnState,
}

impl ConnStats {
    pub fn new(
        conn_id: u32,
        service: &str,
        router: &str,
        direction: Direction,
        peer: String,
        encrypted: bool,
        circuit_id: String,
    ) -> Self {
        ConnStats {
            fixed: ConnInfo {
                conn_id,
                service: service.to_string(),
                router: router.to_string(),
                direction,
                peer,
                encrypted,
                circuit_id,
                bytes_in: 0,
                bytes_out: 0,
                state: ConnState::Connected,
            },
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            state: AtomicU8::new(ConnState::Connected as u8),
        }
    }
    pub(crate) fn conn_id(&self) -> u32 {
        self.fixed.conn_id
    }
    pub fn state(&self) -> ConnState {
        ConnState::from_u8(self.state.load(Ordering::Relaxed))
    }
    fn set_state(&self, s: ConnState) {
        self.state.store(s as u8, Ordering::Relaxed);
    }
    pub fn info(&self) -> ConnInfo {
        ConnInfo {
            bytes_in: self.bytes_in.load(Ordering::Relaxed),
            bytes_out: self.bytes_out.load(Ordering::Relaxed),
            state: self.state(),
            ..self.fixed.clone()
        }
    }
}

/// Read-side crypto: waiting for the peer's stream header, or decrypting.
pub(crate) enum RxCrypto {
    None,
    AwaitHeader([u8; 32]),
    Ready(Box<Decryptor>),
}

/// An OpenZiti connection.
pub struct ZitiStream {
    conn_id: u32,
    ch: Arc<RouterChannel>,
    rx: mpsc::Receiver<Message>,
    tx: PollSender<Message>,
    parts: VecDeque<Bytes>,
    read_eof: bool,
    remote_closed: bool,
    write_closed: bool,
    rx_crypto: RxCrypto,
    tx_crypto: Option<Box<Encryptor>>,
    stats: Arc<ConnStats>,
    on_drop: Option<Box<dyn FnOnce() + Send>>,
    read_timeout: Deadline,
}

/// An optional idle timeout for reads: armed when a read has to wait, cleared when it completes.
#[derive(Default)]
struct Deadline {
    limit: Option<Duration>,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Deadline {
    /// `Ready(())` when the wait has lasted longer than the limit.
    fn poll_expired(&mut self, cx: &mut TaskContext<'_>) -> Poll<()> {
        let Some(limit) = self.limit else {
            return Poll::Pending;
        };
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        sleep.as_mut().poll(cx)
    }
    fn reset(&mut self) {
        self.sleep = None;
    }
    /// For an operation that has to wait: `Pending`, or once the wait has lasted longer than the
    /// limit, a `TimedOut` error saying `what` timed out.
    fn poll_wait<T>(&mut self, cx: &mut TaskContext<'_>, what: &str) -> Poll<io::Result<T>> {
        if self.poll_expired(cx).is_ready() {
            self.reset();
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("ziti: {what} timed out"),
            )));
        }
        Poll::Pending
    }
}

/// A write that cannot be done: `BrokenPipe`.
fn broken_pipe<T>(why: &str) -> Poll<io::Result<T>> {
    Poll::Ready(Err(io::Error::new(
        io::ErrorKind::BrokenPipe,
        why.to_string(),
    )))
}

impl std::fmt::Debug for ZitiStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZitiStream")
            .field("conn_id", &self.conn_id)
            .field("service", &self.stats.fixed.service)
            .field("router", &self.ch.name)
            .finish_non_exhaustive()
    }
}

impl ZitiStream {
    pub(crate) fn new(
        conn_id: u32,
        ch: Arc<RouterChannel>,
        rx: mpsc::Receiver<Message>,
        rx_crypto: RxCrypto,
        tx_crypto: Option<Encryptor>,
        stats: Arc<ConnStats>,
        on_drop: Option<Box<dyn FnOnce() + Send>>,
    ) -> Self {
        let tx = PollSender::new(ch.sender());
        ZitiStream {
            conn_id,
            ch,
            rx,
            tx,
            parts: VecDeque::new(),
            read_eof: false,
            remote_closed: false,
            write_closed: false,
            rx_crypto,
            tx_crypto: tx_crypto.map(Box::new),
            stats,
            on_drop,
            read_timeout: Deadline::default(),
        }
    }

    /// Fail reads with `TimedOut` when no data arrives for this long (`None`: wait forever, the default).
    /// Only the tests set one today.
    #[cfg(test)]
    pub(crate) fn set_read_timeout(&mut self, limit: Option<Duration>) {
        self.read_timeout = Deadline { limit, sleep: None };
    }

    pub fn conn_id(&self) -> u32 {
        self.conn_id
    }

    /// Service name, router, counters and state.
    pub fn info(&self) -> ConnInfo {
        self.stats.info()
    }

    /// The dialing identity for accepted connections (sdk-golang `SourceIdentifier`).
    pub fn peer(&self) -> &str {
        &self.stats.fixed.peer
    }

    fn data_msg(&self, body: Vec<u8>, flags: u32) -> Message {
        let mut m = Message::new(ct::DATA, body);
        m.sequence = self.ch.next_seq();
        m.put_u32(hdr::CONN_ID, self.conn_id);
        if flags != 0 {
            m.put_u32(hdr::FLAGS, flags);
        }
        m
    }

    /// Handle one message from the router. Returns an error for undecryptable data.
    fn absorb(&mut self, msg: Message) -> io::Result<()> {
        match msg.content_type {
            ct::STATE_CLOSED => {
                self.remote_closed = true;
                self.read_eof = true;
                self.stats.set_state(ConnState::Closed);
            }
            ct::DATA => {
                let flags = msg.get_u32(hdr::FLAGS).unwrap_or(0);
                let fin = flags & flag::FIN != 0;
                let mut body = msg.body;
                if !(body.is_empty() && fin) {
                    match &mut self.rx_crypto {
                        RxCrypto::AwaitHeader(key) => {
                            let d = Decryptor::new(key, &body).map_err(|e| {
                                io::Error::new(io::ErrorKind::InvalidData, format!("ziti e2e: {e}"))
                            })?;
                            self.rx_crypto = RxCrypto::Ready(Box::new(d));
                            body = Bytes::new();
                        }
                        RxCrypto::Ready(d) => {
                            let (plain, _tag) = d.pull(&body).map_err(|e| {
                                io::Error::new(io::ErrorKind::InvalidData, format!("ziti e2e: {e}"))
                            })?;
                            body = Bytes::from(plain);
                        }
                        RxCrypto::None => {}
                    }
                    if flags & flag::MULTIPART_MSG != 0 && !body.is_empty() {
                        let parts = wire::split_multipart(&body).ok_or_else(|| {
                            io::Error::new(
                                io::ErrorKind::InvalidData,
                                "ziti: malformed multipart data",
                            )
                        })?;
                        self.parts
                            .extend(parts.into_iter().filter(|p| !p.is_empty()));
                    } else if !body.is_empty() {
                        self.parts.push_back(body);
                    }
                }
                if fin {
                    self.read_eof = true;
                    self.stats.set_state(if self.write_closed {
                        ConnState::Closed
                    } else {
                        ConnState::HalfClosedRemote
                    });
                }
            }
            ct::CONN_INSPECT_REQUEST => {
                // sdk-golang conn.go answers with ConnTypeDial for dialed and accepted connections alike.
                let state = serde_json::json!({
                    "id": self.conn_id, "serviceName": self.stats.fixed.service, "closed": false,
                    "encrypted": self.stats.fixed.encrypted,
                });
                self.ch.try_send(wire::conn_inspect_response(
                    &msg,
                    wire::CONN_TYPE_DIAL,
                    state.to_string(),
                ));
            }
            other => {
                tracing::debug!(
                    conn_id = self.conn_id,
                    ct = other,
                    "unexpected message on connection ignored"
                );
            }
        }
        Ok(())
    }
}

impl AsyncRead for ZitiStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            if let Some(front) = this.parts.front_mut() {
                let n = front.len().min(buf.remaining());
                buf.put_slice(&front[..n]);
                bytes::Buf::advance(front, n);
                if front.is_empty() {
                    this.parts.pop_front();
                }
                this.stats.bytes_in.fetch_add(n as u64, Ordering::Relaxed);
                return Poll::Ready(Ok(()));
            }
            if this.read_eof {
                return Poll::Ready(Ok(()));
            }
            let polled = match this.rx.poll_recv(cx) {
                Poll::Ready(m) => m,
                Poll::Pending => return this.read_timeout.poll_wait(cx, "read"),
            };
            this.read_timeout.reset();
            match polled {
                Some(msg) => this.absorb(msg)?,
                None => {
                    this.stats.set_state(ConnState::Broken);
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::ConnectionAborted,
                        format!("ziti: connection to edge router {} lost", this.ch.name),
                    )));
                }
            }
        }
    }
}

impl ZitiStream {
    /// Send the first `MAX_CHUNK` bytes of `bufs` as one data message (one edge message per
    /// write: fewer, larger messages cost the router and both ends less).
    fn poll_write_slices(
        &mut self,
        cx: &mut TaskContext<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self;
        if this.write_closed {
            return broken_pipe("ziti: write after shutdown");
        }
        if this.remote_closed || this.ch.is_closed() {
            return broken_pipe("ziti: connection closed");
        }
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        if total == 0 {
            return Poll::Ready(Ok(0));
        }
        let reserved = match this.tx.poll_reserve(cx) {
            Poll::Ready(r) => r,
            Poll::Pending => return Poll::Pending,
        };
        if reserved.is_err() {
            return broken_pipe("ziti: router connection lost");
        }
        let n = total.min(MAX_CHUNK);
        let mut plain = Vec::with_capacity(n);
        for b in bufs {
            let take = b.len().min(n - plain.len());
            plain.extend_from_slice(&b[..take]);
            if plain.len() == n {
                break;
            }
        }
        let body = match &mut this.tx_crypto {
            Some(enc) => enc
                .push(&plain, TAG_MESSAGE)
                .map_err(|e| io::Error::other(format!("ziti e2e: {e}")))?,
            None => plain,
        };
        let msg = this.data_msg(body, 0);
        if this.tx.send_item(msg).is_err() {
            return broken_pipe("ziti: router connection lost");
        }
        this.stats.bytes_out.fetch_add(n as u64, Ordering::Relaxed);
        Poll::Ready(Ok(n))
    }
}

impl AsyncWrite for ZitiStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_slices(cx, &[io::IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_slices(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        // Queued messages are written by the channel's writer task in order.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.write_closed || this.remote_closed {
            this.write_closed = true;
            return Poll::Ready(Ok(()));
        }
        if ready!(this.tx.poll_reserve(cx)).is_err() {
            this.write_closed = true;
            return Poll::Ready(Ok(()));
        }
        // FIN is an empty, unencrypted data message (sdk-golang conn.go CloseWrite).
        let msg = this.data_msg(Vec::new(), flag::FIN);
        let _ = this.tx.send_item(msg);
        this.write_closed = true;
        this.stats.set_state(if this.read_eof {
            ConnState::Closed
        } else {
            ConnState::HalfClosedLocal
        });
        Poll::Ready(Ok(()))
    }
}

impl Drop for ZitiStream {
    fn drop(&mut self) {
        self.ch.unregister(self.conn_id);
        if !self.remote_closed && !self.ch.is_closed() {
            let mut m = Message::new(ct::STATE_CLOSED, Vec::new());
            m.put_u32(hdr::CONN_ID, self.conn_id);
            self.ch.try_send(m);
        }
        if self.stats.state() != ConnState::Broken {
            self.stats.set_state(ConnState::Closed);
        }
        if let Some(f) = self.on_drop.take() {
            f();
        }
    }
}
