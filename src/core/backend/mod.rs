#![allow(deprecated)]
// Sampling, roots, logging and subscribe are deprecated upstream but still spoken by clients: a proxy must carry them.

//! Connections to MCP backends (stdio subprocesses, HTTP/HTTPS servers, zrok shares) and the client
//! handler that carries a backend's notifications and server-to-client requests back to the session
//! that owns the connection.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use rmcp::model::{
    ClientCapabilities, ClientConfig, ClientResult, CreateMessageRequest,
    CreateMessageRequestParams, CreateMessageResult, CustomNotification, CustomRequest,
    CustomResult, ElicitRequest, ElicitRequestParams, ElicitResult, Extensions, GetExtensions,
    Implementation, InitializeRequestParams, JsonRpcMessage, JsonRpcNotification, ListRootsRequest,
    ListRootsResult, LoggingMessageNotificationParam, ProgressNotificationParam, ProgressToken,
    RequestId, ResourceUpdatedNotificationParam, ServerNotification, ServerPeerInfo, ServerRequest,
};
use rmcp::service::{
    InboundStreamOrigin, NotificationContext, OriginatingRequestId, RequestContext, RunningService,
    RxJsonRpcMessage, TxJsonRpcMessage,
};
use rmcp::transport::{IntoTransport, Transport};
use rmcp::{ClientHandler, ErrorData as McpError, Peer, RoleClient, RoleServer, ServiceExt};

use crate::core::config;
use process::{ChildGuard, Registry};

pub mod http;
pub mod http_client;
pub mod process;
pub mod raw;
pub mod sse;
pub mod zrok;

/// The client end of one session, shared with every backend connection the session owns, so that
/// backend notifications and requests reach the right client.
#[derive(Default)]
pub struct Downstream {
    peer: OnceLock<Peer<RoleServer>>,
    init: OnceLock<InitializeRequestParams>,
    /// (backend index, token the backend sees) -> token the client sent.
    progress: Mutex<HashMap<(usize, ProgressToken), ProgressToken>>,
    /// Where backend list-changed notifications go (the owning session).
    list_changed: Mutex<Option<ListChangedFn>>,
    /// Progress notifications received from a backend and not yet passed to the client, per
    /// (backend index, token the backend sees). rmcp hands each notification to a spawned task
    /// but delivers responses at once, so without this a response could overtake the progress
    /// the backend sent before it (and the client would drop that progress).
    progress_in_flight: Mutex<HashMap<(usize, ProgressToken), usize>>,
    progress_passed: tokio::sync::Notify,
    /// (backend index, request id the backend sees) -> id of the client request being forwarded.
    requests: Mutex<HashMap<(usize, RequestId), RequestId>>,
}

/// Receives list-changed notifications from a session's backends.
pub type ListChangedFn = Arc<dyn Fn(ListChanged) + Send + Sync>;
/// Receives each stderr line of a stdio backend (`backend id`, line).
pub type StderrFn = Arc<dyn Fn(&str, &str) + Send + Sync>;

/// Which list changed at a backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListChanged {
    Tools(usize),
    Prompts(usize),
    Resources(usize),
}

impl Downstream {
    pub fn set_peer(&self, peer: Peer<RoleServer>) {
        let _ = self.peer.set(peer);
    }

    pub fn peer(&self) -> Option<&Peer<RoleServer>> {
        self.peer.get()
    }

    pub fn set_init(&self, init: InitializeRequestParams) {
        let _ = self.init.set(init);
    }

    pub fn init(&self) -> Option<&InitializeRequestParams> {
        self.init.get()
    }

    pub fn map_progress(&self, backend: usize, theirs: ProgressToken, ours: ProgressToken) {
        self.progress
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert((backend, theirs), ours);
    }

    pub fn unmap_progress(&self, backend: usize, theirs: &ProgressToken) {
        let key = (backend, theirs.clone());
        self.progress
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&key);
        self.progress_in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&key);
    }

    /// Client request `ours` is being forwarded to backend `backend` as request `theirs`.
    pub fn map_request(&self, backend: usize, theirs: RequestId, ours: RequestId) {
        self.requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert((backend, theirs), ours);
    }

    pub fn unmap_request(&self, backend: usize, theirs: &RequestId) {
        self.requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&(backend, theirs.clone()));
    }

    /// The client request a request from backend `backend` belongs to: the forwarded request on
    /// whose response stream it arrived (`theirs`, HTTP backends), else the only request being
    /// forwarded to that backend (stdio has no way to say), else none.
    fn client_request(&self, backend: usize, theirs: Option<&RequestId>) -> Option<RequestId> {
        let m = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(theirs) = theirs {
            if let Some(ours) = m.get(&(backend, theirs.clone())) {
                return Some(ours.clone());
            }
        }
        let mut mine = m.iter().filter(|((b, _), _)| *b == backend).map(|(_, v)| v);
        match (mine.next(), mine.next()) {
            (Some(only), None) => Some(only.clone()),
            _ => None,
        }
    }

    /// A progress notification for `theirs` arrived from backend `backend` (called in wire order).
    fn progress_received(&self, backend: usize, theirs: &ProgressToken) {
        *self
            .progress_in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry((backend, theirs.clone()))
            .or_insert(0) += 1;
    }

    /// A progress notification counted by `progress_received` was passed on (or dropped).
    fn progress_passed(&self, backend: usize, theirs: &ProgressToken) {
        {
            let mut m = self
                .progress_in_flight
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            let key = (backend, theirs.clone());
            if let Some(n) = m.get_mut(&key) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    m.remove(&key);
                }
            }
        }
        self.progress_passed.notify_waiters();
    }

    /// Wait (at most `limit`) until every progress notification received so far for `theirs`
    /// has been passed to the client: call after the response arrives, before returning it.
    pub async fn progress_drained(&self, backend: usize, theirs: &ProgressToken, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        let key = (backend, theirs.clone());
        loop {
            let passed = self.progress_passed.notified();
            tokio::pin!(passed);
            passed.as_mut().enable();
            if !self
                .progress_in_flight
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .contains_key(&key)
            {
                return;
            }
            if tokio::time::timeout_at(deadline, passed).await.is_err() {
                tracing::debug!(
                    backend,
                    "progress still in flight when the response was returned"
                );
                return;
            }
        }
    }

    fn client_token(&self, backend: usize, theirs: &ProgressToken) -> Option<ProgressToken> {
        self.progress
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(backend, theirs.clone()))
            .cloned()
    }

    pub fn on_list_changed(&self, f: ListChangedFn) {
        *self.list_changed.lock().unwrap_or_else(|e| e.into_inner()) = Some(f);
    }

    fn list_changed(&self, what: ListChanged) {
        let f = self
            .list_changed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some(f) = f {
            f(what);
        }
    }
}

/// The rmcp client handler of one backend connection.
pub struct BackendClient {
    pub idx: usize,
    pub id: String,
    pub down: Arc<Downstream>,
}

fn no_client(method: &str) -> McpError {
    McpError::internal_error(
        format!("{method}: no client is attached to this backend connection"),
        None,
    )
}

fn forward_err(e: rmcp::ServiceError) -> McpError {
    match e {
        rmcp::ServiceError::McpError(e) => e,
        other => McpError::internal_error(format!("client request failed: {other}"), None),
    }
}

impl BackendClient {
    /// A second handler for the same backend slot (for a retried connection attempt).
    pub fn clone_for_retry(&self) -> BackendClient {
        BackendClient {
            idx: self.idx,
            id: self.id.clone(),
            down: self.down.clone(),
        }
    }

    /// Pass a backend's request to the client, as part of the client request it belongs to.
    ///
    /// rmcp marks a request sent from inside a request handler as originating from the request
    /// being handled, which here is the backend's own request (an id from the backend's id
    /// space, meaningless or wrong in the client's session). So the request is sent from a task
    /// of its own, marked with the client request it belongs to: a streamable HTTP client then
    /// gets it on that request's response stream, as it would from the server directly, instead
    /// of on a standalone GET stream it may not have opened.
    async fn ask_client(
        &self,
        mut request: ServerRequest,
        method: &str,
        ctx: &RequestContext<RoleClient>,
    ) -> Result<ClientResult, McpError> {
        let peer = self.down.peer().ok_or_else(|| no_client(method))?.clone();
        let theirs = match ctx.extensions.get::<InboundStreamOrigin>() {
            Some(InboundStreamOrigin::OutboundRequest(id)) => Some(id),
            _ => None,
        };
        if let Some(ours) = self.down.client_request(self.idx, theirs) {
            request.extensions_mut().insert(OriginatingRequestId(ours));
        }
        tokio::spawn(async move { peer.send_request(request).await })
            .await
            .map_err(|e| McpError::internal_error(format!("{method}: {e}"), None))?
            .map_err(forward_err)
    }
}

fn unexpected_result(method: &str) -> McpError {
    McpError::internal_error(format!("{method}: unexpected response type"), None)
}

impl ClientHandler for BackendClient {
    async fn create_message(
        &self,
        params: CreateMessageRequestParams,
        ctx: RequestContext<RoleClient>,
    ) -> Result<CreateMessageResult, McpError> {
        let m = "sampling/createMessage";
        let req = ServerRequest::CreateMessageRequest(CreateMessageRequest::new(params));
        match self.ask_client(req, m, &ctx).await? {
            ClientResult::CreateMessageResult(r) => Ok(*r),
            _ => Err(unexpected_result(m)),
        }
    }

    async fn list_roots(
        &self,
        ctx: RequestContext<RoleClient>,
    ) -> Result<ListRootsResult, McpError> {
        let m = "roots/list";
        let req = ServerRequest::ListRootsRequest(ListRootsRequest {
            method: Default::default(),
            extensions: Extensions::default(),
        });
        match self.ask_client(req, m, &ctx).await? {
            ClientResult::ListRootsResult(r) => Ok(r),
            _ => Err(unexpected_result(m)),
        }
    }

    async fn create_elicitation(
        &self,
        params: ElicitRequestParams,
        ctx: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, McpError> {
        let m = "elicitation/create";
        let req = ServerRequest::ElicitRequest(ElicitRequest::new(params));
        match self.ask_client(req, m, &ctx).await? {
            ClientResult::ElicitResult(r) => Ok(r),
            _ => Err(unexpected_result(m)),
        }
    }

    async fn on_custom_request(
        &self,
        request: CustomRequest,
        ctx: RequestContext<RoleClient>,
    ) -> Result<CustomResult, McpError> {
        let m = request.method.clone();
        match self
            .ask_client(ServerRequest::CustomRequest(request), &m, &ctx)
            .await?
        {
            ClientResult::CustomResult(r) => Ok(r),
            _ => Err(unexpected_result(&m)),
        }
    }

    async fn on_progress(
        &self,
        mut params: ProgressNotificationParam,
        _ctx: NotificationContext<RoleClient>,
    ) {
        let theirs = params.progress_token.clone();
        match (self.down.peer(), self.down.client_token(self.idx, &theirs)) {
            (Some(peer), Some(token)) => {
                params.progress_token = token;
                let _ = peer.notify_progress(params).await;
            }
            _ => tracing::debug!(backend = %self.id, "progress for an unknown token dropped"),
        }
        self.down.progress_passed(self.idx, &theirs);
    }

    async fn on_logging_message(
        &self,
        params: LoggingMessageNotificationParam,
        _ctx: NotificationContext<RoleClient>,
    ) {
        if let Some(peer) = self.down.peer() {
            let _ = peer.notify_logging_message(params).await;
        }
    }

    async fn on_resource_updated(
        &self,
        params: ResourceUpdatedNotificationParam,
        _ctx: NotificationContext<RoleClient>,
    ) {
        if let Some(peer) = self.down.peer() {
            let _ = peer.notify_resource_updated(params).await;
        }
    }

    async fn on_resource_list_changed(&self, _ctx: NotificationContext<RoleClient>) {
        self.down.list_changed(ListChanged::Resources(self.idx));
    }

    async fn on_tool_list_changed(&self, _ctx: NotificationContext<RoleClient>) {
        self.down.list_changed(ListChanged::Tools(self.idx));
    }

    async fn on_prompt_list_changed(&self, _ctx: NotificationContext<RoleClient>) {
        self.down.list_changed(ListChanged::Prompts(self.idx));
    }

    async fn on_custom_notification(
        &self,
        notification: CustomNotification,
        _ctx: NotificationContext<RoleClient>,
    ) {
        if let Some(peer) = self.down.peer() {
            let _ = peer
                .send_notification(rmcp::model::ServerNotification::CustomNotification(
                    notification,
                ))
                .await;
        }
    }

    fn get_info(&self) -> ClientConfig {
        // Mirror the real client: its capabilities decide what the backend may ask of it.
        match self.down.init() {
            Some(init) => {
                let mut c = ClientConfig::default();
                c.capabilities = init.capabilities.clone();
                c.client_info = init.client_info.clone();
                // Ask for the version the client asked for (when it is one with an initialize
                // handshake), so the backend speaks the protocol revision the client speaks.
                if init.protocol_version.has_initialize() {
                    c.protocol_version = init.protocol_version.clone();
                }
                c
            }
            None => {
                let mut c = ClientConfig::default();
                c.capabilities = ClientCapabilities::default();
                c.client_info = Implementation::new("mcpz", env!("CARGO_PKG_VERSION"));
                c
            }
        }
    }
}

/// A backend transport that counts each progress notification as it is received, in wire order,
/// before rmcp hands it to a spawned handler task (see [`Downstream::progress_drained`]).
pub struct ProgressOrdered<T> {
    inner: T,
    down: Arc<Downstream>,
    idx: usize,
}

impl<T> ProgressOrdered<T> {
    pub fn new(inner: T, down: Arc<Downstream>, idx: usize) -> Self {
        Self { inner, down, idx }
    }
}

impl<T: Transport<RoleClient>> Transport<RoleClient> for ProgressOrdered<T> {
    type Error = T::Error;

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleClient>,
    ) -> impl std::future::Future<Output = Result<(), Self::Error>> + Send + 'static {
        self.inner.send(item)
    }

    async fn receive(&mut self) -> Option<RxJsonRpcMessage<RoleClient>> {
        let m = self.inner.receive().await;
        if let Some(JsonRpcMessage::Notification(JsonRpcNotification {
            notification: ServerNotification::ProgressNotification(n),
            ..
        })) = &m
        {
            self.down
                .progress_received(self.idx, &n.params.progress_token);
        }
        m
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        self.inner.close().await
    }
}

pub(crate) fn ordered<T, E, A>(
    transport: T,
    handler: &BackendClient,
) -> ProgressOrdered<impl Transport<RoleClient, Error = E> + 'static>
where
    T: IntoTransport<RoleClient, E, A>,
    E: std::error::Error + Send + Sync + 'static,
{
    ProgressOrdered::new(
        transport.into_transport(),
        handler.down.clone(),
        handler.idx,
    )
}

/// Why a backend could not be reached.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("cannot start '{command}': {source}")]
    Spawn {
        command: String,
        source: std::io::Error,
    },
    #[error("connect/initialize did not finish within {0:?}")]
    ConnectTimeout(Duration),
    #[error("initialize failed: {0}")]
    Initialize(String),
    #[error("{0}")]
    Other(String),
}

/// What a connection needs from its environment.
#[derive(Clone)]
pub struct ConnectEnv {
    pub registry: Registry,
    pub connect_timeout: Duration,
    pub max_message_size: usize,
    /// Called with each stderr line of a stdio backend (`backend id`, line).
    pub on_stderr: Option<StderrFn>,
    /// Opens MCP client transports to zrok shares; `None` when no zrok environment is available.
    pub zrok: Option<Arc<dyn ZrokConnector>>,
}

/// A connected MCP session to a zrok share.
pub struct ZrokConnection {
    pub service: RunningService<RoleClient, BackendClient>,
    /// Keeps the access alive until dropped.
    pub keep: Box<dyn Send + Sync>,
    /// The raw side of the connection for the fast path, when the transport has one.
    pub raw: Option<Arc<crate::core::backend::raw::RawLink>>,
}

/// Supplies a connected MCP transport to a zrok share; keeps the access alive until dropped.
#[async_trait::async_trait]
pub trait ZrokConnector: Send + Sync {
    async fn connect(
        &self,
        share_token: &str,
        backend: BackendClient,
    ) -> Result<ZrokConnection, BackendError>;

    /// Wait (bounded) until every access released by dropped connections is gone at the controller.
    async fn drain(&self) {}
}

/// A live connection to one backend.
pub struct BackendConn {
    pub idx: usize,
    pub id: String,
    pub service: RunningService<RoleClient, BackendClient>,
    pub info: Option<ServerPeerInfo>,
    /// The stdio subprocess, if any (terminated on drop).
    pub child: Option<ChildGuard>,
    /// Anything else that must live as long as the connection (a zrok access).
    _keep: Option<Box<dyn Send + Sync>>,
    /// The raw side of the connection for the `tools/call` fast path (stdio backends).
    pub raw: Option<Arc<crate::core::backend::raw::RawLink>>,
}

impl BackendConn {
    pub fn peer(&self) -> &Peer<RoleClient> {
        self.service.peer()
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(|c| c.pid())
    }

    /// Close the MCP session and terminate the subprocess (bounded).
    pub async fn close(mut self) {
        let _ = self
            .service
            .close_with_timeout(Duration::from_secs(2))
            .await;
        if let Some(c) = self.child.take() {
            c.terminate().await;
        }
    }
}

/// Connect to `backend`, bounded by `env.connect_timeout` (spawn + initialize).
pub async fn connect(
    idx: usize,
    backend: &config::Backend,
    down: Arc<Downstream>,
    env: &ConnectEnv,
) -> Result<BackendConn, BackendError> {
    let handler = BackendClient {
        idx,
        id: backend.id.clone(),
        down,
    };
    let timeout = env.connect_timeout;
    let fut = connect_inner(handler, backend, env);
    match tokio::time::timeout(timeout, fut).await {
        Ok(r) => r,
        Err(_) => Err(BackendError::ConnectTimeout(timeout)),
    }
}

async fn connect_inner(
    handler: BackendClient,
    backend: &config::Backend,
    env: &ConnectEnv,
) -> Result<BackendConn, BackendError> {
    let idx = handler.idx;
    let id = backend.id.clone();
    match &backend.transport {
        config::Transport::Stdio {
            command,
            args,
            env: vars,
            working_dir,
        } => {
            let spec = process::Spawn {
                command: command.clone(),
                args: args.clone(),
                env: vars.clone(),
                working_dir: working_dir.clone(),
            };
            let on_line = env.on_stderr.clone().map(|f| {
                let id = id.clone();
                Arc::new(move |line: &str| f(&id, line)) as process::LineFn
            });
            let spawned = process::spawn(&spec, &id, &env.registry, on_line).map_err(|e| {
                BackendError::Spawn {
                    command: command.clone(),
                    source: e,
                }
            })?;
            let guard = spawned.guard;
            // If initialize fails, `guard` drops here and terminates the group.
            let (mux, raw) = crate::core::backend::raw::MuxStdio::new(
                spawned.stdout,
                spawned.stdin,
                env.max_message_size,
            );
            let transport = ordered(mux, &handler);
            let service = handler
                .serve(transport)
                .await
                .map_err(|e| BackendError::Initialize(e.to_string()))?;
            let info = service.peer().peer_info().map(|i| (*i).clone());
            Ok(BackendConn {
                idx,
                id,
                service,
                info,
                child: Some(guard),
                _keep: None,
                raw: Some(raw),
            })
        }
        config::Transport::Http {
            endpoint,
            protocol,
            headers,
            tls,
            ..
        } => {
            let client = crate::core::backend::http::client(
                None,
                headers,
                tls.as_ref(),
                env.connect_timeout,
                env.max_message_size,
                false,
            )?;
            let (service, raw) = crate::core::backend::http::connect_with(
                handler,
                client,
                endpoint.as_str(),
                *protocol,
            )
            .await?;
            let info = service.peer().peer_info().map(|i| (*i).clone());
            Ok(BackendConn {
                idx,
                id,
                service,
                info,
                child: None,
                _keep: None,
                raw,
            })
        }
        config::Transport::Zrok { share_token } => {
            let Some(z) = &env.zrok else {
                return Err(BackendError::Other(
                    "zrok environment is not enabled (run 'zrok2 enable <token>')".into(),
                ));
            };
            let ZrokConnection { service, keep, raw } = z.connect(share_token, handler).await?;
            let info = service.peer().peer_info().map(|i| (*i).clone());
            Ok(BackendConn {
                idx,
                id,
                service,
                info,
                child: None,
                _keep: Some(keep),
                raw,
            })
        }
    }
}
