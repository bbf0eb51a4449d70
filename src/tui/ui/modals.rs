//! Modals drawn over the panes: help, confirm, share-name prompt, tool detail, try tool.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};
use ratatui::Frame;

use crate::tui::action::Pane;
use crate::tui::app::{Console, Modal, TryTool};
use crate::tui::keymap::{self, Scope, BINDINGS};
use crate::tui::text::TextInput;

/// A rectangle of at most `w`x`h` centred in `area`.
fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

/// Clear a box of at most `w`x`h` centred in `area`, draw its border and title, and return the
/// inside.
fn open(app: &Console, frame: &mut Frame, area: Rect, (w, h): (u16, u16), title: &str) -> Rect {
    let r = centered(area, w, h);
    frame.render_widget(Clear, r);
    let block = Block::bordered()
        .border_set(app.theme.border())
        .title(Span::styled(format!(" {title} "), app.theme.title()));
    let inner = block.inner(r);
    frame.render_widget(block, r);
    inner
}

pub fn draw(app: &Console, frame: &mut Frame, area: Rect) {
    match &app.modal {
        None => {}
        Some(Modal::Help { scroll }) => help(app, frame, area, *scroll),
        Some(Modal::Confirm { message, .. }) => confirm(app, frame, area, message),
        Some(Modal::SharePrompt { input }) => share_prompt(app, frame, area, input),
        Some(Modal::ToolDetail { tool, scroll }) => detail(app, frame, area, tool, *scroll),
        Some(Modal::TryTool(t)) => try_tool(app, frame, area, t),
    }
}

fn share_prompt(app: &Console, frame: &mut Frame, area: Rect, input: &TextInput) {
    let inner = open(app, frame, area, (60, 6), "New share");
    let lines = vec![
        Line::from("Name (empty = random token):"),
        Line::from(Span::styled(format!("> {}", input.text), app.theme.title())),
        Line::styled("Enter create   Esc cancel", app.theme.dim()),
    ];
    frame.render_widget(Paragraph::new(lines), inner);
    let before: String = input.text.chars().take(input.cursor).collect();
    let x = inner.x + 2 + Span::raw(before).width() as u16;
    if inner.height > 1 {
        frame.set_cursor_position((x.min(inner.right().saturating_sub(1)), inner.y + 1));
    }
}

/// Lines of the help modal, from the binding table (also used by tests).
pub fn help_lines(app: &Console) -> Vec<Line<'static>> {
    let t = &app.theme;
    // The focused pane first: that is what the operator is asking about.
    let mut scopes = vec![Scope::Pane(app.pane), Scope::Global];
    scopes.extend(
        Pane::ALL
            .iter()
            .filter(|p| **p != app.pane)
            .map(|p| Scope::Pane(*p)),
    );
    scopes.extend([Scope::Input, Scope::Editor, Scope::Confirm, Scope::Modal]);
    let mut lines = Vec::new();
    for scope in scopes {
        lines.push(Line::styled(scope.title().to_string(), t.title()));
        for b in BINDINGS.iter().filter(|b| b.scope == scope) {
            let mut spans = vec![
                Span::raw(format!("  {:<16}", keymap::keys_label(b))),
                Span::raw(b.help.to_string()),
            ];
            if b.mutating && app.read_only {
                spans.push(Span::styled("  (disabled: read-only)", t.warn()));
            } else if b.dangerous {
                spans.push(Span::styled("  (asks first)", t.dim()));
            }
            lines.push(Line::from(spans));
        }
        lines.push(Line::from(""));
    }
    lines
}

fn help(app: &Console, frame: &mut Frame, area: Rect, scroll: u16) {
    let inner = open(
        app,
        frame,
        area,
        (76, area.height.saturating_sub(2)),
        "Help (Esc close, j/k scroll)",
    );
    let lines = help_lines(app);
    let max = (lines.len() as u16).saturating_sub(inner.height);
    frame.render_widget(Paragraph::new(lines).scroll((scroll.min(max), 0)), inner);
}

fn confirm(app: &Console, frame: &mut Frame, area: Rect, message: &str) {
    let inner = open(app, frame, area, (64, 6), "Confirm");
    let lines = vec![
        Line::styled(format!("{message} y/N"), app.theme.warn()),
        Line::from(""),
        Line::styled("y yes   n/Enter/Esc no", app.theme.dim()),
    ];
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), inner);
}

fn detail(app: &Console, frame: &mut Frame, area: Rect, name: &str, scroll: u16) {
    let inner = open(
        app,
        frame,
        area,
        (area.width.saturating_sub(8), area.height.saturating_sub(4)),
        name,
    );
    let Some(tool) = app
        .snapshot
        .as_ref()
        .and_then(|s| s.tools.iter().find(|t| t.name == name))
    else {
        frame.render_widget(
            Paragraph::new("this tool is no longer in the catalogue"),
            inner,
        );
        return;
    };
    let (glyph, word, style) = app.theme.filter(&tool.filter);
    let mut lines = vec![
        Line::from(format!(
            "backend: {}   name at backend: {}",
            tool.backend, tool.original
        )),
        Line::from(vec![
            Span::raw("filter: "),
            Span::styled(format!("{glyph} {word}"), style),
        ]),
        Line::from(""),
    ];
    for l in tool
        .description
        .as_deref()
        .unwrap_or("(no description)")
        .lines()
    {
        lines.push(Line::from(l.to_string()));
    }
    lines.push(Line::from(""));
    lines.push(Line::styled("Input schema:", app.theme.title()));
    let schema = serde_json::to_string_pretty(&tool.input_schema).unwrap_or_default();
    lines.extend(schema.lines().map(|l| Line::from(l.to_string())));
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .scroll((scroll, 0)),
        inner,
    );
}

fn try_tool(app: &Console, frame: &mut Frame, area: Rect, t: &TryTool) {
    let th = &app.theme;
    let inner = open(
        app,
        frame,
        area,
        (area.width.saturating_sub(4), area.height.saturating_sub(2)),
        &format!("Try {}", t.tool),
    );
    let [ed, status, res] = Layout::vertical([
        Constraint::Fill(1),
        Constraint::Length(2),
        Constraint::Fill(1),
    ])
    .areas(inner);

    let ed_block = Block::bordered()
        .border_set(th.border())
        .title("arguments (JSON object)");
    let ed_inner = ed_block.inner(ed);
    frame.render_widget(ed_block, ed);
    let h = ed_inner.height.max(1) as usize;
    let row = t.editor.row.min(t.editor.lines.len().saturating_sub(1));
    let top = row.saturating_sub(h - 1);
    let lines: Vec<Line> = t
        .editor
        .lines
        .iter()
        .skip(top)
        .take(h)
        .map(|l| Line::from(l.clone()))
        .collect();
    frame.render_widget(Paragraph::new(lines), ed_inner);
    if ed_inner.height > 0 {
        let line = t.editor.lines.get(row).map(String::as_str).unwrap_or("");
        let before: String = line.chars().take(t.editor.col).collect();
        let x = ed_inner.x + Span::raw(before).width() as u16;
        let y = ed_inner.y + (row - top) as u16;
        frame.set_cursor_position((x.min(ed_inner.right().saturating_sub(1)), y));
    }

    let status_line = match (&t.error, t.pending) {
        (Some(e), _) => Line::styled(e.clone(), th.error()),
        (None, Some(_)) => Line::styled("calling...", th.warn()),
        (None, None) => Line::styled("C-s send   Esc close   PgUp/PgDn scroll result", th.dim()),
    };
    frame.render_widget(
        Paragraph::new(status_line).wrap(Wrap { trim: true }),
        status,
    );

    let (title, body, style) = match &t.result {
        None => ("result", String::new(), ratatui::style::Style::new()),
        Some(Ok(s)) => ("result", s.clone(), ratatui::style::Style::new()),
        Some(Err(e)) => ("error", e.clone(), th.error()),
    };
    let res_block = Block::bordered().border_set(th.border()).title(title);
    frame.render_widget(
        Paragraph::new(body)
            .style(style)
            .wrap(Wrap { trim: false })
            .scroll((t.scroll, 0))
            .block(res_block),
        res,
    );
}
