//! One channel (openziti/channel v4, classic underlay, wire version 2) to one edge router over mutual TLS.
//!
//! A reader task decodes frames and routes them: replies to waiting requests (by reply-for), latency probes and
//! heartbeats are answered here, everything else goes to the sink registered for its connection id. A writer task
//! owns the TLS write half and batches queued messages. When either side ends, the channel is closed: waiting
//! requests fail and every registered sink is dropped, which the streams see as "router connection lost".

use std::collections::HashMap;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{timeout, Instant};
use tokio_rustls::TlsConnector;
use tokio_util::sync::CancellationToken;

use super::identity::Identity;
use super::wire::{self, ct, hdr, Message};
use super::ZitiError;

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

fn split_host_port(addr: &str) -> Result<(String, u16), ZitiError> {
    let (h, p) = addr
        .rsplit_once(':')
        .ok_or_else(|| ZitiError::Router(format!("bad router address {addr:?}")))?;
    let port = p
        .parse::<u16>()
        .map_err(|_| ZitiError::Router(format!("bad router port in {addr:?}")))?;
    let host = h.trim_start_matches('[').trim_end_matches(']').to_string();
    Ok((host, port))
}

impl RouterChannel {
    /// Connect, authenticate with the API session token in the hello, and start the reader/writer tasks.
    pub async fn connect(
        identity: &Identity,
        tls: Arc<rustls::ClientConfig>,
        name: &str,
        addr: &str,
        api_token: &str,
    ) -> Result<Arc<RouterChannel>, ZitiError> {
        timeout(
            CONNECT_TIMEOUT,
            Self::connect_inner(identity, tls, name, addr, api_token),
        )
        .await
        .map_err(|_| ZitiError::Timeout(format!("connecting to edge router {name} at {addr}")))?
    }

    async fn connect_inner(
        identity: &Identity,
        tls: Arc<rustls::ClientConfig>,
        name: &str,
        addr: &str,
        api_token: &str,
    ) -> Result<Arc<RouterChannel>, ZitiError> {
        let (host, port) = split_host_port(addr)?;
        let started = Instant::now();
        let tcp = TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| ZitiError::Router(format!("{name} at {addr}: {e}")))?;
        let _ = tcp.set_nodelay(true);
        let server_name = ServerName::try_from(host.clone())
            .map_err(|e| ZitiError::Router(format!("bad router host {host:?}: {e}")))?;
        let stream = TlsConnector::from(tls)
            .connect(server_name, tcp)
            .await
            .map_err(|e| ZitiError::Tls(format!("edge router {name} at {addr}: {e}")))?;

        let ch = Self::over(stream, &identity.common_name, name, addr, api_token).await?;
        ch.latency_ns.store(
            (started.elapsed().as_nanos().min(u64::MAX as u128) as u64).max(1),
            Ordering::Relaxed,
        );
        tracing::debug!(router = %ch.name, addr = %ch.addr, "connected to edge router");
        Ok(ch)
    }

    /// Run the hello exchange over an established byte stream and start the channel tasks. Separate from the
    /// TLS set-up so that tests can play the router over an in-memory pipe.
    pub async fn over<S>(
        mut stream: S,
        common_name: &str,
        name: &str,
        addr: &str,
        api_token: &str,
    ) -> Result<Arc<RouterChannel>, ZitiError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        // Hello: body = our certificate's CN, SessionToken header = API session token
        // (channel v4 classic_dialer.go sendHello; sdk-golang ziti.go connectEdgeRouter).
        let mut hello = Message::new(ct::HELLO, common_name.as_bytes().to_vec());
        hello.sequence = wire::HELLO_SEQUENCE;
        hello.put(hdr::SESSION_TOKEN, api_token.as_bytes().to_vec());
        stream
            .write_all(&hello.to_bytes()?)
            .await
            .map_err(|e| ZitiError::Router(format!("{name}: sending hello: {e}")))?;
        stream.flush().await.ok();

        let mut buf = BytesMut::with_capacity(16 * 1024);
        let reply = loop {
            if let Some(m) = wire::decode(&mut buf)? {
                break m;
            }
            let n = stream
                .read_buf(&mut buf)
                .await
                .map_err(|e| ZitiError::Router(format!("{name}: reading hello result: {e}")))?;
            if n == 0 {
                return Err(ZitiError::RouterRejected(format!(
                    "{name} at {addr} closed the connection during hello (API session not accepted?)"
                )));
            }
        };
        if reply.content_type != ct::RESULT || reply.reply_for() != Some(wire::HELLO_SEQUENCE) {
            return Err(ZitiError::Protocol(format!(
                "{name}: expected hello result, got content type {}",
                reply.content_type
            )));
        }
        if reply.get_bool(hdr::RESULT_SUCCESS) != Some(true) {
            return Err(ZitiError::RouterRejected(format!(
                "{name} rejected hello: {}",
                super::ctrl::scrub(&String::from_utf8_lossy(&reply.body), api_token)
            )));
        }

        let (rd, wr) = tokio::io::split(stream);
        let (tx, rx) = mpsc::channel(WRITE_QUEUE);
        let ch = Arc::new(RouterChannel {
            name: name.to_string(),
            addr: addr.to_string(),
            tx,
            seq: AtomicI32::new(1),
            pending: Mutex::new(HashMap::new()),
            sinks: Mutex::new(HashMap::new()),
            closed: CancellationToken::new(),
            latency_ns: AtomicU64::new(1),
            last_read: Mutex::new(Instant::now()),
        });
        tokio::spawn(writer(ch.closed.clone(), rx, wr, ch.name.clone()));
        tokio::spawn(reader(Arc::downgrade(&ch), ch.closed.clone(), rd, buf));
        tokio::spawn(latency_probe(Arc::downgrade(&ch), ch.closed.clone()));
        Ok(ch)
    }

    pub fn is_closed(&self) -> bool {
        self.closed.is_cancelled()
    }

    /// Resolves when the channel is closed.
    pub async fn closed(&self) {
        self.closed.cancelled().await
    }

    pub fn close(&self) {
        self.closed.cancel();
    }

    /// Smoothed round-trip latency.
    pub fn latency(&self) -> Duration {
        Duration::from_nanos(self.latency_ns.load(Ordering::Relaxed))
    }

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

    fn shutdown(&self) {
        self.closed.cancel();
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        self.sinks.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    async fn dispatch(&self, msg: Message) {
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

async fn writer<W: AsyncWrite + Unpin>(
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

async fn reader<R: AsyncRead + Unpin>(
    ch: std::sync::Weak<RouterChannel>,
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

async fn latency_probe(ch: std::sync::Weak<RouterChannel>, closed: CancellationToken) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::ziti::conn::{ConnStats, Direction, RxCrypto, ZitiStream};
    use crate::core::ziti::crypto::{Encryptor, TAG_MESSAGE};
    use tokio::io::DuplexStream;

    const WAIT: Duration = Duration::from_secs(5);

    #[test]
    fn host_port() {
        assert_eq!(
            split_host_port("127.0.0.1:3022").unwrap(),
            ("127.0.0.1".into(), 3022)
        );
        assert_eq!(split_host_port("[::1]:3022").unwrap(), ("::1".into(), 3022));
        assert!(split_host_port("nohost").is_err());
        assert!(split_host_port("h:99999").is_err());
    }

    async fn read_msg(r: &mut DuplexStream, buf: &mut BytesMut) -> Option<Message> {
        loop {
            if let Some(m) = wire::decode(buf).unwrap() {
                return Some(m);
            }
            if r.read_buf(buf).await.ok()? == 0 {
                return None;
            }
        }
    }

    /// Play the router's side of the hello; returns the router end of the pipe.
    async fn fake_router(
        accept: bool,
    ) -> (
        Result<Arc<RouterChannel>, ZitiError>,
        DuplexStream,
        BytesMut,
    ) {
        let (client, mut router) = tokio::io::duplex(1 << 20);
        let srv = tokio::spawn(async move {
            let mut buf = BytesMut::new();
            let hello = read_msg(&mut router, &mut buf).await.unwrap();
            assert_eq!(hello.content_type, ct::HELLO);
            assert_eq!(hello.sequence, wire::HELLO_SEQUENCE);
            assert_eq!(&hello.body[..], b"my-cn");
            assert_eq!(
                hello.get(hdr::SESSION_TOKEN).map(|b| &b[..]),
                Some(&b"api-token"[..])
            );
            let mut r = Message::new(
                ct::RESULT,
                if accept {
                    &b""[..]
                } else {
                    &b"no api session"[..]
                },
            );
            r.sequence = 1;
            r.put_bool(hdr::RESULT_SUCCESS, accept).reply_to(&hello);
            router.write_all(&r.to_bytes().unwrap()).await.unwrap();
            (router, buf)
        });
        let ch = RouterChannel::over(client, "my-cn", "fake", "127.0.0.1:1", "api-token").await;
        let (router, buf) = srv.await.unwrap();
        (ch, router, buf)
    }

    fn stream(ch: &Arc<RouterChannel>, id: u32, rx_crypto: RxCrypto) -> ZitiStream {
        let rx = ch.register(id).unwrap();
        let stats = Arc::new(ConnStats::new(
            id,
            "svc",
            "fake",
            Direction::Dial,
            String::new(),
            false,
            String::new(),
        ));
        ZitiStream::new(id, ch.clone(), rx, rx_crypto, None, stats, None)
    }

    #[tokio::test]
    async fn hello_rejection_is_a_clear_error() {
        let (ch, _router, _) = fake_router(false).await;
        match ch {
            Err(ZitiError::RouterRejected(m)) => assert!(m.contains("no api session"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn garbage_from_router_closes_channel_and_fails_waiters() {
        let (ch, mut router, _) = fake_router(true).await;
        let ch = ch.unwrap();
        let mut s = stream(&ch, 5, RxCrypto::None);
        let ch2 = ch.clone();
        let req = tokio::spawn(async move {
            ch2.request(Message::new(ct::CONNECT, Vec::new()), WAIT)
                .await
        });
        router
            .write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n")
            .await
            .unwrap();
        let r = timeout(WAIT, req).await.unwrap().unwrap();
        assert!(matches!(r, Err(ZitiError::RouterLost(_))), "{r:?}");
        let mut b = Vec::new();
        let e = timeout(WAIT, s.read_to_end(&mut b))
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::ConnectionAborted);
        assert!(ch.is_closed());
        assert!(s.write_all(b"x").await.is_err());
    }

    #[tokio::test]
    async fn truncated_frame_then_eof_closes_channel() {
        let (ch, mut router, _) = fake_router(true).await;
        let ch = ch.unwrap();
        let mut m = Message::new(ct::DATA, &b"hello"[..]);
        m.put_u32(hdr::CONN_ID, 5);
        let bytes = m.to_bytes().unwrap();
        router.write_all(&bytes[..10]).await.unwrap();
        drop(router);
        timeout(WAIT, ch.closed()).await.unwrap();
    }

    #[tokio::test]
    async fn oversized_lengths_close_channel_without_allocating() {
        let (ch, mut router, _) = fake_router(true).await;
        let ch = ch.unwrap();
        let mut f = wire::MAGIC_V2.to_vec();
        f.extend_from_slice(&ct::DATA.to_le_bytes());
        f.extend_from_slice(&[0; 4]);
        f.extend_from_slice(&0u32.to_le_bytes());
        f.extend_from_slice(&u32::MAX.to_le_bytes());
        router.write_all(&f).await.unwrap();
        timeout(WAIT, ch.closed()).await.unwrap();
    }

    #[tokio::test]
    async fn latency_probe_is_answered_with_reflected_headers() {
        let (ch, mut router, mut buf) = fake_router(true).await;
        let _ch = ch.unwrap();
        let mut probe = Message::new(ct::LATENCY, Vec::new());
        probe.sequence = 9;
        probe
            .put_u64(hdr::LATENCY_PROBE_TIME, 1234)
            .put_u64(hdr::HEARTBEAT, 77);
        router.write_all(&probe.to_bytes().unwrap()).await.unwrap();
        let mut got_result = false;
        let mut got_hb = false;
        while !(got_result && got_hb) {
            let m = timeout(WAIT, read_msg(&mut router, &mut buf))
                .await
                .unwrap()
                .unwrap();
            match m.content_type {
                ct::RESULT => {
                    assert_eq!(m.reply_for(), Some(9));
                    assert_eq!(m.get_u64(hdr::LATENCY_PROBE_TIME), Some(1234));
                    assert_eq!(m.get_bool(hdr::RESULT_SUCCESS), Some(true));
                    got_result = true;
                }
                ct::HEARTBEAT => {
                    assert_eq!(m.get_u64(hdr::HEARTBEAT_RESPONSE), Some(77));
                    got_hb = true;
                }
                other => panic!("unexpected {other}"),
            }
        }
    }

    #[tokio::test]
    async fn a_vectored_write_is_one_data_message() {
        let (ch, mut router, mut buf) = fake_router(true).await;
        let ch = ch.unwrap();
        let mut s = stream(&ch, 9, RxCrypto::None);
        assert!(s.is_write_vectored());
        let parts = [
            std::io::IoSlice::new(b"HEADERS|"),
            std::io::IoSlice::new(b""),
            std::io::IoSlice::new(b"DATA"),
        ];
        let n = s.write_vectored(&parts).await.unwrap();
        assert_eq!(n, 12);
        let m = timeout(WAIT, read_msg(&mut router, &mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (m.content_type, m.get_u32(hdr::CONN_ID), &m.body[..]),
            (ct::DATA, Some(9), &b"HEADERS|DATA"[..])
        );
        assert_eq!(s.info().bytes_out, 12);
    }

    #[tokio::test]
    async fn data_fin_and_half_close_on_the_wire() {
        let (ch, mut router, mut buf) = fake_router(true).await;
        let ch = ch.unwrap();
        let mut s = stream(&ch, 7, RxCrypto::None);
        for (body, flags) in [
            (&b"hel"[..], 0u32),
            (&b"lo"[..], 0),
            (&b""[..], wire::flag::FIN),
        ] {
            let mut m = Message::new(ct::DATA, body);
            m.put_u32(hdr::CONN_ID, 7);
            if flags != 0 {
                m.put_u32(hdr::FLAGS, flags);
            }
            router.write_all(&m.to_bytes().unwrap()).await.unwrap();
        }
        let mut got = Vec::new();
        timeout(WAIT, s.read_to_end(&mut got))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got, b"hello");
        s.write_all(b"abc").await.unwrap();
        s.shutdown().await.unwrap();
        let m = timeout(WAIT, read_msg(&mut router, &mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (m.content_type, m.get_u32(hdr::CONN_ID), &m.body[..]),
            (ct::DATA, Some(7), &b"abc"[..])
        );
        let m = timeout(WAIT, read_msg(&mut router, &mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(m.get_u32(hdr::FLAGS), Some(wire::flag::FIN));
        assert!(m.body.is_empty());
        assert_eq!(s.info().bytes_in, 5);
        assert_eq!(s.info().bytes_out, 3);
        drop(s);
        let m = timeout(WAIT, read_msg(&mut router, &mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (m.content_type, m.get_u32(hdr::CONN_ID)),
            (ct::STATE_CLOSED, Some(7))
        );
    }

    #[tokio::test]
    async fn read_timeout_fires_and_clears() {
        let (ch, mut router, _) = fake_router(true).await;
        let ch = ch.unwrap();
        let mut s = stream(&ch, 11, RxCrypto::None);
        s.set_read_timeout(Some(Duration::from_millis(100)));
        let mut b = [0u8; 4];
        let e = timeout(WAIT, s.read(&mut b)).await.unwrap().unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
        // Data that arrives afterwards is still delivered.
        let mut m = Message::new(ct::DATA, &b"late"[..]);
        m.put_u32(hdr::CONN_ID, 11);
        router.write_all(&m.to_bytes().unwrap()).await.unwrap();
        timeout(WAIT, s.read_exact(&mut b)).await.unwrap().unwrap();
        assert_eq!(&b, b"late");
    }

    #[tokio::test]
    async fn wrong_e2e_key_is_a_read_error_not_a_panic() {
        let (ch, mut router, _) = fake_router(true).await;
        let ch = ch.unwrap();
        let mut s = stream(&ch, 8, RxCrypto::AwaitHeader([1u8; 32]));
        let (mut enc, header) = Encryptor::new(&[2u8; 32]);
        for body in [header.to_vec(), enc.push(b"secret", TAG_MESSAGE).unwrap()] {
            let mut m = Message::new(ct::DATA, body);
            m.put_u32(hdr::CONN_ID, 8);
            router.write_all(&m.to_bytes().unwrap()).await.unwrap();
        }
        let mut b = [0u8; 16];
        let e = timeout(WAIT, s.read(&mut b)).await.unwrap().unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
        // A short header is rejected the same way.
        let mut s2 = stream(&ch, 9, RxCrypto::AwaitHeader([1u8; 32]));
        let mut m = Message::new(ct::DATA, vec![0u8; 5]);
        m.put_u32(hdr::CONN_ID, 9);
        router.write_all(&m.to_bytes().unwrap()).await.unwrap();
        let e = timeout(WAIT, s2.read(&mut b)).await.unwrap().unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
    }
}
