//! Serving one engine session on a byte stream pair (stdin/stdout for `mcp-tools run`):
//! newline-delimited JSON-RPC, as MCP's stdio transport says. `tools/call` frames the engine can
//! take on its fast path are answered there; every other frame goes to the rmcp session.

use std::sync::Arc;

use rmcp::service::{RoleServer, RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::Transport;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

use crate::core::engine::{Engine, FastItem, Session, TransportKey};
use crate::core::wire::lines::{LineReader, Next};

type Out = Arc<tokio::sync::Mutex<std::pin::Pin<Box<dyn AsyncWrite + Send>>>>;

/// This process's stdin and stdout for an MCP stdio transport. When they are pipes (how MCP
/// clients launch servers) they are used as non-blocking pipes on the runtime's reactor; tokio's
/// `stdin()`/`stdout()` would hand every read and write to a blocking thread instead, which
/// costs two thread switches per message.
pub fn stdio() -> (
    Box<dyn AsyncRead + Send + Unpin>,
    Box<dyn AsyncWrite + Send + Unpin>,
) {
    use std::os::fd::AsFd;
    use tokio::net::unix::pipe;
    let input = std::io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .ok()
        .and_then(|fd| pipe::Receiver::from_owned_fd(fd).ok());
    let output = std::io::stdout()
        .as_fd()
        .try_clone_to_owned()
        .ok()
        .and_then(|fd| pipe::Sender::from_owned_fd(fd).ok());
    (
        match input {
            Some(p) => Box::new(p),
            None => Box::new(tokio::io::stdin()),
        },
        match output {
            Some(p) => Box::new(p),
            None => Box::new(tokio::io::stdout()),
        },
    )
}

/// rmcp's server transport over `reader`/`writer`, with the fast path in front.
pub(crate) struct StdioFront<R> {
    lines: LineReader<R>,
    out: Out,
    engine: Arc<Engine>,
    key: TransportKey,
    /// Cancels fast calls still running when the transport goes away.
    stop: CancellationToken,
}

impl<R: AsyncRead + Unpin + Send + 'static> StdioFront<R> {
    /// Serve `session` of `engine` over `reader`/`writer`.
    pub fn new<W: AsyncWrite + Send + 'static>(
        engine: Arc<Engine>,
        session: &Session,
        reader: R,
        writer: W,
    ) -> Self {
        let key = TransportKey::Stdio(session.id().to_string());
        engine.bind_transport_session(key.clone(), session);
        StdioFront {
            lines: LineReader::new(reader, engine.agg.max_message_size),
            out: Arc::new(tokio::sync::Mutex::new(Box::pin(writer))),
            engine,
            key,
            stop: CancellationToken::new(),
        }
    }
}

impl<R> Drop for StdioFront<R> {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn write_line(out: &Out, frame: &[u8]) -> std::io::Result<()> {
    let mut line = Vec::with_capacity(frame.len() + 1);
    line.extend_from_slice(frame);
    line.push(b'\n');
    let mut w = out.lock().await;
    w.write_all(&line).await?;
    w.flush().await
}

impl<R: AsyncRead + Unpin + Send + 'static> Transport<RoleServer> for StdioFront<R> {
    type Error = std::io::Error;

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleServer>,
    ) -> impl std::future::Future<Output = Result<(), Self::Error>> + Send + 'static {
        let out = self.out.clone();
        let frame = serde_json::to_vec(&item);
        async move {
            let frame = frame.map_err(std::io::Error::other)?;
            write_line(&out, &frame).await
        }
    }

    /// Cancel safe (see [`LineReader::next`]).
    async fn receive(&mut self) -> Option<RxJsonRpcMessage<RoleServer>> {
        loop {
            let frame = match self.lines.next().await {
                Ok(Next::Frame(f)) => f,
                Ok(Next::TooLong) => {
                    let max = self.lines.max();
                    tracing::warn!("client message larger than {max} bytes skipped");
                    continue;
                }
                Ok(Next::Eof) => return None,
                Err(e) => {
                    tracing::debug!("stdin: {e}");
                    return None;
                }
            };
            if let Some(call) = self.engine.fast_call(&self.key, frame, None) {
                tokio::spawn(answer(call, self.out.clone(), self.stop.clone()));
                continue;
            }
            match serde_json::from_slice::<RxJsonRpcMessage<RoleServer>>(frame) {
                Ok(m) => return Some(m),
                Err(e) => tracing::warn!("skipping a line that is not an MCP message: {e}"),
            }
        }
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        self.stop.cancel();
        Ok(())
    }
}

/// Write a fast call's frames to the client as they come, until it ends or the transport goes.
async fn answer(mut call: crate::core::engine::FastCall, out: Out, stop: CancellationToken) {
    use futures::StreamExt;
    loop {
        tokio::select! {
            item = call.next() => match item {
                Some(FastItem::Progress(b) | FastItem::Done(b)) => {
                    if write_line(&out, &b).await.is_err() {
                        break;
                    }
                }
                None => break,
            },
            _ = stop.cancelled() => break,
        }
    }
}
