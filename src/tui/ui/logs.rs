//! Pane 6: tracing events from the engine, with a minimum level.

use ratatui::layout::{Constraint, Rect};
use ratatui::text::Span;
use ratatui::widgets::{Cell, Row};
use ratatui::Frame;

use super::{draw_rows, pane_block};
use crate::tui::action::Pane;
use crate::tui::app::Console;
use crate::tui::view::{fmt_clock, one_line};

pub fn draw(app: &mut Console, frame: &mut Frame, area: Rect) {
    let (level, _) = app.theme.level(app.log_level);
    let extra = format!(
        "level >= {} ({} buffered)",
        level.to_lowercase(),
        app.logs.len()
    );
    let block = pane_block(app, Pane::Logs, &extra);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let height = inner.height.saturating_sub(1) as usize;
    app.page = height;
    let offset = app.logs.scroll(height);
    let wide = area.width >= 120;
    let app = &*app;
    let t = &app.theme;
    let cursor = app.logs.cursor();
    let end = (offset + height).min(app.logs.visible_len());
    let rows: Vec<Row> = (offset..end)
        .filter_map(|pos| app.logs.item_at(pos))
        .map(|l| {
            let (word, style) = t.level(l.level);
            Row::new(vec![
                Cell::from(fmt_clock(l.at)),
                Cell::from(Span::styled(word, style)),
                Cell::from(l.target.clone()),
                Cell::from(one_line(&l.message).to_string()),
            ])
        })
        .collect();
    let widths = [
        Constraint::Length(12),
        Constraint::Length(5),
        Constraint::Length(if wide { 30 } else { 18 }),
        Constraint::Fill(1),
    ];
    let sel = cursor.and_then(|c| c.checked_sub(offset));
    draw_rows(
        app,
        frame,
        inner,
        &["TIME (UTC)", "LEVEL", "TARGET", "MESSAGE"],
        &widths,
        rows,
        sel,
        "no log lines at this level",
    );
}
