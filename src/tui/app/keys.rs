//! Keys and mouse → UI state changes and [`Action`]s, through the binding table.

use crossterm::event::{KeyEvent, KeyEventKind, MouseButton, MouseEventKind};

use super::arguments::{arguments_template, parse_arguments};
use super::{Console, Modal, ToastLevel, TryTool};
use crate::core::live::state::{LogLevel, Serving};
use crate::tui::action::{Action, Pane, RequestKind};
use crate::tui::keymap::{self, Binding, Key, KeyAction, Scope};
use crate::tui::text::{Editor, TextInput};

impl Console {
    /// Scope whose bindings currently apply.
    pub fn scope(&self) -> Scope {
        match &self.modal {
            Some(Modal::Confirm { .. }) => Scope::Confirm,
            Some(Modal::SharePrompt { .. }) => Scope::Input,
            Some(Modal::TryTool(_)) => Scope::Editor,
            Some(_) => Scope::Modal,
            None if self.filter_editing => Scope::Input,
            None => Scope::Pane(self.pane),
        }
    }

    // --- keys ---

    pub fn handle_key(&mut self, ev: KeyEvent) -> Vec<Action> {
        if ev.kind == KeyEventKind::Release {
            return Vec::new();
        }
        self.dirty = true;
        let key = Key::from_event(&ev);
        if key == Key::ctrl('c') {
            return vec![Action::Quit];
        }
        match self.scope() {
            Scope::Confirm => self.key_confirm(key),
            Scope::Input => self.key_input(key, &ev),
            Scope::Editor => self.key_editor(key, &ev),
            Scope::Modal => {
                self.key_modal(key);
                Vec::new()
            }
            scope => self.key_main(scope, key),
        }
    }

    fn key_confirm(&mut self, key: Key) -> Vec<Action> {
        let yes = keymap::lookup(Scope::Confirm, key).map(|b| b.action) == Some(KeyAction::Yes);
        let Some(Modal::Confirm { request, .. }) = self.modal.take() else {
            return Vec::new();
        };
        // Anything but an explicit yes cancels.
        if yes {
            vec![self.request(request)]
        } else {
            Vec::new()
        }
    }

    fn key_input(&mut self, key: Key, ev: &KeyEvent) -> Vec<Action> {
        let action = keymap::lookup(Scope::Input, key).map(|b| b.action);
        if let Some(Modal::SharePrompt { input }) = &mut self.modal {
            match action {
                Some(KeyAction::Submit) => {
                    let name = input.text.trim().to_string();
                    self.modal = None;
                    let name = (!name.is_empty()).then_some(name);
                    return vec![self.request(RequestKind::CreateShare { name })];
                }
                Some(KeyAction::Cancel) => self.modal = None,
                _ => {
                    input.edit(ev);
                }
            }
            return Vec::new();
        }
        let p = self.pane;
        match action {
            Some(KeyAction::Submit) => self.filter_editing = false,
            Some(KeyAction::Cancel) => {
                self.filter_editing = false;
                self.filters[p.index()].clear();
                self.rebuild_list(p);
            }
            _ => {
                let mut input = TextInput::new(&self.filters[p.index()]);
                if input.edit(ev) {
                    self.filters[p.index()] = input.text;
                    self.rebuild_list(p);
                }
            }
        }
        Vec::new()
    }

    fn key_editor(&mut self, key: Key, ev: &KeyEvent) -> Vec<Action> {
        let action = keymap::lookup(Scope::Editor, key).map(|b| b.action);
        let Some(Modal::TryTool(t)) = &mut self.modal else {
            return Vec::new();
        };
        match action {
            Some(KeyAction::Cancel) => {
                self.modal = None;
            }
            Some(KeyAction::Send) => {
                if t.pending.is_some() {
                    return Vec::new();
                }
                match parse_arguments(&t.editor.text()) {
                    Ok(arguments) => {
                        t.error = None;
                        t.result = None;
                        let name = t.tool.clone();
                        let action = self.request(RequestKind::CallTool { name, arguments });
                        if let (Some(Modal::TryTool(t)), Action::Send(r)) =
                            (&mut self.modal, &action)
                        {
                            t.pending = Some(r.id);
                        }
                        return vec![action];
                    }
                    Err(e) => t.error = Some(e),
                }
            }
            Some(KeyAction::PageUp) => t.scroll = t.scroll.saturating_sub(5),
            Some(KeyAction::PageDown) => t.scroll = t.scroll.saturating_add(5),
            _ => {
                t.editor.edit(ev);
            }
        }
        Vec::new()
    }

    fn key_modal(&mut self, key: Key) {
        let action = keymap::lookup(Scope::Modal, key).map(|b| b.action);
        let scroll = match &mut self.modal {
            Some(Modal::Help { scroll }) | Some(Modal::ToolDetail { scroll, .. }) => scroll,
            _ => return,
        };
        match action {
            Some(KeyAction::Close) => self.modal = None,
            Some(KeyAction::Up) => *scroll = scroll.saturating_sub(1),
            Some(KeyAction::Down) => *scroll = scroll.saturating_add(1),
            Some(KeyAction::PageUp) => *scroll = scroll.saturating_sub(10),
            Some(KeyAction::PageDown) => *scroll = scroll.saturating_add(10),
            _ => {}
        }
    }

    fn key_main(&mut self, scope: Scope, key: Key) -> Vec<Action> {
        let Some(binding) = keymap::lookup(scope, key) else {
            return Vec::new();
        };
        if binding.mutating && self.read_only {
            self.set_toast(
                ToastLevel::Warn,
                format!("read-only: {} is disabled", binding.label),
            );
            return Vec::new();
        }
        self.run_binding(binding)
    }

    fn run_binding(&mut self, binding: &Binding) -> Vec<Action> {
        let p = self.pane;
        let page = self.page.max(1) as isize;
        match binding.action {
            KeyAction::Quit | KeyAction::ForceQuit => return vec![Action::Quit],
            KeyAction::NextPane => self.pane = p.next(),
            KeyAction::PrevPane => self.pane = p.prev(),
            KeyAction::GoPane(to) => self.pane = to,
            KeyAction::Help => self.modal = Some(Modal::Help { scroll: 0 }),
            KeyAction::Filter => self.filter_editing = true,
            KeyAction::Cancel => {
                if !self.filters[p.index()].is_empty() {
                    self.filters[p.index()].clear();
                    self.rebuild_list(p);
                }
            }
            KeyAction::Up => self.move_cursor(p, |c, _| c as isize - 1),
            KeyAction::Down => self.move_cursor(p, |c, _| c as isize + 1),
            KeyAction::PageUp => self.move_cursor(p, |c, _| c as isize - page),
            KeyAction::PageDown => self.move_cursor(p, |c, _| c as isize + page),
            KeyAction::Top => self.move_cursor(p, |_, _| isize::MIN),
            KeyAction::Bottom => self.move_cursor(p, |_, _| isize::MAX),
            KeyAction::CopyToken => return self.copy_token(),
            KeyAction::RestartBackend => {
                if let Some(b) = self
                    .selected_index(p)
                    .and_then(|i| self.snapshot.as_ref()?.backends.get(i))
                {
                    self.modal = Some(Modal::Confirm {
                        message: format!("Restart backend {}?", b.id),
                        request: RequestKind::RestartBackend { id: b.id.clone() },
                    });
                }
            }
            KeyAction::ReloadConfig => {
                self.modal = Some(Modal::Confirm {
                    message: "Reload the configuration file?".into(),
                    request: RequestKind::ReloadConfig,
                });
            }
            KeyAction::EndSession => {
                if let Some(s) = self
                    .selected_index(p)
                    .and_then(|i| self.snapshot.as_ref()?.sessions.get(i))
                {
                    let who = s
                        .client
                        .as_deref()
                        .map(|c| format!(" ({c})"))
                        .unwrap_or_default();
                    self.modal = Some(Modal::Confirm {
                        message: format!("End session {}{who}?", s.id),
                        request: RequestKind::EndSession { id: s.id.clone() },
                    });
                }
            }
            KeyAction::ToolDetail => {
                if let Some(t) = self.selected_tool() {
                    self.modal = Some(Modal::ToolDetail { tool: t, scroll: 0 });
                }
            }
            KeyAction::TryTool => {
                if let Some(i) = self.selected_index(p) {
                    if let Some(t) = self.snapshot.as_ref().and_then(|s| s.tools.get(i)) {
                        self.modal = Some(Modal::TryTool(Box::new(TryTool {
                            tool: t.name.clone(),
                            editor: Editor::new(&arguments_template(&t.input_schema)),
                            error: None,
                            pending: None,
                            result: None,
                            scroll: 0,
                        })));
                    }
                }
            }
            KeyAction::CreateShare => {
                self.modal = Some(Modal::SharePrompt {
                    input: TextInput::default(),
                })
            }
            KeyAction::DeleteShare => {
                if let Some(s) = self.selected_index(p).and_then(|i| self.shares().get(i)) {
                    if s.kind == "running" {
                        let msg = format!(
                            "share {} is the one this gateway serves; not deleting",
                            s.token
                        );
                        self.set_toast(ToastLevel::Warn, msg);
                    } else {
                        self.modal = Some(Modal::Confirm {
                            message: format!("Delete share {}?", s.token),
                            request: RequestKind::DeleteShare {
                                token: s.token.clone(),
                            },
                        });
                    }
                }
            }
            KeyAction::CopyShare => {
                if let Some(s) = self.selected_index(p).and_then(|i| self.shares().get(i)) {
                    let token = s.token.clone();
                    self.set_toast(ToastLevel::Info, format!("copied {token} (OSC 52)"));
                    return vec![Action::Copy(token)];
                }
            }
            KeyAction::RefreshShares => return vec![self.request(RequestKind::ListShares)],
            KeyAction::Freeze => self.traffic.toggle_freeze(),
            KeyAction::CycleLevel => {
                self.log_level = match self.log_level {
                    LogLevel::Trace => LogLevel::Debug,
                    LogLevel::Debug => LogLevel::Info,
                    LogLevel::Info => LogLevel::Warn,
                    LogLevel::Warn => LogLevel::Error,
                    LogLevel::Error => LogLevel::Trace,
                };
                self.rebuild_stream(Pane::Logs);
            }
            KeyAction::Submit
            | KeyAction::Send
            | KeyAction::Yes
            | KeyAction::No
            | KeyAction::Close => {}
        }
        Vec::new()
    }

    /// Ask the engine for the environment's shares.
    pub(crate) fn refresh_shares(&mut self) -> Vec<Action> {
        vec![self.request(RequestKind::ListShares)]
    }

    /// Mouse (only when enabled): the wheel moves the selection, a click on a tab focuses it.
    pub fn handle_mouse(&mut self, kind: MouseEventKind, column: u16, row: u16) -> Vec<Action> {
        if let Some(k) = crate::tui::wheel_key(kind) {
            return self.handle_key(k);
        }
        if matches!(kind, MouseEventKind::Down(MouseButton::Left)) && self.modal.is_none() {
            let tabs_row = 3 + u16::from(self.banner.is_some());
            if row == tabs_row {
                let mut x = 1u16;
                for p in Pane::ALL {
                    let w = (p.title().len() + 4) as u16;
                    if column >= x && column < x + w {
                        self.pane = p;
                        self.dirty = true;
                    }
                    x += w + 2;
                }
            }
        }
        Vec::new()
    }

    fn copy_token(&mut self) -> Vec<Action> {
        let text = match self.snapshot.as_ref().map(|s| &s.gateway.serving) {
            Some(Serving::Zrok { share_token, .. }) => share_token.clone(),
            Some(Serving::Loopback { mcp_url, .. }) => mcp_url.clone(),
            _ => {
                self.set_toast(
                    ToastLevel::Warn,
                    "nothing to copy yet: not serving".to_string(),
                );
                return Vec::new();
            }
        };
        self.set_toast(ToastLevel::Info, format!("copied {text} (OSC 52)"));
        vec![Action::Copy(text)]
    }
}
