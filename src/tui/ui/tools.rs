//! Pane 3: the namespaced tool catalogue with filter verdicts and per-tool stats.

use ratatui::layout::{Constraint, Rect};
use ratatui::text::Span;
use ratatui::widgets::{Cell, Paragraph};
use ratatui::Frame;

use super::table::{badge, right, Column, PaneArea};
use crate::tui::action::Pane;
use crate::tui::app::Console;
use crate::tui::view::{fmt_opt_latency, one_line};

const COLUMNS: [Column; 7] = [
    Column::new("NAME", Constraint::Fill(2)),
    Column::new("BACKEND", Constraint::Length(10)),
    Column::new("FILTER", Constraint::Fill(2)),
    Column::new("CALLS", Constraint::Length(6)),
    Column::new("ERRS", Constraint::Length(5)),
    Column::new("P50", Constraint::Length(7)),
    Column::wide("P95", Constraint::Length(7)),
];

pub fn draw(app: &mut Console, frame: &mut Frame, area: Rect) {
    let count = app.lists[2].view.len();
    let total = app.snapshot.as_ref().map(|s| s.tools.len()).unwrap_or(0);
    let exposed = app.tools_exposed;
    let extra = format!("{count} shown, {exposed}/{total} exposed");
    let pane = PaneArea::open(app, frame, area, Pane::Tools, &extra, 1);
    let Some(snap) = &app.snapshot else { return };
    let (t, list) = (&app.theme, &app.lists[2]);
    let tools = list.window(&snap.tools, pane.offset, pane.height);
    pane.table(app, frame, &COLUMNS, tools, "no tools", |tool| {
        vec![
            Cell::from(tool.name.clone()),
            Cell::from(tool.backend.clone()),
            badge(t.filter(&tool.filter)),
            right(tool.calls.to_string()),
            right(tool.errors.to_string()),
            right(fmt_opt_latency(tool.latency.p50)),
            right(fmt_opt_latency(tool.latency.p95)),
        ]
    });
    if let Some(tool) = list.selected().and_then(|i| snap.tools.get(i)) {
        let d = tool
            .description
            .as_deref()
            .map(one_line)
            .unwrap_or("(no description)");
        let detail = Paragraph::new(Span::styled(d.to_string(), t.dim()));
        frame.render_widget(detail, pane.detail);
    }
}
