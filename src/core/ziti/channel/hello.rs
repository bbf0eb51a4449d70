//! Connecting to an edge router: TCP, mutual TLS, and the hello that presents the API session.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::BytesMut;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::{timeout, Instant};
use tokio_rustls::TlsConnector;
use tokio_util::sync::CancellationToken;

use super::framing::{latency_probe, reader, writer};
use super::{RouterChannel, CONNECT_TIMEOUT, WRITE_QUEUE};
use crate::core::ziti::identity::Identity;
use crate::core::ziti::wire::{self, ct, hdr, Message};
use crate::core::ziti::ZitiError;

pub(super) fn split_host_port(addr: &str) -> Result<(String, u16), ZitiError> {
    let (h, p) = addr
        .rsplit_once(':')
        .ok_or_else(|| ZitiError::Router(format!("bad router address {addr:?}")))?;
    let port = p
        .parse::<u16>()
        .map_err(|_| ZitiError::Router(format!("bad router port in {addr:?}")))?;
    let host = h.trim_start_matches('[').trim_end_matches(']').to_string();
    Ok((host, port))
}

impl RouterChannel {
    /// Connect, authenticate with the API session token in the hello, and start the reader/writer tasks.
    pub async fn connect(
        identity: &Identity,
        tls: Arc<rustls::ClientConfig>,
        name: &str,
        addr: &str,
        api_token: &str,
    ) -> Result<Arc<RouterChannel>, ZitiError> {
        let attempt = async {
            let (host, port) = split_host_port(addr)?;
            let started = Instant::now();
            let tcp = TcpStream::connect((host.as_str(), port))
                .await
                .map_err(|e| ZitiError::Router(format!("{name} at {addr}: {e}")))?;
            let _ = tcp.set_nodelay(true);
            let server_name = ServerName::try_from(host.clone())
                .map_err(|e| ZitiError::Router(format!("bad router host {host:?}: {e}")))?;
            let stream = TlsConnector::from(tls)
                .connect(server_name, tcp)
                .await
                .map_err(|e| ZitiError::Tls(format!("edge router {name} at {addr}: {e}")))?;

            let ch = Self::over(stream, &identity.common_name, name, addr, api_token).await?;
            ch.latency_ns.store(
                (started.elapsed().as_nanos().min(u64::MAX as u128) as u64).max(1),
                Ordering::Relaxed,
            );
            tracing::debug!(router = %ch.name, addr = %ch.addr, "connected to edge router");
            Ok(ch)
        };
        timeout(CONNECT_TIMEOUT, attempt).await.map_err(|_| {
            ZitiError::Timeout(format!("connecting to edge router {name} at {addr}"))
        })?
    }

    /// Run the hello exchange over an established byte stream and start the channel tasks. Separate from the
    /// TLS set-up so that tests can play the router over an in-memory pipe.
    pub async fn over<S>(
        mut stream: S,
        common_name: &str,
        name: &str,
        addr: &str,
        api_token: &str,
    ) -> Result<Arc<RouterChannel>, ZitiError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        // Hello: body = our certificate's CN, SessionToken header = API session token
        // (channel v4 classic_dialer.go sendHello; sdk-golang ziti.go connectEdgeRouter).
        let mut hello = Message::new(ct::HELLO, common_name.as_bytes().to_vec());
        hello.sequence = wire::HELLO_SEQUENCE;
        hello.put(hdr::SESSION_TOKEN, api_token.as_bytes().to_vec());
        stream
            .write_all(&hello.to_bytes()?)
            .await
            .map_err(|e| ZitiError::Router(format!("{name}: sending hello: {e}")))?;
        stream.flush().await.ok();

        let mut buf = BytesMut::with_capacity(16 * 1024);
        let reply = loop {
            if let Some(m) = wire::decode(&mut buf)? {
                break m;
            }
            let n = stream
                .read_buf(&mut buf)
                .await
                .map_err(|e| ZitiError::Router(format!("{name}: reading hello result: {e}")))?;
            if n == 0 {
                return Err(ZitiError::RouterRejected(format!(
                    "{name} at {addr} closed the connection during hello (API session not accepted?)"
                )));
            }
        };
        if reply.content_type != ct::RESULT || reply.reply_for() != Some(wire::HELLO_SEQUENCE) {
            return Err(ZitiError::Protocol(format!(
                "{name}: expected hello result, got content type {}",
                reply.content_type
            )));
        }
        if reply.get_bool(hdr::RESULT_SUCCESS) != Some(true) {
            return Err(ZitiError::RouterRejected(format!(
                "{name} rejected hello: {}",
                crate::core::ziti::ctrl::scrub(&String::from_utf8_lossy(&reply.body), api_token)
            )));
        }

        let (rd, wr) = tokio::io::split(stream);
        let (tx, rx) = mpsc::channel(WRITE_QUEUE);
        let ch = Arc::new(RouterChannel {
            name: name.to_string(),
            addr: addr.to_string(),
            tx,
            seq: AtomicI32::new(1),
            pending: Mutex::new(HashMap::new()),
            sinks: Mutex::new(HashMap::new()),
            closed: CancellationToken::new(),
            latency_ns: AtomicU64::new(1),
            last_read: Mutex::new(Instant::now()),
        });
        tokio::spawn(writer(ch.closed.clone(), rx, wr, ch.name.clone()));
        tokio::spawn(reader(Arc::downgrade(&ch), ch.closed.clone(), rd, buf));
        tokio::spawn(latency_probe(Arc::downgrade(&ch), ch.closed.clone()));
        Ok(ch)
    }
}
