//! The watchdog's state machine on fake listeners in paused time (the cases of upstream's
//! watchdog_test.go and its work order), and the accept side on real loopback listeners.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::*;
use crate::core::net::{Accepted, TcpListener};

const GRACE: Duration = Duration::from_millis(50);

/// A listener that only has a terminator count (the test holds its sender; dropped: stopped).
struct Fake {
    id: u32,
    terminators: watch::Receiver<usize>,
}

fn fake(id: u32, established: usize) -> (Fake, watch::Sender<usize>) {
    let (tx, rx) = watch::channel(established);
    (
        Fake {
            id,
            terminators: rx,
        },
        tx,
    )
}

/// What the successive rebuilds return, and how many were asked for.
#[derive(Default)]
struct Script {
    results: Mutex<VecDeque<Result<Fake, String>>>,
    calls: AtomicUsize,
}

impl Script {
    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

fn failing() -> Arc<Script> {
    Arc::new(Script::default())
}

fn scripted(results: Vec<Fake>) -> Arc<Script> {
    Arc::new(Script {
        results: Mutex::new(results.into_iter().map(Ok).collect()),
        calls: AtomicUsize::new(0),
    })
}

fn opts(max: u32, fail_fast: bool) -> WatchdogOptions {
    WatchdogOptions {
        resilience: Resilience {
            watchdog_enabled: true,
            poll_interval: Duration::from_millis(10),
            zero_established_grace: GRACE,
            max_rebuild_failures: max,
            heartbeat_interval: Duration::ZERO,
        },
        fail_fast,
    }
}

fn dog(
    first: &Fake,
    script: &Arc<Script>,
    max: u32,
    fail_fast: bool,
) -> (Watchdog<Fake>, mpsc::UnboundedReceiver<Fake>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let s = script.clone();
    let relisten: Relisten<Fake> = Box::new(move || {
        s.calls.fetch_add(1, Ordering::SeqCst);
        let next = s.results.lock().unwrap().pop_front();
        Box::pin(async move { next.unwrap_or_else(|| Err("fabric down".into())) })
    });
    let d = Watchdog::new(
        &opts(max, fail_fast),
        "sharetoken123",
        first,
        |l: &Fake| Health(l.terminators.clone()),
        relisten,
        tx,
        Arc::new(ListenerStats::new()),
    );
    (d, rx)
}

async fn advance(d: Duration) {
    tokio::time::advance(d).await;
}

#[tokio::test(start_paused = true)]
async fn rebuilds_only_after_the_grace() {
    let (first, first_tx) = fake(0, 0);
    let (healthy, _keep) = fake(1, 1);
    let script = scripted(vec![healthy]);
    let (mut d, mut swaps) = dog(&first, &script, 2, true);
    d.check().await.unwrap();
    advance(GRACE / 2).await;
    d.check().await.unwrap();
    assert_eq!(script.calls(), 0, "rebuilt before the grace");
    // A healthy reading in between: the next zero starts a new window.
    first_tx.send_replace(1);
    d.check().await.unwrap();
    first_tx.send_replace(0);
    d.check().await.unwrap();
    advance(GRACE / 2).await;
    d.check().await.unwrap();
    assert_eq!(script.calls(), 0, "a transient zero reused the old window");
    advance(GRACE / 2 + Duration::from_millis(1)).await;
    d.check().await.unwrap();
    assert_eq!(script.calls(), 1);
    assert_eq!(d.generation(), 1);
    assert_eq!(swaps.try_recv().expect("handed to the accept loop").id, 1);
}

#[tokio::test(start_paused = true)]
async fn a_replacement_gets_a_fresh_grace_and_failures_reset_only_when_healthy() {
    let (first, _f) = fake(0, 0);
    let (r1, _r1) = fake(1, 0);
    let (r2, r2_tx) = fake(2, 0);
    let script = scripted(vec![r1, r2]);
    let (mut d, _swaps) = dog(&first, &script, 5, true);
    d.check().await.unwrap();
    advance(GRACE + Duration::from_millis(1)).await;
    d.check().await.unwrap();
    assert_eq!(
        (script.calls(), d.failures()),
        (1, 0),
        "a bare swap is no failure"
    );
    // The replacement reports no terminator at birth: it gets a whole window.
    d.check().await.unwrap();
    advance(GRACE - Duration::from_millis(1)).await;
    d.check().await.unwrap();
    assert_eq!(script.calls(), 1, "the replacement got no fresh window");
    advance(Duration::from_millis(2)).await;
    d.check().await.unwrap();
    assert_eq!(script.calls(), 2, "a dead-on-arrival replacement was kept");
    assert_eq!(d.failures(), 1);
    r2_tx.send_replace(1);
    d.check().await.unwrap();
    assert_eq!(d.failures(), 0, "a healthy reading resets the count");
}

#[tokio::test(start_paused = true)]
async fn a_stopped_listener_is_rebuilt_at_once_and_a_stopped_replacement_is_a_failure() {
    let (first, first_tx) = fake(0, 3);
    let (r1, r1_tx) = fake(1, 0);
    let (r2, _r2) = fake(2, 1);
    let script = scripted(vec![r1, r2]);
    let (mut d, _swaps) = dog(&first, &script, 5, true);
    d.check().await.unwrap();
    drop(first_tx);
    d.check().await.unwrap();
    assert_eq!(script.calls(), 1, "a stopped listener waits for no grace");
    assert_eq!(d.failures(), 0);
    drop(r1_tx);
    d.check().await.unwrap();
    assert_eq!((script.calls(), d.failures()), (2, 1));
    d.check().await.unwrap();
    assert_eq!(d.failures(), 0);
}

#[tokio::test(start_paused = true)]
async fn fail_fast_escalates_after_max_failures_in_a_row() {
    let (first, _f) = fake(0, 0);
    let script = failing();
    let (mut d, _swaps) = dog(&first, &script, 2, true);
    d.check().await.unwrap();
    advance(GRACE + Duration::from_millis(1)).await;
    d.check().await.unwrap();
    let reason = d.check().await.expect_err("escalates");
    assert!(
        reason.contains("after 2 attempts") && reason.contains("fabric down"),
        "{reason}"
    );
}

#[tokio::test(start_paused = true)]
async fn managed_keeps_retrying_after_escalation() {
    let (first, _f) = fake(0, 0);
    let script = failing();
    let (mut d, _swaps) = dog(&first, &script, 2, false);
    d.check().await.unwrap();
    advance(GRACE + Duration::from_millis(1)).await;
    for _ in 0..4 {
        d.check().await.expect("managed mode never gives up");
    }
    assert_eq!(script.calls(), 4);
    assert_eq!(d.failures(), 4);
}

#[tokio::test(start_paused = true)]
async fn replacements_that_never_come_up_escalate() {
    let (first, _f) = fake(0, 0);
    let (r1, _r1) = fake(1, 0);
    let (r2, _r2) = fake(2, 0);
    let script = scripted(vec![r1, r2]);
    let (mut d, _swaps) = dog(&first, &script, 2, true);
    for round in 0..2 {
        d.check().await.unwrap();
        advance(GRACE + Duration::from_millis(1)).await;
        d.check().await.unwrap();
        assert_eq!((script.calls(), d.failures()), (round + 1, round as u32));
    }
    d.check().await.unwrap();
    advance(GRACE + Duration::from_millis(1)).await;
    let reason = d.check().await.expect_err("escalates");
    assert!(reason.contains("stayed at zero"), "{reason}");
    assert_eq!(script.calls(), 2, "no rebuild after escalation");
}

#[tokio::test(start_paused = true)]
async fn a_later_outage_counts_from_zero_after_an_in_place_recovery() {
    let (first, first_tx) = fake(0, 0);
    let script = failing();
    let (mut d, _swaps) = dog(&first, &script, 2, true);
    d.check().await.unwrap();
    advance(GRACE + Duration::from_millis(1)).await;
    d.check().await.unwrap();
    assert_eq!(d.failures(), 1);
    // The listener's own re-binding succeeds.
    first_tx.send_replace(1);
    d.check().await.unwrap();
    assert_eq!(d.failures(), 0);
    first_tx.send_replace(0);
    d.check().await.unwrap();
    advance(GRACE + Duration::from_millis(1)).await;
    d.check()
        .await
        .expect("one failure of the new outage does not escalate");
    assert_eq!(d.failures(), 1);
}

#[tokio::test(start_paused = true)]
async fn run_publishes_the_listener_state() {
    let (first, _f) = fake(0, 0);
    let (healthy, _h) = fake(1, 2);
    let script = scripted(vec![healthy]);
    let (d, mut swaps) = dog(&first, &script, 2, true);
    let hub = Hub::new("gw", "1", "_");
    let task = tokio::spawn(d.with_hub(hub.clone()).run());
    let listener = |hub: &Hub| {
        hub.publish();
        hub.subscribe().borrow().gateway.listener.clone()
    };
    // Bounded: the grace and a few polls of virtual time.
    let mut state = None;
    for _ in 0..50 {
        advance(Duration::from_millis(10)).await;
        tokio::task::yield_now().await;
        state = listener(&hub);
        if state.as_ref().is_some_and(|s| s.generation == 1) {
            break;
        }
    }
    let state = state.expect("published");
    assert_eq!(
        (state.generation, state.terminators, state.rebuild_failures),
        (1, 2, 0)
    );
    assert_eq!(swaps.try_recv().unwrap().id, 1);
    task.abort();
}

/// A listener that has stopped (its accept fails), or a loopback one.
enum Inner {
    Stopped,
    Tcp(TcpListener),
}

#[async_trait::async_trait]
impl Listener for Inner {
    async fn accept(&mut self) -> std::io::Result<Accepted> {
        match self {
            Inner::Stopped => Err(std::io::Error::other("listener stopped")),
            Inner::Tcp(l) => l.accept().await,
        }
    }

    fn describe(&self) -> String {
        "test".into()
    }
}

async fn tcp() -> (Inner, std::net::SocketAddr) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = l.local_addr();
    (Inner::Tcp(l), a)
}

async fn echo_once(a: &mut Accepted, c: &mut TcpStream, msg: &[u8]) {
    c.write_all(msg).await.unwrap();
    let mut buf = vec![0u8; msg.len()];
    a.conn.read_exact(&mut buf).await.unwrap();
    assert_eq!(buf, msg);
}

const T: Duration = Duration::from_secs(10);

#[tokio::test]
async fn a_parked_accept_moves_to_the_new_listener_and_old_connections_carry_on() {
    let (old, old_addr) = tcp().await;
    let (tx, rx) = mpsc::unbounded_channel();
    let stats = Arc::new(ListenerStats::new());
    let mut rl = ResilientListener::new(old, rx, stats.clone());
    let mut c1 = TcpStream::connect(old_addr).await.unwrap();
    let mut a1 = tokio::time::timeout(T, rl.accept()).await.unwrap().unwrap();
    // Park an accept on the old listener (current-thread runtime: the task runs until it waits).
    let parked = tokio::spawn(async move {
        let a = rl.accept().await;
        (rl, a)
    });
    tokio::task::yield_now().await;
    let (new, new_addr) = tcp().await;
    tx.send(new).unwrap_or_else(|_| panic!("accept side gone"));
    let mut c2 = TcpStream::connect(new_addr).await.unwrap();
    let (_rl, a2) = tokio::time::timeout(T, parked).await.unwrap().unwrap();
    let mut a2 = a2.unwrap();
    echo_once(&mut a2, &mut c2, b"new").await;
    // The old listener is closed; what it accepted still works.
    assert!(TcpStream::connect(old_addr).await.is_err());
    echo_once(&mut a1, &mut c1, b"old").await;
    assert_eq!(stats.accepted(), 2);
}

#[tokio::test]
async fn a_stopped_listener_waits_for_its_replacement_or_fails_without_a_watchdog() {
    let (tx, rx) = mpsc::unbounded_channel();
    let mut rl = ResilientListener::new(Inner::Stopped, rx, Arc::new(ListenerStats::new()));
    let waiting = tokio::spawn(async move {
        let a = rl.accept().await;
        (rl, a)
    });
    tokio::task::yield_now().await;
    assert!(!waiting.is_finished(), "the error reached the accept loop");
    let (new, addr) = tcp().await;
    tx.send(new).unwrap_or_else(|_| panic!("accept side gone"));
    let _c = TcpStream::connect(addr).await.unwrap();
    let (_rl, a) = tokio::time::timeout(T, waiting).await.unwrap().unwrap();
    assert!(a.is_ok());
    // Without a watchdog, a stopped listener's error is the accept's.
    let (tx, rx) = mpsc::unbounded_channel();
    drop(tx);
    let mut rl = ResilientListener::new(Inner::Stopped, rx, Arc::new(ListenerStats::new()));
    let e = tokio::time::timeout(T, rl.accept()).await.unwrap();
    assert!(e.is_err());
}
