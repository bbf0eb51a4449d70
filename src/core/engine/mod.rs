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
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock, Weak};
use std::time::{Duration, Instant, SystemTime};

use tokio_util::sync::CancellationToken;

use crate::core::backend::process::Registry;
use crate::core::backend::{ConnectEnv, Downstream, ZrokConnector};
use crate::core::config;
use crate::core::live::hub::Hub;
use crate::core::live::state::{self, BackendStatus};

mod call;
mod catalog;
mod conns;
pub mod console;
mod discovery;
mod fast;
mod handler;
mod light;
mod observe;
mod policy;
mod reload;
mod session;

pub(crate) use call::INVALID_PARAMS;
use catalog::Catalog;
pub(crate) use fast::{FastCall, FastItem};
pub(crate) use light::result_frame;
pub use reload::{Loaded, ReloadReport, Reloader};
pub use session::Session;
use session::SessionInner;

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
    /// Per-caller tool rules (`access:`).
    pub access: Vec<config::AccessRule>,
}

/// Why the engine could not start.
#[derive(Debug, thiserror::Error)]
#[error("backend '{id}': {cause}")]
pub struct StartError {
    pub id: String,
    pub cause: String,
}

/// Longest wait at shutdown for sessions to release what they hold.
const SESSION_DRAIN: Duration = Duration::from_secs(3);

pub struct Engine {
    /// The aggregator settings fixed at start (name, separator, limits of the fronts); the ones
    /// a reload may change are read from the [`Catalog`].
    pub agg: config::Aggregator,
    pub mode: Mode,
    pub hub: Hub,
    pub registry: Registry,
    /// The running configuration (replaced whole by a reload).
    catalog: RwLock<Arc<Catalog>>,
    /// One reload (or console rediscovery) at a time.
    reload_lock: tokio::sync::Mutex<()>,
    /// Where a reload reads the configuration from (set by the command that started the
    /// engine from a file).
    reloader: OnceLock<Reloader>,
    /// Whether backends are discovered (at start and when a reload adds them).
    discover: bool,
    env: ConnectEnv,
    next_key: AtomicUsize,
    sessions: Mutex<HashMap<String, SessionEntry>>,
    /// Live sessions by transport session id, for the `tools/call` fast path and the
    /// streamable-HTTP idle sweep.
    transport_sessions: Mutex<HashMap<TransportKey, Weak<SessionInner>>>,
    /// Notified whenever a session ends (shutdown waits for the last one).
    session_ended: tokio::sync::Notify,
    pub shutdown: CancellationToken,
    next_session: AtomicU64,
    /// The audit log and metrics (`core::ops`), when configured: told about every call.
    observer: OnceLock<Arc<crate::core::ops::Observer>>,
    /// Gives the heap back to the system after sessions ended (`core::heap`).
    pub(super) trimmer: Arc<crate::core::heap::Trimmer>,
}

/// A live session, as the engine finds it (console commands, reloads, shutdown).
struct SessionEntry {
    ended: CancellationToken,
    inner: Weak<SessionInner>,
}

/// Who is calling: an OpenZiti identity (authenticated by the overlay: the `CallerId` the router
/// puts on the dial), or the local machine (loopback TCP, stdio), one identity named `local`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Caller {
    #[default]
    Local,
    Ziti(String),
}

impl Caller {
    /// The caller of a connection whose dial named `ziti` (`None`: TCP, so `local`).
    pub(crate) fn of(ziti: Option<&str>) -> Caller {
        ziti.map_or(Caller::Local, |n| Caller::Ziti(n.to_string()))
    }

    /// The name `access:` rules match and logs show.
    pub fn name(&self) -> &str {
        match self {
            Caller::Local => "local",
            Caller::Ziti(n) => n,
        }
    }
}

impl std::fmt::Display for Caller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The transport session id of a streamable-HTTP session, put into the `initialize` request's
/// extensions by the serving layer (see `front/streamable.rs`).
#[derive(Debug, Clone)]
pub(crate) struct TransportSessionId(pub String);

/// How a client session is known to its transport, for the fast path and the idle sweep.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum TransportKey {
    /// A streamable-HTTP session (`Mcp-Session-Id`).
    Streamable(String),
    /// A legacy SSE session (`sessionid`).
    Sse(String),
    /// A stdio session (the engine's own session id).
    Stdio(String),
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
        let engine = Arc::new(Engine {
            agg: opts.aggregator.clone(),
            mode: opts.mode,
            hub,
            registry,
            catalog: RwLock::new(Arc::new(Catalog {
                generation: 0,
                agg: opts.aggregator,
                backends: Vec::new(),
                access: opts.access,
            })),
            reload_lock: tokio::sync::Mutex::new(()),
            reloader: OnceLock::new(),
            discover: opts.discover,
            env,
            next_key: AtomicUsize::new(1),
            sessions: Mutex::new(HashMap::new()),
            shutdown: CancellationToken::new(),
            transport_sessions: Mutex::new(HashMap::new()),
            session_ended: tokio::sync::Notify::new(),
            next_session: AtomicU64::new(1),
            observer: OnceLock::new(),
            trimmer: Arc::default(),
        });
        engine.hub.spawn_publisher(engine.shutdown.clone());
        tokio::spawn(engine.trimmer.clone().run(engine.shutdown.clone()));
        for b in &opts.backends {
            engine.show_backend(b);
        }
        let results = futures::future::join_all(
            opts.backends
                .iter()
                .map(|b| engine.define(b.clone(), opts.discover)),
        )
        .await;
        let mut defs = Vec::new();
        let mut first_err = None;
        for (b, r) in opts.backends.iter().zip(results) {
            match r {
                Ok(d) => {
                    if opts.discover {
                        engine.publish_discovered(&d);
                    }
                    defs.push(d);
                }
                Err(cause) => {
                    first_err.get_or_insert(StartError {
                        id: b.id.clone(),
                        cause,
                    });
                }
            }
        }
        {
            let cat = engine.catalog();
            engine.install(Catalog {
                generation: 0,
                agg: cat.agg.clone(),
                backends: defs,
                access: cat.access.clone(),
            });
        }
        engine.hub.publish();
        // The discovery connections are gone.
        engine.trimmer.freed();
        if let Some(e) = first_err {
            engine.shutdown().await;
            return Err(e);
        }
        Ok(engine)
    }

    /// Much was just freed (start-up work done): give the heap back to the system soon
    /// (`core::heap`). Ended sessions do this by themselves.
    pub fn heap_freed(&self) {
        self.trimmer.freed();
    }

    /// Make `cat` the running configuration.
    fn install(&self, cat: Catalog) {
        *self.catalog.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(cat);
    }

    fn next_key(&self) -> usize {
        self.next_key.fetch_add(1, Ordering::Relaxed)
    }

    /// How this engine connects to backends now (the running `connect_timeout`).
    pub(crate) fn connect_env_now(&self) -> ConnectEnv {
        let mut env = self.env.clone();
        env.connect_timeout = self.catalog().agg.connect_timeout;
        env
    }

    /// The live sessions.
    fn live_sessions(&self) -> Vec<Session> {
        self.sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .filter_map(|s| s.inner.upgrade())
            .map(|inner| Session { inner })
            .collect()
    }

    /// Route transport session `key` (`mcp:<id>` / `sse:<id>`) to `session`.
    pub(crate) fn bind_transport_session(&self, key: TransportKey, session: &Session) {
        let _ = session.inner.transport_key.set(key.clone());
        self.transport_sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, Arc::downgrade(&session.inner));
    }

    /// Keys of bound transport sessions idle for at least `idle` or ended (and drops the
    /// entries of sessions that are gone).
    pub(crate) fn stale_transport_sessions(&self, idle: Duration) -> Vec<TransportKey> {
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

    /// A new client session. `remote` and `transport` are for display; `caller` is who is
    /// calling, when the transport knows it at this point (streamable HTTP learns it from the
    /// session's first request).
    pub fn new_session(
        self: &Arc<Self>,
        remote: &str,
        caller: Option<Caller>,
        transport: &str,
    ) -> Session {
        let n = self.next_session.fetch_add(1, Ordering::Relaxed);
        let id = format!("s{n}-{}", &uuid::Uuid::new_v4().simple().to_string()[..6]);
        let ended = self.shutdown.child_token();
        let shown = caller.as_ref().map_or("?", |c| c.name());
        self.hub.session_opened(&id, remote, shown, transport);
        tracing::info!(session = %id, %remote, caller = %shown, %transport, "session opened");
        let inner = Arc::new(SessionInner {
            engine: self.clone(),
            id: id.clone(),
            down: Arc::new(Downstream::default()),
            conns: conns::Conns::default(),
            ended: ended.clone(),
            last_activity: Mutex::new(Instant::now()),
            resource_routes: Mutex::new(HashMap::new()),
            transport_key: OnceLock::new(),
            caller: Mutex::new(caller),
        });
        self.sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                id,
                SessionEntry {
                    ended,
                    inner: Arc::downgrade(&inner),
                },
            );
        Session { inner }
    }

    /// End a session by id (console). Its backend connections are released.
    pub(crate) fn end_session(&self, id: &str) -> bool {
        let t = self
            .sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .map(|s| s.ended.clone());
        match t {
            Some(t) => {
                t.cancel();
                true
            }
            None => false,
        }
    }

    /// Returns once no session is left.
    async fn sessions_gone(&self) {
        loop {
            let ended = self.session_ended.notified();
            tokio::pin!(ended);
            ended.as_mut().enable();
            if self
                .sessions
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .is_empty()
            {
                return;
            }
            ended.await;
        }
    }

    /// Stop everything: sessions end, subprocesses are terminated (bounded).
    pub async fn shutdown(&self) {
        self.shutdown.cancel();
        // Sessions end as their tasks see the cancellation: wait (bounded) until the last one
        // has released what it holds (subprocesses, zrok accesses) before the process exits.
        if tokio::time::timeout(SESSION_DRAIN, self.sessions_gone())
            .await
            .is_err()
        {
            tracing::warn!("some sessions did not end within {SESSION_DRAIN:?}");
        }
        if let Some(z) = &self.env.zrok {
            z.drain().await;
        }
        for b in &self.catalog().backends {
            self.hub
                .update_backend(b.id(), |s| s.status = BackendStatus::Stopped);
        }
        self.registry
            .terminate_all(crate::core::backend::process::KILL_GRACE)
            .await;
        self.hub.publish();
    }
}
