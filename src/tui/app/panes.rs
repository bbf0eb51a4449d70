//! The pane model: each list pane's filtered view and key-tracked selection over the snapshot,
//! the two stream panes' filters, and cursor movement.

use std::sync::Arc;

use super::Console;
use crate::core::live::state::{
    BackendState, CallEvent, CallOutcome, LogLine, SessionState, ShareState, Snapshot, ToolState,
};
use crate::tui::action::Pane;
use crate::tui::view;

/// Index into `Console::lists` of a list pane; `None` for the stream panes.
fn list_slot(p: Pane) -> Option<usize> {
    match p {
        Pane::Backends => Some(0),
        Pane::Sessions => Some(1),
        Pane::Tools => Some(2),
        Pane::Shares => Some(3),
        Pane::Traffic | Pane::Logs => None,
    }
}

/// The fields of a call the Traffic filter searches.
pub(super) fn call_fields(c: &CallEvent) -> [&str; 6] {
    let outcome = match c.outcome {
        CallOutcome::Ok => "ok",
        CallOutcome::ToolError(_) => "tool error",
        CallOutcome::Error(..) => "error",
        CallOutcome::Timeout => "timeout",
        CallOutcome::Cancelled => "cancelled",
        CallOutcome::Denied(_) => "denied",
    };
    [
        &c.session, &c.caller, &c.backend, &c.target, &c.method, outcome,
    ]
}

/// The fields of a log line the Logs filter searches.
pub(super) fn log_fields(l: &LogLine) -> [&str; 2] {
    [&l.target, &l.message]
}

/// The items behind a list pane.
enum Items<'a> {
    Backends(&'a [BackendState]),
    Sessions(&'a [SessionState]),
    Tools(&'a [ToolState]),
    Shares(&'a [ShareState]),
}

impl<'a> Items<'a> {
    /// The items of list pane `p` (shares: the last listing if any, else the snapshot's);
    /// `None` before the first snapshot and for the stream panes.
    fn of(
        p: Pane,
        snapshot: &'a Option<Arc<Snapshot>>,
        listed_shares: &'a Option<Vec<ShareState>>,
    ) -> Option<Items<'a>> {
        let snap = snapshot.as_ref()?;
        Some(match p {
            Pane::Backends => Items::Backends(&snap.backends),
            Pane::Sessions => Items::Sessions(&snap.sessions),
            Pane::Tools => Items::Tools(&snap.tools),
            Pane::Shares => Items::Shares(listed_shares.as_deref().unwrap_or(&snap.shares)),
            Pane::Traffic | Pane::Logs => return None,
        })
    }

    fn len(&self) -> usize {
        match self {
            Items::Backends(v) => v.len(),
            Items::Sessions(v) => v.len(),
            Items::Tools(v) => v.len(),
            Items::Shares(v) => v.len(),
        }
    }

    /// The key the selection follows: backend id, session id, tool name or share token.
    fn key(&self, i: usize) -> &'a str {
        match self {
            Items::Backends(v) => v.get(i).map_or("", |x| &x.id),
            Items::Sessions(v) => v.get(i).map_or("", |x| &x.id),
            Items::Tools(v) => v.get(i).map_or("", |x| &x.name),
            Items::Shares(v) => v.get(i).map_or("", |x| &x.token),
        }
    }

    /// Whether item `i` (in range) passes the lowercased filter `needle`.
    fn matches(&self, i: usize, needle: &str) -> bool {
        match self {
            Items::Backends(v) => {
                let b = &v[i];
                view::matches(
                    needle,
                    &[&b.id, b.transport.as_str(), b.status.as_str(), &b.target],
                )
            }
            Items::Sessions(v) => {
                let s = &v[i];
                view::matches(
                    needle,
                    &[
                        &s.id,
                        s.client.as_deref().unwrap_or(""),
                        &s.remote,
                        s.last_call.as_deref().unwrap_or(""),
                    ],
                )
            }
            Items::Tools(v) => view::matches(needle, &[&v[i].name, &v[i].backend]),
            Items::Shares(v) => {
                let s = &v[i];
                view::matches(needle, &[&s.token, &s.kind, &s.backend_mode])
            }
        }
    }
}

impl Console {
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

    /// Recompute a pane's filtered view (after a snapshot or a filter change).
    pub(super) fn rebuild_list(&mut self, p: Pane) {
        let Some(slot) = list_slot(p) else {
            self.rebuild_stream(p);
            return;
        };
        let needle = self.needle(p);
        let list = &mut self.lists[slot];
        match Items::of(p, &self.snapshot, &self.listed_shares) {
            Some(items) => {
                list.rebuild(items.len(), |i| items.matches(i, &needle), |i| items.key(i))
            }
            None => list.rebuild(0, |_| true, |_| ""),
        }
    }

    pub(super) fn rebuild_stream(&mut self, p: Pane) {
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

    pub(super) fn selected_index(&self, p: Pane) -> Option<usize> {
        list_slot(p).and_then(|s| self.lists[s].selected())
    }

    pub(super) fn selected_tool(&self) -> Option<String> {
        let i = self.selected_index(Pane::Tools)?;
        Some(self.snapshot.as_ref()?.tools.get(i)?.name.clone())
    }

    /// Scroll pane `p` so its cursor shows in `height` rows (which PgUp/PgDn then move by);
    /// returns the first visible row.
    pub(crate) fn scroll_pane(&mut self, p: Pane, height: usize) -> usize {
        self.page = height;
        match list_slot(p) {
            Some(slot) => self.lists[slot].scroll(height),
            None if p == Pane::Traffic => self.traffic.scroll(height),
            None => self.logs.scroll(height),
        }
    }

    /// Position of pane `p`'s cursor among its rows.
    pub(crate) fn cursor_row(&self, p: Pane) -> Option<usize> {
        match list_slot(p) {
            Some(slot) => Some(self.lists[slot].cursor),
            None if p == Pane::Traffic => self.traffic.cursor(),
            None => self.logs.cursor(),
        }
    }

    /// Move a pane's cursor to `to(cursor, rows)`.
    pub(super) fn move_cursor(&mut self, p: Pane, to: impl Fn(usize, usize) -> isize) {
        let Some(slot) = list_slot(p) else {
            if p == Pane::Traffic {
                self.traffic.nav(&to);
            } else {
                self.logs.nav(&to);
            }
            return;
        };
        let list = &mut self.lists[slot];
        let target = to(list.cursor, list.view.len()).max(0) as usize;
        if let Some(items) = Items::of(p, &self.snapshot, &self.listed_shares) {
            list.move_to(target, |i| items.key(i));
        }
    }
}
