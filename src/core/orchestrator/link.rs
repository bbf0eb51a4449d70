//! The task that owns the stream: connect, register, speak until the stream ends, reconnect.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use http::uri::PathAndQuery;
use tokio::sync::{mpsc, watch};
use tokio::time::{interval_at, Instant, MissedTickBehavior};
use tonic::transport::{Channel, Endpoint};
use tonic::Streaming;

use super::proto::{self, GatewayMessage, Inbound, OrchestratorMessage, Outbound};
use super::{Phase, Shared};

/// Messages waiting to be written to the stream; past this, new ones are dropped.
const OUTBOX: usize = 16;
/// Largest message accepted from the orchestrator (every real one is a few bytes).
const MAX_INBOUND: usize = 64 * 1024;
/// Longest wait for the socket connection and the HTTP/2 handshake.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest text from the orchestrator (a rejection, a shutdown reason) put into a log line.
const MAX_SHOWN: usize = 256;

#[derive(Debug, thiserror::Error)]
pub(super) enum LinkError {
    /// Upstream's words.
    #[error("orchestrator socket not found: {0}")]
    NotFound(PathBuf),
    #[error("cannot connect to the orchestrator at {path}: {cause}")]
    Connect { path: PathBuf, cause: String },
    #[error("orchestrator stream failed: {0}")]
    Stream(String),
}

/// How a stream ended without an error.
enum Ended {
    /// The final state was delivered (or had its time): the task ends.
    Done,
    /// The orchestrator closed the stream.
    Closed,
}

/// Connect, speak, and reconnect every `reconnect_interval` until the gateway's final state has
/// been delivered or the client is stopped. Once the gateway is going away, one more attempt is
/// made (at once), none after it.
pub(super) async fn run(shared: Arc<Shared>) {
    let mut phase = shared.phase.subscribe();
    // Upstream: a warning when the orchestrator cannot be reached, quiet retries after it.
    let mut quiet = false;
    loop {
        let mut connected = false;
        // Stopping the client ends the stream wherever it is (connecting included).
        let spoken = tokio::select! {
            r = speak(&shared, &mut phase, &mut connected) => r,
            _ = shared.stop.cancelled() => return,
        };
        quiet &= !connected;
        match spoken {
            Ok(Ended::Done) => return,
            Ok(Ended::Closed) => tracing::info!("orchestrator closed the stream; reconnecting"),
            Err(e) if !quiet => {
                quiet = true;
                tracing::warn!("{e}; retrying every {:?}", shared.opts.reconnect_interval);
            }
            Err(e) => tracing::debug!("{e}"),
        }
        if shared.stop.is_cancelled() || phase.borrow().is_final() {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(shared.opts.reconnect_interval) => {}
            _ = phase.changed() => {}
            _ = shared.stop.cancelled() => return,
        }
    }
}

/// Dial the unix socket at `path` (HTTP/2 without TLS; the authority is a placeholder).
async fn connect(path: &Path) -> Result<Channel, LinkError> {
    let dial = path.to_path_buf();
    let connector = tower::service_fn(move |_: http::Uri| {
        let dial = dial.clone();
        async move {
            let s = tokio::net::UnixStream::connect(dial).await?;
            Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(s))
        }
    });
    Endpoint::from_static("http://localhost")
        .connect_timeout(CONNECT_TIMEOUT)
        .connect_with_connector(connector)
        .await
        .map_err(|e| connect_error(path, &e))
}

/// The socket is missing, or another cause (its io error's text when there is one).
fn connect_error(path: &Path, e: &(dyn std::error::Error + 'static)) -> LinkError {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    let mut text = e.to_string();
    while let Some(c) = cause {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::NotFound {
                return LinkError::NotFound(path.to_path_buf());
            }
            text = io.to_string();
        }
        cause = c.source();
    }
    LinkError::Connect {
        path: path.to_path_buf(),
        cause: text,
    }
}

/// Text from the network, for a log line: control characters escaped, length bounded.
fn shown(s: &str) -> String {
    let cut: String = s.chars().take(MAX_SHOWN).collect();
    let mut out = cut.escape_debug().to_string();
    if cut.len() < s.len() {
        out.push('…');
    }
    out
}

/// The bounded outbox of one stream.
struct Outbox {
    tx: Option<mpsc::Sender<GatewayMessage>>,
    /// Whether the orchestrator was said not to keep up (said once until it does again).
    lagging: std::cell::Cell<bool>,
}

impl Outbox {
    /// Queue `msg`; false when the orchestrator does not keep up (a warning the first time).
    fn put(&self, what: &str, msg: Outbound) -> bool {
        let Some(tx) = &self.tx else { return false };
        match tx.try_send(msg.into()) {
            Ok(()) => {
                self.lagging.set(false);
                true
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                if self.lagging.replace(true) {
                    tracing::debug!("orchestrator is not reading; {what} skipped");
                } else {
                    tracing::warn!("orchestrator is not reading; {what} skipped");
                }
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    /// End the request stream once what is queued is written.
    fn close(&mut self) {
        self.tx = None;
    }
}

/// One stream: register, then report, beat, answer and obey until it ends.
async fn speak(
    shared: &Shared,
    phase: &mut watch::Receiver<Phase>,
    connected: &mut bool,
) -> Result<Ended, LinkError> {
    let opts = &shared.opts;
    let channel = connect(&opts.socket_path).await?;
    *connected = true;
    let token = opts.registration.value();
    let (tx, mut rx) = mpsc::channel::<GatewayMessage>(OUTBOX);
    let mut out = Outbox {
        tx: Some(tx),
        lagging: Default::default(),
    };
    out.put(
        "registration",
        Outbound::Register(proto::RegisterRequest {
            share_token: token.to_string(),
            pid: i64::from(std::process::id()),
        }),
    );
    let requests = futures::stream::poll_fn(move |cx| rx.poll_recv(cx));
    let mut grpc = tonic::client::Grpc::new(channel).max_decoding_message_size(MAX_INBOUND);
    grpc.ready()
        .await
        .map_err(|e| LinkError::Stream(e.to_string()))?;
    let call = grpc.streaming(
        tonic::Request::new(requests),
        PathAndQuery::from_static(proto::CONNECT),
        tonic_prost::ProstCodec::<GatewayMessage, OrchestratorMessage>::default(),
    );
    tokio::pin!(call);
    // The response (and with it the inbound stream) comes once the orchestrator answers;
    // messages flow out before that.
    let mut inbound: Option<Streaming<OrchestratorMessage>> = None;
    let every = opts.heartbeat_interval;
    let mut beat = interval_at(Instant::now() + every, every);
    beat.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut reported: Option<Phase> = None;
    // Set once the final state is queued: the request stream is closed and the orchestrator
    // gets until then to end the stream.
    let mut flush_until: Option<Instant> = None;
    tracing::info!(socket = %opts.socket_path.display(), "connected to the orchestrator");
    loop {
        let now = phase.borrow_and_update().clone();
        if flush_until.is_none()
            && reported.as_ref() != Some(&now)
            && out.put("status report", status(token, &now))
        {
            tracing::debug!(state = now.state(), "reported to the orchestrator");
            if now.is_final() {
                out.close();
                flush_until = Some(Instant::now() + super::FINAL_FLUSH);
            }
            reported = Some(now);
        }
        let flush = async {
            match flush_until {
                Some(t) => tokio::time::sleep_until(t).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            r = &mut call, if inbound.is_none() => match r {
                Ok(resp) => inbound = Some(resp.into_inner()),
                Err(_) if flush_until.is_some() => return Ok(Ended::Done),
                Err(s) => return Err(LinkError::Stream(shown(&s.to_string()))),
            },
            m = next(&mut inbound), if inbound.is_some() => match m {
                Ok(Some(msg)) => on_message(shared, &out, msg),
                Ok(None) if flush_until.is_some() => return Ok(Ended::Done),
                Ok(None) => return Ok(Ended::Closed),
                Err(_) if flush_until.is_some() => return Ok(Ended::Done),
                Err(s) => return Err(LinkError::Stream(shown(&s.to_string()))),
            },
            _ = beat.tick(), if flush_until.is_none() => {
                let (active_connections, tool_invocations) = shared.activity();
                out.put("heartbeat", Outbound::Heartbeat(proto::HeartbeatRequest {
                    share_token: token.to_string(),
                    active_connections,
                    tool_invocations,
                }));
            }
            _ = phase.changed(), if flush_until.is_none() => {}
            _ = flush => return Ok(Ended::Done),
        }
    }
}

async fn next(
    inbound: &mut Option<Streaming<OrchestratorMessage>>,
) -> Result<Option<OrchestratorMessage>, tonic::Status> {
    match inbound {
        Some(s) => s.message().await,
        None => std::future::pending().await,
    }
}

fn status(token: &str, phase: &Phase) -> Outbound {
    Outbound::Status(proto::StatusReport {
        share_token: token.to_string(),
        state: phase.state().to_string(),
        error: phase.error().to_string(),
    })
}

fn on_message(shared: &Shared, out: &Outbox, msg: OrchestratorMessage) {
    match msg.payload {
        Some(Inbound::RegisterResponse(r)) if r.accepted => {
            tracing::info!("registration accepted by the orchestrator");
        }
        Some(Inbound::RegisterResponse(r)) => {
            tracing::error!(
                "registration rejected by the orchestrator: {}",
                shown(&r.error)
            );
        }
        Some(Inbound::HeartbeatAck(_)) => tracing::trace!("heartbeat acknowledged"),
        Some(Inbound::Ping(_)) => {
            out.put(
                "ping response",
                Outbound::Pong(proto::PingResponse {
                    version: shared.opts.version.clone(),
                }),
            );
        }
        Some(Inbound::Shutdown(r)) => {
            tracing::info!(
                reason = %shown(&r.reason),
                "shutdown requested by the orchestrator"
            );
            out.put(
                "shutdown acknowledgement",
                Outbound::ShutdownAck(proto::ShutdownAck { accepted: true }),
            );
            shared.shutdown_requested();
        }
        None => tracing::debug!("orchestrator message without a known payload ignored"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_from_the_orchestrator_is_escaped_and_bounded() {
        assert_eq!(shown("bye\x1b[31m\nx"), "bye\\u{1b}[31m\\nx");
        let long = "é".repeat(MAX_SHOWN + 10);
        let s = shown(&long);
        assert_eq!(s.chars().count(), MAX_SHOWN + 1);
        assert!(s.ends_with('…'));
    }

    #[test]
    fn an_orchestrator_that_does_not_read_gets_messages_skipped_not_queued() {
        let (tx, mut rx) = mpsc::channel(OUTBOX);
        let mut out = Outbox {
            tx: Some(tx),
            lagging: Default::default(),
        };
        let beat = || Outbound::Heartbeat(proto::HeartbeatRequest::default());
        for _ in 0..OUTBOX {
            assert!(out.put("heartbeat", beat()));
        }
        assert!(!out.put("heartbeat", beat()));
        assert!(out.lagging.get());
        assert!(!out.put("status report", status("t", &Phase::Running)));
        // Once it reads again, messages flow again.
        assert!(rx.try_recv().is_ok());
        assert!(out.put("status report", status("t", &Phase::Running)));
        assert!(!out.lagging.get());
        // Closed: the queue drains, nothing new is taken.
        out.close();
        assert!(!out.put("heartbeat", beat()));
        assert_eq!(std::iter::from_fn(|| rx.try_recv().ok()).count(), OUTBOX);
    }

    #[tokio::test]
    async fn a_missing_socket_is_named_and_a_dead_one_explained() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("orchestrator.sock");
        let e = connect(&missing).await.unwrap_err();
        assert!(
            matches!(&e, LinkError::NotFound(p) if p == &missing),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            format!("orchestrator socket not found: {}", missing.display())
        );
        // A socket file nobody listens on any more (the orchestrator died).
        let dead = dir.path().join("dead.sock");
        drop(std::os::unix::net::UnixListener::bind(&dead).unwrap());
        let e = connect(&dead).await.unwrap_err();
        assert!(matches!(e, LinkError::Connect { .. }), "{e:?}");
        assert!(e.to_string().contains("refused"), "{e}");
    }
}
