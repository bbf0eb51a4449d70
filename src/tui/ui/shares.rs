//! Pane 4: this environment's zrok shares (persistent ones and the running one).

use ratatui::layout::{Constraint, Rect};
use ratatui::widgets::Cell;
use ratatui::Frame;

use super::table::{Column, PaneArea, TableRow};
use crate::core::live::state::Serving;
use crate::tui::action::Pane;
use crate::tui::app::Console;
use crate::tui::view::fmt_date;

const COLUMNS: [Column; 4] = [
    Column::new("TOKEN", Constraint::Fill(1)),
    Column::new("KIND", Constraint::Length(11)),
    Column::new("MODE", Constraint::Length(12)),
    Column::new("CREATED (UTC)", Constraint::Length(17)),
];

pub fn draw(app: &mut Console, frame: &mut Frame, area: Rect) {
    let running = match app.snapshot.as_ref().map(|s| &s.gateway.serving) {
        Some(Serving::Zrok { share_token, .. }) => format!("(serving {share_token})"),
        _ => "(not serving on zrok)".to_string(),
    };
    let pane = PaneArea::open(app, frame, area, Pane::Shares, &running, 0);
    let shares = app.lists[3].window(app.shares(), pane.offset, pane.height);
    pane.table(
        app,
        frame,
        &COLUMNS,
        shares,
        "no shares (R refresh, n new)",
        |s| {
            let created = s.created_at.map(fmt_date);
            let row = TableRow::from(vec![
                Cell::from(s.token.clone()),
                Cell::from(s.kind.clone()),
                Cell::from(s.backend_mode.clone()),
                Cell::from(created.unwrap_or_else(|| "-".to_string())),
            ]);
            if s.kind == "running" {
                row.style(app.theme.ok())
            } else {
                row
            }
        },
    );
}
