//! The `/mcp` fast path in front of the axum router: a `tools/call` the engine can take is
//! answered here without routing, middleware or rmcp's service (docs/architecture.md).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::IntoResponse;

use crate::core::engine::{Caller, Engine, FastItem, TransportKey};
use crate::core::front::streamable::StreamableSessions;
use crate::core::net::PeerAddr;
use crate::core::wire::frame;

/// How long a fast `tools/call` may take to be answered as one JSON body; after that (or when
/// progress comes first) the answer is an SSE stream.
const FAST_JSON_WINDOW: Duration = Duration::from_millis(1000);

/// The `/mcp` fast path, in front of the axum router (so that a fast `tools/call` pays for
/// neither routing nor middleware): `POST /mcp` with a `tools/call` the engine can take is
/// answered here (one `application/json` body, or an SSE stream when progress comes first); a
/// body that is not one JSON-RPC message gets a JSON-RPC error with status 400 (-32700 not JSON
/// or nested too deep, -32600 a batch); everything else goes on to the router (and rmcp's
/// service) unchanged.
pub(super) struct FastFront {
    pub(super) engine: Arc<Engine>,
    /// Stateful streamable HTTP (`None`: stateless): `initialize` opens a session here, without
    /// rmcp's service (`streamable.rs`), and `ping` and `tools/list` are answered here.
    pub(super) sessions: Option<Arc<StreamableSessions>>,
}

/// 400 with the JSON-RPC error for a body that is not one message.
pub(crate) fn json_rpc_refusal(e: &frame::BodyError) -> axum::response::Response {
    (
        StatusCode::BAD_REQUEST,
        [(http::header::CONTENT_TYPE, "application/json")],
        axum::body::Body::from(e.frame()),
    )
        .into_response()
}

/// The most of an oversize body read (and dropped) before answering 413, and for how long: a
/// client that writes the whole body before reading the answer then sees the 413 instead of a
/// connection reset.
const DRAIN_BYTES: usize = 64 << 20;
const DRAIN_TIME: Duration = Duration::from_secs(5);

/// 413 for a body that declares `len` bytes, over `max`.
async fn too_large(body: axum::body::Body, len: usize, max: usize) -> axum::response::Response {
    use futures::StreamExt;
    tracing::debug!("POST refused: {len} bytes, over max_message_size ({max})");
    if len <= DRAIN_BYTES {
        let mut data = body.into_data_stream();
        let _ = tokio::time::timeout(DRAIN_TIME, async {
            while let Some(Ok(_)) = data.next().await {}
        })
        .await;
    }
    (
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("request body of {len} bytes is over max_message_size ({max} bytes)"),
    )
        .into_response()
}

/// Where streamable HTTP is served: `/`, `/mcp` and the paths under it (axum's
/// `nest_service("/mcp")`).
pub(super) fn is_mcp_path(path: &str) -> bool {
    path == "/"
        || path
            .strip_prefix("/mcp")
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

impl FastFront {
    pub(super) async fn handle(
        &self,
        req: Request,
        router: axum::Router,
    ) -> axum::response::Response {
        use tower::ServiceExt;
        let next = |req: Request| async move {
            match router.oneshot(req).await {
                Ok(r) => r,
                Err(e) => match e {},
            }
        };
        let engine = &self.engine;
        let h = req.headers();
        let json_in = h
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        let len = h
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        // Not JSON: rmcp answers 415.
        if !json_in {
            return next(req).await;
        }
        let max = engine.agg.max_message_size;
        if let Some(len) = len.filter(|l| *l > max) {
            return too_large(req.into_body(), len, max).await;
        }
        let json_out = h
            .get(http::header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("application/json") || v.contains("*/*"));
        let key = h
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .filter(|_| json_out)
            .map(|sid| TransportKey::Streamable(sid.to_string()));
        let (parts, body) = req.into_parts();
        let bytes = match http_body_util::BodyExt::collect(http_body_util::Limited::new(body, max))
            .await
        {
            Ok(b) => b.to_bytes(),
            Err(e) if e.is::<http_body_util::LengthLimitError>() => {
                return (StatusCode::PAYLOAD_TOO_LARGE, "request body too large").into_response()
            }
            Err(_) => {
                return (StatusCode::BAD_REQUEST, "failed to read the request body").into_response()
            }
        };
        let caller = Caller::of(
            parts
                .extensions
                .get::<PeerAddr>()
                .and_then(|p| p.caller.as_deref()),
        );
        if let Some(r) = self.light(&parts, &bytes, key.as_ref(), &caller).await {
            return r;
        }
        if let Some(mut call) = key.and_then(|k| engine.fast_call(&k, &bytes, Some(&caller))) {
            use futures::StreamExt;
            // Answered quickly with nothing before the response: one JSON body. Otherwise
            // (progress first, or slow) an SSE stream, so that progress flows and the client
            // sees headers.
            let first = match tokio::select! {
                biased;
                item = call.next() => Ok(item),
                _ = crate::core::deadline::Deadline::after(FAST_JSON_WINDOW) => Err(()),
            } {
                Ok(Some(FastItem::Done(resp))) => {
                    return (
                        [(http::header::CONTENT_TYPE, "application/json")],
                        axum::body::Body::from(resp),
                    )
                        .into_response();
                }
                Ok(Some(FastItem::Progress(p))) => Some(p),
                Ok(None) => None,
                Err(_) => None,
            };
            let frames = futures::stream::iter(first).chain(call.map(|item| match item {
                FastItem::Progress(b) | FastItem::Done(b) => b,
            }));
            let events = frames.map(|b| {
                let mut e = Vec::with_capacity(b.len() + 24);
                e.extend_from_slice(b"event: message\ndata: ");
                e.extend_from_slice(&b);
                e.extend_from_slice(b"\n\n");
                Ok::<_, std::convert::Infallible>(bytes::Bytes::from(e))
            });
            return (
                [
                    (http::header::CONTENT_TYPE, "text/event-stream"),
                    (http::header::CACHE_CONTROL, "no-cache"),
                ],
                axum::body::Body::from_stream(events),
            )
                .into_response();
        }
        // Not for the fast path (checked first: a valid call needs no second parse). What rmcp
        // cannot decode gets a JSON-RPC error here, not rmcp's plain-text 415.
        if let Err(e) = frame::check_body(&bytes) {
            tracing::debug!("POST /mcp refused: {e:?}");
            return json_rpc_refusal(&e);
        }
        next(Request::from_parts(parts, axum::body::Body::from(bytes))).await
    }
}

/// `application/json` with `body`.
fn json(body: bytes::Bytes) -> axum::response::Response {
    (
        [(http::header::CONTENT_TYPE, "application/json")],
        axum::body::Body::from(body),
    )
        .into_response()
}

fn header<'a>(parts: &'a http::request::Parts, name: &str) -> Option<&'a str> {
    parts.headers.get(name).and_then(|v| v.to_str().ok())
}

impl FastFront {
    /// What a streamable-HTTP session gets without rmcp's service here: `initialize` (a new
    /// session), and in any session `ping` and `tools/list` (`Engine::fast_answer`).
    /// `None`: not for here (rmcp's service takes it).
    async fn light(
        &self,
        parts: &http::request::Parts,
        bytes: &bytes::Bytes,
        key: Option<&TransportKey>,
        caller: &Caller,
    ) -> Option<axum::response::Response> {
        use rmcp::model::ProtocolVersion;
        let sessions = self.sessions.as_ref()?;
        let accept = header(parts, "accept").unwrap_or("");
        // rmcp refuses (406) what does not accept both.
        if !(accept.contains("application/json") && accept.contains("text/event-stream")) {
            return None;
        }
        // Standard headers (SEP-2243) are checked against the body by rmcp.
        if parts.headers.contains_key("mcp-method") || parts.headers.contains_key("mcp-name") {
            return None;
        }
        let version = header(parts, "mcp-protocol-version");
        // rmcp answers an unknown version (400).
        if version.is_some_and(|v| {
            !ProtocolVersion::KNOWN_VERSIONS
                .iter()
                .any(|k| k.as_str() == v)
        }) {
            return None;
        }
        if !parts.headers.contains_key("mcp-session-id") {
            return self.open(sessions, parts, bytes, version).await;
        }
        // The handshake's notifications of a session without the service are taken by
        // `StreamableSessions::accept_message`, behind rmcp's checks.
        let answer = self.engine.fast_answer(key?, bytes, Some(caller))?;
        Some(json(answer.await))
    }

    /// `initialize` without a session id: a new session, served without rmcp's service until it
    /// needs it. `None` when rmcp should answer (not an `initialize`, or a header it checks).
    async fn open(
        &self,
        sessions: &Arc<StreamableSessions>,
        parts: &http::request::Parts,
        bytes: &bytes::Bytes,
        version: Option<&str>,
    ) -> Option<axum::response::Response> {
        use rmcp::model::{ClientJsonRpcMessage, ClientRequest, JsonRpcMessage};
        let h = frame::Head::parse(bytes)?;
        if h.method.as_deref() != Some("initialize") {
            return None;
        }
        let JsonRpcMessage::Request(req) =
            serde_json::from_slice::<ClientJsonRpcMessage>(bytes).ok()?
        else {
            return None;
        };
        let ClientRequest::InitializeRequest(init) = req.request else {
            return None;
        };
        if version.is_some_and(|v| v != init.params.protocol_version.as_str()) {
            return None;
        }
        let id = serde_json::to_string(&req.id).ok()?;
        let sid = uuid::Uuid::new_v4().to_string();
        let (session, r) = self
            .engine
            .open_streamable(&sid, &init.params, parts.extensions.get::<PeerAddr>())
            .await;
        match r {
            Ok(result) => {
                let body = crate::core::engine::result_frame(&id, &result);
                sessions.adopt(sid.clone().into(), session);
                let mut resp = json(body);
                if let Ok(v) = http::HeaderValue::from_str(&sid) {
                    resp.headers_mut().insert("mcp-session-id", v);
                }
                Some(resp)
            }
            Err(e) => {
                tracing::info!("initialize refused: {}", e.message);
                Some(json(frame::error_frame(&id, e.code.0, &e.message)))
            }
        }
    }
}
