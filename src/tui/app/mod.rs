//! Console state and the key → action state machine. No I/O and no drawing here: the run loop
//! feeds snapshots, events, keys and replies in, and performs the returned [`Action`]s.

//!
//! [`Console`] and the types of its modals are here; its methods are split by role: `engine.rs`
//! (snapshots, events, replies and the clock), `panes.rs` (filtered lists, selection, cursor
//! movement), `keys.rs` (keys and mouse through the binding table) and `arguments.rs` (the
//! try-tool JSON arguments).

mod arguments;
mod engine;
mod keys;
mod panes;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

pub use super::list::{ListState, Stream};

use super::action::{Action, Pane, Request, RequestKind};
use super::text::{Editor, TextInput};
use super::theme::Theme;
use super::ConsoleOptions;
use crate::core::live::state::{CallEvent, LogLevel, LogLine, ShareState, Snapshot};

/// Traffic ring buffer size.
pub const TRAFFIC_CAP: usize = 10_000;
/// Log ring buffer size.
pub const LOG_CAP: usize = 5_000;
/// How long a feedback message stays up.
pub(crate) const TOAST_TTL: Duration = Duration::from_secs(4);

// === Modals ===

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToastLevel {
    Info,
    Warn,
    Error,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Toast {
    pub level: ToastLevel,
    pub text: String,
    pub until: SystemTime,
}

/// "Try tool": arguments editor, parse error and the call's result.
#[derive(Debug, Clone, PartialEq)]
pub struct TryTool {
    pub tool: String,
    pub editor: Editor,
    pub error: Option<String>,
    pub pending: Option<u64>,
    pub result: Option<Result<String, String>>,
    pub scroll: u16,
}

/// A dialog over the panes; it takes the keys until closed.
#[derive(Debug, Clone, PartialEq)]
pub enum Modal {
    Help {
        scroll: u16,
    },
    Confirm {
        message: String,
        request: RequestKind,
    },
    SharePrompt {
        input: TextInput,
    },
    ToolDetail {
        tool: String,
        scroll: u16,
    },
    TryTool(Box<TryTool>),
}

// === Console ===

pub struct Console {
    pub(crate) read_only: bool,
    pub(crate) theme: Theme,
    pub(crate) banner: Option<String>,
    pub snapshot: Option<Arc<Snapshot>>,
    pub pane: Pane,
    /// Backends, Sessions, Tools, Shares.
    pub lists: [ListState; 4],
    pub traffic: Stream<CallEvent>,
    pub logs: Stream<LogLine>,
    /// Filter text per pane, as typed.
    pub filters: [String; 6],
    /// True while typing into the focused pane's filter.
    pub filter_editing: bool,
    pub modal: Option<Modal>,
    pub toast: Option<Toast>,
    pub log_level: LogLevel,
    /// Events the broadcast channel dropped because we lagged.
    pub dropped: u64,
    /// Shares from the last `ListShares` reply, until the snapshot's share list changes.
    pub(crate) listed_shares: Option<Vec<ShareState>>,
    pub pending: HashMap<u64, RequestKind>,
    next_id: u64,
    /// Wall clock used for ages and uptime (set by `tick`; fixed in tests).
    pub(crate) now: SystemTime,
    /// Rows of the focused list at the last render (for PgUp/PgDn).
    pub page: usize,
    /// Something changed since the last frame.
    pub(crate) dirty: bool,
    /// Tools whose filter verdict exposes them (counted once per snapshot).
    pub(crate) tools_exposed: usize,
}

impl Console {
    /// Options are taken as given (the run loop resolves `NO_COLOR` and the locale first).
    pub fn new(opts: ConsoleOptions) -> Console {
        Console {
            read_only: opts.read_only,
            theme: Theme::new(!opts.no_color, opts.ascii),
            banner: opts.banner,
            snapshot: None,
            pane: Pane::Backends,
            lists: Default::default(),
            traffic: Stream::new(TRAFFIC_CAP),
            logs: Stream::new(LOG_CAP),
            filters: Default::default(),
            filter_editing: false,
            modal: None,
            toast: None,
            log_level: LogLevel::Info,
            dropped: 0,
            listed_shares: None,
            pending: HashMap::new(),
            next_id: 1,
            now: SystemTime::now(),
            page: 10,
            dirty: true,
            tools_exposed: 0,
        }
    }

    pub(crate) fn set_toast(&mut self, level: ToastLevel, text: String) {
        self.toast = Some(Toast {
            level,
            text,
            until: self.now + TOAST_TTL,
        });
        self.dirty = true;
    }

    /// Number a request and remember it until its reply.
    fn request(&mut self, kind: RequestKind) -> Action {
        let id = self.next_id;
        self.next_id += 1;
        self.pending.insert(id, kind.clone());
        Action::Send(Request { id, kind })
    }
}
