//! Layout, header, tabs, feedback line and hint bar; panes and modals live in sibling files.
//!
//! ```text
//!  mcp-gateway 0.1.0 │ zrok https://api.zrok.io share abc123 │ up 1h02m │ READ-ONLY
//!  backends 3/4 ready │ sessions 12 │ calls 1234 │ errors 5 │ token abc123 (c copy)
//!  demo gateway on loopback: connect with ...                       (optional banner)
//!  [1] Backends  [2] Sessions  [3] Tools  [4] Shares  [5] Traffic  [6] Logs
//! ┌[1] Backends (filter: git)───────────────────────────────────────────────────┐
//! │ID          TRANSPORT STATUS      TOOLS  SESS  CALLS ERRS   P50   P95        │
//! │github      stdio     ● ready     12/14     3    120    1  40ms  90ms        │
//! │target: npx -y @modelcontextprotocol/server-github                           │
//! └─────────────────────────────────────────────────────────────────────────────┘
//!  ✔ share abc created                                            (feedback line)
//!  r restart  / filter  Tab pane  q quit  ? help                      (hint bar)
//! ```

mod backends;
mod logs;
mod modals;
pub use modals::help_lines;
mod sessions;
mod shares;
mod table;
mod tools;
mod traffic;

use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::action::Pane;
use super::app::{Console, ToastLevel};
use super::keymap::{self, Scope};
use super::view;
use crate::core::live::state::{BackendStatus, Serving};

/// Smallest supported terminal.
pub(crate) const MIN_WIDTH: u16 = 80;
pub(crate) const MIN_HEIGHT: u16 = 24;

/// Draw the whole console.
pub fn render(app: &mut Console, frame: &mut Frame) {
    let area = frame.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        too_small(frame, area);
        return;
    }
    let banner = u16::from(app.banner.is_some());
    let [header, banner_area, tabs, body, feedback, hints] = Layout::vertical([
        Constraint::Length(3),
        Constraint::Length(banner),
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    draw_header(app, frame, header);
    if let Some(b) = &app.banner {
        frame.render_widget(
            Paragraph::new(Line::styled(format!(" {b}"), app.theme.warn())),
            banner_area,
        );
    }
    draw_tabs(app, frame, tabs);
    match app.pane {
        Pane::Backends => backends::draw(app, frame, body),
        Pane::Sessions => sessions::draw(app, frame, body),
        Pane::Tools => tools::draw(app, frame, body),
        Pane::Shares => shares::draw(app, frame, body),
        Pane::Traffic => traffic::draw(app, frame, body),
        Pane::Logs => logs::draw(app, frame, body),
    }
    draw_feedback(app, frame, feedback);
    draw_hints(app, frame, hints);
    modals::draw(app, frame, area);
}

fn too_small(frame: &mut Frame, area: Rect) {
    let msg = format!(
        "terminal too small: need {MIN_WIDTH}x{MIN_HEIGHT}, have {}x{}",
        area.width, area.height
    );
    let y = area.y + area.height / 2;
    let row = Rect::new(
        area.x,
        y.min(area.bottom().saturating_sub(1)),
        area.width,
        area.height.min(1),
    );
    frame.render_widget(Paragraph::new(msg).alignment(Alignment::Center), row);
    if area.height >= 3 {
        let hint = Rect::new(area.x, row.y + 1, area.width, 1);
        frame.render_widget(Paragraph::new("q quit").alignment(Alignment::Center), hint);
    }
}

fn draw_header(app: &Console, frame: &mut Frame, area: Rect) {
    let t = &app.theme;
    let sep = Span::styled(t.sep(), t.dim());
    let Some(s) = &app.snapshot else {
        frame.render_widget(
            Paragraph::new(" waiting for the gateway's first snapshot..."),
            area,
        );
        return;
    };
    let g = &s.gateway;
    let mut l1 = vec![
        Span::styled(format!(" {} {}", g.name, g.version), t.title()),
        sep.clone(),
        Span::raw(format!(
            "up {}",
            view::fmt_span(view::since(app.now, g.started_at))
        )),
    ];
    if app.read_only {
        l1.push(sep.clone());
        l1.push(Span::styled("READ-ONLY", t.warn()));
    }
    if app.traffic.frozen() {
        l1.push(sep.clone());
        l1.push(Span::styled("FROZEN", t.warn()));
    }
    let overlay = match &g.serving {
        Serving::Zrok {
            api_endpoint,
            share_token,
            ephemeral,
        } => {
            let mut spans = vec![
                Span::raw(format!(" zrok {api_endpoint}")),
                sep.clone(),
                Span::raw(if *ephemeral {
                    "ephemeral share "
                } else {
                    "share "
                }),
                Span::styled(share_token.clone(), t.title()),
                Span::styled(" (c copy)", t.dim()),
            ];
            if let Some(l) = &g.listener {
                spans.push(sep.clone());
                let text = format!("terminators {} gen {}", l.terminators, l.generation);
                spans.push(if l.terminators == 0 {
                    Span::styled(text, t.warn())
                } else {
                    Span::raw(text)
                });
            }
            Line::from(spans)
        }
        Serving::Loopback { mcp_url, .. } => Line::from(vec![
            Span::raw(format!(" loopback {mcp_url}")),
            Span::styled(" (c copy)", t.dim()),
        ]),
        Serving::Starting => Line::styled(" overlay starting...", t.warn()),
    };
    let ready = s
        .backends
        .iter()
        .filter(|b| b.status == BackendStatus::Ready)
        .count();
    let mut l2 = vec![
        Span::raw(format!(" backends {ready}/{} ready", s.backends.len())),
        sep.clone(),
        Span::raw(format!("sessions {}", s.sessions.len())),
        sep.clone(),
        Span::raw(format!("calls {}", s.total_calls)),
        sep.clone(),
        Span::styled(
            format!("errors {}", s.total_errors),
            if s.total_errors > 0 {
                t.warn()
            } else {
                Style::new()
            },
        ),
    ];
    if app.dropped > 0 {
        l2.push(sep.clone());
        l2.push(Span::styled(format!("dropped {}", app.dropped), t.warn()));
    }
    if let Some(r) = &g.last_reload {
        l2.push(sep.clone());
        l2.push(if r.ok {
            Span::raw(format!(
                "config gen {} ({})",
                g.config_generation,
                view::fmt_clock(r.at)
            ))
        } else {
            Span::styled(
                format!("reload refused {}", view::fmt_clock(r.at)),
                t.warn(),
            )
        });
    }
    frame.render_widget(
        Paragraph::new(vec![Line::from(l1), overlay, Line::from(l2)]),
        area,
    );
}

fn draw_tabs(app: &Console, frame: &mut Frame, area: Rect) {
    let mut spans = vec![Span::raw(" ")];
    for p in Pane::ALL {
        let label = format!("[{}] {}", p.index() + 1, p.title());
        let style = if p == app.pane {
            app.theme.selected().add_modifier(Modifier::BOLD)
        } else {
            Style::new()
        };
        spans.push(Span::styled(label, style));
        spans.push(Span::raw("  "));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn draw_feedback(app: &Console, frame: &mut Frame, area: Rect) {
    let t = &app.theme;
    if app.filter_editing && app.modal.is_none() {
        let text = &app.filters[app.pane.index()];
        let line = Line::from(vec![
            Span::styled(" filter /", t.title()),
            Span::raw(text.clone()),
        ]);
        let x = area.x + 9 + Span::raw(text.as_str()).width() as u16;
        frame.render_widget(Paragraph::new(line), area);
        frame.set_cursor_position((x.min(area.right().saturating_sub(1)), area.y));
        return;
    }
    if let Some(toast) = &app.toast {
        let (icon, style) = match (toast.level, t.ascii) {
            (ToastLevel::Info, false) => ("ℹ", t.ok()),
            (ToastLevel::Warn, false) => ("▲", t.warn()),
            (ToastLevel::Error, false) => ("✖", t.error()),
            (ToastLevel::Info, true) => ("i", t.ok()),
            (ToastLevel::Warn, true) => ("!", t.warn()),
            (ToastLevel::Error, true) => ("x", t.error()),
        };
        let line = Line::from(vec![
            Span::styled(format!(" {icon} "), style),
            Span::raw(toast.text.clone()),
        ]);
        frame.render_widget(Paragraph::new(line), area);
    } else if !app.pending.is_empty() {
        let line = Line::styled(
            format!(
                " waiting for {} engine repl{}",
                app.pending.len(),
                if app.pending.len() == 1 { "y" } else { "ies" }
            ),
            t.dim(),
        );
        frame.render_widget(Paragraph::new(line), area);
    }
}

/// Hint items for the current scope, from the keymap.
pub fn hint_items(app: &Console) -> Vec<(String, &'static str)> {
    let scope = app.scope();
    let mut items: Vec<(String, &'static str)> = keymap::scope_bindings(scope)
        .filter(|b| b.in_bar && b.action != keymap::KeyAction::Help)
        .filter(|b| !(app.read_only && b.mutating))
        .map(|b| (keymap::keys_label(b), b.label))
        .collect();
    if matches!(scope, Scope::Pane(_)) {
        items.push(("?".to_string(), "help"));
    }
    items
}

fn draw_hints(app: &Console, frame: &mut Frame, area: Rect) {
    let t = &app.theme;
    let mut items = hint_items(app);
    let width = |items: &[(String, &str)]| -> usize {
        items
            .iter()
            .map(|(k, l)| Span::raw(k.as_str()).width() + l.len() + 3)
            .sum::<usize>()
            + 1
    };
    // Drop from the end but keep the last item ("? help").
    while items.len() > 1 && width(&items) > area.width as usize {
        let last = items.pop();
        items.pop();
        items.extend(last);
    }
    let mut spans = vec![Span::raw(" ")];
    for (k, l) in items {
        spans.push(Span::styled(k, t.title()));
        spans.push(Span::raw(format!(" {l}   ")));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}
