//! Following redirects (`allow_redirects`, upstream's opt-in; Go's `http.Client` rules, stricter
//! where Go leaks):
//!
//! - at most [`MAX_REDIRECTS`] hops, then an error;
//! - 307 and 308 repeat the method and body; 301 and 302 turn a POST into a GET, 303 turns
//!   everything but HEAD into a GET (without the body);
//! - the configured `headers` and the `Authorization`, `Cookie` and `Proxy-Authorization`
//!   headers go only to the endpoint's host and its subdomains (Go re-sends configured headers
//!   to every host a redirect names; mcpz does not);
//! - a redirect from https:// to http:// is refused (it would send the request in clear text);
//! - a location is named in errors and logs without its query or fragment.

use bytes::Bytes;
use http::header::{self, HeaderMap};
use http::{Method, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;

use super::{HttpClient, HttpClientError};

/// The most redirects one request follows (Go's limit).
pub(crate) const MAX_REDIRECTS: usize = 10;

/// `url` without its query and fragment (they may carry credentials).
pub(crate) fn safe(url: &str) -> &str {
    &url[..url.find(['?', '#']).unwrap_or(url.len())]
}

/// Whether credentials for `origin` may go to `to`: the same host or one of its subdomains (Go's
/// rule for sensitive headers; IP addresses only match exactly).
pub(crate) fn same_site(origin: &Uri, to: &Uri) -> bool {
    let (Some(a), Some(b)) = (origin.host(), to.host()) else {
        return false;
    };
    let (a, b) = (a.to_ascii_lowercase(), b.to_ascii_lowercase());
    a == b || (a.parse::<std::net::IpAddr>().is_err() && b.ends_with(&format!(".{a}")))
}

/// The next hop of a redirect answer, or `None` when `status` is not one to follow.
fn next_hop(
    status: StatusCode,
    headers: &HeaderMap,
    from: &Uri,
) -> Option<Result<Uri, HttpClientError>> {
    if !matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308) {
        return None;
    }
    let location = headers.get(header::LOCATION)?.to_str().ok()?;
    let refuse = |why: String| HttpClientError::Request(why);
    let joined = url::Url::parse(&from.to_string())
        .and_then(|base| base.join(location))
        .map_err(|_| {
            refuse(format!(
                "a {status} redirect to an invalid location '{}'",
                safe(location)
            ))
        });
    Some(joined.and_then(|to| {
        if !matches!(to.scheme(), "http" | "https") {
            return Err(refuse(format!(
                "refused a {status} redirect to '{}' (only http and https are followed)",
                safe(to.as_str())
            )));
        }
        if from.scheme_str() == Some("https") && to.scheme() == "http" {
            return Err(refuse(format!(
                "refused a {status} redirect from https to '{}' (it would send the request unencrypted)",
                safe(to.as_str())
            )));
        }
        to.as_str()
            .parse::<Uri>()
            .map_err(|_| refuse(format!("a {status} redirect to an invalid location '{}'", safe(location))))
    }))
}

/// Sends `req`, following redirects by the rules above.
pub(super) async fn follow(
    client: &HttpClient,
    req: Request<Full<Bytes>>,
) -> Result<Response<Incoming>, HttpClientError> {
    let (parts, body) = req.into_parts();
    let mut body = match body.collect().await {
        Ok(c) => c.to_bytes(),
        Err(never) => match never {},
    };
    let origin = parts.uri.clone();
    let (mut method, mut uri, mut headers) = (parts.method, parts.uri, parts.headers);
    headers.remove(header::HOST);
    for hop in 0.. {
        let mut req = Request::builder()
            .method(method.clone())
            .uri(uri.clone())
            .version(parts.version)
            .body(Full::new(body.clone()))?;
        *req.headers_mut() = headers.clone();
        let resp = client.send_one(req, same_site(&origin, &uri)).await?;
        let to = match next_hop(resp.status(), resp.headers(), &uri) {
            None => return Ok(resp),
            Some(to) => to?,
        };
        let status = resp.status();
        drop(resp);
        if hop == MAX_REDIRECTS {
            return Err(HttpClientError::Request(format!(
                "stopped after {MAX_REDIRECTS} redirects (the last, {status}, to '{}')",
                safe(&to.to_string())
            )));
        }
        let to_get = match status.as_u16() {
            303 => method != Method::HEAD,
            301 | 302 => method == Method::POST,
            _ => false,
        };
        if to_get {
            method = Method::GET;
            body = Bytes::new();
            headers.remove(header::CONTENT_TYPE);
            headers.remove(header::CONTENT_LENGTH);
        }
        if !same_site(&origin, &to) {
            for h in [
                header::AUTHORIZATION,
                header::COOKIE,
                header::PROXY_AUTHORIZATION,
                header::WWW_AUTHENTICATE,
            ] {
                headers.remove(h);
            }
        }
        tracing::debug!(
            %status,
            to = safe(&to.to_string()),
            "following a redirect (allow_redirects)"
        );
        uri = to;
    }
    unreachable!("the loop returns")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hop(status: u16, location: &str, from: &str) -> Result<String, String> {
        let mut h = HeaderMap::new();
        h.insert(header::LOCATION, location.parse().unwrap());
        next_hop(
            StatusCode::from_u16(status).unwrap(),
            &h,
            &from.parse().unwrap(),
        )
        .expect("a redirect")
        .map(|u| u.to_string())
        .map_err(|e| e.to_string())
    }

    #[test]
    fn locations_resolve_and_downgrades_are_refused() {
        assert_eq!(
            hop(307, "/mcp", "http://a.example/old").unwrap(),
            "http://a.example/mcp"
        );
        assert_eq!(
            hop(308, "https://b.example:8443/x?k=1", "http://a.example/").unwrap(),
            "https://b.example:8443/x?k=1"
        );
        let e = hop(
            302,
            "http://a.example/mcp?token=secret",
            "https://a.example/",
        )
        .unwrap_err();
        assert!(e.contains("refused a 302 Found redirect from https"), "{e}");
        assert!(!e.contains("secret"), "{e}");
        let e = hop(301, "file:///etc/passwd", "http://a.example/").unwrap_err();
        assert!(e.contains("only http and https"), "{e}");
        // Not a redirect to follow: 300, 304, or no Location.
        let h = HeaderMap::new();
        let from: Uri = "http://a.example/".parse().unwrap();
        assert!(next_hop(StatusCode::TEMPORARY_REDIRECT, &h, &from).is_none());
        assert!(next_hop(StatusCode::NOT_MODIFIED, &h, &from).is_none());
    }

    #[test]
    fn credentials_stay_on_the_site() {
        let o: Uri = "https://mcp.example.com/mcp".parse().unwrap();
        let same = |u: &str| same_site(&o, &u.parse().unwrap());
        assert!(same("https://MCP.example.com:8443/other"));
        assert!(same("https://eu.mcp.example.com/mcp"));
        assert!(!same("https://example.com/mcp"));
        assert!(!same("https://evilmcp.example.com/mcp"));
        let ip: Uri = "http://10.0.0.1/".parse().unwrap();
        assert!(!same_site(&ip, &"http://1.10.0.0.1/".parse().unwrap()));
        assert!(same_site(&ip, &"http://10.0.0.1:81/".parse().unwrap()));
    }
}
