//! Pane 6: tracing events from the engine, with a minimum level.

use ratatui::layout::{Constraint, Rect};
use ratatui::text::Span;
use ratatui::widgets::Cell;
use ratatui::Frame;

use super::table::{Column, PaneArea};
use crate::tui::action::Pane;
use crate::tui::app::Console;
use crate::tui::view::{fmt_clock, one_line};

const COLUMNS: [Column; 4] = [
    Column::new("TIME (UTC)", Constraint::Length(12)),
    Column::new("LEVEL", Constraint::Length(5)),
    Column::sized("TARGET", Constraint::Length(18), Constraint::Length(30)),
    Column::new("MESSAGE", Constraint::Fill(1)),
];

pub fn draw(app: &mut Console, frame: &mut Frame, area: Rect) {
    let (level, _) = app.theme.level(app.log_level);
    let extra = format!(
        "level >= {} ({} buffered)",
        level.to_lowercase(),
        app.logs.len()
    );
    let pane = PaneArea::open(app, frame, area, Pane::Logs, &extra, 0);
    let lines = app.logs.window(pane.offset, pane.height);
    pane.table(
        app,
        frame,
        &COLUMNS,
        lines,
        "no log lines at this level",
        |l| {
            let (word, style) = app.theme.level(l.level);
            vec![
                Cell::from(fmt_clock(l.at)),
                Cell::from(Span::styled(word, style)),
                Cell::from(l.target.clone()),
                Cell::from(one_line(&l.message).to_string()),
            ]
        },
    );
}
