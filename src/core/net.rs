//! Byte-stream listeners and dialers. The proxy serves and dials over these traits so that a hop can be
//! loopback TCP in tests and local use, or an OpenZiti stream on a zrok share, with the same code.

use std::io;
use std::pin::Pin;

use async_trait::async_trait;
use tokio::io::{AsyncRead, AsyncWrite};

/// A bidirectional byte stream (TCP socket, OpenZiti connection, in-memory duplex).
pub trait Conn: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Conn for T {}

/// A boxed connection.
pub type BoxConn = Pin<Box<dyn Conn>>;

/// One accepted connection and a printable description of its peer.
pub struct Accepted {
    pub conn: BoxConn,
    /// `127.0.0.1:50123` for TCP, the dialing identity for OpenZiti.
    pub remote: String,
    /// The OpenZiti identity that dialed (authenticated by the overlay); `None` for TCP.
    pub caller: Option<String>,
}

/// Request extension naming the peer of a connection (the HTTP fronts insert it).
#[derive(Debug, Clone)]
pub(crate) struct PeerAddr {
    /// For display: `127.0.0.1:50123`, or the OpenZiti identity.
    pub remote: String,
    /// The OpenZiti identity that dialed; `None` on TCP.
    pub caller: Option<String>,
}

/// Something that yields incoming byte streams.
#[async_trait]
pub trait Listener: Send + 'static {
    async fn accept(&mut self) -> io::Result<Accepted>;
    /// Printable description of where this listens (`127.0.0.1:8080`, `zrok share abc123`).
    fn describe(&self) -> String;
    /// A TCP listener: another handle to its socket, so that several threads can accept on it
    /// (see `serve`). `None` for anything else.
    fn std_tcp(&self) -> Option<std::net::TcpListener> {
        None
    }
}

/// Something that opens outgoing byte streams to one fixed target.
#[async_trait]
pub trait Dialer: Send + Sync + 'static {
    async fn dial(&self) -> io::Result<BoxConn>;
    fn describe(&self) -> String;
}

/// Loopback (or any) TCP listener.
pub struct TcpListener {
    inner: tokio::net::TcpListener,
    local: std::net::SocketAddr,
}

impl TcpListener {
    pub async fn bind(addr: &str) -> io::Result<Self> {
        let inner = tokio::net::TcpListener::bind(addr).await?;
        let local = inner.local_addr()?;
        Ok(Self { inner, local })
    }

    /// From a (non-blocking) std listener, registered with the current runtime.
    pub(crate) fn from_std(l: std::net::TcpListener) -> io::Result<Self> {
        let inner = tokio::net::TcpListener::from_std(l)?;
        let local = inner.local_addr()?;
        Ok(Self { inner, local })
    }

    pub fn local_addr(&self) -> std::net::SocketAddr {
        self.local
    }
}

#[async_trait]
impl Listener for TcpListener {
    async fn accept(&mut self) -> io::Result<Accepted> {
        let (s, peer) = self.inner.accept().await?;
        let _ = s.set_nodelay(true);
        Ok(Accepted {
            conn: Box::pin(s),
            remote: peer.to_string(),
            caller: None,
        })
    }

    fn describe(&self) -> String {
        self.local.to_string()
    }

    fn std_tcp(&self) -> Option<std::net::TcpListener> {
        use std::os::fd::AsFd;
        let fd = self.inner.as_fd().try_clone_to_owned().ok()?;
        let l = std::net::TcpListener::from(fd);
        l.set_nonblocking(true).ok()?;
        Some(l)
    }
}

/// TCP dialer to a fixed `host:port`.
pub struct TcpDialer {
    pub addr: String,
}

#[async_trait]
impl Dialer for TcpDialer {
    async fn dial(&self) -> io::Result<BoxConn> {
        let s = tokio::net::TcpStream::connect(&self.addr).await?;
        let _ = s.set_nodelay(true);
        Ok(Box::pin(s))
    }

    fn describe(&self) -> String {
        self.addr.clone()
    }
}

#[cfg(test)]
mod conn_thread_tests {
    use super::*;

    /// `std_tcp` hands out another handle to the same socket: connections to the listener's
    /// port are accepted on it, from another runtime, while the original is still open.
    #[test]
    fn std_tcp_accepts_on_the_same_socket_from_another_runtime() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (l, port) = rt.block_on(async {
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = l.local_addr().port();
            (l, port)
        });
        let dup = l.std_tcp().expect("a TCP listener has a std handle");
        assert_eq!(dup.local_addr().unwrap().port(), port);
        let other = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let mut l = TcpListener::from_std(dup).unwrap();
                let mut a = tokio::time::timeout(std::time::Duration::from_secs(10), l.accept())
                    .await
                    .expect("accepted in time")
                    .unwrap();
                use tokio::io::AsyncWriteExt;
                a.conn.write_all(b"hi").await.unwrap();
            })
        });
        let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        c.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        let mut buf = [0u8; 2];
        std::io::Read::read_exact(&mut c, &mut buf).unwrap();
        assert_eq!(&buf, b"hi");
        other.join().unwrap();
        drop(l);
    }
}
