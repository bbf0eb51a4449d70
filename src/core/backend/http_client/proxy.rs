//! Proxies from the environment (`allow_environment_proxy`, upstream's opt-in), with the rules of
//! Go's `http.ProxyFromEnvironment` that upstream uses:
//!
//! - `HTTP_PROXY` / `http_proxy` for http:// targets, `HTTPS_PROXY` / `https_proxy` for https://
//!   targets, `NO_PROXY` / `no_proxy` for exceptions (`ALL_PROXY` is not read, as in Go);
//! - read once, when the client is built;
//! - `localhost` and loopback addresses are never proxied;
//! - a proxy URL without a scheme is `http://`; `user:password@` becomes `Proxy-Authorization`;
//! - under CGI (`REQUEST_METHOD` set) `HTTP_PROXY` is ignored.
//!
//! http:// targets go to the proxy in absolute form; https:// targets through a `CONNECT`
//! tunnel (hyper-util's [`Tunnel`]) with TLS to the target inside it. The proxy itself may be
//! reached over TLS (an `https://` proxy URL).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{HeaderValue, Uri};
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::proxy::matcher::{Intercept, Matcher};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;

use crate::core::net::BoxConn;

/// The proxy rules read from the environment.
pub(crate) struct EnvProxy {
    matcher: Matcher,
}

fn first_env(names: &[&str]) -> String {
    names
        .iter()
        .find_map(|n| std::env::var(n).ok().filter(|v| !v.is_empty()))
        .unwrap_or_default()
}

impl EnvProxy {
    pub(crate) fn from_env() -> Self {
        let cgi = std::env::var_os("REQUEST_METHOD").is_some();
        let http = if cgi {
            String::new()
        } else {
            first_env(&["HTTP_PROXY", "http_proxy"])
        };
        Self {
            matcher: Matcher::builder()
                .http(http)
                .https(first_env(&["HTTPS_PROXY", "https_proxy"]))
                .no(first_env(&["NO_PROXY", "no_proxy"]))
                .build(),
        }
    }

    /// The proxy for `dst`, if one applies.
    pub(crate) fn intercept(&self, dst: &Uri) -> Option<Intercept> {
        let host = dst.host()?.trim_start_matches('[').trim_end_matches(']');
        let loopback = host.eq_ignore_ascii_case("localhost")
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        if loopback {
            return None;
        }
        self.matcher.intercept(dst)
    }
}

/// How a proxy is named in errors and logs: scheme, host and port, never its credentials.
pub(crate) fn describe(proxy: &Uri) -> String {
    format!(
        "{}://{}:{}",
        proxy.scheme_str().unwrap_or("http"),
        proxy.host().unwrap_or("?"),
        port_of(proxy)
    )
}

fn port_of(uri: &Uri) -> u16 {
    uri.port_u16()
        .unwrap_or(if uri.scheme_str() == Some("https") {
            443
        } else {
            80
        })
}

/// Dials the proxy: TCP, and TLS when the proxy URL is https://.
#[derive(Clone)]
struct ProxyDialer {
    tls: tokio_rustls::TlsConnector,
}

impl ProxyDialer {
    async fn dial(self, proxy: Uri) -> io::Result<BoxConn> {
        let bad = |m: String| io::Error::new(io::ErrorKind::InvalidInput, m);
        let host = proxy
            .host()
            .ok_or_else(|| bad("proxy URL has no host".into()))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = port_of(&proxy);
        let tcp = tokio::net::TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| io::Error::new(e.kind(), format!("proxy {}: {e}", describe(&proxy))))?;
        let _ = tcp.set_nodelay(true);
        match proxy.scheme_str() {
            Some("https") => {
                let name = ServerName::try_from(host)
                    .map_err(|_| bad("invalid TLS server name for the proxy".into()))?;
                Ok(Box::pin(self.tls.connect(name, tcp).await?))
            }
            Some("http") | None => Ok(Box::pin(tcp)),
            Some(other) => Err(bad(format!(
                "proxy {}: the {other}:// scheme is not supported (only http:// and https:// proxies)",
                describe(&proxy)
            ))),
        }
    }
}

impl tower::Service<Uri> for ProxyDialer {
    type Response = TokioIo<BoxConn>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<TokioIo<BoxConn>>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, proxy: Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move { this.dial(proxy).await.map(TokioIo::new) })
    }
}

/// Connects to `dst` through `proxy`: for an https:// target a `CONNECT` tunnel (the caller
/// then runs TLS to the target inside it), for an http:// target the proxy connection itself
/// (requests then go in absolute form).
pub(crate) async fn connect(
    proxy: &Intercept,
    dst: &Uri,
    https: bool,
    tls: &tokio_rustls::TlsConnector,
) -> io::Result<BoxConn> {
    let dialer = ProxyDialer { tls: tls.clone() };
    if !https {
        return dialer.dial(proxy.uri().clone()).await;
    }
    let mut tunnel = Tunnel::new(proxy.uri().clone(), dialer);
    if let Some(auth) = proxy.basic_auth() {
        tunnel = tunnel.with_auth(auth.clone());
    }
    let conn = tower::Service::call(&mut tunnel, dst.clone())
        .await
        .map_err(|e| {
            let mut why = crate::core::backend::http_client::error_chain(&e);
            if why.contains("proxy authorization required") {
                why = "the proxy answered 407 Proxy Authentication Required (check the user and password in HTTPS_PROXY)".into();
            }
            io::Error::other(format!(
                "CONNECT through proxy {} failed: {why}",
                describe(proxy.uri())
            ))
        })?;
    Ok(conn.into_inner())
}

/// `Proxy-Authorization` for a request sent to the proxy in absolute form (plain http targets).
pub(crate) fn authorization(proxy: &Intercept) -> Option<HeaderValue> {
    proxy.basic_auth().cloned().map(|mut v| {
        v.set_sensitive(true);
        v
    })
}

/// Shared by clones of one client.
pub(crate) type Shared = Option<Arc<EnvProxy>>;

#[cfg(test)]
mod tests {
    use super::*;

    fn proxy(http: &str, https: &str, no: &str) -> EnvProxy {
        EnvProxy {
            matcher: Matcher::builder().http(http).https(https).no(no).build(),
        }
    }

    #[test]
    fn go_rules() {
        let p = proxy(
            "user:pa%20ss@10.0.0.1:3128",
            "https://10.0.0.2",
            "skip.example, .corp",
        );
        let at = |u: &str| p.intercept(&u.parse().unwrap()).map(|i| describe(i.uri()));
        assert_eq!(
            at("http://mcp.example/mcp").as_deref(),
            Some("http://10.0.0.1:3128")
        );
        assert_eq!(
            at("https://mcp.example/mcp").as_deref(),
            Some("https://10.0.0.2:443")
        );
        // Loopback and localhost are never proxied; NO_PROXY matches domains and subdomains.
        for u in [
            "http://localhost:8080/",
            "http://LOCALHOST/",
            "http://127.0.0.9/",
            "http://[::1]:9/",
            "http://skip.example/",
            "http://a.skip.example/",
            "http://x.corp/",
        ] {
            assert_eq!(at(u), None, "{u}");
        }
        let i = p
            .intercept(&"http://mcp.example/".parse().unwrap())
            .unwrap();
        // "user:pa ss" in base64; the value is marked sensitive and never printed by describe.
        let auth = authorization(&i).unwrap();
        assert_eq!(auth.to_str().unwrap(), "Basic dXNlcjpwYSBzcw==");
        assert!(auth.is_sensitive());
        assert!(!describe(i.uri()).contains("user"));
        assert!(proxy("", "", "")
            .intercept(&"http://mcp.example/".parse().unwrap())
            .is_none());
    }
}
