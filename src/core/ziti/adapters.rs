//! The `core::net` adapters: [`ZitiDialer`] and `net::Listener` for [`ZitiListener`].

use std::io;

use async_trait::async_trait;

use super::{Context, ZitiListener};
use crate::core::net;

/// `net::Dialer` over OpenZiti: each `dial` opens a new connection to `service`.
pub struct ZitiDialer {
    pub ctx: Context,
    pub service: String,
}

#[async_trait]
impl net::Dialer for ZitiDialer {
    async fn dial(&self) -> io::Result<net::BoxConn> {
        // A share whose host has just started (or is re-binding after a router restart) can be
        // briefly without terminators: retry that case for a few seconds, nothing else.
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
        let mut wait = std::time::Duration::from_millis(100);
        loop {
            match self.ctx.dial(&self.service).await {
                Ok(s) => return Ok(Box::pin(s)),
                Err(e)
                    if e.to_string().contains("no terminators")
                        && tokio::time::Instant::now() + wait < deadline =>
                {
                    tracing::debug!(service = %crate::core::redact::token_prefix(&self.service), "no terminators yet; retrying");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(std::time::Duration::from_secs(1));
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    fn describe(&self) -> String {
        format!("ziti service {}", self.service)
    }
}

#[async_trait]
impl net::Listener for ZitiListener {
    async fn accept(&mut self) -> io::Result<net::Accepted> {
        let s = ZitiListener::accept(self).await?;
        // A dial that names no identity is an unnamed overlay caller, never `local`.
        let caller = if s.peer().is_empty() {
            "?".to_string()
        } else {
            s.peer().to_string()
        };
        let remote = if s.peer().is_empty() {
            format!("ziti conn {}", s.conn_id())
        } else {
            caller.clone()
        };
        let caller = Some(caller);
        Ok(net::Accepted {
            conn: Box::pin(s),
            remote,
            caller,
        })
    }

    fn describe(&self) -> String {
        format!("ziti service {}", self.service())
    }
}
