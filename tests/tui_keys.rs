//! Keymap tests: one table, no clashes, everything documented, read-only enforced.

use crossterm::event::{KeyEvent, KeyModifiers};
use mcpz::tui::app::{Console, Modal};
use mcpz::tui::keymap::{self, Scope, BINDINGS};
use mcpz::tui::ui::{help_lines, hint_items};
use mcpz::tui::{fixtures, Action, ConsoleOptions, Pane};

fn app(read_only: bool) -> Console {
    let mut a = Console::new(ConsoleOptions {
        read_only,
        ..Default::default()
    });
    a.apply_snapshot(&fixtures::small());
    a
}

fn event(k: &keymap::Key) -> KeyEvent {
    KeyEvent::new(k.code, k.mods)
}

#[test]
fn every_binding_is_in_the_help_modal() {
    for read_only in [false, true] {
        let a = app(read_only);
        let help: Vec<String> = help_lines(&a).iter().map(|l| l.to_string()).collect();
        for b in BINDINGS {
            let keys = keymap::keys_label(b);
            assert!(
                help.iter().any(|l| l.contains(&keys) && l.contains(b.help)),
                "binding {keys} ({}) missing from help",
                b.help
            );
            if read_only && b.mutating {
                assert!(help
                    .iter()
                    .any(|l| l.contains(b.help) && l.contains("disabled: read-only")));
            }
        }
        for p in Pane::ALL {
            assert!(
                help.iter().any(|l| l == p.title()),
                "no help section for {p:?}"
            );
        }
    }
}

#[test]
fn hint_bar_comes_from_the_table() {
    let mut a = app(false);
    for p in Pane::ALL {
        a.pane = p;
        let items = hint_items(&a);
        assert_eq!(
            items.last().map(|(k, l)| (k.as_str(), *l)),
            Some(("?", "help"))
        );
        for (keys, label) in &items[..items.len() - 1] {
            assert!(
                BINDINGS
                    .iter()
                    .any(|b| keymap::keys_label(b) == *keys && b.label == *label),
                "hint {keys} {label} not in table"
            );
        }
        // The pane's own keys come first.
        let own: Vec<_> = keymap::scope_bindings(Scope::Pane(p))
            .filter(|b| b.scope == Scope::Pane(p) && b.in_bar)
            .collect();
        for (i, b) in own.iter().enumerate() {
            assert_eq!(items[i].1, b.label);
        }
    }
}

#[test]
fn read_only_blocks_every_mutating_binding() {
    let mutating: Vec<_> = BINDINGS.iter().filter(|b| b.mutating).collect();
    assert!(mutating.len() >= 5, "restart, end, try, new, delete");
    for b in mutating {
        let p = match b.scope {
            Scope::Pane(p) => p,
            // A global binding (reload) acts from any pane.
            Scope::Global => Pane::Backends,
            _ => panic!("mutating binding outside the main view: {}", b.label),
        };
        for k in b.keys {
            let mut a = app(true);
            a.pane = p;
            let actions = a.handle_key(event(k));
            assert!(actions.is_empty(), "{} produced {actions:?}", b.label);
            assert!(a.modal.is_none(), "{} opened {:?}", b.label, a.modal);
            let toast = a.toast.as_ref().expect("toast");
            assert!(toast.text.contains("read-only"), "{}", toast.text);
            assert!(hint_items(&a).iter().all(|(_, l)| *l != b.label));

            // Without read-only the same key does something.
            let mut a = app(false);
            a.pane = p;
            if p == Pane::Shares {
                a.handle_key(event(&keymap::Key::ch('j'))); // skip the running share
            }
            let actions = a.handle_key(event(k));
            assert!(
                a.modal.is_some() || !actions.is_empty(),
                "{} did nothing",
                b.label
            );
        }
    }
}

#[test]
fn dangerous_bindings_ask_first() {
    for b in BINDINGS.iter().filter(|b| b.dangerous) {
        let p = match b.scope {
            Scope::Pane(p) => p,
            _ => Pane::Backends,
        };
        let mut a = app(false);
        a.pane = p;
        if p == Pane::Shares {
            a.handle_key(event(&keymap::Key::ch('j'))); // the running share cannot be deleted
        }
        let actions = a.handle_key(event(&b.keys[0]));
        assert!(actions.is_empty(), "{} acted without asking", b.label);
        assert!(
            matches!(a.modal, Some(Modal::Confirm { .. })),
            "{}",
            b.label
        );
    }
}

#[test]
fn q_quits_only_from_the_top_level_and_esc_never_quits() {
    let mut a = app(false);
    let esc = KeyEvent::new(crossterm::event::KeyCode::Esc, KeyModifiers::NONE);
    for _ in 0..3 {
        assert!(a.handle_key(esc).is_empty());
    }
    a.handle_key(event(&keymap::Key::ch('/')));
    assert!(a.handle_key(event(&keymap::Key::ch('q'))).is_empty());
    assert_eq!(a.filters[0], "q");
    a.handle_key(esc);
    a.handle_key(event(&keymap::Key::ch('?')));
    assert!(a.handle_key(esc).is_empty());
    assert!(a.modal.is_none());
    assert_eq!(
        a.handle_key(event(&keymap::Key::ch('q'))),
        vec![Action::Quit]
    );
    // Ctrl-C quits from anywhere, even inside the editor.
    a.pane = Pane::Tools;
    a.handle_key(event(&keymap::Key::ch('t')));
    assert!(matches!(a.modal, Some(Modal::TryTool(_))));
    let ctrl_c = KeyEvent::new(crossterm::event::KeyCode::Char('c'), KeyModifiers::CONTROL);
    assert_eq!(a.handle_key(ctrl_c), vec![Action::Quit]);
}
