//! What a streamable-HTTP session needs from the engine before (and unless) it needs rmcp's
//! service: `initialize` and `tools/list` answered without one (`front/streamable.rs` starts the
//! service only when a request needs it). The common session (initialize, list the tools, call
//! them on the fast path) then never costs rmcp's per-session machinery.

use std::sync::Arc;

use bytes::Bytes;
use rmcp::model::{InitializeRequestParams, InitializeResult, ListToolsResult, Tool};
use rmcp::{ErrorData as McpError, ServerHandler};

use crate::core::backend::BackendConn;
use crate::core::net::PeerAddr;
use crate::core::wire::frame as fp;

use super::call::{self, CallError};
use super::{Caller, Engine, Mode, Session, TransportKey};

impl Session {
    /// What `initialize` does on both paths once the caller is known: keep the client's
    /// parameters, bind the transport session, connect the backends, negotiate.
    pub(super) async fn begin(
        &self,
        request: &InitializeRequestParams,
        key: Option<TransportKey>,
    ) -> Result<InitializeResult, McpError> {
        self.inner.down.set_init(request.clone());
        if let Some(key) = key {
            self.inner.engine.bind_transport_session(key, self);
        }
        let client = format!(
            "{} {}",
            request.client_info.name, request.client_info.version
        );
        let pv = request.protocol_version.to_string();
        self.inner.engine.hub.session_update(&self.inner.id, |s| {
            s.client = Some(client);
            s.protocol_version = Some(pv);
        });
        self.conns().await?;
        self.negotiate_initialize(request)
    }

    /// The client's `initialize` parameters, once it initialized.
    pub(crate) fn client_init(&self) -> Option<InitializeRequestParams> {
        self.inner.down.init().cloned()
    }

    /// Called when the session needs a peer and has none (see `Downstream::client_peer`).
    pub(crate) fn set_wake(&self, wake: crate::core::backend::WakeFn) {
        self.inner.down.set_wake(wake);
    }
}

impl Engine {
    /// A streamable-HTTP session `sid` opened by `request` from `remote`, without rmcp's
    /// service: the session and what to answer.
    pub(crate) async fn open_streamable(
        self: &Arc<Self>,
        sid: &str,
        request: &InitializeRequestParams,
        remote: Option<&PeerAddr>,
    ) -> (Session, Result<InitializeResult, McpError>) {
        let s = self.new_session("?", None, "streamable");
        if let Some(p) = remote {
            // The session's first request: this fixes its caller.
            let _ = s.identify(&p.remote, Caller::of(p.caller.as_deref()));
        }
        s.touch();
        let r = s
            .begin(request, Some(TransportKey::Streamable(sid.to_string())))
            .await;
        (s, r)
    }

    /// `ping`, or `tools/list` (`frame`) in session `key`: a gateway asks every backend over its
    /// raw link, with the same renaming and filters as the rmcp path (`handler.rs` `list_tools`,
    /// [`gather_tools`]); transparent mode passes the request to its one backend ([`pass_tools`]).
    /// The response frame. `None` (the rmcp path answers) when the frame is neither, the session is not
    /// initialized and connected, another caller holds it, or a backend with tools has no raw
    /// link.
    pub(crate) fn fast_answer(
        &self,
        key: &TransportKey,
        frame: &[u8],
        caller: Option<&Caller>,
    ) -> Option<impl std::future::Future<Output = Bytes> + Send + 'static> {
        let h = fp::Head::parse(frame)?;
        if h.jsonrpc.as_deref() != Some("2.0") {
            return None;
        }
        let ping = match h.method.as_deref()? {
            "ping" => true,
            "tools/list" => false,
            _ => return None,
        };
        let id = h.id.filter(|i| fp::valid_id(i))?.get().to_string();
        let session = self.transport_session(key)?;
        if caller.is_some_and(|c| session.known_caller().as_ref() != Some(c)) {
            return None;
        }
        session.inner.down.init()?;
        if session.inner.ended.is_cancelled() {
            return None;
        }
        if ping {
            session.touch();
            return Some(futures::future::Either::Left(std::future::ready(
                result_frame(&id, &serde_json::Map::new()),
            )));
        }
        let conns = session.live()?;
        Some(if self.mode == Mode::Transparent {
            futures::future::Either::Right(futures::future::Either::Left(pass_tools(
                session, &conns, h.params, id,
            )?))
        } else {
            futures::future::Either::Right(futures::future::Either::Right(gather_tools(
                session, &conns, id,
            )?))
        })
    }

    /// End the session bound to transport key `key` (its transport closed it).
    pub(crate) fn end_transport_session(&self, key: &TransportKey) {
        if let Some(s) = self.transport_session(key) {
            s.inner.ended.cancel();
        }
    }

    /// The live session bound to transport key `key`.
    pub(super) fn transport_session(&self, key: &TransportKey) -> Option<Session> {
        let inner = self
            .transport_sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)?
            .upgrade()?;
        Some(Session { inner })
    }
}

/// `{"jsonrpc":"2.0","id":ID,"result":RESULT}`.
pub(crate) fn result_frame(id: &str, result: &impl serde::Serialize) -> Bytes {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
    out.extend_from_slice(id.as_bytes());
    out.extend_from_slice(br#","result":"#);
    if serde_json::to_writer(&mut out, result).is_err() {
        return fp::error_frame(id, call::INTERNAL_ERROR, "result could not be encoded");
    }
    out.push(b'}');
    Bytes::from(out)
}

/// A gateway's `tools/list`: every backend with tools asked over its raw link, its tools renamed
/// and filtered as on the rmcp path. `None` (the rmcp path answers) when a backend with tools has
/// no raw link.
fn gather_tools(
    session: Session,
    conns: &[Arc<BackendConn>],
    id: String,
) -> Option<impl std::future::Future<Output = Bytes> + Send + 'static> {
    let with_tools: Vec<Arc<BackendConn>> = conns
        .iter()
        .filter(|c| Session::has_cap(c, |c| c.tools.is_some()))
        .cloned()
        .collect();
    if with_tools.iter().any(|c| c.raw.is_none()) {
        return None;
    }
    session.touch();
    Some(async move {
        let e = &session.inner.engine;
        let cat = e.catalog();
        let timeout = cat.agg.call_timeout;
        let lists = futures::future::join_all(
            with_tools
                .iter()
                .map(|c| async move { (c, tokio::time::timeout(timeout, raw_tools(c)).await) }),
        )
        .await;
        let caller = session.caller();
        let mut tools = Vec::new();
        for (c, r) in lists {
            let items = match r {
                Ok(Ok(items)) => items,
                Ok(Err(err)) => {
                    tracing::warn!(backend = %c.id, "tools/list failed: {err}");
                    continue;
                }
                Err(_) => {
                    tracing::warn!(backend = %c.id, "tools/list timed out");
                    continue;
                }
            };
            let Some(def) = cat.get(c.idx) else { continue };
            tools.extend(items.into_iter().filter_map(|mut t| {
                if !def.exposes(&t.name) {
                    return None;
                }
                t.name = e.expose(def.id(), &t.name).into();
                call::may_use(&cat, &caller, &t.name).then_some(t)
            }));
        }
        session.touch();
        result_frame(&id, &ListToolsResult::with_all_items(tools))
    })
}

/// Transparent mode's `tools/list`: the one backend asked over its raw link with the client's
/// parameters, its answer passed back re-addressed (a cursor, an error, unknown fields and all),
/// as the rmcp path forwards it. `None` (the rmcp path answers) when the backend has no raw link
/// or the parameters are not an object, or ask for progress (the rmcp path maps the token).
fn pass_tools(
    session: Session,
    conns: &[Arc<BackendConn>],
    params: Option<&serde_json::value::RawValue>,
    id: String,
) -> Option<impl std::future::Future<Output = Bytes> + Send + 'static> {
    let first = session.inner.engine.catalog().backends.first()?.key;
    let c = conns.iter().find(|c| c.idx == first)?.clone();
    let params = match params {
        None => None,
        Some(p) => {
            let v: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(p.get()).ok()?;
            if v.get("_meta")
                .is_some_and(|m| m.get("progressToken").is_some())
            {
                return None;
            }
            Some(p.get().to_string())
        }
    };
    let link = c.raw.clone()?;
    session.touch();
    Some(async move {
        let _busy = c.in_use();
        let timeout = session.inner.engine.catalog().agg.call_timeout;
        let answer = tokio::select! {
            r = tokio::time::timeout(timeout, link.request("tools/list", params.as_deref())) => r,
            _ = session.inner.ended.cancelled() => return CallError::SessionEnded.frame(&id),
        };
        session.touch();
        match answer {
            Ok(Ok(frame)) => match fp::readdress(&frame, &id) {
                Some((f, _)) => f,
                None => CallError::Unexpected(c.id.clone()).frame(&id),
            },
            Ok(Err(_)) => CallError::Closed(c.id.clone()).frame(&id),
            Err(_) => CallError::Timeout {
                backend: c.id.clone(),
                timeout,
            }
            .frame(&id),
        }
    })
}

/// Every page of backend `c`'s tools, asked over its raw link.
async fn raw_tools(c: &Arc<BackendConn>) -> Result<Vec<Tool>, String> {
    #[derive(serde::Deserialize)]
    struct Answer {
        result: Option<ListToolsResult>,
        error: Option<rmcp::model::ErrorData>,
    }
    let link = c.raw.as_ref().ok_or("no raw link")?;
    let _busy = c.in_use();
    let mut tools = Vec::new();
    let mut cursor: Option<String> = None;
    // A backend that keeps answering with a cursor is cut off (the rmcp path has no bound).
    for _ in 0..MAX_PAGES {
        let params = cursor
            .as_ref()
            .map(|c| serde_json::json!({ "cursor": c }).to_string());
        let answer = link
            .request("tools/list", params.as_deref())
            .await
            .map_err(|e| e.to_string())?;
        let a: Answer = serde_json::from_slice(&answer).map_err(|e| format!("bad answer: {e}"))?;
        if let Some(err) = a.error {
            return Err(err.message.to_string());
        }
        let page = a.result.ok_or("answer without a result")?;
        tools.extend(page.tools);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(tools),
        }
    }
    Err(format!("more than {MAX_PAGES} pages"))
}

/// The most pages of one backend's `tools/list`.
const MAX_PAGES: usize = 1000;
