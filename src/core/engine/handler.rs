#![allow(deprecated)]
// Sampling, roots, logging and subscribe are deprecated upstream but still spoken by clients: a proxy must carry them.

//! The rmcp path: every MCP request of a client session, as an rmcp [`ServerHandler`]. Tool calls
//! follow the rules of [`super::call`], the same as the fast path.

use std::future::Future;
use std::time::Instant;

use rmcp::model::*;
use rmcp::service::{NotificationContext, RequestContext};
use rmcp::{ErrorData as McpError, Peer, RoleClient, RoleServer, ServerHandler};

use crate::core::live::state::{CallOutcome, CallPath};
use crate::core::ops::Denied;

use super::call::{self, CallError};
use super::{Mode, Session, TransportKey, TransportSessionId};

impl ServerHandler for Session {
    fn get_info(&self) -> ServerConfig {
        let e = &self.inner.engine;
        match e.mode {
            Mode::Gateway => e.gateway_info(),
            Mode::Transparent => {
                let info = self
                    .live()
                    .and_then(|c| c.first().and_then(|c| c.info.clone()))
                    .or_else(|| {
                        let cat = e.catalog();
                        cat.backends.first().and_then(|b| b.discovered.info.clone())
                    });
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
        self.attach(&ctx)?;
        let key = ctx
            .extensions
            .get::<TransportSessionId>()
            .map(|TransportSessionId(sid)| TransportKey::Streamable(sid.clone()));
        self.begin(&request, key).await
    }

    async fn ping(&self, ctx: RequestContext<RoleServer>) -> Result<(), McpError> {
        self.attach(&ctx)?;
        Ok(())
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let e = &self.inner.engine;
        let cat = e.catalog();
        // The caller is known once `list` has attached the request.
        let caller = std::sync::OnceLock::new();
        self.list(request, ctx, |key, mut t: Tool| {
            let def = cat.get(key)?;
            if !def.exposes(&t.name) {
                return None;
            }
            t.name = e.expose(def.id(), &t.name).into();
            let caller = caller.get_or_init(|| self.caller());
            call::may_use(&cat, caller, &t.name).then_some(t)
        })
        .await
    }

    async fn call_tool(
        &self,
        mut request: CallToolRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        self.attach(&ctx)?;
        let exposed = request.name.to_string();
        let cat = self.inner.engine.catalog();
        let (def, original) = call::route_tool(&self.inner.engine, &cat, &self.caller(), &exposed).inspect_err(|_| {
            tracing::info!(session = %self.inner.id, tool = %exposed, "call to an unknown or filtered tool refused");
            self.refused(&exposed, request.arguments.as_ref());
        })?;
        let c = self.backend(def.key).await?;
        let started = Instant::now();
        let detail = self
            .inner
            .engine
            .call_detail(&original, request.arguments.as_ref());
        if let Some(denied) = call::policy_denial(&def, &original, request.arguments.as_ref()) {
            tracing::info!(session = %self.inner.id, tool = %exposed, "call refused by the path policy");
            let outcome = call::tool_outcome(&denied);
            self.record(
                &c.id,
                "tools/call",
                &exposed,
                started,
                outcome,
                CallPath::Full,
                &detail.denied(Denied::Policy(cat.position(def.key))),
            );
            return Ok(CallToolResponse::Complete(denied));
        }
        request.name = original.into();
        let r = self
            .forward(&c, CallToolRequest::new(request).into(), &ctx)
            .await;
        let (outcome, r) = match r {
            Ok(ServerResult::CallToolResult(res)) => (
                call::tool_outcome(&res),
                Ok(CallToolResponse::Complete(res)),
            ),
            Ok(ServerResult::InputRequiredResult(res)) => {
                (CallOutcome::Ok, Ok(CallToolResponse::InputRequired(res)))
            }
            Ok(ServerResult::CreateTaskResult(res)) => {
                (CallOutcome::Ok, Ok(CallToolResponse::Task(res)))
            }
            Ok(_) => return Err(CallError::Unexpected(c.id.clone()).into()),
            Err(err) => (err.outcome(), Err(err.into())),
        };
        self.record(
            &c.id,
            "tools/call",
            &exposed,
            started,
            outcome,
            CallPath::Full,
            &detail,
        );
        r
    }

    async fn list_prompts(
        &self,
        request: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, McpError> {
        let e = &self.inner.engine;
        let cat = e.catalog();
        self.list(request, ctx, |key, mut p: Prompt| {
            p.name = e.expose(cat.get(key)?.id(), &p.name);
            Some(p)
        })
        .await
    }

    async fn get_prompt(
        &self,
        mut request: GetPromptRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, McpError> {
        self.attach(&ctx)?;
        let exposed = request.name.clone();
        let e = &self.inner.engine;
        let (def, original) = e
            .resolve(&e.catalog(), &exposed)
            .ok_or_else(|| CallError::UnknownPrompt(exposed.clone()))?;
        request.name = original;
        let req = GetPromptRequest::new(request).into();
        self.forward_either(
            def.key,
            ("prompts/get", &exposed),
            req,
            &ctx,
            |r| match r {
                ServerResult::GetPromptResult(r) => Some(GetPromptResponse::Complete(r)),
                _ => None,
            },
            GetPromptResponse::InputRequired,
        )
        .await
    }

    async fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        let routes = &self.inner.resource_routes;
        self.list(request, ctx, |i, r: Resource| {
            routes
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .entry(r.uri.clone())
                .or_insert(i);
            Some(r)
        })
        .await
    }

    async fn list_resource_templates(
        &self,
        request: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, McpError> {
        self.list(request, ctx, |_, t: ResourceTemplate| Some(t))
            .await
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        self.attach(&ctx)?;
        let uri = request.uri.clone();
        let i = self.route_uri(&uri).await?;
        let req = ReadResourceRequest::new(request).into();
        self.forward_either(
            i,
            ("resources/read", &uri),
            req,
            &ctx,
            |r| match r {
                ServerResult::ReadResourceResult(r) => Some(ReadResourceResponse::Complete(r)),
                _ => None,
            },
            ReadResourceResponse::InputRequired,
        )
        .await
    }

    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        let uri = request.uri.clone();
        let req = SubscribeRequest::new(request).into();
        self.forward_by_uri(&uri, req, &ctx).await.map(|_| ())
    }

    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        let uri = request.uri.clone();
        let req = UnsubscribeRequest::new(request).into();
        self.forward_by_uri(&uri, req, &ctx).await.map(|_| ())
    }

    async fn complete(
        &self,
        mut request: CompleteRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, McpError> {
        self.attach(&ctx)?;
        let e = self.inner.engine.clone();
        let i = match &mut request.r#ref {
            Reference::Prompt(p) => {
                let (def, original) = e
                    .resolve(&e.catalog(), &p.name)
                    .ok_or_else(|| CallError::UnknownPrompt(p.name.clone()))?;
                p.name = original;
                def.key
            }
            Reference::Resource(r) => self.route_uri(&r.uri).await?,
            _ => {
                return Err(McpError::invalid_params(
                    "unsupported completion reference",
                    None,
                ))
            }
        };
        let c = self.backend(i).await?;
        match self
            .forward(&c, CompleteRequest::new(request).into(), &ctx)
            .await?
        {
            ServerResult::CompleteResult(r) => Ok(r),
            _ => Err(CallError::Unexpected(c.id.clone()).into()),
        }
    }

    async fn set_level(
        &self,
        request: SetLevelRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        self.attach(&ctx)?;
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
                last_err = Some(McpError::from(err));
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
        self.attach(&ctx)?;
        if self.inner.engine.mode != Mode::Transparent {
            return Err(McpError::new(
                ErrorCode::METHOD_NOT_FOUND,
                request.method,
                None,
            ));
        }
        let c = self.only_backend().await?;
        match self
            .forward(&c, ClientRequest::CustomRequest(request), &ctx)
            .await?
        {
            ServerResult::CustomResult(r) => Ok(r),
            _ => Err(CallError::Unexpected(c.id.clone()).into()),
        }
    }

    async fn on_roots_list_changed(&self, _ctx: NotificationContext<RoleServer>) {
        if let Some(conns) = self.live() {
            for c in conns.iter() {
                if let Some(p) = c.peer().await {
                    let _ = p.notify_roots_list_changed().await;
                }
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
        if let Some(conns) = self.live() {
            for c in conns.iter() {
                if let Some(p) = c.peer().await {
                    let _ = p
                        .send_notification(ClientNotification::CustomNotification(
                            notification.clone(),
                        ))
                        .await;
                }
            }
        }
    }
}

/// One MCP list method, for [`Session::list`]: how to ask the one backend (transparent mode),
/// and how to gather every backend's items (gateway mode).
trait Listing: Sized {
    type Item;
    const METHOD: &'static str;
    fn request(params: Option<PaginatedRequestParams>) -> ClientRequest;
    fn pick(r: ServerResult) -> Option<Self>;
    fn cap(c: &ServerCapabilities) -> bool;
    fn list_all(
        p: Peer<RoleClient>,
    ) -> impl Future<Output = Result<Vec<Self::Item>, rmcp::ServiceError>> + Send;
    fn with_all(items: Vec<Self::Item>) -> Self;
}

macro_rules! listing {
    ($result:ident, $request:ident, $item:ty, $method:literal, $cap:ident, $all:ident) => {
        impl Listing for $result {
            type Item = $item;
            const METHOD: &'static str = $method;
            fn request(params: Option<PaginatedRequestParams>) -> ClientRequest {
                $request {
                    method: Default::default(),
                    params,
                    extensions: Default::default(),
                }
                .into()
            }
            fn pick(r: ServerResult) -> Option<Self> {
                match r {
                    ServerResult::$result(r) => Some(r),
                    _ => None,
                }
            }
            fn cap(c: &ServerCapabilities) -> bool {
                c.$cap.is_some()
            }
            fn list_all(
                p: Peer<RoleClient>,
            ) -> impl Future<Output = Result<Vec<$item>, rmcp::ServiceError>> + Send {
                async move { p.$all().await }
            }
            fn with_all(items: Vec<$item>) -> Self {
                $result::with_all_items(items)
            }
        }
    };
}

listing!(
    ListToolsResult,
    ListToolsRequest,
    Tool,
    "tools/list",
    tools,
    list_all_tools
);
listing!(
    ListPromptsResult,
    ListPromptsRequest,
    Prompt,
    "prompts/list",
    prompts,
    list_all_prompts
);
listing!(
    ListResourcesResult,
    ListResourcesRequest,
    Resource,
    "resources/list",
    resources,
    list_all_resources
);
listing!(
    ListResourceTemplatesResult,
    ListResourceTemplatesRequest,
    ResourceTemplate,
    "resources/templates/list",
    resources,
    list_all_resource_templates
);

impl Session {
    /// Forward `req` to backend `i` (recorded as `method` on `target`) for an answer that is
    /// either its own result (`complete`, `None` for anything else) or `InputRequired` (`input`).
    async fn forward_either<T>(
        &self,
        i: usize,
        (method, target): (&str, &str),
        req: ClientRequest,
        ctx: &RequestContext<RoleServer>,
        complete: impl FnOnce(ServerResult) -> Option<T>,
        input: impl FnOnce(InputRequiredResult) -> T,
    ) -> Result<T, McpError> {
        let c = self.backend(i).await?;
        match self.forward_recorded(&c, method, target, req, ctx).await? {
            ServerResult::InputRequiredResult(r) => Ok(input(r)),
            other => complete(other).ok_or_else(|| CallError::Unexpected(c.id.clone()).into()),
        }
    }

    /// Forward `req` to the backend that serves resource `uri` (subscribe, unsubscribe).
    async fn forward_by_uri(
        &self,
        uri: &str,
        req: ClientRequest,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<ServerResult, McpError> {
        self.attach(ctx)?;
        let i = self.route_uri(uri).await?;
        let c = self.backend(i).await?;
        Ok(self.forward(&c, req, ctx).await?)
    }

    /// A list request: in transparent mode forwarded to the one backend unchanged (cursors pass
    /// through); in gateway mode every page of every backend that has the capability, each item
    /// passed through `keep` (which may rename or drop it) with its backend's index.
    async fn list<L: Listing>(
        &self,
        params: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
        mut keep: impl FnMut(usize, L::Item) -> Option<L::Item>,
    ) -> Result<L, McpError> {
        self.attach(&ctx)?;
        let conns = self.conns().await?;
        if self.inner.engine.mode == Mode::Transparent {
            let c = self.only_backend().await?;
            let r = self.forward(&c, L::request(params), &ctx).await?;
            return L::pick(r).ok_or_else(|| CallError::Unexpected(c.id.clone()).into());
        }
        let mut out = Vec::new();
        for (i, items) in self.gather(&conns, L::METHOD, L::cap, L::list_all).await {
            out.extend(items.into_iter().filter_map(|x| keep(i, x)));
        }
        Ok(L::with_all(out))
    }
}
