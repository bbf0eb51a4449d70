//! Inputs from the engine: snapshots, events, command replies and the clock.

use std::sync::Arc;
use std::time::SystemTime;

use super::panes::{call_fields, log_fields};
use super::{Console, Modal, ToastLevel};
use crate::core::live::state::{Event, LogLevel, LogLine, Snapshot};
use crate::tui::action::{Action, Pane, RequestKind, Response, ResponseValue};
use crate::tui::view;

impl Console {
    /// Copy a snapshot in (tests and callers holding a borrow).
    pub fn apply_snapshot(&mut self, snapshot: &Snapshot) {
        let _ = self.set_snapshot(Arc::new(snapshot.clone()));
    }

    /// Take ownership of a snapshot already cloned out of the `watch` channel. Returns the
    /// previous one so the caller can drop it off the render path (freeing 10,000 tools takes
    /// milliseconds).
    pub fn set_snapshot(&mut self, snapshot: Arc<Snapshot>) -> Option<Arc<Snapshot>> {
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
                if let Some(s) = self.snapshot.as_mut().map(Arc::make_mut) {
                    if let Some(b) = s.backends.iter_mut().find(|b| &b.id == id) {
                        b.status = status.clone();
                        if error.is_some() {
                            b.last_error = error.clone();
                        }
                    }
                }
            }
            Event::SessionClosed { id, .. } => {
                if let Some(s) = self.snapshot.as_mut().map(Arc::make_mut) {
                    s.sessions.retain(|x| &x.id != id);
                }
                self.rebuild_list(Pane::Sessions);
            }
            Event::SessionOpened { .. } => {}
            Event::Reload { ok, message } => {
                let (level, toast) = if *ok {
                    (LogLevel::Info, ToastLevel::Info)
                } else {
                    (LogLevel::Error, ToastLevel::Error)
                };
                self.set_toast(toast, message.clone());
                self.console_log(level, message);
            }
        }
        self.dirty = true;
    }

    /// The event channel lagged and lost `n` events.
    pub fn note_dropped(&mut self, n: u64) {
        self.dropped += n;
        self.dirty = true;
    }

    pub fn apply_response(&mut self, response: Response) -> Vec<Action> {
        self.dirty = true;
        let Some(kind) = self.pending.remove(&response.id) else {
            return Vec::new();
        };
        if let Some(Modal::TryTool(t)) = &mut self.modal {
            if t.pending == Some(response.id) {
                t.pending = None;
                t.scroll = 0;
                t.result = Some(match &response.result {
                    Ok(ResponseValue::Text(s)) => Ok(s.clone()),
                    Ok(other) => Ok(format!("{other:?}")),
                    Err(e) => Err(e.clone()),
                });
            }
        }
        match (&kind, response.result) {
            (_, Err(e)) => {
                let msg = format!("{} failed: {e}", kind.describe());
                self.console_log(LogLevel::Error, &msg);
                self.set_toast(ToastLevel::Error, msg);
                Vec::new()
            }
            (RequestKind::ListShares, Ok(ResponseValue::Shares(list))) => {
                self.listed_shares = Some(list);
                self.rebuild_list(Pane::Shares);
                Vec::new()
            }
            (RequestKind::CreateShare { .. }, Ok(v)) => {
                let token = match v {
                    ResponseValue::Text(t) => t,
                    _ => String::new(),
                };
                self.set_toast(ToastLevel::Info, format!("share {token} created"));
                vec![self.request(RequestKind::ListShares)]
            }
            (RequestKind::DeleteShare { token }, Ok(_)) => {
                self.set_toast(ToastLevel::Info, format!("share {token} deleted"));
                vec![self.request(RequestKind::ListShares)]
            }
            // The reload's outcome arrives as an event (with what changed).
            (RequestKind::ReloadConfig, Ok(_)) => Vec::new(),
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

    /// A line of the console's own in the Logs pane.
    fn console_log(&mut self, level: LogLevel, message: &str) {
        self.apply_event(&Event::Log(LogLine {
            at: self.now,
            level,
            target: "console".to_string(),
            message: message.to_string(),
        }));
    }
}
