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

/// The current-thread runtime every helper here runs on.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Listen on 127.0.0.1:0, print `PORT <n>`, and take the one connection the bench makes.
async fn accept_one() -> tokio::net::TcpStream {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    println!("PORT {}", l.local_addr().unwrap().port());
    let (s, _) = l.accept().await.expect("accept");
    s.set_nodelay(true).ok();
    s
}

/// Serve on stdin/stdout until stdin closes.
pub fn run_stdio() {
    let rt = runtime();
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
    let rt = runtime();
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
    let rt = runtime();
    rt.block_on(async {
        let s = accept_one().await;
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

/// The least a process in the middle can do (the floor for any gateway): one thread, blocking
/// I/O. Prints `PORT <n>`, spawns `exe --echo-stdio`, initializes it, then for every HTTP/1.1
/// POST on one keep-alive connection writes the body as one line to the backend and answers
/// with the backend's next line as an `application/json` body. No MCP parsing at all.
pub fn run_min_proxy(exe: &std::path::Path) {
    use std::io::{BufRead, BufReader, Read, Write};
    let mut child = std::process::Command::new(exe)
        .arg("--echo-stdio")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn echo backend");
    let mut bin = child.stdin.take().unwrap();
    let mut bout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    bin.write_all(MIN_PROXY_INIT.as_bytes()).unwrap();
    bout.read_line(&mut line).unwrap();
    bin.write_all(b"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n")
        .unwrap();
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    println!("PORT {}", l.local_addr().unwrap().port());
    std::io::stdout().flush().ok();
    let (s, _) = l.accept().expect("accept");
    s.set_nodelay(true).ok();
    let mut w = s.try_clone().unwrap();
    let mut r = BufReader::new(s);
    let mut body = Vec::new();
    loop {
        let mut len = 0usize;
        loop {
            line.clear();
            match r.read_line(&mut line) {
                Ok(0) | Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return;
                }
                Ok(_) => {}
            }
            if line == "\r\n" {
                break;
            }
            len = content_length(&line).unwrap_or(len);
        }
        body.resize(len, 0);
        r.read_exact(&mut body).unwrap();
        body.push(b'\n');
        bin.write_all(&body).unwrap();
        line.clear();
        bout.read_line(&mut line).unwrap();
        let out = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{}",
            line.len() - 1,
            &line[..line.len() - 1]
        );
        w.write_all(out.as_bytes()).unwrap();
    }
}

/// The value of a `content-length` header line.
fn content_length(line: &str) -> Option<usize> {
    let (k, v) = line.split_once(':')?;
    k.eq_ignore_ascii_case("content-length")
        .then(|| v.trim().parse().ok())
        .flatten()
}

/// `exe --echo-stdio`, initialized: the backend of the minimal tokio proxies.
async fn echo_backend(
    exe: &std::path::Path,
) -> (
    tokio::process::Child,
    tokio::process::ChildStdin,
    tokio::io::BufReader<tokio::process::ChildStdout>,
) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let mut child = tokio::process::Command::new(exe)
        .arg("--echo-stdio")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn echo backend");
    let mut bin = child.stdin.take().unwrap();
    let mut bout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    bin.write_all(MIN_PROXY_INIT.as_bytes()).await.unwrap();
    bout.read_line(&mut line).await.unwrap();
    bin.write_all(b"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n")
        .await
        .unwrap();
    (child, bin, bout)
}

const MIN_PROXY_INIT: &str = "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{\"protocolVersion\":\"2025-06-18\",\"capabilities\":{},\"clientInfo\":{\"name\":\"min-proxy\",\"version\":\"1\"}}}\n";

/// [`run_min_proxy`] on a current-thread tokio runtime (epoll instead of blocking reads).
/// `timers`: arm (and drop) a 60 s timeout around every backend round trip, as a gateway does.
pub fn run_min_proxy_tokio(exe: &std::path::Path, timers: bool) {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    let rt = runtime();
    rt.block_on(async {
        let (_child, mut bin, mut bout) = echo_backend(exe).await;
        let mut line = String::new();
        let s = accept_one().await;
        let (r, mut w) = s.into_split();
        let mut r = BufReader::new(r);
        let mut body = Vec::new();
        loop {
            let mut len = 0usize;
            loop {
                line.clear();
                match r.read_line(&mut line).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
                if line == "\r\n" {
                    break;
                }
                len = content_length(&line).unwrap_or(len);
            }
            body.resize(len, 0);
            r.read_exact(&mut body).await.unwrap();
            body.push(b'\n');
            line.clear();
            let trip = async {
                bin.write_all(&body).await.unwrap();
                bout.read_line(&mut line).await.unwrap();
            };
            if timers {
                tokio::time::timeout(std::time::Duration::from_secs(60), trip)
                    .await
                    .unwrap();
            } else {
                trip.await;
            }
            let out = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{}",
                line.len() - 1,
                &line[..line.len() - 1]
            );
            w.write_all(out.as_bytes()).await.unwrap();
        }
    });
}

/// [`run_min_proxy_tokio`] with hyper's HTTP/1.1 server in front (`axum`: behind an axum router
/// with a `/mcp` route, as the gateway has): what the HTTP stack itself costs per call.
pub fn run_min_proxy_hyper(exe: &std::path::Path, axum_router: bool) {
    use std::sync::Arc;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let rt = runtime();
    rt.block_on(async {
        let (_child, bin, bout) = echo_backend(exe).await;
        let pipes = Arc::new(tokio::sync::Mutex::new((bin, bout)));
        let s = accept_one().await;
        let handle = move |body: bytes::Bytes| {
            let pipes = pipes.clone();
            async move {
                let mut p = pipes.lock().await;
                let mut b = body.to_vec();
                b.push(b'\n');
                p.0.write_all(&b).await.unwrap();
                let mut line = String::new();
                p.1.read_line(&mut line).await.unwrap();
                line.pop();
                line
            }
        };
        let io = hyper_util::rt::TokioIo::new(s);
        if axum_router {
            let app = axum::Router::new().route(
                "/mcp",
                axum::routing::post(move |body: bytes::Bytes| {
                    let h = handle.clone();
                    async move {
                        (
                            [(http::header::CONTENT_TYPE, "application/json")],
                            h(body).await,
                        )
                    }
                }),
            );
            let svc = hyper_util::service::TowerToHyperService::new(app);
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(io, svc)
                .await;
        } else {
            let svc =
                hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let h = handle.clone();
                    async move {
                        use http_body_util::BodyExt;
                        let body = req.into_body().collect().await?.to_bytes();
                        let out = h(body).await;
                        Ok::<_, hyper::Error>(
                            hyper::Response::builder()
                                .header("content-type", "application/json")
                                .body(http_body_util::Full::new(bytes::Bytes::from(out)))
                                .unwrap(),
                        )
                    }
                });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(io, svc)
                .await;
        }
    });
}
