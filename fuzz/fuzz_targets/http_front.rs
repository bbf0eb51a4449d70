//! Fuzz the HTTP front (`core::front`: the connection service, the `Host`/`Origin` check, the
//! `/mcp` fast path, rmcp's streamable HTTP and the legacy SSE routes): arbitrary bytes are written
//! as one raw client connection to a gateway with no backends, served by `core::front::serve` on
//! an in-memory listener. Never panics, never hangs, and what comes back is empty (the connection
//! closed without an answer) or starts with a well-formed HTTP/1 response head (status line and
//! headers), unless the client spoke HTTP/2.
//!
//! Input: byte 0 picks the app (bit 0: the loopback `Host` check for `127.0.0.1:8080`, or none as
//! on an OpenZiti share; bit 1: JSON responses), the rest is the connection's bytes.
//! One current-thread tokio runtime and one engine per process, started on the first input.
//! Run: `cargo +nightly fuzz run http_front` from the repository root.
#![no_main]

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use mcpz::core::config::Aggregator;
use mcpz::core::engine::{Engine, EngineOptions, Mode};
use mcpz::core::front::{router, serve, ServeOptions};
use mcpz::core::net::{Accepted, Listener};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::sync::mpsc;

/// Connections handed to `serve` one by one.
struct Incoming(mpsc::UnboundedReceiver<DuplexStream>);

#[async_trait::async_trait]
impl Listener for Incoming {
    async fn accept(&mut self) -> std::io::Result<Accepted> {
        match self.0.recv().await {
            Some(c) => Ok(Accepted {
                conn: Box::pin(c),
                remote: "127.0.0.1:40000".into(),
                caller: None,
            }),
            None => std::future::pending().await,
        }
    }

    fn describe(&self) -> String {
        "fuzz".into()
    }
}

struct Harness {
    rt: tokio::runtime::Runtime,
    apps: Vec<mpsc::UnboundedSender<DuplexStream>>,
}

/// Longest wait for an answer; a well-behaved front answers every input long before.
const ANSWER_WITHIN: Duration = Duration::from_secs(5);
/// Turns of the runtime (every other task runs once per turn) the server may stay quiet after
/// the request before the client closes its side. A complete request is answered with the
/// connection still open (hyper drops a request in flight when the client half-closes); an
/// incomplete one is ended by the close. Everything runs on this thread over an in-memory pipe,
/// so a server that made no progress in that many turns waits for input. (Coverage only: an
/// answer that comes later is dropped with the connection, and then the answer is empty.)
const QUIET_TURNS: usize = 64;

fn harness() -> &'static Harness {
    static H: OnceLock<Harness> = OnceLock::new();
    H.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let apps = rt.block_on(async {
            let agg = Aggregator {
                idle_timeout: Duration::from_secs(5),
                max_message_size: 64 << 10,
                ..Aggregator::default()
            };
            let engine: Arc<Engine> = Engine::start(EngineOptions {
                aggregator: agg,
                backends: vec![],
                mode: Mode::Gateway,
                zrok: None,
                discover: true,
                access: Vec::new(),
            })
            .await
            .expect("an engine without backends starts");
            let mut apps = Vec::new();
            for bits in 0..4u8 {
                let mut opts = ServeOptions::loopback(8080);
                if bits & 1 == 0 {
                    opts.allowed_hosts = None;
                }
                opts.json_response = bits & 2 != 0;
                let app = router(engine.clone(), &opts);
                let (tx, rx) = mpsc::unbounded_channel();
                tokio::spawn(serve(
                    Box::new(Incoming(rx)),
                    app,
                    engine.shutdown.child_token(),
                ));
                apps.push(tx);
            }
            apps
        });
        Harness { rt, apps }
    })
}

/// Reads into `got` until it holds the end of the first response head, or the stream ends.
async fn read_head(c: &mut DuplexStream, got: &mut Vec<u8>) {
    let mut buf = [0u8; 4096];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        match c.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// What is there to read now: `None` if nothing yet.
async fn try_read(c: &mut DuplexStream, buf: &mut [u8]) -> Option<std::io::Result<usize>> {
    use tokio::io::AsyncRead;
    let mut rb = tokio::io::ReadBuf::new(buf);
    std::future::poll_fn(
        |cx| match std::pin::Pin::new(&mut *c).poll_read(cx, &mut rb) {
            std::task::Poll::Ready(r) => {
                std::task::Poll::Ready(Some(r.map(|()| rb.filled().len())))
            }
            std::task::Poll::Pending => std::task::Poll::Ready(None),
        },
    )
    .await
}

/// One connection: the request, then the answer's head (closing our side once the server is
/// quiet, for a request it is still reading).
async fn talk(mut client: DuplexStream, request: &[u8]) -> Vec<u8> {
    // The server may answer and close before reading everything: not an error.
    let _ = client.write_all(request).await;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let mut quiet = 0;
    while quiet < QUIET_TURNS {
        match try_read(&mut client, &mut buf).await {
            Some(Ok(0)) => return got,
            Some(Ok(n)) => {
                got.extend_from_slice(&buf[..n]);
                quiet = 0;
                if got.windows(4).any(|w| w == b"\r\n\r\n") {
                    return got;
                }
            }
            Some(Err(_)) => return got,
            None => quiet += 1,
        }
        tokio::task::yield_now().await;
    }
    let _ = client.shutdown().await;
    read_head(&mut client, &mut got).await;
    got
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, request)) = data.split_first() else {
        return;
    };
    let h = harness();
    let answer = h.rt.block_on(async {
        let (client, server) = tokio::io::duplex(1 << 16);
        h.apps[usize::from(pick % 4)]
            .send(server)
            .expect("the listener is alive");
        tokio::time::timeout(ANSWER_WITHIN, talk(client, request)).await
    });
    let answer = answer.unwrap_or_else(|_| {
        panic!(
            "no answer within {ANSWER_WITHIN:?}: {:?}",
            String::from_utf8_lossy(request)
        )
    });
    if std::env::var_os("MCPZ_FUZZ_DEBUG").is_some() {
        let end = answer
            .iter()
            .position(|b| *b == b'\n')
            .unwrap_or(answer.len());
        eprintln!("answer: {:?}", String::from_utf8_lossy(&answer[..end]));
    }
    if answer.is_empty() || request.starts_with(b"PRI * HTTP/2.0") {
        return;
    }
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut resp = httparse::Response::new(&mut headers);
    match resp.parse(&answer) {
        Ok(httparse::Status::Complete(_)) => {
            let code = resp.code.expect("a status code");
            assert!((100..=599).contains(&code), "status {code}");
        }
        other => panic!(
            "not an HTTP response head ({other:?}): {:?}",
            String::from_utf8_lossy(&answer)
        ),
    }
});
