//! Pane 5: live stream of calls through the gateway, freezable.

use ratatui::layout::{Constraint, Rect};
use ratatui::widgets::Cell;
use ratatui::Frame;

use super::table::{badge, right, Column, PaneArea};
use crate::tui::action::Pane;
use crate::tui::app::Console;
use crate::tui::view::{fmt_clock, fmt_latency};

const COLUMNS: [Column; 8] = [
    Column::new("TIME (UTC)", Constraint::Length(12)),
    Column::sized("SESSION", Constraint::Length(10), Constraint::Length(16)),
    Column::sized("CALLER", Constraint::Length(8), Constraint::Length(24)),
    Column::new("TOOL", Constraint::Fill(2)),
    Column::wide("METHOD", Constraint::Length(14)),
    // Which way the call went: `fast` (a raw frame) or `rmcp` (decoded by the rmcp service).
    Column::wide("PATH", Constraint::Length(4)),
    Column::new("DURATION", Constraint::Length(8)),
    Column::new("OUTCOME", Constraint::Fill(1)),
];

pub fn draw(app: &mut Console, frame: &mut Frame, area: Rect) {
    let mut extra = format!("{} buffered", app.traffic.len());
    if app.traffic.frozen() {
        extra.push_str(&format!(", FROZEN ({} new)", app.traffic.missed()));
    } else if app.traffic.follow {
        extra.push_str(", following");
    }
    let pane = PaneArea::open(app, frame, area, Pane::Traffic, &extra, 0);
    let calls = app.traffic.window(pane.offset, pane.height);
    pane.table(app, frame, &COLUMNS, calls, "no calls yet", |c| {
        vec![
            Cell::from(fmt_clock(c.at)),
            Cell::from(c.session.clone()),
            Cell::from(c.caller.clone()),
            Cell::from(c.target.clone()),
            Cell::from(c.method.clone()),
            Cell::from(c.path.as_str()),
            right(fmt_latency(c.duration)),
            badge(app.theme.outcome(&c.outcome)),
        ]
    });
}
