//! What every HTTP listener bounds per connection, against slow and hostile clients:
//!
//! - **header-read timeout**: a connection must deliver its first request head within
//!   [`ConnLimits::header_read_timeout`] of being accepted, and every later HTTP/1.1 request head
//!   within the same time once it starts (hyper's `header_read_timeout`); otherwise it is closed;
//! - **half-open cap**: at most [`ConnLimits::max_half_open`] accepted connections may be waiting
//!   for their first request head at once; a connection accepted beyond that is closed at once
//!   (a warning, at most one per 10 s, says so), so a slowloris flood cannot hold every slot while
//!   clients that send requests are still served.
//!
//! Body size (`aggregator.max_message_size`, 413) and JSON depth (wire::frame, -32700) are
//! bounded where bodies are read.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Connection limits of one HTTP app (all its listeners and threads share one half-open count);
/// from `aggregator.listener` (defaults 10 s and 1024).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnLimits {
    pub header_read_timeout: Duration,
    pub max_half_open: usize,
}

/// How many accepted connections have not yet sent a complete request head.
#[derive(Clone, Default)]
pub(crate) struct HalfOpen(Arc<AtomicUsize>);

impl HalfOpen {
    /// A slot for a new connection, or `None` when `max` are already waiting.
    pub(crate) fn admit(&self, max: usize) -> Option<Arc<Pending>> {
        let prev = self.0.fetch_add(1, Ordering::AcqRel);
        if prev >= max {
            self.0.fetch_sub(1, Ordering::AcqRel);
            refused_warning(max);
            return None;
        }
        Some(Arc::new(Pending {
            count: self.0.clone(),
            released: AtomicBool::new(false),
        }))
    }

    #[cfg(test)]
    fn waiting(&self) -> usize {
        self.0.load(Ordering::Acquire)
    }
}

/// One connection's half-open slot, given back on its first request head or when it ends.
pub(crate) struct Pending {
    count: Arc<AtomicUsize>,
    released: AtomicBool,
}

impl Pending {
    /// The connection sent a request head: it is no longer half-open.
    pub(crate) fn release(&self) {
        if !self.released.swap(true, Ordering::AcqRel) {
            self.count.fetch_sub(1, Ordering::AcqRel);
        }
    }

    pub(crate) fn released(&self) -> bool {
        self.released.load(Ordering::Acquire)
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.release();
    }
}

fn refused_warning(max: usize) {
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let last = LAST.load(Ordering::Relaxed);
    if now >= last + 10
        && LAST
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        tracing::warn!(
            max_half_open = max,
            "closing new connections: {max} are already waiting for their first request (slow or hostile clients?)"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_counted_and_given_back_once() {
        let h = HalfOpen::default();
        let a = h.admit(2).unwrap();
        let b = h.admit(2).unwrap();
        assert!(h.admit(2).is_none(), "the third waits beyond the cap");
        assert_eq!(h.waiting(), 2);
        a.release();
        a.release();
        assert!(a.released());
        assert_eq!(h.waiting(), 1, "released once");
        drop(a);
        assert_eq!(
            h.waiting(),
            1,
            "dropping a released slot gives nothing back twice"
        );
        let c = h.admit(2).unwrap();
        drop(b);
        drop(c);
        assert_eq!(h.waiting(), 0);
    }
}
