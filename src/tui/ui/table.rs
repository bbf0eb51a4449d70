//! The table every pane draws: column specs (some only on wide terminals), one row function,
//! the visible window of the pane's list or stream, the selection and an empty-list message.

use std::fmt::Display;

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Paragraph, Row, Table};
use ratatui::Frame;

use crate::tui::action::Pane;
use crate::tui::app::Console;

/// From this many terminal columns on, panes show their secondary columns.
const WIDE: u16 = 120;

/// A table column: its header, and its width on narrow and on wide terminals (`None`: hidden).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Column {
    header: &'static str,
    narrow: Option<Constraint>,
    wide: Option<Constraint>,
}

impl Column {
    /// Shown everywhere, with one width.
    pub(crate) const fn new(header: &'static str, width: Constraint) -> Column {
        Column::sized(header, width, width)
    }

    /// Shown everywhere, wider on wide terminals.
    pub(crate) const fn sized(
        header: &'static str,
        narrow: Constraint,
        wide: Constraint,
    ) -> Column {
        Column {
            header,
            narrow: Some(narrow),
            wide: Some(wide),
        }
    }

    /// Shown on wide terminals only.
    pub(crate) const fn wide(header: &'static str, width: Constraint) -> Column {
        Column {
            header,
            narrow: None,
            wide: Some(width),
        }
    }

    fn width(&self, wide: bool) -> Option<Constraint> {
        if wide {
            self.wide
        } else {
            self.narrow
        }
    }
}

/// One row: a cell per column of the spec (hidden columns included; they are dropped) and the
/// row's style.
pub(crate) struct TableRow<'a> {
    cells: Vec<Cell<'a>>,
    style: Style,
}

impl<'a> TableRow<'a> {
    pub(crate) fn style(mut self, style: Style) -> Self {
        self.style = style;
        self
    }
}

impl<'a> From<Vec<Cell<'a>>> for TableRow<'a> {
    fn from(cells: Vec<Cell<'a>>) -> Self {
        TableRow {
            cells,
            style: Style::default(),
        }
    }
}

/// A right-aligned cell (counts, latencies, ages).
pub(crate) fn right<'a>(text: impl Into<String>) -> Cell<'a> {
    Cell::from(Line::from(text.into()).right_aligned())
}

/// A status cell from the theme: glyph, word and style.
pub(crate) fn badge<'a>((glyph, word, style): (&str, impl Display, Style)) -> Cell<'a> {
    Cell::from(Span::styled(format!("{glyph} {word}"), style))
}

/// A pane drawn up to its table: the bordered block, the table's area and the part of the
/// pane's list or stream that fits.
pub(crate) struct PaneArea {
    /// Lines under the table for the selected item's details (empty if the pane is too low).
    pub detail: Rect,
    /// First visible row and the number of rows that fit.
    pub offset: usize,
    pub height: usize,
    table: Rect,
    wide: bool,
    /// The cursor's row among the visible ones.
    selected: Option<usize>,
}

impl PaneArea {
    /// Draw pane `p`'s block over `area` (`extra` goes in the title), keep `detail` lines under
    /// the table, and scroll the pane so its cursor is visible.
    pub(crate) fn open(
        app: &mut Console,
        frame: &mut Frame,
        area: Rect,
        p: Pane,
        extra: &str,
        detail: u16,
    ) -> PaneArea {
        let block = pane_block(app, p, extra);
        let inner = block.inner(area);
        frame.render_widget(block, area);
        let (table, detail) = if detail == 0 {
            (inner, Rect::default())
        } else {
            split_detail(inner, detail)
        };
        let height = table.height.saturating_sub(1) as usize;
        let offset = app.scroll_pane(p, height);
        PaneArea {
            detail,
            offset,
            height,
            table,
            wide: area.width >= WIDE,
            selected: app.cursor_row(p).and_then(|c| c.checked_sub(offset)),
        }
    }

    /// Draw the table: a header row, one row per item from `row`, the cursor's row highlighted,
    /// and `empty` when there are no items.
    pub(crate) fn table<'a, T: 'a, R: Into<TableRow<'a>>>(
        &self,
        app: &Console,
        frame: &mut Frame,
        columns: &[Column],
        items: impl Iterator<Item = &'a T>,
        empty: &str,
        row: impl Fn(&'a T) -> R,
    ) {
        let t = &app.theme;
        let shown = |c: &Column| c.width(self.wide).is_some();
        let header = columns.iter().filter(|c| shown(c)).map(|c| c.header);
        let header = Row::new(header.map(str::to_string)).style(t.header_row());
        let widths: Vec<Constraint> = columns.iter().filter_map(|c| c.width(self.wide)).collect();
        let rows: Vec<Row> = items
            .map(|item| {
                let r: TableRow = row(item).into();
                debug_assert_eq!(r.cells.len(), columns.len());
                let cells = r.cells.into_iter().zip(columns).filter(|(_, c)| shown(c));
                Row::new(cells.map(|(cell, _)| cell)).style(r.style)
            })
            .enumerate()
            .map(|(i, r)| {
                if Some(i) == self.selected {
                    r.style(t.selected())
                } else {
                    r
                }
            })
            .collect();
        let no_rows = rows.is_empty();
        let area = self.table;
        frame.render_widget(
            Table::new(rows, widths).header(header).column_spacing(1),
            area,
        );
        if no_rows && area.height > 1 {
            let msg = Rect::new(area.x, area.y + 1, area.width, 1);
            frame.render_widget(
                Paragraph::new(Line::styled(empty.to_string(), t.dim())),
                msg,
            );
        }
    }
}

/// Bordered block for a pane: `[n] Title (filter: x) extra`.
fn pane_block<'a>(app: &Console, pane: Pane, extra: &str) -> Block<'a> {
    let mut title = format!("[{}] {}", pane.index() + 1, pane.title());
    let f = &app.filters[pane.index()];
    if !f.is_empty() {
        title.push_str(&format!(" (filter: {f})"));
    }
    if !extra.is_empty() {
        title.push(' ');
        title.push_str(extra);
    }
    Block::bordered()
        .border_set(app.theme.border())
        .title(Span::styled(title, app.theme.title()))
}

/// Split a pane's inner area into the table and a `detail`-line footer.
fn split_detail(area: Rect, detail: u16) -> (Rect, Rect) {
    let detail = if area.height > detail + 3 { detail } else { 0 };
    let [a, b] = Layout::vertical([Constraint::Fill(1), Constraint::Length(detail)]).areas(area);
    (a, b)
}
