//! CPU share and frame times of the real console loop (`mcpz::tui::run`) on a large gateway.
//!
//! The bench re-executes itself as a child on a pseudo-terminal (160x48, `openpty`, own session,
//! controlling tty), so `run` owns a real terminal exactly as `mcpz tui` does: crossterm input,
//! raw mode, alternate screen, synchronized-update frames written to the PTY. The parent drains
//! the PTY master (counting bytes), types the pane key, and types `q` at the end.
//!
//! In the child, a producer on its own OS thread (current-thread runtime) feeds the real
//! channels: a `watch<Snapshot>` holding `fixtures::large(50, 10_000, 1_000)` republished every
//! 200 ms (the hub's publish interval) and a `broadcast<Event>` (capacity 4096, as the hub)
//! carrying 1,000 call events/s, sent one by one on a 1 ms tick. The console runs on a
//! multi-thread runtime like `mcpz tui`. CPU is measured over a window after warm-up:
//! console = process CPU (`CLOCK_PROCESS_CPUTIME_ID`, includes exited blocking threads)
//! − producer thread CPU (`pthread_getcpuclockid`). Frame and snapshot times come from the
//! `tui::OBSERVER` hook.
//!
//! Scenarios: `idle` (static snapshot, no events), `load` (both), and for attribution `events`
//! (calls only, snapshot static) and `snapshots` (republished snapshots only).
//!
//! Run: `cargo bench --bench tui_load` (plain `fn main`). `TUI_LOAD_SECS` (default 20) sets
//! the window.

use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::os::unix::thread::JoinHandleExt;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mcpz::core::live::control::Command as Ctl;
use mcpz::core::live::state::Event;
use mcpz::tui::{fixtures, ConsoleOptions, Stage};

const WARMUP: Duration = Duration::from_secs(4);

fn secs() -> u64 {
    std::env::var("TUI_LOAD_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20)
}

fn main() {
    if let Ok(mode) = std::env::var("TUI_LOAD_CHILD") {
        child(&mode);
        return;
    }
    let secs = secs();
    println!(
        "tui_load: mcpz::tui::run on a 160x48 PTY, 10,000 tools, 1,000 sessions; window {secs} s after {} s warm-up",
        WARMUP.as_secs()
    );
    println!("| scenario | pane | console CPU (% of one core) | producer CPU | frames/s | frame p50 | frame p99 | frame max | snapshot apply p50 / p99 / max | PTY output |");
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (mode, pane, key) in [
        ("idle", "Backends", None),
        ("idle", "Traffic", Some(b'5')),
        ("load", "Backends", None),
        ("load", "Tools", Some(b'3')),
        ("load", "Traffic", Some(b'5')),
        // Attribution: each half of the load alone.
        ("events", "Backends", None),
        ("events", "Traffic", Some(b'5')),
        ("snapshots", "Backends", None),
        ("snapshots", "Traffic", Some(b'5')),
    ] {
        let line = parent(mode, key, secs);
        println!("| {mode} | {pane} | {line} |");
    }
}

// ---------------------------------------------------------------- parent: the PTY owner

fn parent(mode: &str, key: Option<u8>, secs: u64) -> String {
    let dir = std::env::temp_dir().join(format!("tui_load_{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let result = dir.join(format!("{mode}_{}.txt", key.unwrap_or(b'1') as char));
    let _ = std::fs::remove_file(&result);

    let (mut master_fd, mut slave_fd) = (0, 0);
    let ws = libc::winsize {
        ws_row: 48,
        ws_col: 160,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let rc = unsafe {
        libc::openpty(
            &mut master_fd,
            &mut slave_fd,
            std::ptr::null_mut(),
            std::ptr::null(),
            &ws,
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    let master = unsafe { OwnedFd::from_raw_fd(master_fd) };
    let slave = unsafe { OwnedFd::from_raw_fd(slave_fd) };

    let exe = std::env::current_exe().expect("current exe");
    let mut cmd = Command::new(exe);
    cmd.env("TUI_LOAD_CHILD", mode)
        .env("TUI_LOAD_RESULT", &result)
        .env("TUI_LOAD_SECS", secs.to_string())
        .env("LANG", "C.UTF-8")
        .env_remove("LC_ALL")
        .env_remove("LC_CTYPE")
        .env_remove("NO_COLOR")
        .env("TERM", "xterm-256color")
        .stdin(Stdio::from(slave.try_clone().unwrap()))
        .stdout(Stdio::from(slave.try_clone().unwrap()))
        .stderr(Stdio::from(slave.try_clone().unwrap()));
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::ioctl(0, libc::TIOCSCTTY as _, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().expect("spawn child");
    drop(cmd); // it holds copies of the slave fd
    drop(slave);

    // Drain the master: the console blocks if nobody reads its output.
    let bytes = Arc::new(AtomicU64::new(0));
    let mut reader = std::fs::File::from(master.try_clone().unwrap());
    let mut answer = std::fs::File::from(master.try_clone().unwrap());
    let b2 = bytes.clone();
    let drain = std::thread::spawn(move || {
        let mut buf = vec![0u8; 1 << 16];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            // Answer cursor-position queries (ratatui asks at start) like a terminal would.
            if buf[..n].windows(4).any(|w| w == b"\x1b[6n") {
                let _ = answer.write_all(b"\x1b[1;1R");
            }
            b2.fetch_add(n as u64, Ordering::Relaxed);
        }
    });
    let mut writer = std::fs::File::from(master);

    std::thread::sleep(Duration::from_millis(1500));
    if let Some(k) = key {
        writer.write_all(&[k]).unwrap();
    }
    // The child starts its window at WARMUP after its own start.
    let start_wait = Instant::now();
    let mut b0 = None;
    let deadline = WARMUP + Duration::from_secs(secs) + Duration::from_secs(30);
    let text = loop {
        if b0.is_none() && start_wait.elapsed() + Duration::from_millis(1500) >= WARMUP {
            b0 = Some((bytes.load(Ordering::Relaxed), Instant::now()));
        }
        if let Ok(t) = std::fs::read_to_string(&result) {
            if t.ends_with('\n') {
                break t;
            }
        }
        if start_wait.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("child did not report within {deadline:?}");
        }
        if let Ok(Some(st)) = child.try_wait() {
            let why = std::fs::read_to_string(result.with_extension("txt.err")).unwrap_or_default();
            panic!("child exited early: {st}: {why}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let (b0, t0) = b0.unwrap_or((0, start_wait));
    let out_rate = (bytes.load(Ordering::Relaxed) - b0) as f64 / t0.elapsed().as_secs_f64();
    writer.write_all(b"q").unwrap();
    let quit_by = Instant::now() + Duration::from_secs(10);
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            _ if Instant::now() > quit_by => {
                eprintln!("tui_load: child ignored q; killing it");
                let _ = child.kill();
                let _ = child.wait();
                break;
            }
            _ => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    drop(writer);
    let _ = drain.join();
    let _ = std::fs::remove_dir_all(&dir);
    format!("{} | {:.1} KB/s", text.trim_end(), out_rate / 1e3)
}

// ---------------------------------------------------------------- child: console + producer

static RECORDING: AtomicBool = AtomicBool::new(false);
static SAMPLES: Mutex<Vec<(Stage, Duration)>> = Mutex::new(Vec::new());

fn record(stage: Stage, d: Duration) {
    if RECORDING.load(Ordering::Relaxed) {
        SAMPLES.lock().unwrap().push((stage, d));
    }
}

fn cpu(clock: libc::clockid_t) -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn child(mode: &str) {
    let events = mode == "load" || mode == "events";
    let snapshots = mode == "load" || mode == "snapshots";
    let secs = secs();
    let result = std::env::var("TUI_LOAD_RESULT").expect("TUI_LOAD_RESULT");
    mcpz::tui::OBSERVER.set(record).ok();

    let snapshot = fixtures::large(50, 10_000, 1_000);
    let (snap_tx, snap_rx) = tokio::sync::watch::channel(std::sync::Arc::new(snapshot.clone()));
    let (ev_tx, ev_rx) = tokio::sync::broadcast::channel::<Event>(4096);
    let (cmd_tx, mut cmd_rx) = tokio::sync::mpsc::channel::<Ctl>(64);
    let stop = Arc::new(AtomicBool::new(false));

    // The producer: its own thread, so its CPU can be subtracted exactly.
    let stop2 = stop.clone();
    let producer = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            // Answer the console's commands (it lists shares once at start).
            let commands = async {
                while let Some(c) = cmd_rx.recv().await {
                    if let Ctl::ListShares { reply } = c {
                        let _ = reply.send(Ok(Vec::new()));
                    }
                }
            };
            let produce = async {
                let mut tick = tokio::time::interval(Duration::from_millis(1));
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
                let start = Instant::now();
                let mut sent = 0u64;
                let mut next_snap = Duration::from_millis(200);
                let mut base = snapshot;
                while !stop2.load(Ordering::Relaxed) {
                    tick.tick().await;
                    let el = start.elapsed();
                    let due = el.as_millis() as u64; // 1,000 events/s
                    while events && sent < due {
                        let _ = ev_tx.send(Event::Call(fixtures::call(sent)));
                        sent += 1;
                    }
                    if snapshots && el >= next_snap {
                        base.total_calls = sent;
                        // The hub builds a fresh snapshot and replaces the old one.
                        let _old = snap_tx.send_replace(std::sync::Arc::new(base.clone()));
                        next_snap += Duration::from_millis(200);
                    }
                }
                drop(ev_tx);
            };
            tokio::select! { _ = commands => {}, _ = produce => {} }
        });
    });
    let producer_clock = {
        let mut id: libc::clockid_t = 0;
        let rc = unsafe { libc::pthread_getcpuclockid(producer.as_pthread_t(), &mut id) };
        assert_eq!(rc, 0, "pthread_getcpuclockid");
        id
    };

    // The measurement window, on its own (sleeping) thread.
    let out = result.clone();
    let meter = std::thread::spawn(move || {
        std::thread::sleep(WARMUP);
        let (p0, q0, w0) = (
            cpu(libc::CLOCK_PROCESS_CPUTIME_ID),
            cpu(producer_clock),
            Instant::now(),
        );
        RECORDING.store(true, Ordering::SeqCst);
        std::thread::sleep(Duration::from_secs(secs));
        RECORDING.store(false, Ordering::SeqCst);
        let (p1, q1, wall) = (
            cpu(libc::CLOCK_PROCESS_CPUTIME_ID),
            cpu(producer_clock),
            w0.elapsed(),
        );
        let wall = wall.as_secs_f64();
        let producer = (q1 - q0).as_secs_f64();
        let console = (p1 - p0).as_secs_f64() - producer;
        let samples = std::mem::take(&mut *SAMPLES.lock().unwrap());
        let mut frames: Vec<Duration> = samples
            .iter()
            .filter(|s| s.0 == Stage::Draw)
            .map(|s| s.1)
            .collect();
        let mut snaps: Vec<Duration> = samples
            .iter()
            .filter(|s| s.0 == Stage::Snapshot)
            .map(|s| s.1)
            .collect();
        frames.sort();
        snaps.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let pct = |v: &[Duration], p: f64| {
            if v.is_empty() {
                "–".to_string()
            } else {
                format!(
                    "{:.2} ms",
                    ms(v[((v.len() as f64 - 1.0) * p).round() as usize])
                )
            }
        };
        let line = format!(
            "{:.2} % | {:.2} % | {:.1} | {} | {} | {} | {} / {} / {} ({} snapshots)\n",
            console / wall * 100.0,
            producer / wall * 100.0,
            frames.len() as f64 / wall,
            pct(&frames, 0.5),
            pct(&frames, 0.99),
            pct(&frames, 1.0),
            pct(&snaps, 0.5),
            pct(&snaps, 0.99),
            pct(&snaps, 1.0),
            snaps.len(),
        );
        let tmp = format!("{out}.tmp");
        std::fs::write(&tmp, line).unwrap();
        std::fs::rename(&tmp, &out).unwrap();
    });

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let r = rt.block_on(mcpz::tui::run(
        snap_rx,
        ev_rx,
        cmd_tx,
        ConsoleOptions::default(),
    ));
    stop.store(true, Ordering::SeqCst);
    let _ = meter.join();
    let _ = producer.join();
    drop(rt);
    if let Err(e) = r {
        let _ = std::fs::write(format!("{result}.err"), format!("{e:#}"));
        std::process::exit(1);
    }
}
