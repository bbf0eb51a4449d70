//! Handing the heap that ended sessions freed back to the system.
//!
//! glibc's malloc keeps what it freed in its arenas for reuse: after a burst of 1,000 sessions
//! ended, the gateway held its peak (~200 MiB), and every later burst added to it, as the freed
//! memory is scattered among the chunks still in use (BENCHMARKS.md, "Soak and memory per
//! session"). The [`Trimmer`] asks malloc to give every free page back (`malloc_trim(0)`, which
//! also returns the free pages inside the arenas) once sessions have ended: when things have been
//! quiet for [`QUIET`] after the last end, and at least every [`MAX_WAIT`] while sessions keep
//! ending. It runs on a blocking thread, as a trim walks the whole heap. Elsewhere than on glibc
//! it does nothing.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// How long after the last session ended the heap is trimmed.
pub(crate) const QUIET: Duration = Duration::from_millis(250);
/// The longest a trim waits while sessions keep ending.
pub(crate) const MAX_WAIT: Duration = Duration::from_secs(2);

#[derive(Default)]
pub(crate) struct Trimmer {
    freed: Notify,
}

impl Trimmer {
    /// Something large was freed (a session ended): trim soon.
    pub(crate) fn freed(&self) {
        self.freed.notify_one();
    }

    /// Trims after every burst of [`freed`](Self::freed) until `stop`.
    pub(crate) async fn run(self: Arc<Self>, stop: CancellationToken) {
        self.run_with(stop, || {
            trim();
        })
        .await
    }

    async fn run_with<F: Fn() + Clone + Send + 'static>(&self, stop: CancellationToken, trim: F) {
        loop {
            tokio::select! {
                _ = self.freed.notified() => {}
                _ = stop.cancelled() => return,
            }
            let deadline = tokio::time::Instant::now() + MAX_WAIT;
            loop {
                tokio::select! {
                    _ = self.freed.notified() => {}
                    _ = tokio::time::sleep(QUIET) => break,
                    _ = tokio::time::sleep_until(deadline) => break,
                    _ = stop.cancelled() => return,
                }
            }
            let _ = tokio::task::spawn_blocking(trim.clone()).await;
        }
    }
}

/// Gives the free pages of every malloc arena back to the system; whether any was.
pub(crate) fn trim() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: malloc_trim only takes glibc's own arena locks; any thread may call it.
        (unsafe { libc::malloc_trim(0) }) == 1
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn trim_returns_freed_pages() {
        // 64 MiB in small chunks (below the mmap threshold, so they stay in an arena), every page
        // touched, then all but the last freed: only a trim gives them back (the last chunk pins the
        // top of the heap, so malloc's own top trimming cannot).
        let chunks: Vec<Vec<u8>> = (0..2048).map(|_| vec![1u8; 32 * 1024]).collect();
        let pin = vec![1u8; 32 * 1024];
        let before = rss_kib();
        drop(chunks);
        assert!(trim(), "malloc_trim found nothing to give back");
        let after = rss_kib();
        assert!(
            after + 32 * 1024 < before,
            "RSS {before} KiB before the trim, {after} KiB after"
        );
        drop(pin);
    }

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn rss_kib() -> u64 {
        let s = std::fs::read_to_string("/proc/self/status").unwrap();
        s.lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
            .unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn one_trim_per_burst_and_at_least_every_max_wait() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let t = Arc::new(Trimmer::default());
        let stop = CancellationToken::new();
        let trims = Arc::new(AtomicUsize::new(0));
        let count = trims.clone();
        let task = tokio::spawn({
            let (t, stop) = (t.clone(), stop.clone());
            async move {
                t.run_with(stop, move || {
                    count.fetch_add(1, Ordering::SeqCst);
                })
                .await
            }
        });
        let settled = |n: usize| {
            let trims = trims.clone();
            async move {
                // Bounded: the trimmer's debounce is virtual time; the count is real.
                for _ in 0..1000 {
                    if trims.load(Ordering::SeqCst) == n {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                panic!("expected {n} trims, saw {}", trims.load(Ordering::SeqCst));
            }
        };
        // A burst: one trim, after the quiet time.
        for _ in 0..10 {
            t.freed();
        }
        tokio::time::sleep(QUIET / 2).await;
        assert_eq!(
            trims.load(Ordering::SeqCst),
            0,
            "trimmed before the quiet time"
        );
        settled(1).await;
        // Sessions ending without a pause: a trim by MAX_WAIT anyway.
        let start = tokio::time::Instant::now();
        while start.elapsed() < MAX_WAIT + QUIET {
            t.freed();
            tokio::time::sleep(QUIET / 5).await;
        }
        assert!(
            trims.load(Ordering::SeqCst) >= 2,
            "no trim while sessions kept ending"
        );
        stop.cancel();
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("the trimmer ends with its stop token")
            .unwrap();
    }
}
