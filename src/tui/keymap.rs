//! The one table of key bindings. The hint bar, the help modal and key dispatch all read it.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::action::Pane;

/// Where a binding applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Main view, any pane.
    Global,
    /// Main view, one pane (checked before globals).
    Pane(Pane),
    /// Inside a text field (filter, share name).
    Input,
    /// The JSON arguments editor of "try tool".
    Editor,
    /// A y/N confirm dialog.
    Confirm,
    /// Read-only modals (help, tool detail, tool result).
    Modal,
}

impl Scope {
    pub(crate) fn title(self) -> &'static str {
        match self {
            Scope::Global => "Global",
            Scope::Pane(p) => p.title(),
            Scope::Input => "Text input (filter, share name)",
            Scope::Editor => "Arguments editor (try tool)",
            Scope::Confirm => "Confirm dialog",
            Scope::Modal => "Help and detail overlays",
        }
    }
}

/// Everything a key can mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAction {
    Quit,
    ForceQuit,
    NextPane,
    PrevPane,
    GoPane(Pane),
    Help,
    Filter,
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    CopyToken,
    RestartBackend,
    ReloadConfig,
    EndSession,
    ToolDetail,
    TryTool,
    CreateShare,
    DeleteShare,
    CopyShare,
    RefreshShares,
    Freeze,
    CycleLevel,
    // Text input / editor / dialogs.
    Submit,
    Cancel,
    Send,
    Yes,
    No,
    Close,
}

/// A key with modifiers; `Char` keys ignore SHIFT (the character already carries it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    pub code: KeyCode,
    pub mods: KeyModifiers,
}

impl Key {
    pub(crate) const fn plain(code: KeyCode) -> Key {
        Key {
            code,
            mods: KeyModifiers::NONE,
        }
    }
    pub const fn ch(c: char) -> Key {
        Key::plain(KeyCode::Char(c))
    }
    pub(crate) const fn ctrl(c: char) -> Key {
        Key {
            code: KeyCode::Char(c),
            mods: KeyModifiers::CONTROL,
        }
    }

    /// Normalise a terminal key event for lookup.
    pub(crate) fn from_event(ev: &KeyEvent) -> Key {
        let mut mods =
            ev.modifiers & (KeyModifiers::CONTROL | KeyModifiers::ALT | KeyModifiers::SHIFT);
        match ev.code {
            KeyCode::Char(_) | KeyCode::BackTab => mods.remove(KeyModifiers::SHIFT),
            _ => {}
        }
        let code = match (ev.code, mods.contains(KeyModifiers::CONTROL)) {
            (KeyCode::Char(c), true) => KeyCode::Char(c.to_ascii_lowercase()),
            (c, _) => c,
        };
        Key { code, mods }
    }

    pub(crate) fn label(&self) -> String {
        let base = match self.code {
            KeyCode::Char(' ') => "space".to_string(),
            KeyCode::Char(c) => c.to_string(),
            KeyCode::Tab => "Tab".to_string(),
            KeyCode::BackTab => "S-Tab".to_string(),
            KeyCode::Enter => "Enter".to_string(),
            KeyCode::Esc => "Esc".to_string(),
            KeyCode::Up => "Up".to_string(),
            KeyCode::Down => "Down".to_string(),
            KeyCode::PageUp => "PgUp".to_string(),
            KeyCode::PageDown => "PgDn".to_string(),
            KeyCode::Home => "Home".to_string(),
            KeyCode::End => "End".to_string(),
            KeyCode::F(n) => format!("F{n}"),
            other => format!("{other:?}"),
        };
        if self.mods.contains(KeyModifiers::CONTROL) {
            format!("C-{base}")
        } else if self.mods.contains(KeyModifiers::ALT) {
            format!("M-{base}")
        } else {
            base
        }
    }
}

/// One row of the table.
#[derive(Debug, Clone, Copy)]
pub struct Binding {
    pub keys: &'static [Key],
    pub action: KeyAction,
    pub scope: Scope,
    /// Short label for the hint bar.
    pub label: &'static str,
    /// Longer text for the help modal.
    pub help: &'static str,
    pub in_bar: bool,
    /// Changes engine state: blocked by `--read-only`.
    pub mutating: bool,
    /// Asks for confirmation first.
    pub dangerous: bool,
}

const fn b(
    keys: &'static [Key],
    action: KeyAction,
    scope: Scope,
    label: &'static str,
    help: &'static str,
    in_bar: bool,
) -> Binding {
    Binding {
        keys,
        action,
        scope,
        label,
        help,
        in_bar,
        mutating: false,
        dangerous: false,
    }
}

const fn m(binding: Binding, dangerous: bool) -> Binding {
    Binding {
        mutating: true,
        dangerous,
        ..binding
    }
}

use KeyAction as A;
use Scope as S;

/// Every binding of the console. One row per action; kept unformatted so it reads as a table.
#[rustfmt::skip]
pub static BINDINGS: &[Binding] = &[
    // Backends
    m(b(&[Key::ch('r')], A::RestartBackend, S::Pane(Pane::Backends), "restart", "Restart the selected backend", true), true),
    // Sessions
    m(b(&[Key::ch('x'), Key::ch('d')], A::EndSession, S::Pane(Pane::Sessions), "end", "End the selected client session", true), true),
    // Tools
    b(&[Key::plain(KeyCode::Enter)], A::ToolDetail, S::Pane(Pane::Tools), "detail", "Show description and input schema", true),
    m(b(&[Key::ch('t')], A::TryTool, S::Pane(Pane::Tools), "try", "Call the tool with JSON arguments you edit", true), false),
    // Shares
    m(b(&[Key::ch('n')], A::CreateShare, S::Pane(Pane::Shares), "new", "Create a persistent share (empty name = random)", true), false),
    m(b(&[Key::ch('d')], A::DeleteShare, S::Pane(Pane::Shares), "delete", "Delete the selected persistent share", true), true),
    b(&[Key::ch('y')], A::CopyShare, S::Pane(Pane::Shares), "copy", "Copy the selected share token (OSC 52)", true),
    b(&[Key::ch('R')], A::RefreshShares, S::Pane(Pane::Shares), "refresh", "Ask the engine for the environment's shares", true),
    // Traffic
    b(&[Key::ch('f'), Key::ch(' ')], A::Freeze, S::Pane(Pane::Traffic), "freeze", "Freeze or resume the live call stream", true),
    // Logs
    b(&[Key::ch('l')], A::CycleLevel, S::Pane(Pane::Logs), "level", "Cycle the minimum log level shown", true),
    // Global
    b(&[Key::ch('/')], A::Filter, S::Global, "filter", "Filter the list (case-insensitive); Esc clears", true),
    b(&[Key::plain(KeyCode::Esc)], A::Cancel, S::Global, "clear", "Clear the filter (never quits)", false),
    b(&[Key::plain(KeyCode::Tab)], A::NextPane, S::Global, "pane", "Next pane (1-6 jump)", true),
    b(&[Key::plain(KeyCode::BackTab)], A::PrevPane, S::Global, "prev", "Previous pane", false),
    b(&[Key::ch('1')], A::GoPane(Pane::Backends), S::Global, "backends", "Go to Backends", false),
    b(&[Key::ch('2')], A::GoPane(Pane::Sessions), S::Global, "sessions", "Go to Sessions", false),
    b(&[Key::ch('3')], A::GoPane(Pane::Tools), S::Global, "tools", "Go to Tools", false),
    b(&[Key::ch('4')], A::GoPane(Pane::Shares), S::Global, "shares", "Go to Shares", false),
    b(&[Key::ch('5')], A::GoPane(Pane::Traffic), S::Global, "traffic", "Go to Traffic", false),
    b(&[Key::ch('6')], A::GoPane(Pane::Logs), S::Global, "logs", "Go to Logs", false),
    b(&[Key::plain(KeyCode::Up), Key::ch('k')], A::Up, S::Global, "up", "Move up", false),
    b(&[Key::plain(KeyCode::Down), Key::ch('j')], A::Down, S::Global, "down", "Move down", false),
    b(&[Key::plain(KeyCode::PageUp)], A::PageUp, S::Global, "page up", "Page up", false),
    b(&[Key::plain(KeyCode::PageDown)], A::PageDown, S::Global, "page down", "Page down", false),
    b(&[Key::plain(KeyCode::Home), Key::ch('g')], A::Top, S::Global, "top", "First row", false),
    b(&[Key::plain(KeyCode::End), Key::ch('G')], A::Bottom, S::Global, "bottom", "Last row (Traffic/Logs: follow)", false),
    b(&[Key::ch('c')], A::CopyToken, S::Global, "copy token", "Copy the gateway share token or URL (OSC 52)", false),
    m(b(&[Key::ctrl('r')], A::ReloadConfig, S::Global, "reload", "Reload the configuration file (sessions stay open; a bad file is refused)", false), true),
    b(&[Key::ch('q')], A::Quit, S::Global, "quit", "Quit", true),
    b(&[Key::ctrl('c')], A::ForceQuit, S::Global, "quit", "Quit from anywhere", false),
    b(&[Key::ch('?')], A::Help, S::Global, "help", "Show or hide this help", true),
    // Text input
    b(&[Key::plain(KeyCode::Enter)], A::Submit, S::Input, "apply", "Keep the text and return to the list", true),
    b(&[Key::plain(KeyCode::Esc)], A::Cancel, S::Input, "cancel", "Clear the filter / cancel the prompt", true),
    // Editor
    b(&[Key::ctrl('s')], A::Send, S::Editor, "send", "Parse the JSON and call the tool", true),
    b(&[Key::plain(KeyCode::Esc)], A::Cancel, S::Editor, "close", "Close the editor", true),
    b(&[Key::plain(KeyCode::PageUp)], A::PageUp, S::Editor, "scroll", "Scroll the result up", false),
    b(&[Key::plain(KeyCode::PageDown)], A::PageDown, S::Editor, "scroll", "Scroll the result down", false),
    // Confirm
    b(&[Key::ch('y')], A::Yes, S::Confirm, "yes", "Confirm", true),
    b(&[Key::ch('n'), Key::plain(KeyCode::Enter), Key::plain(KeyCode::Esc)], A::No, S::Confirm, "no", "Cancel (default)", true),
    // Modals
    b(&[Key::plain(KeyCode::Esc), Key::ch('?'), Key::ch('q')], A::Close, S::Modal, "close", "Close the overlay", true),
    b(&[Key::plain(KeyCode::Up), Key::ch('k')], A::Up, S::Modal, "scroll", "Scroll up", true),
    b(&[Key::plain(KeyCode::Down), Key::ch('j')], A::Down, S::Modal, "scroll", "Scroll down", false),
    b(&[Key::plain(KeyCode::PageUp)], A::PageUp, S::Modal, "page up", "Page up", false),
    b(&[Key::plain(KeyCode::PageDown)], A::PageDown, S::Modal, "page down", "Page down", false),
];

/// Bindings visible in a scope: the pane's own first, then (for panes) the globals.
pub fn scope_bindings(scope: Scope) -> impl Iterator<Item = &'static Binding> {
    let own = BINDINGS.iter().filter(move |b| b.scope == scope);
    let globals = BINDINGS
        .iter()
        .filter(move |b| matches!(scope, Scope::Pane(_)) && b.scope == Scope::Global);
    own.chain(globals)
}

/// The binding a key triggers in a scope, if any.
pub(crate) fn lookup(scope: Scope, key: Key) -> Option<&'static Binding> {
    scope_bindings(scope).find(|b| b.keys.contains(&key))
}

/// Label of a binding's keys, e.g. `x/d`.
pub fn keys_label(b: &Binding) -> String {
    b.keys.iter().map(Key::label).collect::<Vec<_>>().join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keys that appear twice within one effective scope (pane + globals).
    fn duplicates() -> Vec<(Scope, String)> {
        let mut scopes: Vec<Scope> = Pane::ALL.iter().map(|p| Scope::Pane(*p)).collect();
        scopes.extend([Scope::Input, Scope::Editor, Scope::Confirm, Scope::Modal]);
        let mut dups = Vec::new();
        for scope in scopes {
            let keys: Vec<Key> = scope_bindings(scope)
                .flat_map(|b| b.keys.iter().copied())
                .collect();
            for (i, k) in keys.iter().enumerate() {
                if keys[..i].contains(k) {
                    dups.push((scope, k.label()));
                }
            }
        }
        dups
    }

    #[test]
    fn no_duplicate_keys_in_any_scope() {
        assert_eq!(duplicates(), Vec::<(Scope, String)>::new());
    }
}
