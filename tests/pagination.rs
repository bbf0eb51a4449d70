//! Discovery follows pagination (upstream v0.1.8's fix): a backend that answers `tools/list`,
//! `prompts/list` and `resources/list` in pages (with `nextCursor`) has every page reach the
//! gateway's namespace. The paginating server is rmcp in process, on streamable HTTP on
//! loopback; it is reached directly (an `http` backend) and through a stdio subprocess
//! (`mcp-tools run URL`, which passes cursors through), so both discovery paths are covered.

mod gateway_support;

use std::sync::Arc;
use std::time::Duration;

use mcpz::core::front::sse_transport as sse;
use mcpz::core::net::TcpListener;
use rmcp::handler::server::ServerHandler;
use rmcp::model::{
    ListPromptsResult, ListResourcesResult, ListToolsResult, PaginatedRequestParams, Prompt,
    Resource, ServerCapabilities, Tool,
};
use rmcp::service::{RequestContext, RoleServer};
use rmcp::transport::streamable_http_server::{
    session::local::LocalSessionManager, StreamableHttpServerConfig, StreamableHttpService,
};
use rmcp::{ErrorData as McpError, ServiceExt};
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(30);
/// Three pages of two items each.
const PAGES: usize = 3;

/// Page `cursor` (none: the first) of `p0 p1`, `p2 p3`, `p4 p5`, and the next cursor.
fn page(params: Option<PaginatedRequestParams>) -> Result<(Vec<usize>, Option<String>), McpError> {
    let n = match params.and_then(|p| p.cursor) {
        None => 0,
        Some(c) => c
            .strip_prefix("page-")
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|n| *n < PAGES)
            .ok_or_else(|| McpError::invalid_params("bad cursor", None))?,
    };
    let next = (n + 1 < PAGES).then(|| format!("page-{}", n + 1));
    Ok((vec![2 * n, 2 * n + 1], next))
}

#[derive(Clone)]
struct Paginating;

impl ServerHandler for Paginating {
    fn get_info(&self) -> rmcp::model::ServerConfig {
        let mut info = rmcp::model::ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_prompts()
                .enable_resources()
                .build(),
        );
        info.server_info.name = "paginating".into();
        info
    }

    async fn list_tools(
        &self,
        params: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let (items, next) = page(params)?;
        let schema = Arc::new(serde_json::Map::from_iter([(
            "type".to_string(),
            serde_json::json!("object"),
        )]));
        let mut r = ListToolsResult::with_all_items(
            items
                .into_iter()
                .map(|i| Tool::new(format!("t{i}"), "a tool", schema.clone()))
                .collect(),
        );
        r.next_cursor = next;
        Ok(r)
    }

    async fn list_prompts(
        &self,
        params: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, McpError> {
        let (items, next) = page(params)?;
        let mut r = ListPromptsResult::with_all_items(
            items
                .into_iter()
                .map(|i| Prompt::new(format!("p{i}"), None::<String>, None))
                .collect(),
        );
        r.next_cursor = next;
        Ok(r)
    }

    async fn list_resources(
        &self,
        params: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        let (items, next) = page(params)?;
        let mut r = ListResourcesResult::with_all_items(
            items
                .into_iter()
                .map(|i| Resource::new(format!("mem://r{i}"), format!("r{i}")))
                .collect(),
        );
        r.next_cursor = next;
        Ok(r)
    }
}

/// The paginating server on `http://127.0.0.1:PORT/mcp`.
async fn serve(shutdown: &CancellationToken) -> String {
    let service: StreamableHttpService<Paginating, LocalSessionManager> =
        StreamableHttpService::new(
            || Ok(Paginating),
            Default::default(),
            StreamableHttpServerConfig::default()
                .with_sse_keep_alive(None)
                .with_cancellation_token(shutdown.child_token()),
        );
    let router = axum::Router::new().nest_service("/mcp", service);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr();
    tokio::spawn(sse::serve(listener, router, shutdown.clone()));
    format!("http://{addr}/mcp")
}

async fn names_through_gateway(backend_yaml: String) -> (Vec<String>, Vec<String>, Vec<String>) {
    let yaml = format!("backends:\n  - id: pg\n    transport:\n{backend_yaml}");
    let engine = gateway_support::gateway_yaml(&yaml)
        .await
        .expect("engine starts");
    let session = engine.new_session(
        "in-process",
        Some(mcpz::core::engine::Caller::Local),
        "duplex",
    );
    let (ours, theirs) = tokio::io::duplex(1 << 16);
    tokio::spawn(async move {
        if let Ok(running) = session.serve(ours).await {
            let _ = running.waiting().await;
        }
    });
    let client = ().serve(theirs).await.expect("client initializes");
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    let tools = client.list_all_tools().await.unwrap();
    let prompts = client.list_all_prompts().await.unwrap();
    let resources = client.list_all_resources().await.unwrap();
    let out = (
        sorted(tools.into_iter().map(|t| t.name.to_string()).collect()),
        sorted(prompts.into_iter().map(|p| p.name).collect()),
        sorted(resources.into_iter().map(|r| r.name.clone()).collect()),
    );
    let _ = client.cancel().await;
    engine.shutdown().await;
    out
}

fn expect(prefix: &str, sep: &str) -> Vec<String> {
    let mut v: Vec<String> = (0..2 * PAGES)
        .map(|i| format!("{sep}{prefix}{i}"))
        .collect();
    v.sort();
    v
}

async fn check(backend_yaml: String) {
    let (tools, prompts, resources) =
        tokio::time::timeout(WAIT * 2, names_through_gateway(backend_yaml))
            .await
            .expect("discovery ends");
    assert_eq!(tools, expect("t", "pg_"), "every page of tools/list");
    assert_eq!(prompts, expect("p", "pg_"), "every page of prompts/list");
    // Resources keep their names and URIs (only routed), so all six pages' items are there.
    assert_eq!(resources, expect("r", ""), "every page of resources/list");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_backend_every_page() {
    let shutdown = CancellationToken::new();
    let url = serve(&shutdown).await;
    check(format!(
        "      type: http\n      endpoint: {url}\n      protocol: streamable\n      allow_insecure: true\n"
    ))
    .await;
    shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdio_backend_every_page() {
    let shutdown = CancellationToken::new();
    let url = serve(&shutdown).await;
    let tools = env!("CARGO_BIN_EXE_mcp-tools");
    check(format!(
        "      type: stdio\n      command: \"{tools}\"\n      args: [run, \"{url}\"]\n"
    ))
    .await;
    shutdown.cancel();
}
