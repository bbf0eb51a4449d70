//! The backend used by the gateway benchmark: a minimal rmcp server with one `echo` tool.
//! The bench binary re-executes itself with `--echo-stdio` (stdio server, like a real stdio
//! backend) or `--echo-http` (the same server behind rmcp's own streamable-HTTP service, the
//! transport floor without the gateway). Both exit when their stdin closes.

use rmcp::{
    handler::server::{router::tool::ToolRouter, wrapper::Parameters},
    model::{ServerCapabilities, ServerConfig},
    schemars, tool, tool_handler, tool_router, ServerHandler, ServiceExt,
};

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
pub struct EchoRequest {
    pub text: String,
}

#[derive(Debug, Clone)]
pub struct Echo {
    tool_router: ToolRouter<Self>,
}

impl Echo {
    pub fn new() -> Self {
        Self {
            tool_router: Self::tool_router(),
        }
    }
}

#[tool_router]
impl Echo {
    #[tool(description = "Echo the text back")]
    fn echo(&self, Parameters(EchoRequest { text }): Parameters<EchoRequest>) -> String {
        text
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Echo {
    fn get_info(&self) -> ServerConfig {
        let mut cfg = ServerConfig::new(ServerCapabilities::builder().enable_tools().build());
        cfg.server_info.name = "mcpz-bench-echo".into();
        cfg
    }
}

/// Serve on stdin/stdout until stdin closes.
pub fn run_stdio() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let running = Echo::new()
            .serve(rmcp::transport::io::stdio())
            .await
            .expect("serve stdio");
        let _ = running.waiting().await;
    });
}

/// Serve streamable HTTP on 127.0.0.1:0, print `PORT <n>` on stdout, stop when stdin closes.
pub fn run_http() {
    use rmcp::transport::streamable_http_server::{
        session::local::LocalSessionManager, StreamableHttpServerConfig, StreamableHttpService,
    };
    use tokio::io::AsyncReadExt;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let stop = tokio_util::sync::CancellationToken::new();
        let svc: StreamableHttpService<Echo, LocalSessionManager> = StreamableHttpService::new(
            || Ok(Echo::new()),
            Default::default(),
            StreamableHttpServerConfig::default()
                .with_sse_keep_alive(None)
                .with_cancellation_token(stop.child_token()),
        );
        let app = axum::Router::new().nest_service("/mcp", svc);
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        println!("PORT {}", l.local_addr().unwrap().port());
        let s = stop.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 64];
            let mut stdin = tokio::io::stdin();
            while matches!(stdin.read(&mut buf).await, Ok(n) if n > 0) {}
            s.cancel();
        });
        let _ = axum::serve(l, app)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await;
    });
}

/// A line echo over loopback TCP (no MCP at all): print `PORT <n>`, echo every line of one
/// connection back. What one extra process hop over TCP costs, for comparison.
pub fn run_tcp_echo() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        println!("PORT {}", l.local_addr().unwrap().port());
        let (s, _) = l.accept().await.expect("accept");
        s.set_nodelay(true).ok();
        let (r, mut w) = s.into_split();
        let mut r = tokio::io::BufReader::new(r);
        let mut line = Vec::new();
        loop {
            line.clear();
            match r.read_until(b'\n', &mut line).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    if w.write_all(&line).await.is_err() {
                        break;
                    }
                }
            }
        }
    });
}
