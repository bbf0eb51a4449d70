//! Pane 2: client sessions.

use ratatui::layout::{Constraint, Rect};
use ratatui::widgets::{Cell, Paragraph};
use ratatui::Frame;

use super::table::{right, Column, PaneArea};
use crate::tui::action::Pane;
use crate::tui::app::Console;
use crate::tui::view::{fmt_span, since};

const COLUMNS: [Column; 8] = [
    Column::sized("ID", Constraint::Length(10), Constraint::Length(16)),
    Column::sized("CLIENT", Constraint::Length(16), Constraint::Length(24)),
    Column::sized("CALLER", Constraint::Length(15), Constraint::Length(22)),
    Column::sized("AGE", Constraint::Length(6), Constraint::Length(7)),
    Column::sized("CALLS", Constraint::Length(6), Constraint::Length(7)),
    Column::wide("ERRS", Constraint::Length(5)),
    Column::wide("TRANSPORT", Constraint::Length(10)),
    Column::new("LAST CALL", Constraint::Fill(1)),
];

pub fn draw(app: &mut Console, frame: &mut Frame, area: Rect) {
    let pane = PaneArea::open(app, frame, area, Pane::Sessions, "", 1);
    let Some(snap) = &app.snapshot else { return };
    let list = &app.lists[1];
    let sessions = list.window(&snap.sessions, pane.offset, pane.height);
    pane.table(app, frame, &COLUMNS, sessions, "no client sessions", |s| {
        let last = match &s.last_call {
            Some(c) => format!("{c} ({} ago)", fmt_span(since(app.now, s.last_activity))),
            None => "-".to_string(),
        };
        vec![
            Cell::from(s.id.clone()),
            Cell::from(s.client.clone().unwrap_or_else(|| "?".to_string())),
            Cell::from(s.caller.clone()),
            right(fmt_span(since(app.now, s.opened_at))),
            right(s.calls.to_string()),
            right(s.errors.to_string()),
            Cell::from(s.transport.clone()),
            Cell::from(last),
        ]
    });
    if let Some(s) = list.selected().and_then(|i| snap.sessions.get(i)) {
        let sep = app.theme.sep();
        let text = format!(
            "session {}{sep}{} ({}){sep}transport {}{sep}protocol {}{sep}errors {}",
            s.id,
            s.caller,
            s.remote,
            s.transport,
            s.protocol_version.as_deref().unwrap_or("?"),
            s.errors
        );
        frame.render_widget(Paragraph::new(text), pane.detail);
    }
}
