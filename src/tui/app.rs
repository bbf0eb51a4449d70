//! Console state and the key → action state machine. No I/O and no drawing here: the run loop
//! feeds snapshots, events, keys and replies in, and performs the returned [`Action`]s.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use crossterm::event::{KeyEvent, KeyEventKind, MouseButton, MouseEventKind};
use serde_json::{Map, Value};

use super::action::{Action, Pane, Reply, ReplyValue, Request, RequestKind};
use super::keymap::{self, Binding, Key, KeyAction, Scope};
use super::list::StreamNav;
pub use super::list::{ListState, Stream};
use super::text::{Editor, TextInput};
use super::theme::Theme;
use super::view;
use super::ConsoleOptions;
use crate::core::live::state::{
    CallEvent, CallOutcome, Event, LogLevel, LogLine, Overlay as NetOverlay, ShareState, Snapshot,
};

/// Traffic ring buffer size.
pub const TRAFFIC_CAP: usize = 10_000;
/// Log ring buffer size.
pub const LOG_CAP: usize = 5_000;
/// How long a feedback message stays up.
pub const TOAST_TTL: Duration = Duration::from_secs(4);

// === Overlays ===

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

#[derive(Debug, Clone, PartialEq)]
pub enum Overlay {
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

// === App ===

pub struct App {
    pub read_only: bool,
    pub theme: Theme,
    pub banner: Option<String>,
    pub snapshot: Option<std::sync::Arc<Snapshot>>,
    pub pane: Pane,
    /// Backends, Sessions, Tools, Shares.
    pub lists: [ListState; 4],
    pub traffic: Stream<CallEvent>,
    pub logs: Stream<LogLine>,
    /// Filter text per pane, as typed.
    pub filters: [String; 6],
    /// True while typing into the focused pane's filter.
    pub filter_editing: bool,
    pub overlay: Option<Overlay>,
    pub toast: Option<Toast>,
    pub log_level: LogLevel,
    /// Events the broadcast channel dropped because we lagged.
    pub dropped: u64,
    /// Shares from the last `ListShares` reply, until the snapshot's share list changes.
    pub listed_shares: Option<Vec<ShareState>>,
    pub pending: HashMap<u64, RequestKind>,
    next_id: u64,
    /// Wall clock used for ages and uptime (set by `tick`; fixed in tests).
    pub now: SystemTime,
    /// Rows of the focused list at the last render (for PgUp/PgDn).
    pub page: usize,
    /// Something changed since the last frame.
    pub dirty: bool,
    /// Tools whose filter verdict exposes them (counted once per snapshot).
    pub tools_exposed: usize,
}

fn list_slot(p: Pane) -> Option<usize> {
    match p {
        Pane::Backends => Some(0),
        Pane::Sessions => Some(1),
        Pane::Tools => Some(2),
        Pane::Shares => Some(3),
        Pane::Traffic | Pane::Logs => None,
    }
}

fn call_fields(c: &CallEvent) -> [&str; 5] {
    let outcome = match c.outcome {
        CallOutcome::Ok => "ok",
        CallOutcome::ToolError(_) => "tool error",
        CallOutcome::Error(..) => "error",
        CallOutcome::Timeout => "timeout",
        CallOutcome::Cancelled => "cancelled",
    };
    [&c.session, &c.backend, &c.target, &c.method, outcome]
}

fn log_fields(l: &LogLine) -> [&str; 2] {
    [&l.target, &l.message]
}

impl App {
    /// Options are taken as given (the run loop resolves `NO_COLOR` and the locale first).
    pub fn new(opts: ConsoleOptions) -> App {
        App {
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
            overlay: None,
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

    // --- inputs from the engine ---

    /// Copy a snapshot in (tests and callers holding a borrow).
    pub fn apply_snapshot(&mut self, snapshot: &Snapshot) {
        let _ = self.set_snapshot(std::sync::Arc::new(snapshot.clone()));
    }

    /// Take ownership of a snapshot already cloned out of the `watch` channel. Returns the
    /// previous one so the caller can drop it off the render path (freeing 10,000 tools takes
    /// milliseconds).
    pub fn set_snapshot(
        &mut self,
        snapshot: std::sync::Arc<Snapshot>,
    ) -> Option<std::sync::Arc<Snapshot>> {
        if let Some(old) = &self.snapshot {
            if old.shares != snapshot.shares {
                self.listed_shares = None;
            }
        }
        self.tools_exposed = snapshot.tools.iter().filter(|t| t.filter.exposed()).count();
        let old = self.snapshot.replace(snapshot);
        for p in [Pane::Backends, Pane::Sessions, Pane::Tools, Pane::Shares] {
            self.rebuild_list(p);
        }
        self.dirty = true;
        old
    }

    pub fn apply_event(&mut self, event: &Event) {
        match event {
            Event::Call(c) => {
                let vis = view::matches(&self.needle(Pane::Traffic), &call_fields(c));
                self.traffic.push(c.clone(), vis);
            }
            Event::Log(l) => {
                let vis = l.level >= self.log_level
                    && view::matches(&self.needle(Pane::Logs), &log_fields(l));
                self.logs.push(l.clone(), vis);
            }
            Event::BackendStatus { id, status, error } => {
                if let Some(s) = self.snapshot.as_mut().map(std::sync::Arc::make_mut) {
                    if let Some(b) = s.backends.iter_mut().find(|b| &b.id == id) {
                        b.status = status.clone();
                        if error.is_some() {
                            b.last_error = error.clone();
                        }
                    }
                }
            }
            Event::SessionClosed { id, .. } => {
                if let Some(s) = self.snapshot.as_mut().map(std::sync::Arc::make_mut) {
                    s.sessions.retain(|x| &x.id != id);
                }
                self.rebuild_list(Pane::Sessions);
            }
            Event::SessionOpened { .. } => {}
        }
        self.dirty = true;
    }

    /// The event channel lagged and lost `n` events.
    pub fn note_dropped(&mut self, n: u64) {
        self.dropped += n;
        self.dirty = true;
    }

    pub fn apply_reply(&mut self, reply: Reply) -> Vec<Action> {
        self.dirty = true;
        let Some(kind) = self.pending.remove(&reply.id) else {
            return Vec::new();
        };
        if let Some(Overlay::TryTool(t)) = &mut self.overlay {
            if t.pending == Some(reply.id) {
                t.pending = None;
                t.scroll = 0;
                t.result = Some(match &reply.result {
                    Ok(ReplyValue::Text(s)) => Ok(s.clone()),
                    Ok(other) => Ok(format!("{other:?}")),
                    Err(e) => Err(e.clone()),
                });
            }
        }
        match (&kind, reply.result) {
            (_, Err(e)) => {
                let msg = format!("{} failed: {e}", kind.describe());
                self.console_log(LogLevel::Error, &msg);
                self.set_toast(ToastLevel::Error, msg);
                Vec::new()
            }
            (RequestKind::ListShares, Ok(ReplyValue::Shares(list))) => {
                self.listed_shares = Some(list);
                self.rebuild_list(Pane::Shares);
                Vec::new()
            }
            (RequestKind::CreateShare { .. }, Ok(v)) => {
                let token = match v {
                    ReplyValue::Text(t) => t,
                    _ => String::new(),
                };
                self.set_toast(ToastLevel::Info, format!("share {token} created"));
                vec![self.request(RequestKind::ListShares)]
            }
            (RequestKind::DeleteShare { token }, Ok(_)) => {
                self.set_toast(ToastLevel::Info, format!("share {token} deleted"));
                vec![self.request(RequestKind::ListShares)]
            }
            (RequestKind::CallTool { name, .. }, Ok(_)) => {
                self.set_toast(ToastLevel::Info, format!("{name} returned"));
                Vec::new()
            }
            (k, Ok(_)) => {
                self.set_toast(ToastLevel::Info, format!("{}: done", k.describe()));
                Vec::new()
            }
        }
    }

    /// Advance the clock; expires the feedback line.
    pub fn tick(&mut self, now: SystemTime) {
        self.now = now;
        if self.toast.as_ref().is_some_and(|t| t.until <= now) {
            self.toast = None;
        }
        self.dirty = true;
    }

    // --- helpers ---

    fn console_log(&mut self, level: LogLevel, message: &str) {
        self.apply_event(&Event::Log(LogLine {
            at: self.now,
            level,
            target: "console".to_string(),
            message: message.to_string(),
        }));
    }

    pub fn set_toast(&mut self, level: ToastLevel, text: String) {
        self.toast = Some(Toast {
            level,
            text,
            until: self.now + TOAST_TTL,
        });
        self.dirty = true;
    }

    /// Lowercased filter of a pane.
    pub fn needle(&self, p: Pane) -> String {
        self.filters[p.index()].to_lowercase()
    }

    /// Shares shown: the last listing if any, else the snapshot's.
    pub fn shares(&self) -> &[ShareState] {
        match (&self.listed_shares, &self.snapshot) {
            (Some(l), _) => l,
            (None, Some(s)) => &s.shares,
            (None, None) => &[],
        }
    }

    fn rebuild_list(&mut self, p: Pane) {
        let Some(slot) = list_slot(p) else {
            self.rebuild_stream(p);
            return;
        };
        let needle = self.needle(p);
        let empty: &[ShareState] = &[];
        let shares = match (&self.listed_shares, &self.snapshot) {
            (Some(l), _) => l.as_slice(),
            (None, Some(s)) => s.shares.as_slice(),
            _ => empty,
        };
        let list = &mut self.lists[slot];
        let Some(snap) = &self.snapshot else {
            list.rebuild(0, |_| true, |_| "");
            return;
        };
        match p {
            Pane::Backends => {
                let v = &snap.backends;
                list.rebuild(
                    v.len(),
                    |i| {
                        let b = &v[i];
                        view::matches(
                            &needle,
                            &[&b.id, b.transport.as_str(), b.status.as_str(), &b.target],
                        )
                    },
                    |i| &v[i].id,
                );
            }
            Pane::Sessions => {
                let v = &snap.sessions;
                list.rebuild(
                    v.len(),
                    |i| {
                        let s = &v[i];
                        view::matches(
                            &needle,
                            &[
                                &s.id,
                                s.client.as_deref().unwrap_or(""),
                                &s.remote,
                                s.last_call.as_deref().unwrap_or(""),
                            ],
                        )
                    },
                    |i| &v[i].id,
                );
            }
            Pane::Tools => {
                let v = &snap.tools;
                list.rebuild(
                    v.len(),
                    |i| view::matches(&needle, &[&v[i].name, &v[i].backend]),
                    |i| &v[i].name,
                );
            }
            _ => {
                list.rebuild(
                    shares.len(),
                    |i| {
                        view::matches(
                            &needle,
                            &[&shares[i].token, &shares[i].kind, &shares[i].backend_mode],
                        )
                    },
                    |i| &shares[i].token,
                );
            }
        }
    }

    fn rebuild_stream(&mut self, p: Pane) {
        let needle = self.needle(p);
        if p == Pane::Traffic {
            self.traffic
                .rebuild(|c| view::matches(&needle, &call_fields(c)));
        } else {
            let min = self.log_level;
            self.logs
                .rebuild(|l| l.level >= min && view::matches(&needle, &log_fields(l)));
        }
    }

    fn request(&mut self, kind: RequestKind) -> Action {
        let id = self.next_id;
        self.next_id += 1;
        self.pending.insert(id, kind.clone());
        Action::Send(Request { id, kind })
    }

    fn selected_index(&self, p: Pane) -> Option<usize> {
        list_slot(p).and_then(|s| self.lists[s].selected())
    }

    fn move_cursor(&mut self, p: Pane, to: impl Fn(usize, usize) -> isize) {
        match p {
            Pane::Traffic | Pane::Logs => {
                let s = if p == Pane::Traffic {
                    &mut self.traffic as &mut dyn StreamNav
                } else {
                    &mut self.logs
                };
                s.nav(&to);
            }
            _ => {
                let slot = list_slot(p).unwrap_or(0);
                let empty: &[ShareState] = &[];
                let shares = match (&self.listed_shares, &self.snapshot) {
                    (Some(l), _) => l.as_slice(),
                    (None, Some(s)) => s.shares.as_slice(),
                    _ => empty,
                };
                let list = &mut self.lists[slot];
                let target = to(list.cursor, list.view.len()).max(0) as usize;
                let Some(snap) = &self.snapshot else { return };
                match p {
                    Pane::Backends => {
                        list.move_to(target, |i| snap.backends.get(i).map_or("", |x| &x.id))
                    }
                    Pane::Sessions => {
                        list.move_to(target, |i| snap.sessions.get(i).map_or("", |x| &x.id))
                    }
                    Pane::Tools => {
                        list.move_to(target, |i| snap.tools.get(i).map_or("", |x| &x.name))
                    }
                    _ => list.move_to(target, |i| shares.get(i).map_or("", |x| &x.token)),
                }
            }
        }
    }

    /// Scope whose bindings currently apply.
    pub fn scope(&self) -> Scope {
        match &self.overlay {
            Some(Overlay::Confirm { .. }) => Scope::Confirm,
            Some(Overlay::SharePrompt { .. }) => Scope::Input,
            Some(Overlay::TryTool(_)) => Scope::Editor,
            Some(_) => Scope::Overlay,
            None if self.filter_editing => Scope::Input,
            None => Scope::Pane(self.pane),
        }
    }

    // --- keys ---

    pub fn handle_key(&mut self, ev: KeyEvent) -> Vec<Action> {
        if ev.kind == KeyEventKind::Release {
            return Vec::new();
        }
        self.dirty = true;
        let key = Key::from_event(&ev);
        if key == Key::ctrl('c') {
            return vec![Action::Quit];
        }
        match self.scope() {
            Scope::Confirm => self.key_confirm(key),
            Scope::Input => self.key_input(key, &ev),
            Scope::Editor => self.key_editor(key, &ev),
            Scope::Overlay => {
                self.key_overlay(key);
                Vec::new()
            }
            scope => self.key_main(scope, key),
        }
    }

    fn key_confirm(&mut self, key: Key) -> Vec<Action> {
        let yes = keymap::lookup(Scope::Confirm, key).map(|b| b.action) == Some(KeyAction::Yes);
        let Some(Overlay::Confirm { request, .. }) = self.overlay.take() else {
            return Vec::new();
        };
        // Anything but an explicit yes cancels.
        if yes {
            vec![self.request(request)]
        } else {
            Vec::new()
        }
    }

    fn key_input(&mut self, key: Key, ev: &KeyEvent) -> Vec<Action> {
        let action = keymap::lookup(Scope::Input, key).map(|b| b.action);
        if let Some(Overlay::SharePrompt { input }) = &mut self.overlay {
            match action {
                Some(KeyAction::Submit) => {
                    let name = input.text.trim().to_string();
                    self.overlay = None;
                    let name = (!name.is_empty()).then_some(name);
                    return vec![self.request(RequestKind::CreateShare { name })];
                }
                Some(KeyAction::Cancel) => self.overlay = None,
                _ => {
                    input.edit(ev);
                }
            }
            return Vec::new();
        }
        let p = self.pane;
        match action {
            Some(KeyAction::Submit) => self.filter_editing = false,
            Some(KeyAction::Cancel) => {
                self.filter_editing = false;
                self.filters[p.index()].clear();
                self.rebuild_list(p);
            }
            _ => {
                let mut input = TextInput::new(&self.filters[p.index()]);
                if input.edit(ev) {
                    self.filters[p.index()] = input.text;
                    self.rebuild_list(p);
                }
            }
        }
        Vec::new()
    }

    fn key_editor(&mut self, key: Key, ev: &KeyEvent) -> Vec<Action> {
        let action = keymap::lookup(Scope::Editor, key).map(|b| b.action);
        let Some(Overlay::TryTool(t)) = &mut self.overlay else {
            return Vec::new();
        };
        match action {
            Some(KeyAction::Cancel) => {
                self.overlay = None;
            }
            Some(KeyAction::Send) => {
                if t.pending.is_some() {
                    return Vec::new();
                }
                match parse_arguments(&t.editor.text()) {
                    Ok(arguments) => {
                        t.error = None;
                        t.result = None;
                        let name = t.tool.clone();
                        let action = self.request(RequestKind::CallTool { name, arguments });
                        if let (Some(Overlay::TryTool(t)), Action::Send(r)) =
                            (&mut self.overlay, &action)
                        {
                            t.pending = Some(r.id);
                        }
                        return vec![action];
                    }
                    Err(e) => t.error = Some(e),
                }
            }
            Some(KeyAction::PageUp) => t.scroll = t.scroll.saturating_sub(5),
            Some(KeyAction::PageDown) => t.scroll = t.scroll.saturating_add(5),
            _ => {
                t.editor.edit(ev);
            }
        }
        Vec::new()
    }

    fn key_overlay(&mut self, key: Key) {
        let action = keymap::lookup(Scope::Overlay, key).map(|b| b.action);
        let scroll = match &mut self.overlay {
            Some(Overlay::Help { scroll }) | Some(Overlay::ToolDetail { scroll, .. }) => scroll,
            _ => return,
        };
        match action {
            Some(KeyAction::Close) => self.overlay = None,
            Some(KeyAction::Up) => *scroll = scroll.saturating_sub(1),
            Some(KeyAction::Down) => *scroll = scroll.saturating_add(1),
            Some(KeyAction::PageUp) => *scroll = scroll.saturating_sub(10),
            Some(KeyAction::PageDown) => *scroll = scroll.saturating_add(10),
            _ => {}
        }
    }

    fn key_main(&mut self, scope: Scope, key: Key) -> Vec<Action> {
        let Some(binding) = keymap::lookup(scope, key) else {
            return Vec::new();
        };
        if binding.mutating && self.read_only {
            self.set_toast(
                ToastLevel::Warn,
                format!("read-only: {} is disabled", binding.label),
            );
            return Vec::new();
        }
        self.run_binding(binding)
    }

    fn run_binding(&mut self, binding: &Binding) -> Vec<Action> {
        let p = self.pane;
        let page = self.page.max(1) as isize;
        match binding.action {
            KeyAction::Quit | KeyAction::ForceQuit => return vec![Action::Quit],
            KeyAction::NextPane => self.pane = p.next(),
            KeyAction::PrevPane => self.pane = p.prev(),
            KeyAction::GoPane(to) => self.pane = to,
            KeyAction::Help => self.overlay = Some(Overlay::Help { scroll: 0 }),
            KeyAction::Filter => self.filter_editing = true,
            KeyAction::Cancel => {
                if !self.filters[p.index()].is_empty() {
                    self.filters[p.index()].clear();
                    self.rebuild_list(p);
                }
            }
            KeyAction::Up => self.move_cursor(p, |c, _| c as isize - 1),
            KeyAction::Down => self.move_cursor(p, |c, _| c as isize + 1),
            KeyAction::PageUp => self.move_cursor(p, |c, _| c as isize - page),
            KeyAction::PageDown => self.move_cursor(p, |c, _| c as isize + page),
            KeyAction::Top => self.move_cursor(p, |_, _| isize::MIN),
            KeyAction::Bottom => self.move_cursor(p, |_, _| isize::MAX),
            KeyAction::CopyToken => return self.copy_token(),
            KeyAction::RestartBackend => {
                if let Some(b) = self
                    .selected_index(p)
                    .and_then(|i| self.snapshot.as_ref()?.backends.get(i))
                {
                    self.overlay = Some(Overlay::Confirm {
                        message: format!("Restart backend {}?", b.id),
                        request: RequestKind::RestartBackend { id: b.id.clone() },
                    });
                }
            }
            KeyAction::EndSession => {
                if let Some(s) = self
                    .selected_index(p)
                    .and_then(|i| self.snapshot.as_ref()?.sessions.get(i))
                {
                    let who = s
                        .client
                        .as_deref()
                        .map(|c| format!(" ({c})"))
                        .unwrap_or_default();
                    self.overlay = Some(Overlay::Confirm {
                        message: format!("End session {}{who}?", s.id),
                        request: RequestKind::EndSession { id: s.id.clone() },
                    });
                }
            }
            KeyAction::ToolDetail => {
                if let Some(t) = self.selected_tool() {
                    self.overlay = Some(Overlay::ToolDetail { tool: t, scroll: 0 });
                }
            }
            KeyAction::TryTool => {
                if let Some(i) = self.selected_index(p) {
                    if let Some(t) = self.snapshot.as_ref().and_then(|s| s.tools.get(i)) {
                        self.overlay = Some(Overlay::TryTool(Box::new(TryTool {
                            tool: t.name.clone(),
                            editor: Editor::new(&arguments_template(&t.input_schema)),
                            error: None,
                            pending: None,
                            result: None,
                            scroll: 0,
                        })));
                    }
                }
            }
            KeyAction::CreateShare => {
                self.overlay = Some(Overlay::SharePrompt {
                    input: TextInput::default(),
                })
            }
            KeyAction::DeleteShare => {
                if let Some(s) = self.selected_index(p).and_then(|i| self.shares().get(i)) {
                    if s.kind == "running" {
                        let msg = format!(
                            "share {} is the one this gateway serves; not deleting",
                            s.token
                        );
                        self.set_toast(ToastLevel::Warn, msg);
                    } else {
                        self.overlay = Some(Overlay::Confirm {
                            message: format!("Delete share {}?", s.token),
                            request: RequestKind::DeleteShare {
                                token: s.token.clone(),
                            },
                        });
                    }
                }
            }
            KeyAction::CopyShare => {
                if let Some(s) = self.selected_index(p).and_then(|i| self.shares().get(i)) {
                    let token = s.token.clone();
                    self.set_toast(ToastLevel::Info, format!("copied {token} (OSC 52)"));
                    return vec![Action::Copy(token)];
                }
            }
            KeyAction::RefreshShares => return vec![self.request(RequestKind::ListShares)],
            KeyAction::Freeze => self.traffic.toggle_freeze(),
            KeyAction::CycleLevel => {
                self.log_level = match self.log_level {
                    LogLevel::Trace => LogLevel::Debug,
                    LogLevel::Debug => LogLevel::Info,
                    LogLevel::Info => LogLevel::Warn,
                    LogLevel::Warn => LogLevel::Error,
                    LogLevel::Error => LogLevel::Trace,
                };
                self.rebuild_stream(Pane::Logs);
            }
            KeyAction::Submit
            | KeyAction::Send
            | KeyAction::Yes
            | KeyAction::No
            | KeyAction::Close => {}
        }
        Vec::new()
    }

    /// Ask the engine for the environment's shares.
    pub fn refresh_shares(&mut self) -> Vec<Action> {
        vec![self.request(RequestKind::ListShares)]
    }

    /// Mouse (only when enabled): the wheel moves the selection, a click on a tab focuses it.
    pub fn handle_mouse(&mut self, kind: MouseEventKind, column: u16, row: u16) -> Vec<Action> {
        if let Some(k) = super::wheel_key(kind) {
            return self.handle_key(k);
        }
        if matches!(kind, MouseEventKind::Down(MouseButton::Left)) && self.overlay.is_none() {
            let tabs_row = 3 + u16::from(self.banner.is_some());
            if row == tabs_row {
                let mut x = 1u16;
                for p in Pane::ALL {
                    let w = (p.title().len() + 4) as u16;
                    if column >= x && column < x + w {
                        self.pane = p;
                        self.dirty = true;
                    }
                    x += w + 2;
                }
            }
        }
        Vec::new()
    }

    fn selected_tool(&self) -> Option<String> {
        let i = self.selected_index(Pane::Tools)?;
        Some(self.snapshot.as_ref()?.tools.get(i)?.name.clone())
    }

    fn copy_token(&mut self) -> Vec<Action> {
        let text = match self.snapshot.as_ref().map(|s| &s.gateway.overlay) {
            Some(NetOverlay::Zrok { share_token, .. }) => share_token.clone(),
            Some(NetOverlay::Loopback { mcp_url, .. }) => mcp_url.clone(),
            _ => {
                self.set_toast(
                    ToastLevel::Warn,
                    "nothing to copy yet: not serving".to_string(),
                );
                return Vec::new();
            }
        };
        self.set_toast(ToastLevel::Info, format!("copied {text} (OSC 52)"));
        vec![Action::Copy(text)]
    }
}

/// Parse the editor's text as a JSON object of tool arguments.
pub fn parse_arguments(text: &str) -> Result<Map<String, Value>, String> {
    let text = if text.trim().is_empty() { "{}" } else { text };
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(format!(
            "arguments must be a JSON object, not {}",
            match other {
                Value::Null => "null",
                Value::Bool(_) => "a boolean",
                Value::Number(_) => "a number",
                Value::String(_) => "a string",
                Value::Array(_) => "an array",
                Value::Object(_) => "an object",
            }
        )),
        Err(e) => Err(format!("invalid JSON: {e}")),
    }
}

/// A starting point for the arguments: every property of the schema with a typed placeholder.
pub fn arguments_template(schema: &Value) -> String {
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        return "{}".to_string();
    };
    if props.is_empty() {
        return "{}".to_string();
    }
    let mut map = Map::new();
    for (name, prop) in props {
        let placeholder = match prop.get("type").and_then(Value::as_str) {
            Some("string") => Value::String(String::new()),
            Some("integer") | Some("number") => Value::from(0),
            Some("boolean") => Value::Bool(false),
            Some("array") => Value::Array(Vec::new()),
            Some("object") => Value::Object(Map::new()),
            _ => Value::Null,
        };
        map.insert(name.clone(), placeholder);
    }
    serde_json::to_string_pretty(&Value::Object(map)).unwrap_or_else(|_| "{}".to_string())
}
