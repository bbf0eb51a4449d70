//! Pane 3: the namespaced tool catalogue with filter verdicts and per-tool stats.

use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row};
use ratatui::Frame;

use super::{draw_rows, pane_block, split_detail};
use crate::tui::action::Pane;
use crate::tui::app::Console;
use crate::tui::view::{fmt_opt_latency, one_line};

pub fn draw(app: &mut Console, frame: &mut Frame, area: Rect) {
    let count = app.lists[2].view.len();
    let total = app.snapshot.as_ref().map(|s| s.tools.len()).unwrap_or(0);
    let exposed = app.tools_exposed;
    let extra = format!("{count} shown, {exposed}/{total} exposed");
    let block = pane_block(app, Pane::Tools, &extra);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let (table, detail) = split_detail(inner, 1);
    let height = table.height.saturating_sub(1) as usize;
    app.page = height;
    let offset = app.lists[2].scroll(height);
    let wide = area.width >= 120;
    let app = &*app;
    let t = &app.theme;
    let list = &app.lists[2];
    let Some(snap) = &app.snapshot else { return };
    let rows: Vec<Row> = list
        .view
        .iter()
        .skip(offset)
        .take(height)
        .filter_map(|i| snap.tools.get(*i))
        .map(|tool| {
            let (glyph, word, style) = t.filter(&tool.filter);
            let mut cells = vec![
                Cell::from(tool.name.clone()),
                Cell::from(tool.backend.clone()),
                Cell::from(Span::styled(format!("{glyph} {word}"), style)),
                Cell::from(Line::from(tool.calls.to_string()).right_aligned()),
                Cell::from(Line::from(tool.errors.to_string()).right_aligned()),
                Cell::from(Line::from(fmt_opt_latency(tool.latency.p50)).right_aligned()),
            ];
            if wide {
                cells.push(Cell::from(
                    Line::from(fmt_opt_latency(tool.latency.p95)).right_aligned(),
                ));
            }
            Row::new(cells)
        })
        .collect();
    let mut header = vec!["NAME", "BACKEND", "FILTER", "CALLS", "ERRS", "P50"];
    let mut widths = vec![
        Constraint::Fill(2),
        Constraint::Length(10),
        Constraint::Fill(2),
        Constraint::Length(6),
        Constraint::Length(5),
        Constraint::Length(7),
    ];
    if wide {
        header.push("P95");
        widths.push(Constraint::Length(7));
    }
    let sel = list.cursor.checked_sub(offset);
    draw_rows(app, frame, table, &header, &widths, rows, sel, "no tools");
    if let Some(tool) = list.selected().and_then(|i| snap.tools.get(i)) {
        let d = tool
            .description
            .as_deref()
            .map(one_line)
            .unwrap_or("(no description)");
        frame.render_widget(Paragraph::new(Span::styled(d.to_string(), t.dim())), detail);
    }
}
