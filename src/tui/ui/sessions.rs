//! Pane 2: client sessions.

use ratatui::layout::{Constraint, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Cell, Paragraph, Row};
use ratatui::Frame;

use super::{draw_rows, pane_block, split_detail};
use crate::tui::action::Pane;
use crate::tui::app::Console;
use crate::tui::view::{fmt_span, since};

pub fn draw(app: &mut Console, frame: &mut Frame, area: Rect) {
    let block = pane_block(app, Pane::Sessions, "");
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let (table, detail) = split_detail(inner, 1);
    let height = table.height.saturating_sub(1) as usize;
    app.page = height;
    let offset = app.lists[1].scroll(height);
    let wide = area.width >= 120;
    let app = &*app;
    let t = &app.theme;
    let list = &app.lists[1];
    let Some(snap) = &app.snapshot else { return };
    let rows: Vec<Row> = list
        .view
        .iter()
        .skip(offset)
        .take(height)
        .filter_map(|i| snap.sessions.get(*i))
        .map(|s| {
            let last = match &s.last_call {
                Some(c) => format!("{c} ({} ago)", fmt_span(since(app.now, s.last_activity))),
                None => "-".to_string(),
            };
            let mut cells = vec![
                Cell::from(s.id.clone()),
                Cell::from(s.client.clone().unwrap_or_else(|| "?".to_string())),
                Cell::from(s.remote.clone()),
                Cell::from(Line::from(fmt_span(since(app.now, s.opened_at))).right_aligned()),
                Cell::from(Line::from(s.calls.to_string()).right_aligned()),
            ];
            if wide {
                cells.push(Cell::from(Line::from(s.errors.to_string()).right_aligned()));
                cells.push(Cell::from(s.transport.clone()));
            }
            cells.push(Cell::from(last));
            Row::new(cells)
        })
        .collect();
    let (header, widths): (Vec<&str>, Vec<Constraint>) = if wide {
        (
            vec![
                "ID",
                "CLIENT",
                "REMOTE",
                "AGE",
                "CALLS",
                "ERRS",
                "TRANSPORT",
                "LAST CALL",
            ],
            vec![
                Constraint::Length(16),
                Constraint::Length(24),
                Constraint::Length(22),
                Constraint::Length(7),
                Constraint::Length(7),
                Constraint::Length(5),
                Constraint::Length(10),
                Constraint::Fill(1),
            ],
        )
    } else {
        (
            vec!["ID", "CLIENT", "REMOTE", "AGE", "CALLS", "LAST CALL"],
            vec![
                Constraint::Length(10),
                Constraint::Length(16),
                Constraint::Length(15),
                Constraint::Length(6),
                Constraint::Length(6),
                Constraint::Fill(1),
            ],
        )
    };
    let sel = list.cursor.checked_sub(offset);
    draw_rows(
        app,
        frame,
        table,
        &header,
        &widths,
        rows,
        sel,
        "no client sessions",
    );
    if let Some(s) = list.selected().and_then(|i| snap.sessions.get(i)) {
        let text = format!(
            "session {}{}transport {}{}protocol {}{}errors {}",
            s.id,
            t.sep(),
            s.transport,
            t.sep(),
            s.protocol_version.as_deref().unwrap_or("?"),
            t.sep(),
            s.errors
        );
        frame.render_widget(Paragraph::new(text), detail);
    }
}
