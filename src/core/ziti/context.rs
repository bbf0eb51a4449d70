//! `Context`: one identity's view of the network. Owns the controller client, the edge router channels
//! (shared by all connections, keyed by router address) and the registry of live connections.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::{mpsc, Mutex as AsyncMutex};
use tokio::task::JoinSet;

use super::channel::RouterChannel;
use super::conn::{ConnInfo, ConnStats, Direction, RxCrypto, ZitiStream};
use super::crypto::{Encryptor, KeyPair};
use super::ctrl::{Controller, NetworkSession, Service, SessionKind};
use super::identity::Identity;
use super::wire::{ct, hdr, Message, CRYPTO_METHOD_LIBSODIUM};
use super::ZitiError;

/// Options for `Context::dial_with`.
#[derive(Debug, Clone)]
pub(crate) struct DialOptions {
    /// Whole dial: controller look-ups, router connection, circuit set-up.
    pub(crate) timeout: Duration,
}

impl Default for DialOptions {
    fn default() -> Self {
        DialOptions {
            timeout: Duration::from_secs(30),
        }
    }
}

pub(crate) struct Inner {
    pub(crate) identity: Identity,
    pub(crate) ctrl: Controller,
    pub(crate) tls: Arc<rustls::ClientConfig>,
    routers: Mutex<HashMap<String, Arc<RouterChannel>>>,
    /// Serialises connection attempts per router address.
    connecting: Mutex<HashMap<String, Arc<AsyncMutex<()>>>>,
    services: AsyncMutex<HashMap<String, Service>>,
    dial_sessions: AsyncMutex<HashMap<String, NetworkSession>>,
    next_conn_id: AtomicU32,
    stats_seq: AtomicU64,
    pub(crate) stats: Mutex<HashMap<u64, Arc<ConnStats>>>,
}

/// An OpenZiti context for one identity. Cheap to clone.
#[derive(Clone)]
pub struct Context {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("identity", &self.inner.identity)
            .finish_non_exhaustive()
    }
}

impl Context {
    /// Build a context from an identity file. Does not talk to the network yet.
    pub fn from_file(path: impl AsRef<std::path::Path>) -> Result<Self, ZitiError> {
        Self::new(Identity::from_file(path)?)
    }

    /// Build a context. Inside a tokio runtime this also starts the API session keep-alive task.
    pub fn new(identity: Identity) -> Result<Self, ZitiError> {
        let ctrl = Controller::new(&identity)?;
        let tls = identity.tls_config(Vec::new())?;
        let inner = Arc::new(Inner {
            identity,
            ctrl,
            tls,
            routers: Mutex::new(HashMap::new()),
            connecting: Mutex::new(HashMap::new()),
            services: AsyncMutex::new(HashMap::new()),
            dial_sessions: AsyncMutex::new(HashMap::new()),
            next_conn_id: AtomicU32::new(1),
            stats_seq: AtomicU64::new(1),
            stats: Mutex::new(HashMap::new()),
        });
        // Without a runtime there is no background keep-alive; tokens are then refreshed on demand.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(keepalive(Arc::downgrade(&inner)));
        }
        Ok(Context { inner })
    }

    pub fn identity(&self) -> &Identity {
        &self.inner.identity
    }

    /// The controller's id for this identity (known once authenticated; empty before).
    pub async fn identity_id(&self) -> String {
        self.inner.ctrl.identity_id().await
    }

    /// Authenticate now (otherwise the first dial/listen does it).
    pub async fn authenticate(&self) -> Result<(), ZitiError> {
        self.inner.ctrl.authenticate().await.map(|_| ())
    }

    /// Look up a service by name (cached; `refresh` forces a controller round trip).
    pub async fn service(&self, name: &str, refresh: bool) -> Result<Service, ZitiError> {
        if !refresh {
            if let Some(s) = self.inner.services.lock().await.get(name) {
                return Ok(s.clone());
            }
        }
        let s = self.inner.ctrl.service(name).await?;
        self.inner
            .services
            .lock()
            .await
            .insert(name.to_string(), s.clone());
        Ok(s)
    }

    /// Snapshot of all live connections (for the console).
    pub fn connections(&self) -> Vec<ConnInfo> {
        let mut v: Vec<ConnInfo> = self
            .inner
            .stats
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .map(|s| s.info())
            .collect();
        v.sort_by_key(|c| c.conn_id);
        v
    }

    /// Names and latencies of the connected edge routers.
    pub fn routers(&self) -> Vec<(String, String, Duration)> {
        self.inner
            .routers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .filter(|c| !c.is_closed())
            .map(|c| (c.name.clone(), c.addr.clone(), c.latency()))
            .collect()
    }

    pub(crate) fn next_conn_id(&self) -> u32 {
        // Router-assigned ids start at u32::MAX/2 (ziti router/xgress_edge/fabric.go nextDialConnId); stay below.
        loop {
            let id = self.inner.next_conn_id.fetch_add(1, Ordering::Relaxed);
            if id != 0 && id < u32::MAX / 2 {
                return id;
            }
            let _ = self.inner.next_conn_id.compare_exchange(
                id.wrapping_add(1),
                1,
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
        }
    }

    /// The stream of a new connection on `ch`, its counters registered with this context until it
    /// is dropped.
    pub(super) fn open_stream(
        &self,
        stats: ConnStats,
        ch: &Arc<RouterChannel>,
        rx: mpsc::Receiver<Message>,
        rx_crypto: RxCrypto,
        tx_crypto: Option<Encryptor>,
    ) -> ZitiStream {
        let conn_id = stats.conn_id();
        let key = self.inner.stats_seq.fetch_add(1, Ordering::Relaxed);
        let stats = Arc::new(stats);
        self.inner
            .stats
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, stats.clone());
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        let hook = Box::new(move || {
            if let Some(i) = weak.upgrade() {
                i.stats
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&key);
            }
        });
        ZitiStream::new(
            conn_id,
            ch.clone(),
            rx,
            rx_crypto,
            tx_crypto,
            stats,
            Some(hook),
        )
    }

    /// The channel to a router, connecting if needed.
    pub(crate) async fn router(
        &self,
        name: &str,
        addr: &str,
    ) -> Result<Arc<RouterChannel>, ZitiError> {
        if let Some(c) = self.connected_router(addr) {
            return Ok(c);
        }
        let lock = {
            let mut m = self
                .inner
                .connecting
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            m.entry(addr.to_string()).or_default().clone()
        };
        let _g = lock.lock().await;
        if let Some(c) = self.connected_router(addr) {
            return Ok(c);
        }
        let mut last = None;
        for attempt in 0..2 {
            let token = self.inner.ctrl.api_token().await?;
            match RouterChannel::connect(
                &self.inner.identity,
                self.inner.tls.clone(),
                name,
                addr,
                &token,
            )
            .await
            {
                Ok(c) => {
                    self.inner
                        .routers
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(addr.to_string(), c.clone());
                    return Ok(c);
                }
                Err(e @ ZitiError::RouterRejected(_)) if attempt == 0 => {
                    // Possibly a stale API session: authenticate again once.
                    tracing::debug!(
                        router = name,
                        "edge router refused us ({e}); re-authenticating"
                    );
                    self.inner.ctrl.invalidate().await;
                    last = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| ZitiError::Router(format!("{name}: unreachable"))))
    }

    fn connected_router(&self, addr: &str) -> Option<Arc<RouterChannel>> {
        let mut m = self.inner.routers.lock().unwrap_or_else(|e| e.into_inner());
        match m.get(addr) {
            Some(c) if !c.is_closed() => Some(c.clone()),
            Some(_) => {
                m.remove(addr);
                None
            }
            None => None,
        }
    }

    /// Pick the best router of a session: the lowest-latency connected one, else the first to connect.
    async fn pick_router(
        &self,
        session: &NetworkSession,
        service: &str,
    ) -> Result<Arc<RouterChannel>, ZitiError> {
        let candidates: Vec<(String, String)> = session
            .edge_routers
            .iter()
            .filter_map(|r| r.tls_addr().map(|a| (r.name.clone(), a)))
            .collect();
        if candidates.is_empty() {
            return Err(ZitiError::NoEdgeRouters(service.to_string()));
        }
        let best = candidates
            .iter()
            .filter_map(|(_, a)| self.connected_router(a))
            .min_by_key(|c| c.latency());
        if let Some(c) = best {
            return Ok(c);
        }
        let mut set = JoinSet::new();
        for (name, addr) in candidates {
            let ctx = self.clone();
            set.spawn(async move { ctx.router(&name, &addr).await });
        }
        let mut last = None;
        while let Some(r) = set.join_next().await {
            match r {
                Ok(Ok(c)) => {
                    // The others keep connecting in the background and become candidates next time.
                    set.detach_all();
                    return Ok(c);
                }
                Ok(Err(e)) => last = Some(e),
                Err(e) => last = Some(ZitiError::Router(format!("router connect task: {e}"))),
            }
        }
        Err(last.unwrap_or_else(|| ZitiError::NoEdgeRouters(service.to_string())))
    }

    async fn dial_session(
        &self,
        service: &Service,
        fresh: bool,
    ) -> Result<NetworkSession, ZitiError> {
        let mut m = self.inner.dial_sessions.lock().await;
        if !fresh {
            if let Some(s) = m.get(&service.id) {
                return Ok(s.clone());
            }
        }
        let s = self
            .inner
            .ctrl
            .create_session(service, SessionKind::Dial)
            .await?;
        m.insert(service.id.clone(), s.clone());
        Ok(s)
    }

    /// Dial a service by name.
    pub async fn dial(&self, service: &str) -> Result<ZitiStream, ZitiError> {
        self.dial_with(service, &DialOptions::default()).await
    }

    pub(crate) async fn dial_with(
        &self,
        service: &str,
        opts: &DialOptions,
    ) -> Result<ZitiStream, ZitiError> {
        tokio::time::timeout(opts.timeout, self.dial_inner(service, opts))
            .await
            .map_err(|_| ZitiError::Timeout(format!("dialing service {service}")))?
    }

    async fn dial_inner(&self, service: &str, opts: &DialOptions) -> Result<ZitiStream, ZitiError> {
        let mut svc = self.service(service, false).await?;
        if !svc.can(SessionKind::Dial) {
            svc = self.service(service, true).await?;
            if !svc.can(SessionKind::Dial) {
                return Err(ZitiError::NoPermission {
                    service: service.to_string(),
                    kind: "Dial",
                });
            }
        }
        let mut fresh = false;
        let mut checked_api_session = false;
        loop {
            let mut session = self.dial_session(&svc, fresh).await?;
            if session.edge_routers.is_empty() {
                session = self.inner.ctrl.refresh_session(&session.id).await?;
                if session.edge_routers.is_empty() {
                    return Err(ZitiError::NoEdgeRouters(service.to_string()));
                }
            }
            let ch = self.pick_router(&session, service).await?;
            match self.connect_on(&ch, &svc, &session, opts).await {
                Err(ZitiError::DialFailed(msg)) if !fresh && looks_like_session_problem(&msg) => {
                    tracing::debug!(service, "dial refused ({msg}); creating a new session");
                    fresh = true;
                }
                // Routers accept the hello first and drop the channel a few seconds later when they cannot find
                // our API session (ziti router/xgress_edge/accept.go): check it with the controller, which
                // re-authenticates if it is gone, and try once more with a new network session.
                Err(ZitiError::RouterLost(r)) if !checked_api_session => {
                    tracing::debug!(service, router = %r, "router dropped us during dial; checking the API session");
                    checked_api_session = true;
                    self.inner.ctrl.keepalive().await?;
                    fresh = true;
                }
                r => return r,
            }
        }
    }

    async fn connect_on(
        &self,
        ch: &Arc<RouterChannel>,
        svc: &Service,
        session: &NetworkSession,
        opts: &DialOptions,
    ) -> Result<ZitiStream, ZitiError> {
        let conn_id = self.next_conn_id();
        let rx = ch.register(conn_id)?;
        let kp = svc.encryption_required.then(KeyPair::generate);
        let mut m = Message::new(ct::CONNECT, session.token.clone().into_bytes());
        m.put_u32(hdr::CONN_ID, conn_id);
        if let Some(kp) = &kp {
            m.put_public_key(kp.public());
        }
        m.put(hdr::CONNECTION_MARKER, marker().into_bytes());
        // Who is dialing, as the OpenZiti SDKs say it (the hosting side sees it as CallerId).
        let name = self.inner.ctrl.identity_name().await;
        if !name.is_empty() {
            m.put(hdr::CALLER_ID, name.into_bytes());
        }
        let reply = match ch.request(m, opts.timeout).await {
            Ok(r) => r,
            Err(e) => {
                ch.unregister(conn_id);
                return Err(e);
            }
        };
        let fail = |e: ZitiError| {
            ch.unregister(conn_id);
            Err(e)
        };
        if let Err(e) = state_answer(&reply, "connect", &session.token, ZitiError::DialFailed) {
            return fail(e);
        }
        let circuit = reply.get_str(hdr::CIRCUIT_ID).unwrap_or_default();
        let (rx_crypto, tx_crypto, header) = match &kp {
            None => (RxCrypto::None, None, None),
            Some(kp) => {
                let Some(peer) = reply.get(hdr::PUBLIC_KEY) else {
                    let mut close = Message::new(ct::STATE_CLOSED, Vec::new());
                    close.put_u32(hdr::CONN_ID, conn_id);
                    ch.try_send(close);
                    return fail(ZitiError::EncryptionMissing(svc.name.clone()));
                };
                if reply
                    .get_byte(hdr::CRYPTO_METHOD)
                    .unwrap_or(CRYPTO_METHOD_LIBSODIUM)
                    != CRYPTO_METHOD_LIBSODIUM
                {
                    return fail(ZitiError::Protocol("unsupported crypto method".into()));
                }
                let keys = match kp.client_session_keys(peer) {
                    Ok(k) => k,
                    Err(e) => return fail(e.into()),
                };
                let (enc, header) = Encryptor::new(&keys.tx);
                (RxCrypto::AwaitHeader(keys.rx), Some(enc), Some(header))
            }
        };
        if let Some(h) = header {
            // Our stream header goes first (sdk-golang establishClientCrypto).
            let mut d = Message::new(ct::DATA, h.to_vec());
            d.put_u32(hdr::CONN_ID, conn_id);
            if let Err(e) = ch.send(d).await {
                return fail(e);
            }
        }
        let stats = ConnStats::new(
            conn_id,
            &svc.name,
            &ch.name,
            Direction::Dial,
            String::new(),
            kp.is_some(),
            circuit,
        );
        Ok(self.open_stream(stats, ch, rx, rx_crypto, tx_crypto))
    }
}

/// The router's answer to a connect or bind (`what`): connected, or closed with a reason (made
/// into an error by `refused`, `token` scrubbed from it).
pub(super) fn state_answer(
    reply: &Message,
    what: &str,
    token: &str,
    refused: fn(String) -> ZitiError,
) -> Result<(), ZitiError> {
    match reply.content_type {
        ct::STATE_CONNECTED => Ok(()),
        ct::STATE_CLOSED => Err(refused(super::ctrl::scrub(
            &String::from_utf8_lossy(&reply.body),
            token,
        ))),
        other => Err(ZitiError::Protocol(format!(
            "unexpected answer {other} to {what}"
        ))),
    }
}

fn looks_like_session_problem(msg: &str) -> bool {
    let m = msg.to_ascii_lowercase();
    m.contains("session") || m.contains("token")
}

/// Random connection marker for tracing (sdk-golang `newMarker`: 6 random bytes, URL-safe base64).
fn marker() -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let b: [u8; 6] = rand::random();
    let n = u64::from_be_bytes([0, 0, b[0], b[1], b[2], b[3], b[4], b[5]]);
    (0..8)
        .map(|i| A[((n >> (42 - 6 * i)) & 63) as usize] as char)
        .collect()
}

/// Keep the API session alive while the context exists.
async fn keepalive(inner: Weak<Inner>) {
    let mut every = Duration::from_secs(60);
    loop {
        tokio::time::sleep(every).await;
        let Some(i) = inner.upgrade() else { return };
        match i.ctrl.keepalive().await {
            Ok(()) => every = Duration::from_secs(60),
            Err(e) => {
                tracing::warn!("ziti api session keep-alive failed: {e}");
                every = Duration::from_secs(10);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_shape() {
        let m = marker();
        assert_eq!(m.len(), 8);
        assert!(m
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
    }
}
