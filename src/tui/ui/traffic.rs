//! Pane 5: live stream of calls through the gateway, freezable.

use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Row};
use ratatui::Frame;

use super::{draw_rows, pane_block};
use crate::tui::action::Pane;
use crate::tui::app::Console;
use crate::tui::view::{fmt_clock, fmt_latency};

pub fn draw(app: &mut Console, frame: &mut Frame, area: Rect) {
    let mut extra = format!("{} buffered", app.traffic.len());
    if app.traffic.frozen() {
        extra.push_str(&format!(", FROZEN ({} new)", app.traffic.missed()));
    } else if app.traffic.follow {
        extra.push_str(", following");
    }
    let block = pane_block(app, Pane::Traffic, &extra);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let height = inner.height.saturating_sub(1) as usize;
    app.page = height;
    let offset = app.traffic.scroll(height);
    let wide = area.width >= 120;
    let app = &*app;
    let t = &app.theme;
    let cursor = app.traffic.cursor();
    let end = (offset + height).min(app.traffic.visible_len());
    let rows: Vec<Row> = (offset..end)
        .filter_map(|pos| app.traffic.item_at(pos))
        .map(|c| {
            let (glyph, word, style) = t.outcome(&c.outcome);
            let mut cells = vec![
                Cell::from(fmt_clock(c.at)),
                Cell::from(c.session.clone()),
                Cell::from(c.target.clone()),
            ];
            if wide {
                cells.push(Cell::from(c.method.clone()));
            }
            cells.push(Cell::from(
                Line::from(fmt_latency(c.duration)).right_aligned(),
            ));
            cells.push(Cell::from(Span::styled(format!("{glyph} {word}"), style)));
            Row::new(cells)
        })
        .collect();
    let (header, widths): (Vec<&str>, Vec<Constraint>) = if wide {
        (
            vec![
                "TIME (UTC)",
                "SESSION",
                "TOOL",
                "METHOD",
                "DURATION",
                "OUTCOME",
            ],
            vec![
                Constraint::Length(12),
                Constraint::Length(16),
                Constraint::Fill(2),
                Constraint::Length(14),
                Constraint::Length(8),
                Constraint::Fill(1),
            ],
        )
    } else {
        (
            vec!["TIME (UTC)", "SESSION", "TOOL", "DURATION", "OUTCOME"],
            vec![
                Constraint::Length(12),
                Constraint::Length(10),
                Constraint::Fill(2),
                Constraint::Length(8),
                Constraint::Fill(1),
            ],
        )
    };
    let sel = cursor.and_then(|c| c.checked_sub(offset));
    draw_rows(
        app,
        frame,
        inner,
        &header,
        &widths,
        rows,
        sel,
        "no calls yet",
    );
}
