//! Frame time of the console on a large gateway: 10,000 tools, 1,000 sessions, 160x48, with
//! 1,000 call events per second arriving (33 per frame at 30 fps) and a fresh snapshot every
//! 300 ms (every 9th frame). Prints p50/p99/max per pane.
//!
//! Run: `cargo bench --bench tui_render` (plain timing loop, no harness).

use std::time::{Duration, Instant};

use mcpz::core::live::state::{Event, LogLevel};
use mcpz::tui::app::Console;
use mcpz::tui::{fixtures, render, ConsoleOptions, Pane};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

const FRAMES: usize = 900;
const EVENTS_PER_FRAME: u64 = 33;
const SNAPSHOT_EVERY: usize = 9;

fn pct(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn main() {
    let snapshot = fixtures::large(50, 10_000, 1_000);
    let mut term = Terminal::new(TestBackend::new(160, 48)).expect("test backend");
    println!(
        "tui_render: 10,000 tools, 1,000 sessions, 160x48, 1,000 events/s, snapshot every 300 ms"
    );
    for pane in [
        Pane::Tools,
        Pane::Sessions,
        Pane::Traffic,
        Pane::Logs,
        Pane::Backends,
    ] {
        let mut app = Console::new(ConsoleOptions::default());
        app.apply_snapshot(&snapshot);
        app.tick(fixtures::t0());
        app.pane = pane;
        // Start from full buffers, the steady state of a busy gateway.
        for i in 0..10_000 {
            app.apply_event(&Event::Call(fixtures::call(i)));
            app.apply_event(&Event::Log(fixtures::log(
                i,
                LogLevel::Info,
                "call finished",
            )));
        }
        let mut seq = 10_000u64;
        let mut frames = Vec::with_capacity(FRAMES);
        let mut plain = Vec::with_capacity(FRAMES);
        let mut clones = Vec::new();
        let mut snaps = Vec::new();
        for f in 0..FRAMES {
            let start = Instant::now();
            if f % SNAPSHOT_EVERY == 0 {
                // The run loop clones out of the watch channel, then hands the copy over.
                let c0 = Instant::now();
                let copy = snapshot.clone();
                clones.push(c0.elapsed());
                let s0 = Instant::now();
                let old = app.set_snapshot(std::sync::Arc::new(copy));
                snaps.push(s0.elapsed());
                // The run loop frees big snapshots on a blocking thread.
                std::thread::spawn(move || drop(old));
            }
            for _ in 0..EVENTS_PER_FRAME {
                app.apply_event(&Event::Call(fixtures::call(seq)));
                seq += 1;
            }
            if f % 30 == 0 {
                app.apply_event(&Event::Log(fixtures::log(
                    seq,
                    LogLevel::Warn,
                    "slow backend",
                )));
            }
            term.draw(|fr| render(&mut app, fr)).expect("draw");
            frames.push(start.elapsed());
            if f % SNAPSHOT_EVERY != 0 {
                plain.push(start.elapsed());
            }
        }
        for v in [&mut frames, &mut plain, &mut clones, &mut snaps] {
            v.sort();
        }
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        println!(
            "  {:<9} all frames p50 {:>6.3} p99 {:>7.3} ms | event-only frames p50 {:>6.3} p99 {:>6.3} ms | snapshot: watch clone p50 {:>6.3} ms, apply p50 {:>6.3} p99 {:>6.3} ms",
            pane.title(),
            ms(pct(&frames, 0.50)),
            ms(pct(&frames, 0.99)),
            ms(pct(&plain, 0.50)),
            ms(pct(&plain, 0.99)),
            ms(pct(&clones, 0.50)),
            ms(pct(&snaps, 0.50)),
            ms(pct(&snaps, 0.99)),
        );
    }
}
