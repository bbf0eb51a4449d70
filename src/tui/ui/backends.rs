//! Pane 1: backends with health, tool counts, traffic and latency.

use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Wrap};
use ratatui::Frame;

use super::{draw_rows, pane_block, split_detail};
use crate::tui::action::Pane;
use crate::tui::app::Console;
use crate::tui::view::{fmt_opt_latency, one_line};

pub fn draw(app: &mut Console, frame: &mut Frame, area: Rect) {
    let block = pane_block(app, Pane::Backends, "");
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let (table, detail) = split_detail(inner, 2);
    let height = table.height.saturating_sub(1) as usize;
    app.page = height;
    let offset = app.lists[0].scroll(height);
    let wide = area.width >= 120;
    let app = &*app;
    let t = &app.theme;
    let list = &app.lists[0];
    let Some(snap) = &app.snapshot else { return };
    let rows: Vec<Row> = list
        .view
        .iter()
        .skip(offset)
        .take(height)
        .filter_map(|i| snap.backends.get(*i))
        .map(|b| {
            let (glyph, word, style) = t.backend_status(&b.status);
            let mut cells = vec![
                Cell::from(b.id.clone()),
                Cell::from(b.transport.as_str()),
                Cell::from(Span::styled(format!("{glyph} {word}"), style)),
                Cell::from(format!("{}/{}", b.tools_exposed, b.tools_total)),
                Cell::from(Line::from(b.sessions.to_string()).right_aligned()),
                Cell::from(Line::from(b.calls.to_string()).right_aligned()),
                Cell::from(Line::from(b.errors.to_string()).right_aligned()),
                Cell::from(Line::from(fmt_opt_latency(b.latency.p50)).right_aligned()),
                Cell::from(Line::from(fmt_opt_latency(b.latency.p95)).right_aligned()),
            ];
            if wide {
                let e = b.last_error.as_deref().map(one_line).unwrap_or("");
                cells.push(Cell::from(Span::styled(e.to_string(), t.warn())));
            }
            Row::new(cells)
        })
        .collect();
    let mut header = vec![
        "ID",
        "TRANSPORT",
        "STATUS",
        "TOOLS",
        "SESS",
        "CALLS",
        "ERRS",
        "P50",
        "P95",
    ];
    let mut widths = vec![
        Constraint::Min(10),
        Constraint::Length(9),
        Constraint::Length(11),
        Constraint::Length(7),
        Constraint::Length(5),
        Constraint::Length(7),
        Constraint::Length(5),
        Constraint::Length(7),
        Constraint::Length(7),
    ];
    if wide {
        header.push("LAST ERROR");
        widths[0] = Constraint::Length(20);
        widths.push(Constraint::Fill(1));
    }
    let sel = list.cursor.checked_sub(offset);
    draw_rows(
        app,
        frame,
        table,
        &header,
        &widths,
        rows,
        sel,
        "no backends configured",
    );
    if let Some(b) = list.selected().and_then(|i| snap.backends.get(i)) {
        let mut text = format!("target: {}", b.target);
        if let Some(si) = &b.server_info {
            text.push_str(&format!("{}server: {si}", t.sep()));
        }
        if let Some(pv) = &b.protocol_version {
            text.push_str(&format!("{}protocol {pv}", t.sep()));
        }
        text.push_str(&format!(
            "{}resources {} prompts {}",
            t.sep(),
            b.resources,
            b.prompts
        ));
        let mut lines = vec![Line::from(text)];
        if let Some(e) = &b.last_error {
            lines.push(Line::from(vec![
                Span::styled("last error: ", t.warn()),
                Span::raw(one_line(e).to_string()),
            ]));
        }
        frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), detail);
    }
}
