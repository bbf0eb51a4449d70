//! `mcpz tui`: the operator console.
//!
//! Reads the engine's [`Snapshot`] (watch) and [`Event`]s (broadcast), sends [`Command`]s
//! (mpsc, `try_send` only) and polls their replies. `core` never imports this module.
//!
//! Layout: [`app`] holds UI state and turns keys into [`Action`]s (no I/O, no drawing);
//! [`ui`] draws a `Console` into a ratatui `Frame`; [`keymap`] is the single binding table;
//! this file owns the terminal and the event loop. Design notes: `src/tui/README.md`.

pub(crate) mod action;
pub mod app;
pub mod keymap;
pub(crate) mod list;
pub(crate) mod terminal;
pub mod text;
pub(crate) mod theme;
pub mod ui;
pub mod view;

#[doc(hidden)]
pub mod fixtures;

use std::time::{Duration, SystemTime};

use crossterm::event::{
    Event as TermEvent, EventStream, KeyCode, KeyEvent, KeyModifiers, MouseEventKind,
};
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::time::Instant;

pub use action::{Action, Pane, Request, RequestKind, Response, ResponseValue};
pub use app::Console;
pub use ui::render;

use crate::core::live::control::Command;
use crate::core::live::state::{Event, Snapshot};

/// At most this many frames per second.
const FRAME: Duration = Duration::from_millis(33);
/// Events drained per wake-up before yielding to input and drawing.
const EVENT_BATCH: usize = 2048;
/// Snapshots with more tools + sessions than this are freed on a blocking thread.
const BIG_SNAPSHOT: usize = 2000;

/// What the run loop reports to [`OBSERVER`].
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// One frame: render + write to the terminal + flush.
    Draw,
    /// One snapshot change: clone out of `watch` + `set_snapshot`.
    Snapshot,
}

/// Benchmark hook (`benches/tui_load.rs`): when set, the run loop reports how long each
/// stage took. Unset in the product; it only observes.
#[doc(hidden)]
pub static OBSERVER: std::sync::OnceLock<fn(Stage, Duration)> = std::sync::OnceLock::new();

fn observe(stage: Stage, since: std::time::Instant) {
    if let Some(f) = OBSERVER.get() {
        f(stage, since.elapsed());
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsoleOptions {
    /// Disable every mutating key (restart, end session, try tool, create/delete share).
    pub read_only: bool,
    /// No box drawing or unicode symbols.
    pub ascii: bool,
    /// No colours at all (status keeps its glyph and word).
    pub no_color: bool,
    /// Capture the mouse (click tabs, wheel scrolls). Off by default: it takes over selection.
    pub mouse: bool,
    /// One line shown under the header, e.g. "demo gateway on loopback: connect with ...".
    pub banner: Option<String>,
}

impl ConsoleOptions {
    /// Fold in the environment: `NO_COLOR` (non-empty) and a non-UTF-8 locale.
    pub(crate) fn with_env(mut self) -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        self.no_color |= no_color;
        self.ascii |= !locale_is_utf8(|k| std::env::var(k).ok());
        self
    }
}

/// True when the effective locale (`LC_ALL`, then `LC_CTYPE`, then `LANG`) names UTF-8.
pub fn locale_is_utf8(get: impl Fn(&str) -> Option<String>) -> bool {
    ["LC_ALL", "LC_CTYPE", "LANG"]
        .iter()
        .filter_map(|k| get(k).filter(|v| !v.is_empty()))
        .next()
        .map(|v| {
            let v = v.to_ascii_lowercase();
            v.contains("utf-8") || v.contains("utf8")
        })
        .unwrap_or(false)
}

/// Run the console until the operator quits. The terminal is restored on every exit path.
pub async fn run(
    mut snapshot: watch::Receiver<std::sync::Arc<Snapshot>>,
    mut events: broadcast::Receiver<Event>,
    commands: mpsc::Sender<Command>,
    opts: ConsoleOptions,
) -> anyhow::Result<()> {
    let opts = opts.with_env();
    let mut app = Console::new(opts.clone());
    let first = snapshot.borrow_and_update().clone();
    let _ = app.set_snapshot(first);
    let (mut term, _guard) = terminal::init(opts.mouse)?;
    let mut input = EventStream::new();
    let mut replies: FuturesUnordered<BoxFuture<'static, Response>> = FuturesUnordered::new();
    let mut clock = tokio::time::interval(Duration::from_secs(1));
    clock.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut snapshot_open = true;
    let mut events_open = true;
    let mut last_draw = Instant::now() - FRAME;

    // Ask for the environment's shares once; the answer arrives like any other reply.
    let initial = app.refresh_shares();
    let mut quit = perform(&mut app, &mut term, &commands, &mut replies, initial)?;

    while !quit {
        if app.dirty && last_draw.elapsed() >= FRAME {
            let t = std::time::Instant::now();
            terminal::draw(&mut term, |f| render(&mut app, f))?;
            observe(Stage::Draw, t);
            app.dirty = false;
            last_draw = Instant::now();
        }
        let next_frame = last_draw + FRAME;
        let actions = tokio::select! {
            ev = input.next() => match ev {
                Some(Ok(TermEvent::Key(k))) => app.handle_key(k),
                Some(Ok(TermEvent::Mouse(m))) if opts.mouse => app.handle_mouse(m.kind, m.column, m.row),
                Some(Ok(_)) => { app.dirty = true; Vec::new() }
                Some(Err(e)) => return Err(anyhow::anyhow!("reading terminal input: {e}")),
                None => break,
            },
            changed = snapshot.changed(), if snapshot_open => {
                match changed {
                    Ok(()) => {
                        let t = std::time::Instant::now();
                        let s = snapshot.borrow_and_update().clone();
                        if let Some(old) = app.set_snapshot(s) {
                            if old.tools.len() + old.sessions.len() > BIG_SNAPSHOT {
                                tokio::task::spawn_blocking(move || drop(old));
                            }
                        }
                        observe(Stage::Snapshot, t);
                    }
                    Err(_) => {
                        snapshot_open = false;
                        app.set_toast(app::ToastLevel::Error, "the engine stopped publishing state; q quits".to_string());
                    }
                }
                Vec::new()
            }
            // While a frame is pending, events wait in the channel and are drained in one go
            // after the draw: ~30 wake-ups a second instead of one per event.
            ev = events.recv(), if events_open && !app.dirty => {
                let mut next = Some(ev);
                let mut n = 0;
                while let Some(ev) = next.take() {
                    match ev {
                        Ok(e) => app.apply_event(&e),
                        Err(broadcast::error::RecvError::Lagged(k)) => app.note_dropped(k),
                        Err(broadcast::error::RecvError::Closed) => { events_open = false; break; }
                    }
                    n += 1;
                    if n < EVENT_BATCH {
                        next = match events.try_recv() {
                            Ok(e) => Some(Ok(e)),
                            Err(broadcast::error::TryRecvError::Lagged(k)) => Some(Err(broadcast::error::RecvError::Lagged(k))),
                            Err(broadcast::error::TryRecvError::Closed) => Some(Err(broadcast::error::RecvError::Closed)),
                            Err(broadcast::error::TryRecvError::Empty) => None,
                        };
                    }
                }
                Vec::new()
            }
            Some(reply) = replies.next(), if !replies.is_empty() => app.apply_response(reply),
            _ = clock.tick() => { app.tick(SystemTime::now()); Vec::new() }
            _ = tokio::time::sleep_until(next_frame), if app.dirty => Vec::new(),
        };
        quit = perform(&mut app, &mut term, &commands, &mut replies, actions)?;
    }
    drop(term);
    Ok(())
}

/// Carry out actions; returns true on quit. Never waits: commands go out with `try_send`.
fn perform(
    app: &mut Console,
    term: &mut terminal::Term,
    commands: &mpsc::Sender<Command>,
    replies: &mut FuturesUnordered<BoxFuture<'static, Response>>,
    actions: Vec<Action>,
) -> anyhow::Result<bool> {
    let mut queue = actions;
    while !queue.is_empty() {
        for action in std::mem::take(&mut queue) {
            match action {
                Action::Quit => return Ok(true),
                Action::Copy(text) => {
                    terminal::write_raw(term, &view::osc52(&text))?;
                }
                Action::Send(req) => {
                    let id = req.id;
                    let (cmd, fut) = to_command(req);
                    match commands.try_send(cmd) {
                        Ok(()) => replies.push(fut),
                        Err(e) => {
                            let why = match e {
                                mpsc::error::TrySendError::Full(_) => {
                                    "engine busy (command queue full), try again"
                                }
                                mpsc::error::TrySendError::Closed(_) => "engine is not running",
                            };
                            queue.extend(app.apply_response(Response {
                                id,
                                result: Err(why.to_string()),
                            }));
                        }
                    }
                }
            }
        }
    }
    Ok(false)
}

/// A command built around a fresh reply channel, and the future of its [`Response`] (`map` turns
/// the engine's answer into a [`ResponseValue`]).
fn with_reply<T: Send + 'static>(
    id: u64,
    command: impl FnOnce(oneshot::Sender<Result<T, String>>) -> Command,
    map: fn(T) -> ResponseValue,
) -> (Command, BoxFuture<'static, Response>) {
    let (tx, rx) = oneshot::channel::<Result<T, String>>();
    let future = async move {
        let result = match rx.await {
            Ok(r) => r.map(map),
            Err(_) => Err("the engine dropped the request".to_string()),
        };
        Response { id, result }
    };
    (command(tx), future.boxed())
}

/// Attach a reply channel to a request.
pub fn to_command(req: Request) -> (Command, BoxFuture<'static, Response>) {
    let id = req.id;
    let done = |()| ResponseValue::Done;
    match req.kind {
        RequestKind::RestartBackend { id: backend } => with_reply(
            id,
            |reply| Command::RestartBackend { id: backend, reply },
            done,
        ),
        RequestKind::EndSession { id: session } => {
            with_reply(id, |reply| Command::EndSession { id: session, reply }, done)
        }
        RequestKind::CallTool { name, arguments } => with_reply(
            id,
            |reply| Command::CallTool {
                name,
                arguments,
                reply,
            },
            ResponseValue::Text,
        ),
        RequestKind::ListShares => with_reply(
            id,
            |reply| Command::ListShares { reply },
            ResponseValue::Shares,
        ),
        RequestKind::CreateShare { name } => with_reply(
            id,
            |reply| Command::CreateShare { name, reply },
            ResponseValue::Text,
        ),
        RequestKind::DeleteShare { token } => {
            with_reply(id, |reply| Command::DeleteShare { token, reply }, done)
        }
        RequestKind::ReloadConfig => {
            with_reply(id, |reply| Command::Reload { reply }, ResponseValue::Text)
        }
    }
}

/// Mouse wheel and tab clicks, as keys.
pub(crate) fn wheel_key(kind: MouseEventKind) -> Option<KeyEvent> {
    match kind {
        MouseEventKind::ScrollUp => Some(KeyEvent::new(KeyCode::Up, KeyModifiers::NONE)),
        MouseEventKind::ScrollDown => Some(KeyEvent::new(KeyCode::Down, KeyModifiers::NONE)),
        _ => None,
    }
}
