//! Hosting: `Context::listen` binds a service on up to `max_terminators` edge routers and yields incoming
//! connections. A supervisor task re-binds any terminator whose router channel ends (router restart), with no
//! process restart needed. Per router the protocol is sdk-golang `hosting_conn.go`: Bind (session token, our
//! public key, router-provided connection ids) → StateConnected; then for each Dial from the router: register
//! the router-chosen connection id, answer DialSuccess (body = that id), send our stream header if encrypted.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::channel::RouterChannel;
use super::conn::{ConnStats, Direction, RxCrypto, ZitiStream};
use super::context::{state_answer, Context};
use super::crypto::{Encryptor, KeyPair};
use super::ctrl::{NetworkSession, Service, SessionKind};
use super::wire::{self, ct, hdr, Message, CRYPTO_METHOD_LIBSODIUM};
use super::ZitiError;

/// Options for `Context::listen`.
#[derive(Debug, Clone)]
pub struct ListenOptions {
    /// Bind on at most this many edge routers (sdk-golang `MaxTerminators`; default 3).
    pub max_terminators: usize,
    /// Terminator cost (0..=65535).
    pub cost: u16,
    /// Wait for the first terminator before `listen` returns.
    pub wait_for_first: Duration,
    /// Accepted connections not yet taken by `accept` before the router is made to wait.
    pub accept_queue: usize,
}

impl Default for ListenOptions {
    fn default() -> Self {
        ListenOptions {
            max_terminators: 3,
            cost: 0,
            wait_for_first: Duration::from_secs(20),
            accept_queue: 64,
        }
    }
}

/// Incoming connections for one hosted service.
pub struct ZitiListener {
    service: String,
    rx: mpsc::Receiver<ZitiStream>,
    supervisor: JoinHandle<()>,
    bound: tokio::sync::watch::Receiver<usize>,
}

impl std::fmt::Debug for ZitiListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZitiListener")
            .field("service", &self.service)
            .field("terminators", &*self.bound.borrow())
            .finish()
    }
}

impl ZitiListener {
    /// Next incoming connection. Errors only when the listener has stopped for good.
    pub async fn accept(&mut self) -> Result<ZitiStream, ZitiError> {
        self.rx.recv().await.ok_or(ZitiError::Closed)
    }

    pub fn service(&self) -> &str {
        &self.service
    }

    /// The number of established terminators, live. Its sender is dropped when the listener has
    /// stopped for good (`has_changed` then fails): what a watchdog reads.
    pub fn terminators(&self) -> tokio::sync::watch::Receiver<usize> {
        self.bound.clone()
    }
}

impl Drop for ZitiListener {
    fn drop(&mut self) {
        self.supervisor.abort();
    }
}

impl Context {
    /// Host a service. Returns once one terminator is established (or fails after `wait_for_first`).
    pub async fn listen(
        &self,
        service: &str,
        opts: ListenOptions,
    ) -> Result<ZitiListener, ZitiError> {
        let svc = self.service(service, true).await?;
        if !svc.can(SessionKind::Bind) {
            return Err(ZitiError::NoPermission {
                service: service.to_string(),
                kind: "Bind",
            });
        }
        // A fresh network may not have an online router yet: poll the session until one shows up.
        let deadline = tokio::time::Instant::now() + opts.wait_for_first;
        let mut session = self
            .inner
            .ctrl
            .create_session(&svc, SessionKind::Bind)
            .await?;
        while session.edge_routers.iter().all(|r| r.tls_addr().is_none()) {
            if tokio::time::Instant::now() >= deadline {
                return Err(ZitiError::NoEdgeRouters(service.to_string()));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
            session = self.inner.ctrl.refresh_session(&session.id).await?;
        }
        let (tx, rx) = mpsc::channel(opts.accept_queue.max(1));
        let (btx, mut brx) = tokio::sync::watch::channel(0usize);
        let (first_err_tx, mut first_err_rx) = mpsc::channel::<ZitiError>(8);
        let keys = Arc::new(KeyPair::generate());
        let sup = Supervisor {
            ctx: self.clone(),
            svc,
            session,
            opts: opts.clone(),
            accept_tx: tx,
            bound_tx: btx,
            keys,
            first_err: Some(first_err_tx),
        };
        let supervisor = tokio::spawn(sup.run());
        let wait = async {
            loop {
                tokio::select! {
                    r = brx.changed() => {
                        if r.is_err() { return Err(ZitiError::Closed); }
                        if *brx.borrow() > 0 { return Ok(()); }
                    }
                    Some(e) = first_err_rx.recv() => {
                        // Keep trying other routers; remember the error in case none works.
                        tracing::debug!(service, "bind attempt failed: {e}");
                        if matches!(e, ZitiError::BindFailed(_) | ZitiError::NoPermission { .. }) {
                            return Err(e);
                        }
                    }
                }
            }
        };
        match tokio::time::timeout(opts.wait_for_first, wait).await {
            Ok(Ok(())) => Ok(ZitiListener {
                service: service.to_string(),
                rx,
                supervisor,
                bound: brx,
            }),
            Ok(Err(e)) => {
                supervisor.abort();
                Err(e)
            }
            Err(_) => {
                supervisor.abort();
                Err(ZitiError::Timeout(format!("binding service {service}")))
            }
        }
    }
}

struct Supervisor {
    ctx: Context,
    svc: Service,
    session: NetworkSession,
    opts: ListenOptions,
    accept_tx: mpsc::Sender<ZitiStream>,
    bound_tx: tokio::sync::watch::Sender<usize>,
    keys: Arc<KeyPair>,
    first_err: Option<mpsc::Sender<ZitiError>>,
}

impl Supervisor {
    async fn run(mut self) {
        // Host tasks die with the supervisor (listener dropped → supervisor aborted → handles dropped).
        let mut hosts: HashMap<String, AbortOnDrop> = HashMap::new();
        let mut tick = Duration::from_millis(250);
        let mut refreshed = tokio::time::Instant::now();
        let (done_tx, mut done_rx) = mpsc::channel::<(String, Option<ZitiError>)>(16);
        let (up_tx, mut up_rx) = mpsc::channel::<String>(16);
        let mut up: std::collections::HashSet<String> = Default::default();
        loop {
            // Refresh the session now and then to learn about new routers; get a new one if it is gone.
            if refreshed.elapsed() > Duration::from_secs(60) {
                refreshed = tokio::time::Instant::now();
                match self.ctx.inner.ctrl.refresh_session(&self.session.id).await {
                    Ok(s) => self.session = s,
                    Err(ZitiError::SessionExpired) => {
                        if let Ok(s) = self
                            .ctx
                            .inner
                            .ctrl
                            .create_session(&self.svc, SessionKind::Bind)
                            .await
                        {
                            self.session = s;
                        }
                    }
                    Err(e) => {
                        tracing::debug!(service = %self.svc.name, "session refresh failed: {e}")
                    }
                }
            }
            let routers: Vec<(String, String)> = self
                .session
                .edge_routers
                .iter()
                .filter_map(|r| r.tls_addr().map(|a| (r.name.clone(), a)))
                .take(self.opts.max_terminators.max(1))
                .collect();
            for (name, addr) in routers {
                if hosts.contains_key(&addr) {
                    continue;
                }
                let host = HostTask {
                    ctx: self.ctx.clone(),
                    svc: self.svc.clone(),
                    token: self.session.token.clone(),
                    cost: self.opts.cost,
                    keys: self.keys.clone(),
                    accept_tx: self.accept_tx.clone(),
                };
                let done = done_tx.clone();
                let up = up_tx.clone();
                let a = addr.clone();
                hosts.insert(
                    addr.clone(),
                    AbortOnDrop(tokio::spawn(async move {
                        let r = host.run(&name, &a, up).await;
                        let _ = done.send((a, r.err())).await;
                    })),
                );
            }
            tokio::select! {
                Some((addr, err)) = done_rx.recv() => {
                    hosts.remove(&addr);
                    up.remove(&addr);
                    let _ = self.bound_tx.send(up.len());
                    if let Some(e) = err {
                        tracing::debug!(service = %self.svc.name, router = %addr, "terminator lost: {e}");
                        if matches!(e, ZitiError::RouterLost(_)) {
                            // Maybe our API session was removed (routers then drop us): verify, re-authenticate.
                            if let Err(e) = self.ctx.inner.ctrl.keepalive().await {
                                tracing::debug!(service = %self.svc.name, "api session check failed: {e}");
                            }
                        }
                        if matches!(e, ZitiError::BindFailed(_)) {
                            // The session may have been removed (e.g. policy change): get a new one.
                            if let Ok(s) = self.ctx.inner.ctrl.create_session(&self.svc, SessionKind::Bind).await {
                                self.session = s;
                            }
                        }
                        if let Some(f) = &self.first_err {
                            let _ = f.try_send(e);
                        }
                    }
                    // Back off a little before re-binding so a restarting router is not hammered.
                    tokio::time::sleep(tick).await;
                    tick = (tick * 2).min(Duration::from_secs(2));
                }
                Some(addr) = up_rx.recv() => {
                    up.insert(addr);
                    tick = Duration::from_millis(250);
                    let _ = self.bound_tx.send(up.len());
                    self.first_err = None;
                }
                _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                _ = self.accept_tx.closed() => break,
            }
        }
        drop(hosts);
    }
}

/// A task handle that aborts its task when dropped.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

struct HostTask {
    ctx: Context,
    svc: Service,
    token: String,
    cost: u16,
    keys: Arc<KeyPair>,
    accept_tx: mpsc::Sender<ZitiStream>,
}

/// Unbinds and forgets the host connection id when the host task ends (also on abort).
struct BindGuard {
    ch: Arc<RouterChannel>,
    conn_id: u32,
    token: String,
}

impl Drop for BindGuard {
    fn drop(&mut self) {
        self.ch.unregister(self.conn_id);
        if !self.ch.is_closed() {
            let mut m = Message::new(ct::UNBIND, self.token.clone().into_bytes());
            m.put_u32(hdr::CONN_ID, self.conn_id);
            self.ch.try_send(m);
        }
    }
}

impl HostTask {
    async fn run(self, name: &str, addr: &str, up: mpsc::Sender<String>) -> Result<(), ZitiError> {
        let ch = self.ctx.router(name, addr).await?;
        let conn_id = self.ctx.next_conn_id();
        let mut rx = ch.register(conn_id)?;
        let guard = BindGuard {
            ch: ch.clone(),
            conn_id,
            token: self.token.clone(),
        };
        // sdk-golang messages.go NewBindMsg.
        let mut m = Message::new(ct::BIND, self.token.clone().into_bytes());
        m.put_u32(hdr::CONN_ID, conn_id);
        m.put_bool(hdr::SUPPORTS_BIND_SUCCESS, true);
        m.put_bool(hdr::ROUTER_PROVIDED_CONN_ID, true);
        if self.svc.encryption_required {
            m.put_public_key(self.keys.public());
        }
        if self.cost > 0 {
            m.put_u16(hdr::COST, self.cost);
        }
        let reply = ch.request(m, Duration::from_secs(10)).await?;
        state_answer(&reply, "bind", &self.token, ZitiError::BindFailed)?;
        tracing::info!(service = %self.svc.name, router = %ch.name, "ziti terminator bound");
        let _ = up.send(addr.to_string()).await;
        loop {
            let msg = tokio::select! {
                m = rx.recv() => m,
                _ = ch.closed() => None,
                // Listener gone: end, which unbinds (BindGuard).
                _ = self.accept_tx.closed() => return Ok(()),
            };
            let Some(msg) = msg else {
                return Err(ZitiError::RouterLost(ch.name.clone()));
            };
            match msg.content_type {
                ct::DIAL => {
                    if let Err(e) = self.accept_dial(&ch, conn_id, &msg).await {
                        tracing::debug!(service = %self.svc.name, "incoming dial refused: {e}");
                        let mut r = Message::new(ct::DIAL_FAILED, e.to_string().into_bytes());
                        r.put_u32(hdr::CONN_ID, conn_id).reply_to(&msg);
                        let _ = ch.send(r).await;
                    }
                }
                ct::STATE_CLOSED => {
                    drop(guard);
                    return Err(ZitiError::BindFailed(format!(
                        "router closed the terminator: {}",
                        super::ctrl::scrub(&String::from_utf8_lossy(&msg.body), &self.token)
                    )));
                }
                ct::CONN_INSPECT_REQUEST => {
                    let state = serde_json::json!({
                        "id": conn_id, "serviceName": self.svc.name, "closed": false,
                        "encryptionRequired": self.svc.encryption_required,
                    });
                    let _ = ch
                        .send(wire::conn_inspect_response(
                            &msg,
                            wire::CONN_TYPE_BIND,
                            state.to_string(),
                        ))
                        .await;
                }
                ct::BIND_SUCCESS => {
                    tracing::debug!(service = %self.svc.name, router = %ch.name, "terminator established");
                }
                other => {
                    tracing::debug!(ct = other, "unexpected message on bind connection ignored")
                }
            }
        }
    }

    async fn accept_dial(
        &self,
        ch: &Arc<RouterChannel>,
        host_id: u32,
        msg: &Message,
    ) -> Result<(), ZitiError> {
        let new_id = msg.get_u32(hdr::ROUTER_PROVIDED_CONN_ID).ok_or_else(|| {
            ZitiError::Protocol("dial without router-provided connection id".into())
        })?;
        let caller = msg.get_str(hdr::CALLER_ID).unwrap_or_default();
        let circuit = msg.get_str(hdr::CIRCUIT_ID).unwrap_or_default();
        let (rx_crypto, tx_crypto, header) = if self.svc.encryption_required {
            let peer = msg
                .get(hdr::PUBLIC_KEY)
                .ok_or_else(|| ZitiError::EncryptionMissing(self.svc.name.clone()))?;
            if msg
                .get_byte(hdr::CRYPTO_METHOD)
                .unwrap_or(CRYPTO_METHOD_LIBSODIUM)
                != CRYPTO_METHOD_LIBSODIUM
            {
                return Err(ZitiError::Protocol("unsupported crypto method".into()));
            }
            let keys = self.keys.server_session_keys(peer)?;
            let (enc, header) = Encryptor::new(&keys.tx);
            (RxCrypto::AwaitHeader(keys.rx), Some(enc), Some(header))
        } else {
            (RxCrypto::None, None, None)
        };
        let rx = ch.register(new_id)?;
        let mut ok = Message::new(ct::DIAL_SUCCESS, new_id.to_le_bytes().to_vec());
        ok.put_u32(hdr::CONN_ID, host_id).reply_to(msg);
        if let Err(e) = ch.send(ok).await {
            ch.unregister(new_id);
            return Err(e);
        }
        if let Some(h) = header {
            let mut d = Message::new(ct::DATA, h.to_vec());
            d.put_u32(hdr::CONN_ID, new_id);
            ch.send(d).await?;
        }
        let stats = ConnStats::new(
            new_id,
            &self.svc.name,
            &ch.name,
            Direction::Accept,
            caller,
            header.is_some(),
            circuit,
        );
        let stream = self.ctx.open_stream(stats, ch, rx, rx_crypto, tx_crypto);
        if self.accept_tx.send(stream).await.is_err() {
            return Err(ZitiError::Closed);
        }
        Ok(())
    }
}
