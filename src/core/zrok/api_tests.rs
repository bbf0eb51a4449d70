//! Error mapping and request shape of [`ZrokClient`] against a tiny in-process fake HTTP server.
//! (Behaviour against a real controller is covered by tests/zrok_api.rs.)

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::api::*;
use super::ShareName;

const TOKEN: &str = "acctTOKEN1234567";

#[derive(Debug, Clone, Default)]
struct Seen {
    head: String,
    body: String,
}

impl Seen {
    fn request_line(&self) -> &str {
        self.head.lines().next().unwrap_or("")
    }
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    }
    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

enum Reply {
    Status(u16, &'static str, &'static str),
    Hang,
    Drop,
}

/// Serves `reply` to every connection; returns the endpoint and the requests seen.
async fn fake(reply: Reply) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    let reply = Arc::new(reply);
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            let seen = seen2.clone();
            let reply = reply.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut tmp = [0u8; 4096];
                let head_end = loop {
                    let n = s.read(&mut tmp).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&tmp[..n]);
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i + 4;
                    }
                };
                let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                let len = head
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse::<usize>().ok())?
                    })
                    .unwrap_or(0);
                while buf.len() < head_end + len {
                    let n = s.read(&mut tmp).await.unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&tmp[..n]);
                }
                let body = String::from_utf8_lossy(&buf[head_end..]).to_string();
                seen.lock().unwrap().push(Seen { head, body });
                match &*reply {
                    Reply::Status(code, ctype, body) => {
                        let mut resp = format!(
                            "HTTP/1.1 {code} X\r\nContent-Length: {}\r\nConnection: close\r\n",
                            body.len()
                        );
                        if !ctype.is_empty() {
                            resp.push_str(&format!("Content-Type: {ctype}\r\n"));
                        }
                        resp.push_str("\r\n");
                        resp.push_str(body);
                        let _ = s.write_all(resp.as_bytes()).await;
                        let _ = s.shutdown().await;
                    }
                    Reply::Hang => tokio::time::sleep(Duration::from_secs(30)).await,
                    Reply::Drop => drop(s),
                }
            });
        }
    });
    (format!("http://{addr}"), seen)
}

fn client(endpoint: &str) -> ZrokClient {
    ZrokClient::new(endpoint, TOKEN)
        .unwrap()
        .with_timeout(Duration::from_secs(5))
        .unwrap()
}

const Z: &str = "application/zrok.v1+json";
const J: &str = "application/json";

#[tokio::test]
async fn share_request_shape() {
    let (ep, seen) = fake(Reply::Status(
        201,
        Z,
        r#"{"frontendProxyEndpoints":null,"shareToken":"5heifdfr1npb"}"#,
    ))
    .await;
    let c = client(&format!("{ep}/some/path/"));
    assert_eq!(c.base_url(), format!("{ep}/api/v2"));
    let name = ShareName::parse("my-share").unwrap();
    assert_eq!(
        c.share("envA", Some(&name), &ShareAccess::Open)
            .await
            .unwrap(),
        "5heifdfr1npb"
    );
    assert_eq!(
        c.share("envA", None, &ShareAccess::Open).await.unwrap(),
        "5heifdfr1npb"
    );
    let closed = ShareAccess::Closed {
        grants: vec!["bob@example.com".into()],
    };
    assert_eq!(
        c.share("envA", None, &closed).await.unwrap(),
        "5heifdfr1npb"
    );
    let owner_only = ShareAccess::Closed { grants: vec![] };
    assert_eq!(
        c.share("envA", None, &owner_only).await.unwrap(),
        "5heifdfr1npb"
    );
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen[0].request_line(), "POST /api/v2/share HTTP/1.1");
    assert_eq!(seen[0].header("x-token").as_deref(), Some(TOKEN));
    assert_eq!(seen[0].header("content-type").as_deref(), Some(Z));
    assert_eq!(seen[0].header("accept").as_deref(), Some(Z));
    assert_eq!(
        seen[0].json(),
        serde_json::json!({"envZId":"envA","shareMode":"private","backendMode":"proxy",
            "permissionMode":"open","authScheme":"none","privateShareToken":"my-share"})
    );
    assert!(seen[1].json().get("privateShareToken").is_none());
    assert!(seen[1].json().get("accessGrants").is_none());
    assert_eq!(seen[2].json()["permissionMode"], "closed");
    assert_eq!(
        seen[2].json()["accessGrants"],
        serde_json::json!(["bob@example.com"])
    );
    assert_eq!(seen[3].json()["permissionMode"], "closed");
    assert!(seen[3].json().get("accessGrants").is_none());
}

#[tokio::test]
async fn delete_calls_carry_bodies() {
    let (ep, seen) = fake(Reply::Status(200, "", "")).await;
    let c = client(&ep);
    c.unshare("envA", "tok123456789").await.unwrap();
    c.unaccess("envB", "tok123456789", "front1234567")
        .await
        .unwrap();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen[0].request_line(), "DELETE /api/v2/unshare HTTP/1.1");
    assert_eq!(seen[0].header("content-type").as_deref(), Some(Z));
    assert_eq!(
        seen[0].json(),
        serde_json::json!({"envZId":"envA","shareToken":"tok123456789"})
    );
    assert_eq!(seen[1].request_line(), "DELETE /api/v2/unaccess HTTP/1.1");
    assert_eq!(
        seen[1].json(),
        serde_json::json!({"envZId":"envB","shareToken":"tok123456789","frontendToken":"front1234567"})
    );
}

#[tokio::test]
async fn query_and_path_encoding() {
    let (ep, seen) = fake(Reply::Status(200, Z, r#"{"shares":null}"#)).await;
    let c = client(&ep);
    let q = ShareQuery {
        env_zid: Some("a b&c".into()),
        share_mode: Some("private".into()),
    };
    assert!(c.list_shares(&q).await.unwrap().is_empty());
    assert!(c
        .list_shares(&ShareQuery::default())
        .await
        .unwrap()
        .is_empty());
    // A token with path characters stays one segment (the fake answers 200 with a non-share body:
    // the fields default).
    let _ = c.share_detail("../x/y").await;
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen[0].request_line(),
        "GET /api/v2/shares?envZId=a+b%26c&shareMode=private HTTP/1.1"
    );
    assert_eq!(seen[1].request_line(), "GET /api/v2/shares HTTP/1.1");
    assert_eq!(
        seen[2].request_line(),
        "GET /api/v2/detail/share/..%2Fx%2Fy HTTP/1.1"
    );
    assert!(seen[0].header("content-type").is_none());
}

#[tokio::test]
async fn error_mapping() {
    let cases: Vec<(Reply, u16, &str)> = vec![
        (
            Reply::Status(401, J, r#"{"code":401,"message":"invalid api key"}"#),
            401,
            "invalid api key",
        ),
        (Reply::Status(404, "", ""), 404, ""),
        (
            Reply::Status(409, Z, r#""service name 'my-share' is already in use""#),
            409,
            "service name 'my-s…' is already in use",
        ),
        (
            Reply::Status(415, J, r#"{"code":415,"message":"unsupported media type"}"#),
            415,
            "unsupported media type",
        ),
        (
            Reply::Status(
                422,
                J,
                r#"{"code":606,"message":"shareMode in body should be one of [public private]"}"#,
            ),
            422,
            "shareMode in body should be one of [public private]",
        ),
        (
            Reply::Status(500, J, r#"{"code":500,"message":"no consumer registered"}"#),
            500,
            "no consumer registered",
        ),
        (
            Reply::Status(502, "text/html", "<html>bad\ngateway</html>"),
            502,
            "<html>bad gateway</html>",
        ),
        (Reply::Status(302, "", ""), 302, ""),
    ];
    let name = ShareName::parse("my-share").unwrap();
    for (reply, status, message) in cases {
        let (ep, _) = fake(reply).await;
        let e = client(&ep)
            .share("envA", Some(&name), &ShareAccess::Open)
            .await
            .unwrap_err();
        assert_eq!(e.status(), Some(status), "{e}");
        assert_eq!(e.message(), Some(message), "{e}");
        let kind_ok = match status {
            401 => matches!(e, ApiError::Unauthorized { .. }),
            404 => matches!(e, ApiError::NotFound { .. }),
            409 => matches!(e, ApiError::Conflict { .. }),
            415 => matches!(e, ApiError::UnsupportedMediaType { .. }),
            422 => matches!(e, ApiError::Unprocessable { .. }),
            500 | 502 => matches!(e, ApiError::Server { .. }),
            _ => matches!(e, ApiError::UnexpectedStatus { .. }),
        };
        assert!(kind_ok, "{status}: {e:?}");
        let text = format!("{e} {e:?}");
        assert!(!text.contains(TOKEN), "{text}");
        assert!(!text.contains("my-share"), "{text}");
        assert!(text.contains("create share my-s…"), "{text}");
    }
}

#[tokio::test]
async fn version_check() {
    let (ep, seen) = fake(Reply::Status(200, "", "")).await;
    client(&ep).client_version_check().await.unwrap();
    let s = seen.lock().unwrap()[0].clone();
    assert_eq!(s.request_line(), "POST /api/v2/clientVersionCheck HTTP/1.1");
    assert!(s.header("x-token").is_none());
    let v = s.json()["clientVersion"].as_str().unwrap().to_string();
    assert!(v.starts_with("v2.0.4 [mcpz "), "{v}");

    let (ep, _) = fake(Reply::Status(
        400,
        Z,
        r#""client version 'v1.0.0' does not match any accepted patterns""#,
    ))
    .await;
    let e = client(&ep)
        .with_client_version("v1.0.0")
        .client_version_check()
        .await
        .unwrap_err();
    assert!(matches!(e, ApiError::VersionRejected { .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        "zrok controller rejected client version 'v1.0.0': client version 'v1.0.0' does not match any accepted patterns"
    );
}

#[tokio::test]
async fn timeouts_drops_and_bad_bodies() {
    let (ep, _) = fake(Reply::Hang).await;
    let c = ZrokClient::new(&ep, TOKEN)
        .unwrap()
        .with_timeout(Duration::from_millis(300))
        .unwrap();
    let t0 = std::time::Instant::now();
    let e = c.overview().await.unwrap_err();
    assert!(matches!(e, ApiError::Timeout { .. }), "{e:?}");
    assert!(t0.elapsed() < Duration::from_secs(3));

    let (ep, _) = fake(Reply::Drop).await;
    let e = client(&ep).overview().await.unwrap_err();
    assert!(matches!(e, ApiError::Transport { .. }), "{e:?}");

    let (ep, _) = fake(Reply::Status(200, Z, "{not json")).await;
    let e = client(&ep).overview().await.unwrap_err();
    assert!(matches!(e, ApiError::Decode { .. }), "{e:?}");

    let (ep, _) = fake(Reply::Status(201, Z, r#"{"shareToken":""}"#)).await;
    let e = client(&ep)
        .share("e", None, &ShareAccess::Open)
        .await
        .unwrap_err();
    assert!(matches!(e, ApiError::Decode { .. }), "{e:?}");

    // Nothing listens on port 1 of loopback.
    let e = client("http://127.0.0.1:1").overview().await.unwrap_err();
    assert!(matches!(e, ApiError::Transport { .. }), "{e:?}");
}

#[tokio::test]
async fn overview_typed_subset() {
    let body = r#"{"accountLimited":false,"environments":[{"environment":{"address":"127.0.0.1",
        "createdAt":1795639326306,"description":"testnet-alice","host":"h","updatedAt":1,"zId":"z9k8qwh32O"},
        "shares":[{"backendMode":"proxy","createdAt":1795639359035,"envZId":"z9k8qwh32O",
        "frontendEndpoints":["private"],"shareMode":"private","shareToken":"5heifdfr1npb",
        "updatedAt":1795639359035,"zId":"5u3mn8anCROfXIjYrhmYMc","someNewField":{"x":1}}],
        "frontends":null},
        {"environment":{"zId":"JrG-qwhUhO"},"frontends":[{"backendMode":"proxy","createdAt":1,
        "frontendToken":"sHB2l1WC4jin","id":1,"shareToken":"5heifdfr1npb","updatedAt":1,"zId":"JrG-qwhUhO"}]}],
        "names":null,"namespaces":null}"#;
    let (ep, _) = fake(Reply::Status(200, Z, body)).await;
    let o = client(&ep).overview().await.unwrap();
    assert_eq!(o.environments.len(), 2);
    let s = o.find_share("5heifdfr1npb").unwrap();
    assert_eq!(s.env_z_id, "z9k8qwh32O");
    assert_eq!(s.z_id, "5u3mn8anCROfXIjYrhmYMc");
    assert_eq!(s.share_mode, "private");
    assert_eq!(s.backend_mode, "proxy");
    assert_eq!(s.target, "");
    assert_eq!(s.created_at, 1795639359035);
    let f = o.find_frontend("sHB2l1WC4jin").unwrap();
    assert_eq!(f.share_token, "5heifdfr1npb");
    assert_eq!(f.z_id, "JrG-qwhUhO");
    assert_eq!(o.environment("JrG-qwhUhO").unwrap().shares.len(), 0);
    let dbg = format!("{o:?}");
    assert!(
        !dbg.contains("5heifdfr1npb") && !dbg.contains("sHB2l1WC4jin"),
        "{dbg}"
    );
}

#[test]
fn invalid_endpoints() {
    for ep in ["", "not a url", "ftp://x", "http://", "http://u:p@host"] {
        let e = ZrokClient::new(ep, TOKEN).unwrap_err();
        assert!(matches!(e, ApiError::InvalidEndpoint { .. }), "{ep}: {e:?}");
    }
    let c = ZrokClient::new("https://api-v2.zrok.io/", TOKEN).unwrap();
    assert_eq!(c.base_url(), "https://api-v2.zrok.io/api/v2");
    assert!(!format!("{c:?}").contains(TOKEN));
}

#[tokio::test]
async fn stale_share_reaping_keeps_what_it_cannot_delete() {
    use super::state::{GatewayKey, ProcessStamp, ShareRegistry};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shares.json");
    let dead = ProcessStamp {
        pid: u32::MAX - 1,
        start: None,
        instance: "gone".into(),
    };
    let key = GatewayKey::named("gw");
    ShareRegistry::new(&path, key.clone(), "envA")
        .with_process(dead)
        .record("stale1234567")
        .unwrap();
    let registry = ShareRegistry::new(&path, key, "envA");

    // The controller fails: the entry stays for the next start.
    let (ep, _) = fake(Reply::Status(500, Z, r#""database is locked""#)).await;
    let out = super::delete_stale_shares(&client(&ep), &registry)
        .await
        .unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].token_prefix, "stal…");
    assert!(matches!(out[0].result, Err(ApiError::Server { .. })));
    assert_eq!(registry.stale().unwrap(), vec!["stale1234567"]);

    // Already gone (404): forgotten.
    let (ep, seen) = fake(Reply::Status(404, "", "")).await;
    let out = super::delete_stale_shares(&client(&ep), &registry)
        .await
        .unwrap();
    assert!(matches!(out[0].result, Ok(false)), "{out:?}");
    assert!(registry.recorded().unwrap().is_empty());
    assert_eq!(
        seen.lock().unwrap()[0].json(),
        serde_json::json!({"envZId":"envA","shareToken":"stale1234567"})
    );
}
