//! Pane 4: this environment's zrok shares (persistent ones and the running one).

use ratatui::layout::{Constraint, Rect};
use ratatui::widgets::{Cell, Row};
use ratatui::Frame;

use super::{draw_rows, pane_block};
use crate::core::state::Overlay;
use crate::tui::action::Pane;
use crate::tui::app::Console;
use crate::tui::view::fmt_date;

pub fn draw(app: &mut Console, frame: &mut Frame, area: Rect) {
    let running = match app.snapshot.as_ref().map(|s| &s.gateway.overlay) {
        Some(Overlay::Zrok { share_token, .. }) => format!("(serving {share_token})"),
        _ => "(not serving on zrok)".to_string(),
    };
    let block = pane_block(app, Pane::Shares, &running);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let height = inner.height.saturating_sub(1) as usize;
    app.page = height;
    let offset = app.lists[3].scroll(height);
    let app = &*app;
    let list = &app.lists[3];
    let shares = app.shares();
    let rows: Vec<Row> = list
        .view
        .iter()
        .skip(offset)
        .take(height)
        .filter_map(|i| shares.get(*i))
        .map(|s| {
            let style = if s.kind == "running" {
                app.theme.ok()
            } else {
                Default::default()
            };
            Row::new(vec![
                Cell::from(s.token.clone()),
                Cell::from(s.kind.clone()),
                Cell::from(s.backend_mode.clone()),
                Cell::from(
                    s.created_at
                        .map(fmt_date)
                        .unwrap_or_else(|| "-".to_string()),
                ),
            ])
            .style(style)
        })
        .collect();
    let widths = [
        Constraint::Fill(1),
        Constraint::Length(11),
        Constraint::Length(12),
        Constraint::Length(17),
    ];
    let sel = list.cursor.checked_sub(offset);
    draw_rows(
        app,
        frame,
        inner,
        &["TOKEN", "KIND", "MODE", "CREATED (UTC)"],
        &widths,
        rows,
        sel,
        "no shares (R refresh, n new)",
    );
}
