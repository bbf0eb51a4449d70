//! Status → glyph, word and style, with `NO_COLOR` and ASCII fallbacks.
//!
//! Status is never carried by colour alone: every state has a glyph and a word. Colours avoid
//! red/green pairs (blue = fine, yellow = degraded, orange = failed).

use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols::border;

use crate::core::live::state::{BackendStatus, CallOutcome, LogLevel, ToolFilter};

const ORANGE: Color = Color::Indexed(208);

const ASCII_BORDER: border::Set = border::Set {
    top_left: "+",
    top_right: "+",
    bottom_left: "+",
    bottom_right: "+",
    vertical_left: "|",
    vertical_right: "|",
    horizontal_top: "-",
    horizontal_bottom: "-",
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Theme {
    pub color: bool,
    pub ascii: bool,
}

impl Theme {
    pub(crate) fn new(color: bool, ascii: bool) -> Theme {
        Theme { color, ascii }
    }

    fn fg(&self, c: Color) -> Style {
        if self.color {
            Style::new().fg(c)
        } else {
            Style::new()
        }
    }

    pub(crate) fn border(&self) -> border::Set<'static> {
        if self.ascii {
            ASCII_BORDER
        } else {
            border::PLAIN
        }
    }

    /// Separator between header fields.
    pub(crate) fn sep(&self) -> &'static str {
        if self.ascii {
            " | "
        } else {
            " │ "
        }
    }

    pub(crate) fn title(&self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }

    pub(crate) fn dim(&self) -> Style {
        if self.color {
            Style::new().fg(Color::DarkGray)
        } else {
            Style::new()
        }
    }

    pub(crate) fn header_row(&self) -> Style {
        Style::new().add_modifier(Modifier::BOLD)
    }

    /// Selected row: reverse video works without colour.
    pub(crate) fn selected(&self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED)
    }

    pub(crate) fn warn(&self) -> Style {
        self.fg(Color::Yellow).add_modifier(Modifier::BOLD)
    }

    pub(crate) fn error(&self) -> Style {
        self.fg(ORANGE).add_modifier(Modifier::BOLD)
    }

    pub(crate) fn ok(&self) -> Style {
        self.fg(Color::LightBlue)
    }

    pub(crate) fn backend_status(&self, s: &BackendStatus) -> (&'static str, &'static str, Style) {
        let (u, a, style) = match s {
            BackendStatus::Starting => ("◐", "~", self.fg(Color::Cyan)),
            BackendStatus::Ready => ("●", "+", self.ok()),
            BackendStatus::Degraded => ("▲", "!", self.warn()),
            BackendStatus::Failed => ("✖", "x", self.error()),
            BackendStatus::Stopped => ("■", "-", self.dim()),
        };
        (if self.ascii { a } else { u }, s.as_str(), style)
    }

    /// Glyph, word and style for a call outcome.
    pub(crate) fn outcome(&self, o: &CallOutcome) -> (&'static str, String, Style) {
        let (u, a, word, style) = match o {
            CallOutcome::Ok => ("●", "+", "ok".to_string(), self.ok()),
            CallOutcome::ToolError(m) => ("▲", "!", format!("tool error: {m}"), self.warn()),
            CallOutcome::Error(code, m) => ("✖", "x", format!("error {code}: {m}"), self.error()),
            CallOutcome::Timeout => ("⧗", "T", "timeout".to_string(), self.error()),
            CallOutcome::Cancelled => ("⊘", "/", "cancelled".to_string(), self.dim()),
            CallOutcome::Denied(rule) => ("⊗", "D", format!("denied: {rule}"), self.warn()),
        };
        (if self.ascii { a } else { u }, word, style)
    }

    pub(crate) fn filter(&self, f: &ToolFilter) -> (&'static str, String, Style) {
        let (u, a, word, style) = match f {
            ToolFilter::Unfiltered => ("●", "+", "allowed".to_string(), self.ok()),
            ToolFilter::AllowedBy(p) => ("●", "+", format!("allowed by {p}"), self.ok()),
            ToolFilter::NotAllowed => (
                "⊘",
                "/",
                "filtered: not in allow list".to_string(),
                self.dim(),
            ),
            ToolFilter::DeniedBy(p) => ("⊘", "/", format!("filtered: denied by {p}"), self.warn()),
        };
        (if self.ascii { a } else { u }, word, style)
    }

    pub(crate) fn level(&self, l: LogLevel) -> (&'static str, Style) {
        match l {
            LogLevel::Trace => ("TRACE", self.dim()),
            LogLevel::Debug => ("DEBUG", self.dim()),
            LogLevel::Info => ("INFO", self.ok()),
            LogLevel::Warn => ("WARN", self.warn()),
            LogLevel::Error => ("ERROR", self.error()),
        }
    }
}
