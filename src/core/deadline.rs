//! Coarse deadlines for per-call timeouts on hot paths.
//!
//! A tokio timer costs a fast `tools/call` more than its bookkeeping: registering one into an
//! empty timer wheel wakes the runtime's driver (an `eventfd` write and an extra event for
//! `epoll_wait`), and a call arms two (the JSON-body window and `call_timeout`). Those timeouts
//! are seconds long and need no millisecond precision, so they are kept here instead: one list
//! for the process, checked by one thread (`mcpz-deadline`) at least every [`TICK`] while it is
//! not empty. Arming a deadline is a lock and a push; dropping one marks it dead, and the thread
//! prunes dead entries on its next tick. A deadline never fires before its instant and at most
//! about one [`TICK`] after it. The thread is only woken when the list goes from empty to not
//! empty; if it cannot be started, deadlines fall back to tokio's timers.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::task::AtomicWaker;

/// Longest the thread sleeps while any deadline (live or dead) is listed.
pub(crate) const TICK: Duration = Duration::from_millis(100);

struct Entry {
    at: Instant,
    fired: AtomicBool,
    dead: AtomicBool,
    waker: AtomicWaker,
}

impl Entry {
    fn new(at: Instant) -> Arc<Entry> {
        Arc::new(Entry {
            at,
            fired: AtomicBool::new(false),
            dead: AtomicBool::new(false),
            waker: AtomicWaker::new(),
        })
    }
}

#[derive(Default)]
struct List {
    entries: Vec<Arc<Entry>>,
    /// The thread is waiting without a timeout (the list was empty).
    idle: bool,
}

struct Timer {
    list: Mutex<List>,
    cv: Condvar,
}

impl Timer {
    fn lock(&self) -> std::sync::MutexGuard<'_, List> {
        self.list.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn add(&self, e: Arc<Entry>) {
        let mut l = self.lock();
        l.entries.push(e);
        if l.idle {
            l.idle = false;
            self.cv.notify_one();
        }
    }

    /// Fire what is due, drop what is dead; returns how long to sleep (`None`: until woken).
    fn sweep(list: &mut List, now: Instant) -> Option<Duration> {
        let mut next: Option<Instant> = None;
        list.entries.retain(|e| {
            if e.dead.load(Ordering::Acquire) {
                return false;
            }
            if e.at <= now {
                e.fired.store(true, Ordering::Release);
                e.waker.wake();
                return false;
            }
            next = Some(next.map_or(e.at, |n| n.min(e.at)));
            true
        });
        if list.entries.is_empty() {
            return None;
        }
        let until = next.map_or(TICK, |n| n.saturating_duration_since(now));
        Some(until.min(TICK))
    }

    fn run(&self) {
        let mut l = self.lock();
        loop {
            match Self::sweep(&mut l, Instant::now()) {
                None => {
                    l.idle = true;
                    l = self.cv.wait(l).unwrap_or_else(|e| e.into_inner());
                }
                Some(d) => {
                    l.idle = false;
                    l = self
                        .cv
                        .wait_timeout(l, d)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
            }
        }
    }
}

/// The process's timer thread, started on first use; `None` if it could not be started.
fn timer() -> Option<&'static Timer> {
    static TIMER: OnceLock<Option<&'static Timer>> = OnceLock::new();
    *TIMER.get_or_init(|| {
        let t: &'static Timer = Box::leak(Box::new(Timer {
            list: Mutex::new(List::default()),
            cv: Condvar::new(),
        }));
        match std::thread::Builder::new()
            .name("mcpz-deadline".into())
            .spawn(move || t.run())
        {
            Ok(_) => Some(t),
            Err(e) => {
                tracing::warn!("cannot start the deadline thread ({e}); using tokio timers");
                None
            }
        }
    })
}

/// A future that completes at (or up to about one [`TICK`] after) an instant. Cheap to arm and
/// to drop; meant for timeouts of a second or more.
pub(crate) struct Deadline(Inner);

enum Inner {
    Coarse(Arc<Entry>),
    Tokio(Pin<Box<tokio::time::Sleep>>),
}

impl Deadline {
    pub fn at(at: Instant) -> Deadline {
        match timer() {
            Some(t) => {
                let e = Entry::new(at);
                t.add(e.clone());
                Deadline(Inner::Coarse(e))
            }
            None => Deadline(Inner::Tokio(Box::pin(tokio::time::sleep_until(at.into())))),
        }
    }

    pub fn after(d: Duration) -> Deadline {
        Self::at(Instant::now() + d)
    }

    /// When this deadline is due.
    #[cfg(test)]
    fn instant(&self) -> Instant {
        match &self.0 {
            Inner::Coarse(e) => e.at,
            Inner::Tokio(s) => s.deadline().into_std(),
        }
    }
}

impl Future for Deadline {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match &mut self.0 {
            Inner::Coarse(e) => {
                if e.fired.load(Ordering::Acquire) {
                    return Poll::Ready(());
                }
                e.waker.register(cx.waker());
                if e.fired.load(Ordering::Acquire) {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            }
            Inner::Tokio(s) => s.as_mut().poll(cx),
        }
    }
}

impl Drop for Deadline {
    fn drop(&mut self) {
        if let Inner::Coarse(e) = &self.0 {
            e.dead.store(true, Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOUND: Duration = Duration::from_secs(10);

    #[tokio::test]
    async fn fires_not_before_its_instant_and_about_a_tick_after() {
        let armed = Instant::now();
        let d = Deadline::after(Duration::from_millis(30));
        let at = d.instant();
        tokio::time::timeout(BOUND, d)
            .await
            .expect("deadline fired");
        let now = Instant::now();
        assert!(now >= at, "fired {:?} early", at - now);
        assert!(at >= armed + Duration::from_millis(30));
    }

    #[tokio::test]
    async fn a_past_instant_fires() {
        let d = Deadline::at(Instant::now() - Duration::from_millis(5));
        tokio::time::timeout(BOUND, d)
            .await
            .expect("deadline fired");
    }

    #[tokio::test]
    async fn deadlines_fire_in_any_arming_order() {
        let late = Deadline::after(Duration::from_millis(60));
        let early = Deadline::after(Duration::from_millis(20));
        let late_at = late.instant();
        // The early one, armed second, is not held back by the later one.
        tokio::time::timeout(BOUND, early)
            .await
            .expect("early fired");
        assert!(Instant::now() < late_at + BOUND);
        tokio::time::timeout(BOUND, late).await.expect("late fired");
        assert!(Instant::now() >= late_at);
    }

    #[test]
    fn sweep_prunes_dead_entries_and_fires_due_ones() {
        let now = Instant::now();
        let entry = Entry::new;
        let due = entry(now - Duration::from_millis(1));
        let dead = entry(now + Duration::from_secs(5));
        dead.dead.store(true, Ordering::Release);
        let soon = entry(now + Duration::from_millis(20));
        let later = entry(now + Duration::from_secs(60));
        let mut l = List {
            entries: vec![due.clone(), dead, soon.clone(), later.clone()],
            idle: false,
        };
        // Sleeps until the nearest live deadline, never longer than a tick.
        assert_eq!(Timer::sweep(&mut l, now), Some(Duration::from_millis(20)));
        assert!(due.fired.load(Ordering::Acquire));
        assert!(!soon.fired.load(Ordering::Acquire));
        assert_eq!(l.entries.len(), 2);
        later.dead.store(true, Ordering::Release);
        assert_eq!(
            Timer::sweep(&mut l, now + Duration::from_millis(20)),
            None,
            "nothing left: wait until woken"
        );
        assert!(soon.fired.load(Ordering::Acquire));
        let mut l = List {
            entries: vec![entry(now + Duration::from_secs(60))],
            idle: false,
        };
        assert_eq!(Timer::sweep(&mut l, now), Some(TICK));
    }

    #[tokio::test]
    async fn many_dropped_deadlines_do_not_hold_back_a_live_one() {
        // Arm and drop many; then one that must fire still fires (the list is pruned, not stuck).
        for _ in 0..1000 {
            drop(Deadline::after(Duration::from_millis(1)));
        }
        tokio::time::timeout(BOUND, Deadline::after(Duration::from_millis(5)))
            .await
            .expect("fired");
    }
}
