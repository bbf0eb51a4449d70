//! HTTP backends follow no redirects and use no proxy from the environment unless the config
//! opts in (upstream v0.1.8's `allow_redirects` and `allow_environment_proxy`). A loopback
//! server that answers every request with 307 fails the connect with an error naming the status;
//! the proxy variables point at a port where nothing listens, so a client that read them would
//! fail differently. With `allow_redirects: true` a redirect loop ends after 10 hops with an
//! error. Following redirects and proxies to a real MCP server: tests/e2e/test_http_options.py.

mod gateway_support;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Answers every request on every connection with `307` to `location` (`None`: to itself, with
/// a query that must never be shown).
async fn redirecting_server(
    location: Option<&str>,
) -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let location = location
        .map(str::to_string)
        .unwrap_or_else(|| format!("http://{addr}/again?token=secret"));
    let answer = format!("HTTP/1.1 307 Temporary Redirect\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            let answer = answer.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                let mut seen = Vec::new();
                // Read the head (and whatever body arrives with it), then answer.
                loop {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                    if seen.windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
                let _ = s.write_all(answer.as_bytes()).await;
                let _ = s.shutdown().await;
            });
        }
    });
    (addr, task)
}

async fn connect_error(protocol: &str, addr: std::net::SocketAddr, follow: bool) -> String {
    let yaml = format!(
        "aggregator:\n  connection: {{connect_timeout: 10s}}\nbackends:\n  - id: r\n    transport:\n      type: http\n      endpoint: http://{addr}/mcp\n      protocol: {protocol}\n      allow_insecure: true\n      allow_redirects: {follow}\n      allow_environment_proxy: false\n"
    );
    match gateway_support::gateway_yaml(&yaml).await {
        Ok(_) => panic!("a backend that only redirects must not connect"),
        Err(e) => format!("{e:#}"),
    }
}

#[tokio::test]
async fn redirect_is_not_followed_and_proxy_env_is_not_read() {
    // Nothing listens on port 9 of loopback (discard); a client using these would fail to
    // connect rather than see our 307.
    for k in [
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
    ] {
        std::env::set_var(k, "http://127.0.0.1:9");
    }
    std::env::remove_var("NO_PROXY");
    std::env::remove_var("no_proxy");
    let (addr, server) =
        redirecting_server(Some("http://127.0.0.1:9/elsewhere?token=secret")).await;
    for protocol in ["streamable", "sse"] {
        let e = connect_error(protocol, addr, false).await;
        assert!(e.contains("307"), "{protocol}: {e}");
        assert!(
            e.contains(
                "a redirect to 'http://127.0.0.1:9/elsewhere'; HTTP backends follow redirects only with 'allow_redirects: true'"
            ),
            "{protocol}: {e}"
        );
        assert!(!e.contains("secret"), "{protocol}: {e}");
    }
    server.abort();
}

#[tokio::test]
async fn a_redirect_loop_ends_after_ten_hops() {
    let (addr, server) = redirecting_server(None).await;
    for protocol in ["streamable", "sse"] {
        let e = connect_error(protocol, addr, true).await;
        assert!(
            e.contains(&format!(
                "stopped after 10 redirects (the last, 307 Temporary Redirect, to 'http://{addr}/again')"
            )),
            "{protocol}: {e}"
        );
        assert!(!e.contains("secret"), "{protocol}: {e}");
    }
    server.abort();
}
