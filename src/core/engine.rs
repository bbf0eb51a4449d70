#![allow(deprecated)]
// Sampling, roots, logging and subscribe are deprecated upstream but still spoken by clients: a proxy must carry them.

//! The proxy engine: discovery at start, and one [`Session`] per client with its own backend
//! connections. Used three ways: the aggregating gateway (namespaced, many backends), and the
//! transparent bridge / mcp-tools (one backend, names and capabilities passed through unchanged).
//!
//! Naming: tools and prompts are exposed as `<backend id><separator><name>`. A name is resolved to
//! the backend whose id is the longest prefix followed by the separator. Resources keep their URIs;
//! a read/subscribe is routed to the backend that listed the URI in this session, else to the first
//! backend (in config order) whose resource template matches, else to the first backend with
//! resources that does not answer "not found".

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant, SystemTime};

use rmcp::model::*;
use rmcp::service::{NotificationContext, RequestContext};
use rmcp::{ErrorData as McpError, Peer, RoleClient, RoleServer, ServerHandler};
use tokio::sync::OnceCell;
use tokio_util::sync::CancellationToken;

use crate::core::backend::{self, BackendConn, ConnectEnv, Downstream, ListChanged, ZrokConnector};
use crate::core::config;
use crate::core::hub::Hub;
use crate::core::process::Registry;
use crate::core::state::{self, BackendState, BackendStatus, CallOutcome, ToolState};

/// How the engine presents its backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Namespaced aggregation of many backends (`mcp-gateway`).
    Gateway,
    /// Exactly one backend, passed through unchanged (`mcp-bridge`, `mcp-tools`).
    Transparent,
}

pub struct EngineOptions {
    pub aggregator: config::Aggregator,
    pub backends: Vec<config::Backend>,
    pub mode: Mode,
    pub zrok: Option<Arc<dyn ZrokConnector>>,
    /// Connect to every backend once at start (check it starts, learn its catalog). Off for
    /// `mcp-tools`, whose single session connects on demand.
    pub discover: bool,
}

/// What discovery learned about one backend.
#[derive(Debug, Clone, Default)]
pub struct Discovered {
    pub info: Option<ServerPeerInfo>,
    pub tools: Vec<Tool>,
    pub prompts: Vec<Prompt>,
    pub resources: Vec<Resource>,
    pub templates: Vec<ResourceTemplate>,
}

/// Why the engine could not start.
#[derive(Debug, thiserror::Error)]
#[error("backend '{id}': {cause}")]
pub struct StartError {
    pub id: String,
    pub cause: String,
}

pub struct Engine {
    pub agg: config::Aggregator,
    pub backends: Vec<config::Backend>,
    pub mode: Mode,
    pub hub: Hub,
    pub registry: Registry,
    env: ConnectEnv,
    discovered: Mutex<Vec<Discovered>>,
    sessions: Mutex<HashMap<String, CancellationToken>>,
    /// Live sessions by transport session id (`mcp:<Mcp-Session-Id>`, `sse:<sessionid>`), for
    /// the `tools/call` fast path and the streamable-HTTP idle sweep.
    transport_sessions: Mutex<HashMap<String, Weak<SessionInner>>>,
    pub shutdown: CancellationToken,
    next_session: AtomicU64,
}

/// The transport session id of a streamable-HTTP session, put into the `initialize` request's
/// extensions by the serving layer (see `serve.rs`).
#[derive(Debug, Clone)]
pub struct TransportSessionId(pub String);

/// A `tools/call` answered on the fast path: the frames for the client (progress notifications,
/// then the response). Dropping it before the end cancels the call at the backend.
pub type FastCall = std::pin::Pin<Box<dyn futures::Stream<Item = FastItem> + Send>>;

fn err_str(e: &rmcp::ServiceError) -> String {
    match e {
        rmcp::ServiceError::McpError(e) => e.message.to_string(),
        other => other.to_string(),
    }
}

impl Engine {
    /// Connect to every backend concurrently, discover its tools, prompts and resources, then
    /// release the discovery connections. A backend that fails fails the start (naming it), after
    /// everything already started has been released.
    pub async fn start(opts: EngineOptions) -> Result<Arc<Engine>, StartError> {
        let hub = Hub::new(
            &opts.aggregator.name,
            &opts.aggregator.version,
            &opts.aggregator.separator,
        );
        let registry = Registry::default();
        let on_stderr_hub = hub.clone();
        let env = ConnectEnv {
            registry: registry.clone(),
            connect_timeout: opts.aggregator.connect_timeout,
            max_message_size: opts.aggregator.max_message_size,
            on_stderr: Some(Arc::new(move |id: &str, line: &str| {
                on_stderr_hub.emit(state::Event::Log(state::LogLine {
                    at: SystemTime::now(),
                    level: state::LogLevel::Info,
                    target: format!("backend:{id}"),
                    message: line.to_string(),
                }));
            })),
            zrok: opts.zrok.clone(),
        };
        for b in &opts.backends {
            hub.add_backend(BackendState {
                id: b.id.clone(),
                name: b.name.clone(),
                transport: b.transport.kind(),
                target: target_of(&b.transport),
                status: BackendStatus::Starting,
                tools_exposed: 0,
                tools_total: 0,
                resources: 0,
                prompts: 0,
                sessions: 0,
                calls: 0,
                errors: 0,
                latency: Default::default(),
                last_error: None,
                server_info: None,
                protocol_version: None,
            });
        }
        let engine = Arc::new(Engine {
            agg: opts.aggregator,
            backends: opts.backends,
            mode: opts.mode,
            hub,
            registry,
            env,
            discovered: Mutex::new(Vec::new()),
            sessions: Mutex::new(HashMap::new()),
            shutdown: CancellationToken::new(),
            transport_sessions: Mutex::new(HashMap::new()),
            next_session: AtomicU64::new(1),
        });
        engine.hub.spawn_publisher(engine.shutdown.clone());
        if !opts.discover {
            *engine.discovered.lock().unwrap_or_else(|e| e.into_inner()) =
                vec![Discovered::default(); engine.backends.len()];
            return Ok(engine);
        }
        let results = futures::future::join_all(
            (0..engine.backends.len()).map(|i| engine.clone().discover(i)),
        )
        .await;
        let mut discovered = Vec::new();
        let mut first_err = None;
        for (i, r) in results.into_iter().enumerate() {
            match r {
                Ok(d) => discovered.push(d),
                Err(cause) => {
                    discovered.push(Discovered::default());
                    if first_err.is_none() {
                        first_err = Some(StartError {
                            id: engine.backends[i].id.clone(),
                            cause,
                        });
                    }
                }
            }
        }
        *engine.discovered.lock().unwrap_or_else(|e| e.into_inner()) = discovered;
        engine.hub.publish();
        if let Some(e) = first_err {
            engine.shutdown().await;
            return Err(e);
        }
        Ok(engine)
    }

    /// Discover one backend (used at start and by a console "restart").
    pub async fn discover(self: Arc<Self>, i: usize) -> Result<Discovered, String> {
        let b = &self.backends[i];
        self.hub
            .set_backend_status(&b.id, BackendStatus::Starting, None);
        let result = async {
            let conn = backend::connect(i, b, Arc::new(Downstream::default()), &self.env)
                .await
                .map_err(|e| e.to_string())?;
            let r = tokio::time::timeout(
                self.agg.connect_timeout,
                list_everything(conn.peer(), &conn),
            )
            .await
            .unwrap_or_else(|_| {
                Err(format!(
                    "discovery did not finish within {:?}",
                    self.agg.connect_timeout
                ))
            });
            conn.close().await;
            r
        }
        .await;
        match result {
            Ok(d) => {
                self.publish_discovered(i, &d);
                self.hub
                    .set_backend_status(&b.id, BackendStatus::Ready, None);
                if let Some(slot) = self
                    .discovered
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get_mut(i)
                {
                    *slot = d.clone();
                }
                Ok(d)
            }
            Err(e) => {
                tracing::error!(backend = %b.id, "discovery failed: {e}");
                self.hub
                    .set_backend_status(&b.id, BackendStatus::Failed, Some(e.clone()));
                Err(e)
            }
        }
    }

    fn publish_discovered(&self, i: usize, d: &Discovered) {
        let b = &self.backends[i];
        let tools: Vec<ToolState> = d
            .tools
            .iter()
            .map(|t| ToolState {
                name: self.expose(i, &t.name),
                original: t.name.to_string(),
                backend: b.id.clone(),
                description: t.description.as_ref().map(|d| d.to_string()),
                input_schema: serde_json::Value::Object((*t.input_schema).clone()),
                filter: b.tools.check(&t.name),
                calls: 0,
                errors: 0,
                latency: Default::default(),
            })
            .collect();
        let exposed = tools.iter().filter(|t| t.filter.exposed()).count();
        let total = tools.len();
        self.hub.set_tools(&b.id, tools);
        let info = d.info.clone();
        let (np, nr) = (d.prompts.len(), d.resources.len());
        self.hub.update_backend(&b.id, move |s| {
            s.tools_exposed = exposed;
            s.tools_total = total;
            s.prompts = np;
            s.resources = nr;
            if let Some(info) = info {
                s.server_info = info
                    .server_info
                    .as_ref()
                    .map(|i| format!("{} {}", i.name, i.version));
                s.protocol_version = Some(info.protocol_version.to_string());
            }
        });
    }

    /// How this engine connects to backends (for console actions).
    pub fn connect_env(&self) -> &ConnectEnv {
        &self.env
    }

    /// The name clients see for backend `i`'s tool or prompt `name`.
    pub fn expose(&self, i: usize, name: &str) -> String {
        match self.mode {
            Mode::Transparent => name.to_string(),
            Mode::Gateway => format!("{}{}{}", self.backends[i].id, self.agg.separator, name),
        }
    }

    /// Resolve an exposed name to (backend index, original name).
    pub fn resolve(&self, exposed: &str) -> Option<(usize, String)> {
        if self.mode == Mode::Transparent {
            return (!self.backends.is_empty()).then(|| (0, exposed.to_string()));
        }
        let sep = &self.agg.separator;
        let mut best: Option<(usize, usize)> = None;
        for (i, b) in self.backends.iter().enumerate() {
            if let Some(rest) = exposed.strip_prefix(b.id.as_str()) {
                if rest.len() > sep.len() && rest.starts_with(sep.as_str()) {
                    let len = b.id.len();
                    if best.is_none_or(|(_, l)| len > l) {
                        best = Some((i, len));
                    }
                }
            }
        }
        best.map(|(i, len)| (i, exposed[len + sep.len()..].to_string()))
    }

    pub fn discovered(&self) -> Vec<Discovered> {
        self.discovered
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Route transport session `key` (`mcp:<id>` / `sse:<id>`) to `session`.
    pub fn bind_transport_session(&self, key: String, session: &Session) {
        let _ = session.inner.transport_key.set(key.clone());
        self.transport_sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, Arc::downgrade(&session.inner));
    }

    /// Keys of bound transport sessions idle for at least `idle` or ended (and drops the
    /// entries of sessions that are gone).
    pub fn stale_transport_sessions(&self, idle: Duration) -> Vec<String> {
        let mut m = self
            .transport_sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        m.retain(|_, w| w.strong_count() > 0);
        m.iter()
            .filter_map(|(k, w)| {
                let s = Session {
                    inner: w.upgrade()?,
                };
                (s.inner.ended.is_cancelled() || s.idle_for() >= idle).then(|| k.clone())
            })
            .collect()
    }

    /// The fast path for a client frame posted to transport session `key`: `Some` when `frame`
    /// is a `tools/call` the fast path can forward exactly as the rmcp path would (then the
    /// future resolves to the response frame), `None` to take the rmcp path.
    pub fn fast_call(&self, key: &str, frame: &[u8]) -> Option<FastCall> {
        use crate::core::fastpath::{valid_id, CallParams, Head};
        let h = Head::parse(frame)?;
        if h.jsonrpc.as_deref() != Some("2.0") || h.method.as_deref() != Some("tools/call") {
            return None;
        }
        let id = h.id.filter(|i| valid_id(i))?;
        let params = CallParams::parse(h.params?)?;
        let inner = self
            .transport_sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)?
            .upgrade()?;
        Session { inner }.fast_call(id.get(), params)
    }

    /// A new client session. `remote` and `transport` are for display.
    pub fn new_session(self: &Arc<Self>, remote: &str, transport: &str) -> Session {
        let n = self.next_session.fetch_add(1, Ordering::Relaxed);
        let id = format!("s{n}-{}", &uuid::Uuid::new_v4().simple().to_string()[..6]);
        let ended = self.shutdown.child_token();
        self.sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.clone(), ended.clone());
        self.hub.session_opened(&id, remote, transport);
        tracing::info!(session = %id, %remote, %transport, "session opened");
        Session {
            inner: Arc::new(SessionInner {
                engine: self.clone(),
                id,
                down: Arc::new(Downstream::default()),
                conns: OnceCell::new(),
                ended,
                last_activity: Mutex::new(Instant::now()),
                resource_routes: Mutex::new(HashMap::new()),
                transport_key: OnceLock::new(),
            }),
        }
    }

    /// End a session by id (console). Its backend connections are released.
    pub fn end_session(&self, id: &str) -> bool {
        let t = self
            .sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned();
        match t {
            Some(t) => {
                t.cancel();
                true
            }
            None => false,
        }
    }

    /// Stop everything: sessions end, subprocesses are terminated (bounded).
    pub async fn shutdown(&self) {
        self.shutdown.cancel();
        // Sessions end as their tasks see the cancellation; give them a moment to release what
        // they hold (subprocesses, zrok accesses) before the process exits.
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(3);
        while !self
            .sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty()
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        if let Some(z) = &self.env.zrok {
            z.drain().await;
        }
        for b in &self.backends {
            self.hub
                .update_backend(&b.id, |s| s.status = BackendStatus::Stopped);
        }
        self.registry
            .terminate_all(crate::core::process::KILL_GRACE)
            .await;
        self.hub.publish();
    }

    /// Capabilities and identity presented to clients in gateway mode.
    fn gateway_info(&self) -> ServerConfig {
        let d = self.discovered();
        let any = |f: &dyn Fn(&ServerCapabilities) -> bool| {
            d.iter()
                .filter_map(|x| x.info.as_ref())
                .any(|i| f(&i.capabilities))
        };
        let mut caps = ServerCapabilities::default();
        let mut tools = ToolsCapability::default();
        tools.list_changed = Some(true);
        caps.tools = Some(tools);
        if any(&|c| c.prompts.is_some()) {
            let mut p = PromptsCapability::default();
            p.list_changed = Some(true);
            caps.prompts = Some(p);
        }
        if any(&|c| c.resources.is_some()) {
            let mut r = ResourcesCapability::default();
            r.list_changed = Some(true);
            r.subscribe = Some(any(&|c| {
                c.resources
                    .as_ref()
                    .and_then(|r| r.subscribe)
                    .unwrap_or(false)
            }));
            caps.resources = Some(r);
        }
        if any(&|c| c.logging.is_some()) {
            caps.logging = Some(Default::default());
        }
        if any(&|c| c.completions.is_some()) {
            caps.completions = Some(Default::default());
        }
        let mut info = ServerConfig::default();
        info.capabilities = caps;
        info.server_info = Implementation::new(self.agg.name.clone(), self.agg.version.clone());
        info
    }
}

fn target_of(t: &config::Transport) -> String {
    match t {
        config::Transport::Stdio { command, args, .. } => {
            let mut s = command.clone();
            for a in args {
                s.push(' ');
                s.push_str(a);
            }
            s
        }
        config::Transport::Http { endpoint, .. } => {
            let mut u = endpoint.clone();
            let _ = u.set_password(None);
            u.set_query(None);
            u.to_string()
        }
        config::Transport::Zrok { share_token } => {
            format!("zrok:{}", crate::core::redact::token_prefix(share_token))
        }
    }
}

async fn list_everything(
    peer: &Peer<RoleClient>,
    conn: &BackendConn,
) -> Result<Discovered, String> {
    let info = conn.info.clone();
    let caps = info
        .as_ref()
        .map(|i| i.capabilities.clone())
        .unwrap_or_default();
    let tools = if caps.tools.is_some() {
        peer.list_all_tools()
            .await
            .map_err(|e| format!("tools/list: {}", err_str(&e)))?
    } else {
        Vec::new()
    };
    let prompts = if caps.prompts.is_some() {
        peer.list_all_prompts()
            .await
            .map_err(|e| format!("prompts/list: {}", err_str(&e)))?
    } else {
        Vec::new()
    };
    let (resources, templates) = if caps.resources.is_some() {
        (
            peer.list_all_resources()
                .await
                .map_err(|e| format!("resources/list: {}", err_str(&e)))?,
            peer.list_all_resource_templates()
                .await
                .map_err(|e| format!("resources/templates/list: {}", err_str(&e)))?,
        )
    } else {
        (Vec::new(), Vec::new())
    };
    Ok(Discovered {
        info,
        tools,
        prompts,
        resources,
        templates,
    })
}

/// One client session: a clone-able rmcp server handler.
#[derive(Clone)]
pub struct Session {
    inner: Arc<SessionInner>,
}

struct SessionInner {
    engine: Arc<Engine>,
    id: String,
    down: Arc<Downstream>,
    conns: OnceCell<Result<Vec<Arc<BackendConn>>, McpError>>,
    ended: CancellationToken,
    last_activity: Mutex<Instant>,
    /// resource URI -> backend index, from this session's resources/list.
    resource_routes: Mutex<HashMap<String, usize>>,
    /// Key in `Engine::transport_sessions`, once bound.
    transport_key: OnceLock<String>,
}

impl Drop for SessionInner {
    fn drop(&mut self) {
        self.engine
            .sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.id);
        if let Some(k) = self.transport_key.get() {
            let mut m = self
                .engine
                .transport_sessions
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if m.get(k).is_some_and(|w| w.strong_count() == 0) {
                m.remove(k);
            }
        }
        if let Some(Ok(conns)) = self.conns.get() {
            let ids: Vec<String> = conns.iter().map(|c| c.id.clone()).collect();
            self.engine.hub.session_backends(-1, &ids);
        }
        self.engine.hub.session_closed(&self.id, "closed");
        tracing::info!(session = %self.id, "session closed");
    }
}

fn gone(e: rmcp::ServiceError, backend: &str, call_timeout: Duration) -> McpError {
    match e {
        rmcp::ServiceError::McpError(e) => e,
        rmcp::ServiceError::Timeout { .. } => McpError::internal_error(
            format!("backend '{backend}' did not answer within {call_timeout:?} (call_timeout); the request was cancelled"),
            None,
        ),
        rmcp::ServiceError::TransportClosed | rmcp::ServiceError::TransportSend(_) => {
            McpError::internal_error(format!("backend '{backend}' connection closed"), None)
        }
        other => McpError::internal_error(format!("backend '{backend}': {other}"), None),
    }
}

/// Longest wait for in-flight progress notifications after a backend's response.
const PROGRESS_DRAIN: Duration = Duration::from_secs(2);

fn unexpected(backend: &str) -> McpError {
    McpError::internal_error(
        format!("backend '{backend}' sent an unexpected response type"),
        None,
    )
}

/// One frame of a fast-path call for the client: progress, then the response.
pub enum FastItem {
    Progress(bytes::Bytes),
    Done(bytes::Bytes),
}

/// Tells the backend a fast request was abandoned (client gone, timeout, session ended).
struct FastAbandon {
    link: Option<Arc<crate::core::fastpath::RawLink>>,
    n: u64,
    theirs: String,
    why: &'static str,
}

impl Drop for FastAbandon {
    fn drop(&mut self) {
        self.fire();
    }
}

impl FastAbandon {
    /// Forget the request and send the backend `notifications/cancelled` (once).
    fn fire(&mut self) {
        if let Some(link) = self.link.take() {
            link.forget(self.n);
            let mut f = crate::core::fastpath::cancelled_frame(&self.theirs, self.why);
            f.push(b'\n');
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(async move {
                    let _ = link.write(&f).await;
                });
            }
        }
    }
}

struct FastState {
    abandon: FastAbandon,
    session: Session,
    conn: Arc<BackendConn>,
    link: Arc<crate::core::fastpath::RawLink>,
    frame: Option<Vec<u8>>,
    waiter: crate::core::fastpath::Waiter,
    client_id: String,
    client_token: Option<String>,
    exposed: String,
    started: Instant,
    timeout: Duration,
    max_deadline: Instant,
    /// Fires `timeout` after the call (or its last progress, when the client asked for
    /// progress), and never after `max_deadline`.
    timer: crate::core::deadline::Deadline,
    queue: std::collections::VecDeque<FastItem>,
    finished: bool,
}

impl FastState {
    fn progress(&self, frame: &[u8]) -> Option<FastItem> {
        let token = self.client_token.as_deref()?;
        crate::core::fastpath::progress_to_client(frame, token).map(FastItem::Progress)
    }

    fn finish(&mut self, resp: bytes::Bytes, outcome: CallOutcome) {
        self.abandon.link = None;
        self.finished = true;
        self.session.touch();
        self.session.record(
            &self.conn.id,
            "tools/call",
            &self.exposed,
            self.started,
            outcome,
            Some(&self.exposed),
        );
        self.queue.push_back(FastItem::Done(resp));
    }

    fn fail(&mut self, code: i32, message: String, outcome: Option<CallOutcome>) {
        let f = crate::core::fastpath::error_frame(&self.client_id, code, &message);
        let o = outcome.unwrap_or(CallOutcome::Error(code, message));
        self.finish(f, o);
    }

    async fn next(&mut self) -> Option<FastItem> {
        use crate::core::fastpath as fp;
        if let Some(item) = self.queue.pop_front() {
            return Some(item);
        }
        if self.finished {
            return None;
        }
        if let Some(frame) = self.frame.take() {
            self.session.touch();
            if self.link.write(&frame).await.is_err() {
                self.link.forget(self.abandon.n);
                let m = format!("backend '{}' connection closed", self.conn.id);
                self.fail(-32603, m, None);
                return self.queue.pop_front();
            }
        }
        loop {
            tokio::select! {
                biased;
                Some(p) = async {
                    match self.waiter.progress.as_mut() {
                        Some(rx) => rx.recv().await,
                        None => std::future::pending().await,
                    }
                } => {
                    if self.client_token.is_some() {
                        self.timer = crate::core::deadline::Deadline::at(
                            (Instant::now() + self.timeout).min(self.max_deadline),
                        );
                    }
                    if let Some(item) = self.progress(&p) {
                        return Some(item);
                    }
                }
                r = &mut self.waiter.done => {
                    // Progress sent before the response is already queued: it goes first.
                    while let Some(Ok(p)) = self.waiter.progress.as_mut().map(|rx| rx.try_recv()) {
                        if let Some(item) = self.progress(&p) {
                            self.queue.push_back(item);
                        }
                    }
                    match r.ok().and_then(|b| fp::readdress(&b, &self.client_id)) {
                        Some((f, o)) => {
                            let o = match o {
                                fp::Outcome::Ok => CallOutcome::Ok,
                                fp::Outcome::ToolError(m) => CallOutcome::ToolError(m),
                                fp::Outcome::Error(c, m) => CallOutcome::Error(c, m),
                            };
                            self.finish(f, o);
                        }
                        None => {
                            let m = format!("backend '{}' connection closed", self.conn.id);
                            self.fail(-32603, m, None);
                        }
                    }
                    return self.queue.pop_front();
                }
                _ = &mut self.timer => {
                    self.abandon.why = "call_timeout expired";
                    self.abandon.fire();
                    let m = format!(
                        "backend '{}' did not answer within {:?} (call_timeout); the request was cancelled",
                        self.conn.id, self.timeout
                    );
                    self.fail(-32603, m, Some(CallOutcome::Timeout));
                    return self.queue.pop_front();
                }
                _ = self.session.inner.ended.cancelled() => {
                    self.abandon.why = "session ended";
                    self.abandon.fire();
                    self.fail(-32603, "session ended".into(), None);
                    return self.queue.pop_front();
                }
            }
        }
    }
}

impl Session {
    pub fn id(&self) -> &str {
        &self.inner.id
    }

    pub fn engine(&self) -> &Arc<Engine> {
        &self.inner.engine
    }

    /// Cancelled when the session is ended by the console, idle timeout or shutdown.
    pub fn ended(&self) -> CancellationToken {
        self.inner.ended.clone()
    }

    pub fn idle_for(&self) -> Duration {
        self.inner
            .last_activity
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .elapsed()
    }

    fn touch(&self) {
        *self
            .inner
            .last_activity
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Instant::now();
    }

    /// This session's backend connections, connected on first use (initialize, or the first
    /// request of a client that skips initialize), all concurrently.
    async fn conns(&self) -> Result<&Vec<Arc<BackendConn>>, McpError> {
        if self.inner.ended.is_cancelled() {
            return Err(McpError::internal_error("session ended", None));
        }
        let r = self
            .inner
            .conns
            .get_or_init(|| async {
                let e = &self.inner.engine;
                let weak = Arc::downgrade(&self.inner);
                self.inner.down.on_list_changed(Arc::new(move |what| {
                    if let Some(s) = weak.upgrade() {
                        tokio::spawn(async move { Session { inner: s }.list_changed(what).await });
                    }
                }));
                let results = futures::future::join_all(e.backends.iter().enumerate().map(|(i, b)| {
                    backend::connect(i, b, self.inner.down.clone(), &e.env)
                }))
                .await;
                let mut conns = Vec::new();
                let mut failure = None;
                for (i, r) in results.into_iter().enumerate() {
                    match r {
                        Ok(c) => conns.push(Arc::new(c)),
                        Err(err) => {
                            let id = &e.backends[i].id;
                            tracing::error!(session = %self.inner.id, backend = %id, "connect failed: {err}");
                            e.hub.update_backend(id, |s| s.last_error = Some(err.to_string()));
                            if failure.is_none() {
                                failure = Some(McpError::internal_error(
                                    format!("backend '{id}': {err}"),
                                    None,
                                ));
                            }
                        }
                    }
                }
                if let Some(f) = failure {
                    for c in conns {
                        if let Ok(c) = Arc::try_unwrap(c) {
                            c.close().await;
                        }
                    }
                    return Err(f);
                }
                let ids: Vec<String> = conns.iter().map(|c| c.id.clone()).collect();
                e.hub.session_backends(1, &ids);
                let ended = self.inner.ended.clone();
                let handles: Vec<_> = conns.iter().map(|c| c.service.cancellation_token()).collect();
                tokio::spawn(async move {
                    ended.cancelled().await;
                    for h in handles {
                        h.cancel();
                    }
                });
                Ok(conns)
            })
            .await;
        r.as_ref().map_err(|e| e.clone())
    }

    async fn list_changed(&self, what: ListChanged) {
        let Some(peer) = self.inner.down.peer() else {
            return;
        };
        let _ = match what {
            ListChanged::Tools(_) => peer.notify_tool_list_changed().await,
            ListChanged::Prompts(_) => peer.notify_prompt_list_changed().await,
            ListChanged::Resources(_) => peer.notify_resource_list_changed().await,
        };
    }

    fn attach(&self, ctx: &RequestContext<RoleServer>) {
        if self.inner.down.peer().is_none() {
            self.inner.down.set_peer(ctx.peer.clone());
        }
        self.touch();
    }

    /// Forward one request to backend connection `conn`, bounded by `call_timeout`, cancelled
    /// at the backend when the client cancels, with the client's progress token mapped.
    async fn forward(
        &self,
        conn: &BackendConn,
        req: ClientRequest,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<ServerResult, McpError> {
        let timeout = self.inner.engine.agg.call_timeout;
        let mut opts = rmcp::service::PeerRequestOptions::with_timeout(timeout);
        if ctx.meta.get_progress_token().is_some() {
            opts = opts
                .reset_timeout_on_progress()
                .with_max_total_timeout(timeout * 10);
        }
        let handle = conn
            .peer()
            .send_request_with_option(req, opts)
            .await
            .map_err(|e| gone(e, &conn.id, timeout))?;
        let theirs = handle.progress_token.clone();
        self.inner
            .down
            .map_request(conn.idx, handle.id.clone(), ctx.id.clone());
        let request_id = handle.id.clone();
        let mapped = if let Some(ours) = ctx.meta.get_progress_token() {
            self.inner.down.map_progress(conn.idx, theirs.clone(), ours);
            true
        } else {
            false
        };
        let peer = handle.peer.clone();
        let rid = handle.id.clone();
        let r = tokio::select! {
            r = handle.await_response() => r.map_err(|e| gone(e, &conn.id, timeout)),
            _ = ctx.ct.cancelled() => {
                let _ = peer.notify_cancelled(CancelledNotificationParam::new(
                    Some(rid),
                    Some("cancelled by the client".into()),
                )).await;
                Err(McpError::internal_error("request cancelled", None))
            }
            _ = self.inner.ended.cancelled() => {
                Err(McpError::internal_error("session ended", None))
            }
        };
        if mapped {
            if !ctx.ct.is_cancelled() && !self.inner.ended.is_cancelled() {
                // Progress the backend sent before its response goes out before the response.
                self.inner
                    .down
                    .progress_drained(conn.idx, &theirs, PROGRESS_DRAIN)
                    .await;
            }
            self.inner.down.unmap_progress(conn.idx, &theirs);
        }
        self.inner.down.unmap_request(conn.idx, &request_id);
        r
    }

    /// Transparent mode: forward a list request to the one backend unchanged (cursors pass through).
    async fn forward_list<R>(
        &self,
        conns: &[Arc<BackendConn>],
        req: ClientRequest,
        ctx: &RequestContext<RoleServer>,
        pick: fn(ServerResult) -> Option<R>,
    ) -> Result<R, McpError> {
        let c = Self::conn(conns, 0)?;
        pick(self.forward(c, req, ctx).await?).ok_or_else(|| unexpected(&c.id))
    }

    /// Gateway mode: every page of every backend that has `cap`, listed concurrently, each bounded
    /// by `call_timeout`. A backend that fails or times out is logged and left out.
    async fn gather<T, Fut>(
        &self,
        conns: &[Arc<BackendConn>],
        what: &str,
        cap: fn(&ServerCapabilities) -> bool,
        list: impl Fn(Peer<RoleClient>) -> Fut,
    ) -> Vec<(usize, Vec<T>)>
    where
        Fut: std::future::Future<Output = Result<Vec<T>, rmcp::ServiceError>>,
    {
        let ct = self.inner.engine.agg.call_timeout;
        let lists =
            futures::future::join_all(conns.iter().filter(|c| Self::has_cap(c, cap)).map(|c| {
                let f = list(c.peer().clone());
                async move { (c, tokio::time::timeout(ct, f).await) }
            }))
            .await;
        let mut out = Vec::new();
        for (c, r) in lists {
            match r {
                Ok(Ok(items)) => out.push((c.idx, items)),
                Ok(Err(err)) => tracing::warn!(backend = %c.id, "{what} failed: {}", err_str(&err)),
                Err(_) => tracing::warn!(backend = %c.id, "{what} timed out"),
            }
        }
        out
    }

    fn record(
        &self,
        backend: &str,
        method: &str,
        target: &str,
        started: Instant,
        outcome: CallOutcome,
        tool_key: Option<&str>,
    ) {
        let duration = started.elapsed();
        self.inner.engine.hub.record_call(
            crate::core::hub::CallRecord {
                session: &self.inner.id,
                backend,
                method,
                target,
                duration,
                outcome,
            },
            tool_key,
        );
    }

    /// See [`Engine::fast_call`]. Taken only when the call needs nothing the rmcp path does
    /// beyond forwarding: the backend is connected and has a raw link (stdio), the tool is
    /// exposed, and the client offers neither sampling nor elicitation (whose requests belong on
    /// the call's own response stream). Progress is carried (the backend sees the fast id as
    /// its token; the client gets its own back), with the same timeout rule as the rmcp path.
    /// Everything else, including every error the gateway itself answers, takes the rmcp path.
    fn fast_call(
        self,
        client_id: &str,
        params: crate::core::fastpath::CallParams<'_>,
    ) -> Option<FastCall> {
        use crate::core::fastpath as fp;
        if self.inner.ended.is_cancelled() {
            return None;
        }
        let conns = self.inner.conns.get()?.as_ref().ok()?;
        let caps = &self.inner.down.init()?.capabilities;
        if caps.sampling.is_some() || caps.elicitation.is_some() {
            return None;
        }
        let e = &self.inner.engine;
        let (i, original) = e.resolve(&params.name)?;
        if !e.backends[i].tools.check(&original).exposed() {
            return None;
        }
        let conn = conns.iter().find(|c| c.idx == i)?.clone();
        let link = conn.raw.clone()?;
        let (n, theirs, waiter) = link.register(params.progress.is_some())?;
        let mut frame = fp::call_frame(&theirs, &original, &params);
        frame.push(b'\n');
        let timeout = e.agg.call_timeout;
        let started = Instant::now();
        let max_total = if params.progress.is_some() {
            timeout * 10
        } else {
            timeout
        };
        let st = FastState {
            abandon: FastAbandon {
                link: Some(link.clone()),
                n,
                theirs,
                why: "cancelled by the client",
            },
            session: self,
            conn,
            link,
            frame: Some(frame),
            waiter,
            client_id: client_id.to_string(),
            client_token: params.progress.map(|t| t.get().to_string()),
            exposed: params.name.into_owned(),
            started,
            timeout,
            max_deadline: started + max_total,
            timer: crate::core::deadline::Deadline::at(started + timeout),
            queue: std::collections::VecDeque::new(),
            finished: false,
        };
        Some(Box::pin(futures::stream::unfold(st, |mut st| async move {
            let item = st.next().await?;
            Some((item, st))
        })))
    }

    fn conn(conns: &[Arc<BackendConn>], i: usize) -> Result<&Arc<BackendConn>, McpError> {
        conns
            .iter()
            .find(|c| c.idx == i)
            .ok_or_else(|| McpError::internal_error("backend not connected", None))
    }

    fn has_cap(conn: &BackendConn, f: impl Fn(&ServerCapabilities) -> bool) -> bool {
        conn.info
            .as_ref()
            .map(|i| f(&i.capabilities))
            .unwrap_or(false)
    }

    /// Route a resource URI to a backend index.
    async fn route_uri(&self, uri: &str) -> Result<usize, McpError> {
        let e = &self.inner.engine;
        if e.mode == Mode::Transparent {
            return Ok(0);
        }
        if let Some(i) = self
            .inner
            .resource_routes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(uri)
            .copied()
        {
            return Ok(i);
        }
        let d = e.discovered();
        for (i, x) in d.iter().enumerate() {
            if x.resources.iter().any(|r| r.uri == uri)
                || x.templates
                    .iter()
                    .any(|t| template_matches(&t.uri_template, uri))
            {
                return Ok(i);
            }
        }
        // First backend offering resources at all.
        let conns = self.conns().await?;
        conns
            .iter()
            .find(|c| Self::has_cap(c, |c| c.resources.is_some()))
            .map(|c| c.idx)
            .ok_or_else(|| {
                McpError::resource_not_found(format!("no backend serves resource '{uri}'"), None)
            })
    }
}

/// RFC 6570 level-1 matching: literal parts must match in order; `{var}` matches any run.
pub fn template_matches(template: &str, uri: &str) -> bool {
    let mut pattern = String::new();
    let mut in_var = false;
    for ch in template.chars() {
        match (ch, in_var) {
            ('{', false) => {
                in_var = true;
                pattern.push('*');
            }
            ('}', true) => in_var = false,
            (_, true) => {}
            ('*', false) | ('?', false) => pattern.push('?'),
            (c, false) => pattern.push(c),
        }
    }
    wildmatch::WildMatch::new(&pattern).matches(uri)
}

impl ServerHandler for Session {
    fn get_info(&self) -> ServerConfig {
        let e = &self.inner.engine;
        match e.mode {
            Mode::Gateway => e.gateway_info(),
            Mode::Transparent => {
                let info = self
                    .inner
                    .conns
                    .get()
                    .and_then(|r| r.as_ref().ok())
                    .and_then(|c| c.first())
                    .and_then(|c| c.info.clone())
                    .or_else(|| e.discovered().first().and_then(|d| d.info.clone()));
                let mut out = ServerConfig::default();
                if let Some(i) = info {
                    out.capabilities = i.capabilities;
                    if let Some(s) = i.server_info {
                        out.server_info = s;
                    }
                    out.instructions = i.instructions;
                }
                out
            }
        }
    }

    async fn initialize(
        &self,
        request: InitializeRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<InitializeResult, McpError> {
        ctx.peer.set_peer_info(request.clone());
        self.inner.down.set_init(request.clone());
        if let Some(TransportSessionId(sid)) = ctx.extensions.get::<TransportSessionId>() {
            self.inner
                .engine
                .bind_transport_session(format!("mcp:{sid}"), self);
        }
        self.attach(&ctx);
        let client = format!(
            "{} {}",
            request.client_info.name, request.client_info.version
        );
        let pv = request.protocol_version.to_string();
        self.inner.engine.hub.session_update(&self.inner.id, |s| {
            s.client = Some(client);
            s.protocol_version = Some(pv);
        });
        self.conns().await?;
        self.negotiate_initialize(&request)
    }

    async fn ping(&self, ctx: RequestContext<RoleServer>) -> Result<(), McpError> {
        self.attach(&ctx);
        Ok(())
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        self.attach(&ctx);
        let e = self.inner.engine.clone();
        let conns = self.conns().await?;
        if e.mode == Mode::Transparent {
            let req = ListToolsRequest {
                method: Default::default(),
                params: request,
                extensions: Default::default(),
            };
            return self
                .forward_list(conns, req.into(), &ctx, |r| match r {
                    ServerResult::ListToolsResult(r) => Some(r),
                    _ => None,
                })
                .await;
        }
        let mut out = Vec::new();
        for (i, tools) in self
            .gather(
                conns,
                "tools/list",
                |c| c.tools.is_some(),
                |p| async move { p.list_all_tools().await },
            )
            .await
        {
            let b = &e.backends[i];
            for mut t in tools {
                if b.tools.check(&t.name).exposed() {
                    t.name = e.expose(i, &t.name).into();
                    out.push(t);
                }
            }
        }
        Ok(ListToolsResult::with_all_items(out))
    }

    async fn call_tool(
        &self,
        mut request: CallToolRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        self.attach(&ctx);
        let e = self.inner.engine.clone();
        let exposed = request.name.to_string();
        let Some((i, original)) = e.resolve(&exposed) else {
            return Err(McpError::invalid_params(
                format!("unknown tool: {exposed}"),
                None,
            ));
        };
        if !e.backends[i].tools.check(&original).exposed() {
            tracing::info!(session = %self.inner.id, tool = %exposed, "call to a filtered tool refused");
            return Err(McpError::invalid_params(
                format!("unknown tool: {exposed}"),
                None,
            ));
        }
        let conns = self.conns().await?;
        let c = Self::conn(conns, i)?;
        request.name = original.into();
        let started = Instant::now();
        let r = self
            .forward(c, CallToolRequest::new(request).into(), &ctx)
            .await;
        let tool_key = Some(exposed.as_str());
        match r {
            Ok(ServerResult::CallToolResult(res)) => {
                let outcome = if res.is_error == Some(true) {
                    CallOutcome::ToolError(first_text(&res).unwrap_or_else(|| "tool error".into()))
                } else {
                    CallOutcome::Ok
                };
                self.record(&c.id, "tools/call", &exposed, started, outcome, tool_key);
                Ok(CallToolResponse::Complete(res))
            }
            Ok(ServerResult::InputRequiredResult(res)) => {
                self.record(
                    &c.id,
                    "tools/call",
                    &exposed,
                    started,
                    CallOutcome::Ok,
                    tool_key,
                );
                Ok(CallToolResponse::InputRequired(res))
            }
            Ok(ServerResult::CreateTaskResult(res)) => {
                self.record(
                    &c.id,
                    "tools/call",
                    &exposed,
                    started,
                    CallOutcome::Ok,
                    tool_key,
                );
                Ok(CallToolResponse::Task(res))
            }
            Ok(_) => Err(unexpected(&c.id)),
            Err(err) => {
                let outcome = if err.message.contains("call_timeout") {
                    CallOutcome::Timeout
                } else if ctx.ct.is_cancelled() {
                    CallOutcome::Cancelled
                } else {
                    CallOutcome::Error(err.code.0, err.message.to_string())
                };
                self.record(&c.id, "tools/call", &exposed, started, outcome, tool_key);
                Err(err)
            }
        }
    }

    async fn list_prompts(
        &self,
        request: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, McpError> {
        self.attach(&ctx);
        let e = self.inner.engine.clone();
        let conns = self.conns().await?;
        if e.mode == Mode::Transparent {
            let req = ListPromptsRequest {
                method: Default::default(),
                params: request,
                extensions: Default::default(),
            };
            return self
                .forward_list(conns, req.into(), &ctx, |r| match r {
                    ServerResult::ListPromptsResult(r) => Some(r),
                    _ => None,
                })
                .await;
        }
        let mut out = Vec::new();
        for (i, prompts) in self
            .gather(
                conns,
                "prompts/list",
                |c| c.prompts.is_some(),
                |p| async move { p.list_all_prompts().await },
            )
            .await
        {
            out.extend(prompts.into_iter().map(|mut p| {
                p.name = e.expose(i, &p.name);
                p
            }));
        }
        Ok(ListPromptsResult::with_all_items(out))
    }

    async fn get_prompt(
        &self,
        mut request: GetPromptRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, McpError> {
        self.attach(&ctx);
        let e = self.inner.engine.clone();
        let exposed = request.name.clone();
        let Some((i, original)) = e.resolve(&exposed) else {
            return Err(McpError::invalid_params(
                format!("unknown prompt: {exposed}"),
                None,
            ));
        };
        let conns = self.conns().await?;
        let c = Self::conn(conns, i)?;
        request.name = original;
        let started = Instant::now();
        let r = self
            .forward(c, GetPromptRequest::new(request).into(), &ctx)
            .await;
        self.record(
            &c.id,
            "prompts/get",
            &exposed,
            started,
            outcome_of(&r),
            None,
        );
        match r? {
            ServerResult::GetPromptResult(r) => Ok(GetPromptResponse::Complete(r)),
            ServerResult::InputRequiredResult(r) => Ok(GetPromptResponse::InputRequired(r)),
            _ => Err(unexpected(&c.id)),
        }
    }

    async fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        self.attach(&ctx);
        let e = self.inner.engine.clone();
        let conns = self.conns().await?;
        if e.mode == Mode::Transparent {
            let req = ListResourcesRequest {
                method: Default::default(),
                params: request,
                extensions: Default::default(),
            };
            return self
                .forward_list(conns, req.into(), &ctx, |r| match r {
                    ServerResult::ListResourcesResult(r) => Some(r),
                    _ => None,
                })
                .await;
        }
        let mut out = Vec::new();
        for (i, resources) in self
            .gather(
                conns,
                "resources/list",
                |c| c.resources.is_some(),
                |p| async move { p.list_all_resources().await },
            )
            .await
        {
            let mut routes = self
                .inner
                .resource_routes
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            for r in resources {
                routes.entry(r.uri.clone()).or_insert(i);
                out.push(r);
            }
        }
        Ok(ListResourcesResult::with_all_items(out))
    }

    async fn list_resource_templates(
        &self,
        request: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, McpError> {
        self.attach(&ctx);
        let e = self.inner.engine.clone();
        let conns = self.conns().await?;
        if e.mode == Mode::Transparent {
            let req = ListResourceTemplatesRequest {
                method: Default::default(),
                params: request,
                extensions: Default::default(),
            };
            return self
                .forward_list(conns, req.into(), &ctx, |r| match r {
                    ServerResult::ListResourceTemplatesResult(r) => Some(r),
                    _ => None,
                })
                .await;
        }
        let out = self
            .gather(
                conns,
                "resources/templates/list",
                |c| c.resources.is_some(),
                |p| async move { p.list_all_resource_templates().await },
            )
            .await
            .into_iter()
            .flat_map(|(_, ts)| ts)
            .collect();
        Ok(ListResourceTemplatesResult::with_all_items(out))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        self.attach(&ctx);
        let uri = request.uri.clone();
        let i = self.route_uri(&uri).await?;
        let conns = self.conns().await?;
        let c = Self::conn(conns, i)?;
        let started = Instant::now();
        let r = self
            .forward(c, ReadResourceRequest::new(request).into(), &ctx)
            .await;
        self.record(&c.id, "resources/read", &uri, started, outcome_of(&r), None);
        match r? {
            ServerResult::ReadResourceResult(r) => Ok(ReadResourceResponse::Complete(r)),
            ServerResult::InputRequiredResult(r) => Ok(ReadResourceResponse::InputRequired(r)),
            _ => Err(unexpected(&c.id)),
        }
    }

    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        self.attach(&ctx);
        let i = self.route_uri(&request.uri).await?;
        let conns = self.conns().await?;
        let c = Self::conn(conns, i)?;
        self.forward(c, SubscribeRequest::new(request).into(), &ctx)
            .await
            .map(|_| ())
    }

    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        self.attach(&ctx);
        let i = self.route_uri(&request.uri).await?;
        let conns = self.conns().await?;
        let c = Self::conn(conns, i)?;
        self.forward(c, UnsubscribeRequest::new(request).into(), &ctx)
            .await
            .map(|_| ())
    }

    async fn complete(
        &self,
        mut request: CompleteRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, McpError> {
        self.attach(&ctx);
        let e = self.inner.engine.clone();
        let i = match &mut request.r#ref {
            Reference::Prompt(p) => {
                let Some((i, original)) = e.resolve(&p.name) else {
                    return Err(McpError::invalid_params(
                        format!("unknown prompt: {}", p.name),
                        None,
                    ));
                };
                p.name = original;
                i
            }
            Reference::Resource(r) => self.route_uri(&r.uri).await?,
            _ => {
                return Err(McpError::invalid_params(
                    "unsupported completion reference",
                    None,
                ))
            }
        };
        let conns = self.conns().await?;
        let c = Self::conn(conns, i)?;
        match self
            .forward(c, CompleteRequest::new(request).into(), &ctx)
            .await?
        {
            ServerResult::CompleteResult(r) => Ok(r),
            _ => Err(unexpected(&c.id)),
        }
    }

    async fn set_level(
        &self,
        request: SetLevelRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        self.attach(&ctx);
        let conns = self.conns().await?;
        let mut last_err = None;
        let mut any = false;
        for c in conns
            .iter()
            .filter(|c| Self::has_cap(c, |c| c.logging.is_some()))
        {
            any = true;
            if let Err(err) = self
                .forward(c, SetLevelRequest::new(request.clone()).into(), &ctx)
                .await
            {
                last_err = Some(err);
            }
        }
        match (any, last_err, self.inner.engine.mode) {
            (_, Some(e), Mode::Transparent) => Err(e),
            (false, _, Mode::Transparent) => {
                Err(McpError::method_not_found::<SetLevelRequestMethod>())
            }
            _ => Ok(()),
        }
    }

    async fn on_custom_request(
        &self,
        request: CustomRequest,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CustomResult, McpError> {
        self.attach(&ctx);
        if self.inner.engine.mode != Mode::Transparent {
            return Err(McpError::new(
                ErrorCode::METHOD_NOT_FOUND,
                request.method,
                None,
            ));
        }
        let conns = self.conns().await?;
        let c = Self::conn(conns, 0)?;
        match self
            .forward(c, ClientRequest::CustomRequest(request), &ctx)
            .await?
        {
            ServerResult::CustomResult(r) => Ok(r),
            _ => Err(unexpected(&c.id)),
        }
    }

    async fn on_roots_list_changed(&self, _ctx: NotificationContext<RoleServer>) {
        if let Some(Ok(conns)) = self.inner.conns.get() {
            for c in conns {
                let _ = c.peer().notify_roots_list_changed().await;
            }
        }
    }

    async fn on_custom_notification(
        &self,
        notification: CustomNotification,
        _ctx: NotificationContext<RoleServer>,
    ) {
        if self.inner.engine.mode != Mode::Transparent {
            return;
        }
        if let Some(Ok(conns)) = self.inner.conns.get() {
            for c in conns {
                let _ = c
                    .peer()
                    .send_notification(ClientNotification::CustomNotification(notification.clone()))
                    .await;
            }
        }
    }
}

fn outcome_of(r: &Result<ServerResult, McpError>) -> CallOutcome {
    match r {
        Ok(_) => CallOutcome::Ok,
        Err(e) if e.message.contains("call_timeout") => CallOutcome::Timeout,
        Err(e) => CallOutcome::Error(e.code.0, e.message.to_string()),
    }
}

fn first_text(r: &CallToolResult) -> Option<String> {
    r.content
        .iter()
        .find_map(|c| c.as_text().map(|t| t.text.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates() {
        assert!(template_matches("file:///{path}", "file:///a/b.txt"));
        assert!(template_matches(
            "test://static/resource/{id}",
            "test://static/resource/7"
        ));
        assert!(!template_matches(
            "test://static/resource/{id}",
            "other://x"
        ));
    }
}
