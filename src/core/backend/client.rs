//! The rmcp client handler of one backend connection: carries the backend's notifications and
//! server-to-client requests (sampling, roots, elicitation) to the session's client.

use std::sync::Arc;

use rmcp::model::{
    ClientCapabilities, ClientConfig, ClientResult, CreateMessageRequest,
    CreateMessageRequestParams, CreateMessageResult, CustomNotification, CustomRequest,
    CustomResult, ElicitRequest, ElicitRequestParams, ElicitResult, Extensions, GetExtensions,
    Implementation, ListRootsRequest, ListRootsResult, LoggingMessageNotificationParam,
    ProgressNotificationParam, ResourceUpdatedNotificationParam, ServerRequest,
};
use rmcp::service::{
    InboundStreamOrigin, NotificationContext, OriginatingRequestId, RequestContext,
};
use rmcp::{ClientHandler, ErrorData as McpError, RoleClient};

use super::downstream::{Downstream, ListChanged};

/// The rmcp client handler of one backend connection.
pub struct BackendClient {
    pub idx: usize,
    pub id: String,
    pub down: Arc<Downstream>,
    /// Cancelled when this connection's transport ends (the backend closed it, its process
    /// exited, or the connection was dropped).
    pub closed: tokio_util::sync::CancellationToken,
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
    pub(crate) fn clone_for_retry(&self) -> BackendClient {
        BackendClient {
            idx: self.idx,
            id: self.id.clone(),
            down: self.down.clone(),
            closed: Default::default(),
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
        let peer = self
            .down
            .client_peer(true)
            .await
            .ok_or_else(|| no_client(method))?;
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
        // Progress is only for requests of the rmcp path, whose session has its peer.
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
        if let Some(peer) = self.down.client_peer(false).await {
            let _ = peer.notify_logging_message(params).await;
        }
        self.down.log_passed(self.idx);
    }

    async fn on_resource_updated(
        &self,
        params: ResourceUpdatedNotificationParam,
        _ctx: NotificationContext<RoleClient>,
    ) {
        if let Some(peer) = self.down.client_peer(false).await {
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
        if let Some(peer) = self.down.client_peer(false).await {
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
