//! Pane 1: backends with health, tool counts, traffic and latency.

use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Wrap};
use ratatui::Frame;

use super::table::{badge, right, Column, PaneArea};
use crate::tui::action::Pane;
use crate::tui::app::Console;
use crate::tui::view::{fmt_latency, fmt_opt_latency, one_line};

const COLUMNS: [Column; 11] = [
    Column::sized("ID", Constraint::Min(10), Constraint::Length(20)),
    Column::new("TRANSPORT", Constraint::Length(9)),
    Column::new("STATUS", Constraint::Length(11)),
    Column::new("TOOLS", Constraint::Length(7)),
    Column::new("SESS", Constraint::Length(5)),
    Column::new("CALLS", Constraint::Length(7)),
    Column::new("ERRS", Constraint::Length(5)),
    Column::wide("RST", Constraint::Length(4)),
    Column::new("P50", Constraint::Length(7)),
    Column::new("P95", Constraint::Length(7)),
    Column::wide("LAST ERROR", Constraint::Fill(1)),
];

pub fn draw(app: &mut Console, frame: &mut Frame, area: Rect) {
    let pane = PaneArea::open(app, frame, area, Pane::Backends, "", 2);
    let Some(snap) = &app.snapshot else { return };
    let (t, list) = (&app.theme, &app.lists[0]);
    let backends = list.window(&snap.backends, pane.offset, pane.height);
    pane.table(
        app,
        frame,
        &COLUMNS,
        backends,
        "no backends configured",
        |b| {
            let last_error = b.last_error.as_deref().map(one_line).unwrap_or("");
            vec![
                Cell::from(b.id.clone()),
                Cell::from(b.transport.as_str()),
                badge(t.backend_status(&b.status)),
                Cell::from(format!("{}/{}", b.tools_exposed, b.tools_total)),
                right(b.sessions.to_string()),
                right(b.calls.to_string()),
                right(b.errors.to_string()),
                right(b.restarts.to_string()),
                right(fmt_opt_latency(b.latency.p50)),
                right(fmt_opt_latency(b.latency.p95)),
                Cell::from(Span::styled(last_error.to_string(), t.warn())),
            ]
        },
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
        let mut health = format!(
            "health: last ping {}{}restarts {}",
            b.last_ping.map_or("-".to_string(), fmt_latency),
            t.sep(),
            b.restarts
        );
        if b.restarting > 0 {
            health.push_str(&format!(
                "{}restarting in {} sessions",
                t.sep(),
                b.restarting
            ));
        }
        if b.failed_sessions > 0 {
            health.push_str(&format!(
                "{}given up in {} sessions",
                t.sep(),
                b.failed_sessions
            ));
        }
        let mut lines = vec![Line::from(text), Line::from(health)];
        if let Some(e) = &b.last_error {
            lines.push(Line::from(vec![
                Span::styled("last error: ", t.warn()),
                Span::raw(one_line(e).to_string()),
            ]));
        }
        let detail = Paragraph::new(lines).wrap(Wrap { trim: true });
        frame.render_widget(detail, pane.detail);
    }
}
