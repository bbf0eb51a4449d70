//! The `tools/call` fast path: a call whose session, backend and tool allow it is forwarded as a
//! raw frame over the backend's [`RawLink`], with the same rules as the rmcp path
//! ([`super::call`]): routing and filter, timeouts and progress, cancellation, outcome.

use std::sync::Arc;
use std::time::Instant;

use crate::core::backend::raw::{RawLink, Waiter};
use crate::core::backend::{BackendConn, InUse};
use crate::core::deadline::Deadline;
use crate::core::live::state::{CallOutcome, CallPath};
use crate::core::wire::frame as fp;

use super::call::{self, Abandon, CallError};
use super::{Caller, Engine, Session, TransportKey};

/// A `tools/call` answered on the fast path: the frames for the client (progress notifications,
/// then the response). Dropping it before the end cancels the call at the backend.
pub(crate) type FastCall = std::pin::Pin<Box<dyn futures::Stream<Item = FastItem> + Send>>;

/// One frame of a fast-path call for the client: progress, then the response.
pub(crate) enum FastItem {
    Progress(bytes::Bytes),
    Done(bytes::Bytes),
}

/// Tells the backend a fast request was abandoned (client gone, timeout, session ended).
struct FastAbandon {
    link: Option<Arc<RawLink>>,
    n: u64,
    theirs: String,
    why: Abandon,
}

impl Drop for FastAbandon {
    fn drop(&mut self) {
        self.fire();
    }
}

impl FastAbandon {
    /// Forget the request and send the backend `notifications/cancelled` (once).
    fn fire(&mut self) {
        if let Some(link) = self.link.take() {
            link.forget(self.n);
            let mut f = fp::cancelled_frame(&self.theirs, self.why.reason());
            f.push(b'\n');
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(async move {
                    let _ = link.write(&f).await;
                });
            }
        }
    }
}

struct FastState {
    abandon: FastAbandon,
    session: Session,
    conn: Arc<BackendConn>,
    /// Counts the call as in flight on `conn` (no health ping meanwhile).
    _busy: InUse,
    link: Arc<RawLink>,
    frame: Option<Vec<u8>>,
    waiter: Waiter,
    client_id: String,
    client_token: Option<String>,
    exposed: String,
    /// What the audit log keeps of the request (empty unless it is on).
    detail: crate::core::ops::Detail,
    started: Instant,
    limits: call::Limits,
    max_deadline: Instant,
    /// Fires `timeout` after the call (or its last progress, when the client asked for
    /// progress), and never after `max_deadline`.
    timer: Deadline,
    queue: std::collections::VecDeque<FastItem>,
    finished: bool,
}

impl FastState {
    fn progress(&self, frame: &[u8]) -> Option<FastItem> {
        let token = self.client_token.as_deref()?;
        fp::progress_to_client(frame, token).map(FastItem::Progress)
    }

    fn finish(&mut self, resp: bytes::Bytes, outcome: CallOutcome) {
        self.abandon.link = None;
        self.finished = true;
        self.session.touch();
        self.session.record(
            &self.conn.id,
            "tools/call",
            &self.exposed,
            self.started,
            outcome,
            CallPath::Fast,
            &self.detail,
        );
        self.queue.push_back(FastItem::Done(resp));
    }

    fn fail(&mut self, e: CallError) {
        self.finish(e.frame(&self.client_id), e.outcome());
    }

    /// Abandon the request at the backend for `why` and answer the client with `e`.
    fn abandon(&mut self, why: Abandon, e: CallError) -> Option<FastItem> {
        self.abandon.why = why;
        self.abandon.fire();
        self.fail(e);
        self.queue.pop_front()
    }

    async fn next(&mut self) -> Option<FastItem> {
        if let Some(item) = self.queue.pop_front() {
            return Some(item);
        }
        if self.finished {
            return None;
        }
        if let Some(frame) = self.frame.take() {
            self.session.touch();
            if self.link.write(&frame).await.is_err() {
                self.link.forget(self.abandon.n);
                self.fail(CallError::Closed(self.conn.id.clone()));
                return self.queue.pop_front();
            }
        }
        loop {
            tokio::select! {
                biased;
                Some(p) = async {
                    match self.waiter.progress.as_mut() {
                        Some(rx) => rx.recv().await,
                        None => std::future::pending().await,
                    }
                } => {
                    if self.limits.progress {
                        self.timer = Deadline::at(
                            (Instant::now() + self.limits.timeout).min(self.max_deadline),
                        );
                    }
                    if let Some(item) = self.progress(&p) {
                        return Some(item);
                    }
                }
                r = &mut self.waiter.done => {
                    // Progress sent before the response is already queued: it goes first.
                    while let Some(Ok(p)) = self.waiter.progress.as_mut().map(|rx| rx.try_recv()) {
                        if let Some(item) = self.progress(&p) {
                            self.queue.push_back(item);
                        }
                    }
                    match r.ok().and_then(|b| fp::readdress(&b, &self.client_id)) {
                        Some((f, o)) => self.finish(f, call::frame_outcome(o)),
                        None => self.fail(CallError::Closed(self.conn.id.clone())),
                    }
                    return self.queue.pop_front();
                }
                _ = &mut self.timer => {
                    let e = CallError::Timeout {
                        backend: self.conn.id.clone(),
                        timeout: self.limits.timeout,
                    };
                    return self.abandon(Abandon::Timeout, e);
                }
                _ = self.session.inner.ended.cancelled() => {
                    return self.abandon(Abandon::SessionEnded, CallError::SessionEnded);
                }
            }
        }
    }
}

impl Engine {
    /// The fast path for a client frame posted to transport session `key`: `Some` when `frame`
    /// is a `tools/call` the fast path can forward exactly as the rmcp path would (then the
    /// future resolves to the response frame), `None` to take the rmcp path.
    /// `caller`: who sent this frame, when the transport does not bind every frame to the
    /// session's caller itself (streamable HTTP: any connection may carry a session id); a
    /// frame from another caller is left to the rmcp path, which refuses it.
    pub(crate) fn fast_call(
        &self,
        key: &TransportKey,
        frame: &[u8],
        caller: Option<&Caller>,
    ) -> Option<FastCall> {
        let h = fp::Head::parse(frame)?;
        if h.jsonrpc.as_deref() != Some("2.0") || h.method.as_deref() != Some("tools/call") {
            return None;
        }
        let id = h.id.filter(|i| fp::valid_id(i))?;
        let params = fp::CallParams::parse(h.params?)?;
        let session = self.transport_session(key)?;
        if caller.is_some_and(|c| session.known_caller().as_ref() != Some(c)) {
            return None;
        }
        session.fast_call(id.get(), params)
    }
}

impl Session {
    /// See [`Engine::fast_call`]. Taken only when the call needs nothing the rmcp path does
    /// beyond forwarding: the backend is connected and has a raw link (stdio), the tool is
    /// exposed, and the client offers neither sampling nor elicitation (whose requests belong on
    /// the call's own response stream). Progress is carried (the backend sees the fast id as
    /// its token; the client gets its own back), with the same timeout rule as the rmcp path.
    /// Everything else, including every error the gateway itself answers, takes the rmcp path.
    fn fast_call(self, client_id: &str, params: fp::CallParams<'_>) -> Option<FastCall> {
        if self.inner.ended.is_cancelled() {
            return None;
        }
        let conns = self.live()?;
        let caps = &self.inner.down.init()?.capabilities;
        if caps.sampling.is_some() || caps.elicitation.is_some() {
            return None;
        }
        let e = &self.inner.engine;
        let cat = e.catalog();
        let (def, original) = call::route_tool(e, &cat, &self.caller(), &params.name).ok()?;
        if call::needs_policy(&def, &original) {
            return None;
        }
        let conn = conns.iter().find(|c| c.idx == def.key)?.clone();
        let link = conn.raw.clone()?;
        let (n, theirs, waiter) = link.register(params.progress.is_some())?;
        let mut frame = fp::call_frame(&theirs, &original, &params);
        frame.push(b'\n');
        let limits = call::Limits::new(cat.agg.call_timeout, params.progress.is_some());
        let busy = conn.in_use();
        let detail = e.fast_detail(&original, &params);
        let started = Instant::now();
        let st = FastState {
            abandon: FastAbandon {
                link: Some(link.clone()),
                n,
                theirs,
                why: Abandon::Client,
            },
            session: self,
            conn,
            _busy: busy,
            link,
            frame: Some(frame),
            waiter,
            client_id: client_id.to_string(),
            client_token: params.progress.map(|t| t.get().to_string()),
            detail,
            exposed: params.name.into_owned(),
            started,
            limits,
            max_deadline: started + limits.max_total,
            timer: Deadline::at(started + limits.timeout),
            queue: std::collections::VecDeque::new(),
            finished: false,
        };
        Some(Box::pin(futures::stream::unfold(st, |mut st| async move {
            let item = st.next().await?;
            Some((item, st))
        })))
    }
}
