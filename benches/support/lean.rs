//! Lean MCP clients for the gateway benchmark: JSON-RPC frames written and read directly, with
//! no SDK service loop in between, so that the client's own cost is small and equal on both
//! paths. `LeanStdio` speaks newline-delimited JSON to a child process; `LeanHttp` speaks
//! streamable HTTP over one keep-alive HTTP/1.1 connection (hyper's client connection API).

use std::process::Stdio;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

const INIT: &str = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"lean-bench","version":"1"}}}"#;
const INITIALIZED: &str = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;

fn call_frame(id: u64, tool: &str) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"{tool}","arguments":{{"text":"hello, gateway"}}}}}}"#
    )
}

/// The response must be a result for `id` carrying the echoed text.
fn check(resp: &str, id: u64) {
    assert!(
        resp.contains(&format!(r#""id":{id}"#)) && resp.contains("hello, gateway"),
        "unexpected response to call {id}: {resp}"
    );
}

pub struct LeanStdio {
    _child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    next: u64,
    line: String,
}

impl LeanStdio {
    pub async fn spawn(exe: &std::path::Path, arg: &str) -> LeanStdio {
        let mut child = Command::new(exe)
            .arg(arg)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn echo backend");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut s = LeanStdio {
            _child: child,
            stdin,
            stdout,
            next: 1,
            line: String::new(),
        };
        s.send(INIT).await;
        s.recv().await;
        s.send(INITIALIZED).await;
        s
    }

    async fn send(&mut self, frame: &str) {
        let mut buf = Vec::with_capacity(frame.len() + 1);
        buf.extend_from_slice(frame.as_bytes());
        buf.push(b'\n');
        self.stdin.write_all(&buf).await.expect("write");
        self.stdin.flush().await.expect("flush");
    }

    async fn recv(&mut self) -> &str {
        self.line.clear();
        let n = self.stdout.read_line(&mut self.line).await.expect("read");
        assert!(n > 0, "backend closed stdout");
        &self.line
    }

    pub async fn call(&mut self, tool: &str) {
        let id = self.next;
        self.next += 1;
        self.send(&call_frame(id, tool)).await;
        let r = self.recv().await;
        check(r, id);
    }
}

pub struct LeanHttp {
    tx: SendRequest<Full<Bytes>>,
    authority: String,
    path: String,
    session: Option<String>,
    next: u64,
}

impl LeanHttp {
    /// `url` like `http://127.0.0.1:PORT/mcp`.
    pub async fn connect(url: &str) -> LeanHttp {
        let rest = url.strip_prefix("http://").expect("http url");
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let tcp = tokio::net::TcpStream::connect(authority)
            .await
            .expect("tcp");
        tcp.set_nodelay(true).ok();
        let (tx, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
            .await
            .expect("handshake");
        tokio::spawn(conn);
        let mut c = LeanHttp {
            tx,
            authority: authority.to_string(),
            path: path.to_string(),
            session: None,
            next: 1,
        };
        let (sid, body) = c.post(INIT.to_string()).await;
        assert!(body.contains("protocolVersion"), "initialize: {body}");
        c.session = sid;
        c.post(INITIALIZED.to_string()).await;
        c
    }

    async fn post(&mut self, body: String) -> (Option<String>, String) {
        let mut req = hyper::Request::post(self.path.as_str())
            .header("host", self.authority.as_str())
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-06-18");
        if let Some(s) = &self.session {
            req = req.header("mcp-session-id", s.as_str());
        }
        let req = req.body(Full::new(Bytes::from(body))).unwrap();
        self.tx.ready().await.expect("connection ready");
        let resp = tokio::time::timeout(Duration::from_secs(10), self.tx.send_request(req))
            .await
            .expect("response in time")
            .expect("response");
        assert!(resp.status().is_success(), "HTTP {}", resp.status());
        let sid = resp
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = resp.into_body().collect().await.expect("body").to_bytes();
        (sid, String::from_utf8_lossy(&body).into_owned())
    }

    pub async fn call(&mut self, tool: &str) {
        let id = self.next;
        self.next += 1;
        let (_, body) = self.post(call_frame(id, tool)).await;
        check(&body, id);
    }
}

/// One loopback TCP connection to the line echo (`echo::run_tcp_echo`).
pub struct LeanTcp {
    r: BufReader<tokio::net::tcp::OwnedReadHalf>,
    w: tokio::net::tcp::OwnedWriteHalf,
    next: u64,
    line: String,
}

impl LeanTcp {
    pub async fn connect(port: u16) -> LeanTcp {
        let s = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("tcp");
        s.set_nodelay(true).ok();
        let (r, w) = s.into_split();
        LeanTcp {
            r: BufReader::new(r),
            w,
            next: 1,
            line: String::new(),
        }
    }

    /// Send a tools/call-sized frame and read the same bytes back.
    pub async fn call(&mut self, tool: &str) {
        let id = self.next;
        self.next += 1;
        let mut f = call_frame(id, tool).replace(
            "\"method\"",
            "\"result\":{\"content\":\"hello, gateway\"},\"method\"",
        );
        f.push('\n');
        self.w.write_all(f.as_bytes()).await.expect("write");
        self.line.clear();
        let n = self.r.read_line(&mut self.line).await.expect("read");
        assert!(n > 0, "echo closed");
        check(&self.line, id);
    }
}

/// Streamable HTTP written by hand: one keep-alive HTTP/1.1 connection, each request one
/// `write` and its response read on the caller's task (no connection task, no SDK). With a
/// session (`init`), `initialize` goes over the same connection, as a real client's would.
pub struct LeanRawHttp {
    r: BufReader<tokio::net::tcp::OwnedReadHalf>,
    w: tokio::net::tcp::OwnedWriteHalf,
    head: String,
    next: u64,
    line: String,
    body: Vec<u8>,
}

impl LeanRawHttp {
    pub async fn connect(url: &str, init: bool) -> LeanRawHttp {
        let rest = url.strip_prefix("http://").expect("http url");
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let s = tokio::net::TcpStream::connect(authority)
            .await
            .expect("tcp");
        s.set_nodelay(true).ok();
        let (r, w) = s.into_split();
        let head = format!(
            " {path} HTTP/1.1\r\nhost: {authority}\r\ncontent-type: application/json\r\naccept: application/json, text/event-stream\r\nmcp-protocol-version: 2025-06-18\r\n"
        );
        let mut c = LeanRawHttp {
            r: BufReader::new(r),
            w,
            head,
            next: 1,
            line: String::new(),
            body: Vec::new(),
        };
        if init {
            let sid = c.post(INIT).await.expect("initialize: mcp-session-id");
            assert!(
                String::from_utf8_lossy(&c.body).contains("protocolVersion"),
                "initialize"
            );
            c.head.push_str(&format!("mcp-session-id: {sid}\r\n"));
            c.post(INITIALIZED).await;
        }
        c
    }

    /// One request; the body (content-length or chunked) ends up in `self.body`. Returns the
    /// response's `mcp-session-id`, if any.
    async fn post(&mut self, frame: &str) -> Option<String> {
        self.request("POST", frame).await
    }

    /// Ends the session (`DELETE`), as a well-behaved client does (benches/soak.rs).
    #[allow(dead_code)]
    pub async fn delete(mut self) {
        self.request("DELETE", "").await;
    }

    async fn request(&mut self, method: &str, frame: &str) -> Option<String> {
        use tokio::io::AsyncReadExt;
        let req = format!(
            "{method}{}content-length: {}\r\n\r\n{frame}",
            self.head,
            frame.len()
        );
        self.w.write_all(req.as_bytes()).await.expect("write");
        let (mut len, mut chunked, mut sid) = (None, false, None);
        let mut first = true;
        loop {
            self.line.clear();
            let n = self.r.read_line(&mut self.line).await.expect("read");
            assert!(n > 0, "connection closed");
            if first {
                assert!(self.line.starts_with("HTTP/1.1 2"), "{}", self.line);
                first = false;
            } else if self.line == "\r\n" {
                break;
            } else if let Some((k, v)) = self.line.split_once(':') {
                let v = v.trim();
                if k.eq_ignore_ascii_case("content-length") {
                    len = v.parse::<usize>().ok();
                } else if k.eq_ignore_ascii_case("transfer-encoding") {
                    chunked = v.eq_ignore_ascii_case("chunked");
                } else if k.eq_ignore_ascii_case("mcp-session-id") {
                    sid = Some(v.to_string());
                }
            }
        }
        self.body.clear();
        if chunked {
            loop {
                self.line.clear();
                self.r.read_line(&mut self.line).await.expect("chunk size");
                let n = usize::from_str_radix(self.line.trim(), 16).expect("chunk size");
                let at = self.body.len();
                self.body.resize(at + n + 2, 0);
                self.r
                    .read_exact(&mut self.body[at..])
                    .await
                    .expect("chunk");
                self.body.truncate(at + n);
                if n == 0 {
                    break;
                }
            }
        } else {
            self.body.resize(len.unwrap_or(0), 0);
            self.r.read_exact(&mut self.body).await.expect("body");
        }
        sid
    }

    pub async fn call(&mut self, tool: &str) {
        let id = self.next;
        self.next += 1;
        self.post(&call_frame(id, tool)).await;
        check(&String::from_utf8_lossy(&self.body), id);
    }

    /// `tools/list`, as every client does after `initialize` (benches/soak.rs).
    #[allow(dead_code)]
    pub async fn list_tools(&mut self) {
        let id = self.next;
        self.next += 1;
        let frame = format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/list"}}"#);
        self.post(&frame).await;
        let body = String::from_utf8_lossy(&self.body);
        assert!(body.contains(r#""tools":["#), "tools/list: {body}");
    }
}
