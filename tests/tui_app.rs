//! Behaviour of the console state machine, without a terminal.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use mcpz::core::live::state::{BackendStatus, Event, LogLevel, ShareState};
use mcpz::tui::app::{Console, Modal, ToastLevel, LOG_CAP, TRAFFIC_CAP};
use mcpz::tui::{
    fixtures, Action, ConsoleOptions, Pane, Request, RequestKind, Response, ResponseValue,
};
use serde_json::json;

fn app() -> Console {
    let mut a = Console::new(ConsoleOptions::default());
    a.apply_snapshot(&fixtures::small());
    a.tick(fixtures::t0());
    a
}

fn press(a: &mut Console, code: KeyCode) -> Vec<Action> {
    a.handle_key(KeyEvent::new(code, KeyModifiers::NONE))
}

fn ch(a: &mut Console, c: char) -> Vec<Action> {
    press(a, KeyCode::Char(c))
}

fn typ(a: &mut Console, s: &str) {
    for c in s.chars() {
        ch(a, c);
    }
}

fn ctrl(a: &mut Console, c: char) -> Vec<Action> {
    a.handle_key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL))
}

fn sent(actions: &[Action]) -> Vec<RequestKind> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send(Request { kind, .. }) => Some(kind.clone()),
            _ => None,
        })
        .collect()
}

fn request_id(actions: &[Action]) -> u64 {
    match &actions[0] {
        Action::Send(r) => r.id,
        other => panic!("not a send: {other:?}"),
    }
}

fn selected_tool(a: &Console) -> String {
    let i = a.lists[2].selected().unwrap();
    a.snapshot.as_ref().unwrap().tools[i].name.clone()
}

#[test]
fn panes_cycle_and_jump() {
    let mut a = app();
    press(&mut a, KeyCode::Tab);
    assert_eq!(a.pane, Pane::Sessions);
    a.handle_key(KeyEvent::new(KeyCode::BackTab, KeyModifiers::SHIFT));
    a.handle_key(KeyEvent::new(KeyCode::BackTab, KeyModifiers::SHIFT));
    assert_eq!(a.pane, Pane::Logs);
    for (c, p) in ('1'..='6').zip(Pane::ALL) {
        ch(&mut a, c);
        assert_eq!(a.pane, p);
    }
}

#[test]
fn filter_is_case_insensitive_live_and_esc_clears() {
    let mut a = app();
    ch(&mut a, '3');
    ch(&mut a, '/');
    typ(&mut a, "FILE");
    assert_eq!(a.lists[2].view.len(), 2);
    assert_eq!(selected_tool(&a), "files_read_file");
    press(&mut a, KeyCode::Backspace);
    typ(&mut a, "ES_W");
    assert_eq!(a.lists[2].view.len(), 1);
    press(&mut a, KeyCode::Enter);
    assert!(!a.filter_editing);
    assert_eq!(a.filters[2], "FILES_W");
    // Filter survives snapshot updates.
    a.apply_snapshot(&fixtures::small());
    assert_eq!(a.lists[2].view.len(), 1);
    // Each pane has its own filter.
    ch(&mut a, '1');
    assert_eq!(a.lists[0].view.len(), 4);
    ch(&mut a, '3');
    press(&mut a, KeyCode::Esc);
    assert_eq!(a.filters[2], "");
    assert_eq!(a.lists[2].view.len(), 6);
    // No match: empty list, nothing selected, keys are harmless.
    ch(&mut a, '/');
    typ(&mut a, "zzz");
    press(&mut a, KeyCode::Enter);
    assert!(a.lists[2].selected().is_none());
    assert!(press(&mut a, KeyCode::Enter).is_empty());
    assert!(ch(&mut a, 't').is_empty());
    press(&mut a, KeyCode::Down);
    assert!(a.modal.is_none());
}

#[test]
fn filter_applies_to_traffic_and_logs() {
    let mut a = app();
    for i in 0..100 {
        a.apply_event(&Event::Call(fixtures::call(i)));
    }
    ch(&mut a, '5');
    ch(&mut a, '/');
    typ(&mut a, "TOOL7");
    // Targets are github_tool{i % 50}: calls 7 and 57.
    assert_eq!(a.traffic.visible_len(), 2);
    // New events are filtered as they arrive.
    a.apply_event(&Event::Call(fixtures::call(107)));
    a.apply_event(&Event::Call(fixtures::call(108)));
    assert_eq!(a.traffic.visible_len(), 3);
    press(&mut a, KeyCode::Esc);
    assert_eq!(a.traffic.visible_len(), 102);

    ch(&mut a, '6');
    a.apply_event(&Event::Log(fixtures::log(
        1,
        LogLevel::Info,
        "Share created",
    )));
    a.apply_event(&Event::Log(fixtures::log(
        2,
        LogLevel::Info,
        "session opened",
    )));
    ch(&mut a, '/');
    typ(&mut a, "share");
    assert_eq!(a.logs.visible_len(), 1);
}

#[test]
fn selection_is_stable_across_snapshot_updates() {
    let mut a = app();
    ch(&mut a, '3');
    ch(&mut a, 'j');
    ch(&mut a, 'j');
    assert_eq!(selected_tool(&a), "github_search_code");
    // Reorder and insert before it.
    let mut s = fixtures::small();
    s.tools.reverse();
    let mut extra = s.tools[0].clone();
    extra.name = "aaa_new".into();
    s.tools.insert(0, extra);
    a.apply_snapshot(&s);
    assert_eq!(selected_tool(&a), "github_search_code");
    // The selected item disappears: the cursor stays at its position.
    let pos = a.lists[2].cursor;
    s.tools.retain(|t| t.name != "github_search_code");
    a.apply_snapshot(&s);
    assert_eq!(a.lists[2].cursor, pos);
    assert_ne!(selected_tool(&a), "github_search_code");
    // Everything disappears, then comes back: no panic, a valid selection.
    let mut empty = s.clone();
    empty.tools.clear();
    a.apply_snapshot(&empty);
    assert!(a.lists[2].selected().is_none());
    a.apply_snapshot(&s);
    assert!(a.lists[2].selected().is_some());

    // Sessions, by id, also through an event.
    ch(&mut a, '2');
    ch(&mut a, 'j');
    let id = |a: &Console| {
        a.snapshot.as_ref().unwrap().sessions[a.lists[1].selected().unwrap()]
            .id
            .clone()
    };
    assert_eq!(id(&a), "s-beta");
    let mut s2 = fixtures::small();
    s2.sessions.reverse();
    a.apply_snapshot(&s2);
    assert_eq!(id(&a), "s-beta");
    a.apply_event(&Event::SessionClosed {
        id: "s-alpha".into(),
        reason: "eof".into(),
    });
    assert_eq!(id(&a), "s-beta");
}

#[test]
fn navigation_keys_clamp() {
    let mut a = Console::new(ConsoleOptions::default());
    a.apply_snapshot(&fixtures::large(5, 500, 10));
    ch(&mut a, '3');
    a.page = 20;
    press(&mut a, KeyCode::PageDown);
    assert_eq!(a.lists[2].cursor, 20);
    press(&mut a, KeyCode::End);
    assert_eq!(a.lists[2].cursor, 499);
    press(&mut a, KeyCode::Down);
    assert_eq!(a.lists[2].cursor, 499);
    ch(&mut a, 'g');
    press(&mut a, KeyCode::Up);
    assert_eq!(a.lists[2].cursor, 0);
}

#[test]
fn restart_backend_confirm_flow() {
    let mut a = app();
    ch(&mut a, 'j'); // files
    assert!(ch(&mut a, 'r').is_empty());
    match &a.modal {
        Some(Modal::Confirm { message, .. }) => assert_eq!(message, "Restart backend files?"),
        other => panic!("{other:?}"),
    }
    // Default is no.
    assert!(press(&mut a, KeyCode::Enter).is_empty());
    assert!(a.modal.is_none());
    ch(&mut a, 'r');
    assert!(press(&mut a, KeyCode::Esc).is_empty());
    ch(&mut a, 'r');
    assert!(ch(&mut a, 'x').is_empty(), "any other key cancels");
    ch(&mut a, 'r');
    let actions = ch(&mut a, 'y');
    assert_eq!(
        sent(&actions),
        vec![RequestKind::RestartBackend { id: "files".into() }]
    );
    assert!(a.modal.is_none());
    assert_eq!(a.pending.len(), 1);
    // The reply becomes feedback; an error also goes to Logs.
    let id = request_id(&actions);
    a.apply_response(Response {
        id,
        result: Err("backend busy".into()),
    });
    let t = a.toast.clone().unwrap();
    assert_eq!(t.level, ToastLevel::Error);
    assert_eq!(t.text, "restart backend files failed: backend busy");
    assert!(a.pending.is_empty());
    ch(&mut a, '6');
    let last = a.logs.item_at(a.logs.visible_len() - 1).unwrap();
    assert_eq!(last.level, LogLevel::Error);
    assert!(last.message.contains("backend busy"));
    // Toast expires.
    a.tick(fixtures::t0() + std::time::Duration::from_secs(10));
    assert!(a.toast.is_none());
}

#[test]
fn end_session_confirm_flow_with_both_keys() {
    for key in ['x', 'd'] {
        let mut a = app();
        ch(&mut a, '2');
        ch(&mut a, key);
        match &a.modal {
            Some(Modal::Confirm { message, .. }) => {
                assert_eq!(message, "End session s-alpha (claude-code 1.0.3)?")
            }
            other => panic!("{other:?}"),
        }
        let actions = ch(&mut a, 'y');
        assert_eq!(
            sent(&actions),
            vec![RequestKind::EndSession {
                id: "s-alpha".into()
            }]
        );
    }
}

#[test]
fn shares_create_delete_and_refresh() {
    let mut a = app();
    ch(&mut a, '4');
    // Create with a name (q and d are text here).
    ch(&mut a, 'n');
    typ(&mut a, "qd-prod");
    let actions = press(&mut a, KeyCode::Enter);
    assert_eq!(
        sent(&actions),
        vec![RequestKind::CreateShare {
            name: Some("qd-prod".into())
        }]
    );
    // The reply triggers a refresh.
    let after = a.apply_response(Response {
        id: request_id(&actions),
        result: Ok(ResponseValue::Text("qdprod".into())),
    });
    assert_eq!(sent(&after), vec![RequestKind::ListShares]);
    assert_eq!(a.toast.as_ref().unwrap().text, "share qdprod created");
    // The listing replaces the snapshot's shares.
    let listed = vec![ShareState {
        token: "fresh1".into(),
        kind: "persistent".into(),
        backend_mode: "proxy".into(),
        created_at: None,
    }];
    a.apply_response(Response {
        id: request_id(&after),
        result: Ok(ResponseValue::Shares(listed)),
    });
    assert_eq!(a.shares().len(), 1);
    // Empty name = random.
    ch(&mut a, 'n');
    let actions = press(&mut a, KeyCode::Enter);
    assert_eq!(
        sent(&actions),
        vec![RequestKind::CreateShare { name: None }]
    );
    // Esc cancels the prompt.
    ch(&mut a, 'n');
    typ(&mut a, "x");
    assert!(press(&mut a, KeyCode::Esc).is_empty());
    assert!(a.modal.is_none());
    // Delete asks, names the share, then sends.
    ch(&mut a, 'd');
    match &a.modal {
        Some(Modal::Confirm { message, .. }) => assert_eq!(message, "Delete share fresh1?"),
        other => panic!("{other:?}"),
    }
    let actions = ch(&mut a, 'y');
    assert_eq!(
        sent(&actions),
        vec![RequestKind::DeleteShare {
            token: "fresh1".into()
        }]
    );
    // R refreshes; y copies.
    assert_eq!(sent(&ch(&mut a, 'R')), vec![RequestKind::ListShares]);
    assert_eq!(ch(&mut a, 'y'), vec![Action::Copy("fresh1".into())]);
}

#[test]
fn the_running_share_is_not_deleted() {
    let mut a = app();
    ch(&mut a, '4');
    assert!(ch(&mut a, 'd').is_empty());
    assert!(a.modal.is_none());
    assert_eq!(a.toast.as_ref().unwrap().level, ToastLevel::Warn);
}

#[test]
fn copy_token_uses_osc52_action() {
    let mut a = app();
    assert_eq!(ch(&mut a, 'c'), vec![Action::Copy("mcpzdemo01".into())]);
    let mut s = fixtures::small();
    s.gateway.serving = mcpz::core::live::state::Serving::Starting;
    a.apply_snapshot(&s);
    assert!(ch(&mut a, 'c').is_empty());
    assert_eq!(mcpz::tui::view::osc52("ab"), "\x1b]52;c;YWI=\x07");
}

#[test]
fn try_tool_flow() {
    let mut a = app();
    ch(&mut a, '3');
    press(&mut a, KeyCode::Enter);
    assert!(
        matches!(&a.modal, Some(Modal::ToolDetail { tool, .. }) if tool == "github_create_issue")
    );
    press(&mut a, KeyCode::Esc);
    ch(&mut a, 't');
    let editor_text = |a: &Console| match &a.modal {
        Some(Modal::TryTool(t)) => t.editor.text(),
        other => panic!("{other:?}"),
    };
    // Template from the schema.
    let tmpl: serde_json::Value = serde_json::from_str(&editor_text(&a)).unwrap();
    assert_eq!(tmpl, json!({"path": "", "limit": 0}));
    // Break the JSON: error shown, nothing sent, editor stays.
    press(&mut a, KeyCode::End);
    ch(&mut a, ',');
    assert!(ctrl(&mut a, 's').is_empty());
    match &a.modal {
        Some(Modal::TryTool(t)) => {
            assert!(
                t.error.as_deref().unwrap().starts_with("invalid JSON"),
                "{:?}",
                t.error
            )
        }
        other => panic!("{other:?}"),
    }
    // An array is valid JSON but not arguments.
    clear_editor(&mut a);
    typ(&mut a, "[1]");
    assert!(ctrl(&mut a, 's').is_empty());
    assert!(
        matches!(&a.modal, Some(Modal::TryTool(t)) if t.error.as_deref() == Some("arguments must be a JSON object, not an array"))
    );
    // Valid JSON (typed over two lines, q is text) → CallTool.
    clear_editor(&mut a);
    typ(&mut a, "{\"path\":");
    press(&mut a, KeyCode::Enter);
    typ(&mut a, "\"q/é\"}");
    let actions = ctrl(&mut a, 's');
    let mut args = serde_json::Map::new();
    args.insert("path".into(), json!("q/é"));
    assert_eq!(
        sent(&actions),
        vec![RequestKind::CallTool {
            name: "github_create_issue".into(),
            arguments: args
        }]
    );
    // While pending, another send does nothing.
    assert!(ctrl(&mut a, 's').is_empty());
    // The result lands in the modal.
    a.apply_response(Response {
        id: request_id(&actions),
        result: Ok(ResponseValue::Text("{\n  \"ok\": true\n}".into())),
    });
    match &a.modal {
        Some(Modal::TryTool(t)) => {
            assert_eq!(t.result, Some(Ok("{\n  \"ok\": true\n}".to_string())));
            assert!(t.error.is_none() && t.pending.is_none());
        }
        other => panic!("{other:?}"),
    }
    // Errors too.
    let actions = ctrl(&mut a, 's');
    a.apply_response(Response {
        id: request_id(&actions),
        result: Err("tool failed".into()),
    });
    assert!(
        matches!(&a.modal, Some(Modal::TryTool(t)) if t.result == Some(Err("tool failed".to_string())))
    );
    press(&mut a, KeyCode::Esc);
    assert!(a.modal.is_none());
}

fn clear_editor(a: &mut Console) {
    if let Some(Modal::TryTool(t)) = &mut a.modal {
        t.editor = mcpz::tui::text::Editor::new("");
    }
}

#[test]
fn freeze_stops_the_view_but_not_the_buffer() {
    let mut a = app();
    ch(&mut a, '5');
    for i in 0..10 {
        a.apply_event(&Event::Call(fixtures::call(i)));
    }
    ch(&mut a, 'f');
    assert!(a.traffic.frozen());
    for i in 10..25 {
        a.apply_event(&Event::Call(fixtures::call(i)));
    }
    assert_eq!(a.traffic.visible_len(), 10);
    assert_eq!(a.traffic.len(), 25);
    assert_eq!(a.traffic.missed(), 15);
    assert_eq!(a.traffic.item_at(9).unwrap().target, "github_tool9");
    ch(&mut a, ' ');
    assert!(!a.traffic.frozen());
    assert_eq!(a.traffic.visible_len(), 25);
}

#[test]
fn traffic_follows_the_tail_until_scrolled() {
    let mut a = app();
    ch(&mut a, '5');
    for i in 0..50 {
        a.apply_event(&Event::Call(fixtures::call(i)));
    }
    assert_eq!(a.traffic.cursor(), Some(49));
    ch(&mut a, 'k');
    ch(&mut a, 'k');
    assert_eq!(a.traffic.cursor(), Some(47));
    for i in 50..60 {
        a.apply_event(&Event::Call(fixtures::call(i)));
    }
    // Stays on the same call.
    assert_eq!(a.traffic.cursor(), Some(47));
    ch(&mut a, 'G');
    assert_eq!(a.traffic.cursor(), Some(59));
}

#[test]
fn buffers_are_bounded() {
    let mut a = app();
    for i in 0..(TRAFFIC_CAP as u64 + 2_500) {
        a.apply_event(&Event::Call(fixtures::call(i)));
    }
    assert_eq!(a.traffic.len(), TRAFFIC_CAP);
    assert_eq!(a.traffic.visible_len(), TRAFFIC_CAP);
    assert_eq!(a.traffic.item_at(0).unwrap().at, fixtures::call(2_500).at);
    for i in 0..(LOG_CAP as u64 * 2) {
        a.apply_event(&Event::Log(fixtures::log(i, LogLevel::Warn, "w")));
    }
    assert_eq!(a.logs.len(), LOG_CAP);
    a.note_dropped(7);
    assert_eq!(a.dropped, 7);
}

#[test]
fn log_level_filter_cycles() {
    let mut a = app();
    ch(&mut a, '6');
    let levels = [
        LogLevel::Trace,
        LogLevel::Debug,
        LogLevel::Info,
        LogLevel::Warn,
        LogLevel::Error,
    ];
    for (i, l) in levels.iter().enumerate() {
        a.apply_event(&Event::Log(fixtures::log(i as u64, *l, "m")));
    }
    assert_eq!(a.log_level, LogLevel::Info);
    assert_eq!(a.logs.visible_len(), 3);
    ch(&mut a, 'l');
    assert_eq!((a.log_level, a.logs.visible_len()), (LogLevel::Warn, 2));
    ch(&mut a, 'l');
    assert_eq!((a.log_level, a.logs.visible_len()), (LogLevel::Error, 1));
    ch(&mut a, 'l');
    assert_eq!((a.log_level, a.logs.visible_len()), (LogLevel::Trace, 5));
    // New lines respect the level.
    ch(&mut a, 'l');
    ch(&mut a, 'l');
    a.apply_event(&Event::Log(fixtures::log(9, LogLevel::Debug, "hidden")));
    assert_eq!(a.logs.visible_len(), 3);
    assert_eq!(a.logs.len(), 6);
}

#[test]
fn backend_status_event_updates_the_row() {
    let mut a = app();
    a.apply_event(&Event::BackendStatus {
        id: "search".into(),
        status: BackendStatus::Ready,
        error: None,
    });
    assert_eq!(
        a.snapshot.as_ref().unwrap().backends[2].status,
        BackendStatus::Ready
    );
}

#[test]
fn replies_for_unknown_requests_are_ignored() {
    let mut a = app();
    assert!(a
        .apply_response(Response {
            id: 999,
            result: Ok(ResponseValue::Done)
        })
        .is_empty());
    assert!(a.toast.is_none());
}

#[test]
fn locale_detection() {
    use mcpz::tui::locale_is_utf8;
    let env = |pairs: &'static [(&'static str, &'static str)]| {
        move |k: &str| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    };
    assert!(locale_is_utf8(env(&[("LANG", "en_US.UTF-8")])));
    assert!(locale_is_utf8(env(&[("LC_ALL", "C.utf8"), ("LANG", "C")])));
    assert!(!locale_is_utf8(env(&[
        ("LC_ALL", "C"),
        ("LANG", "en_US.UTF-8")
    ])));
    assert!(!locale_is_utf8(env(&[])));
    assert!(!locale_is_utf8(env(&[("LANG", "POSIX")])));
}

#[tokio::test]
async fn requests_become_commands_and_replies_come_back() {
    use mcpz::core::live::control::Command;
    let mut a = app();
    ch(&mut a, '1');
    ch(&mut a, 'r');
    let actions = ch(&mut a, 'y');
    let Action::Send(req) = actions[0].clone() else {
        panic!()
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel(4);
    let (cmd, fut) = mcpz::tui::to_command(req.clone());
    tx.try_send(cmd).unwrap();
    match rx.recv().await.unwrap() {
        Command::RestartBackend { id, reply } => {
            assert_eq!(id, "github");
            reply.send(Ok(())).unwrap();
        }
        other => panic!("{other:?}"),
    }
    let reply = fut.await;
    assert_eq!(
        reply,
        Response {
            id: req.id,
            result: Ok(ResponseValue::Done)
        }
    );
    a.apply_response(reply);
    assert_eq!(
        a.toast.as_ref().unwrap().text,
        "restart backend github: done"
    );

    // A dropped reply channel is an error, not a hang.
    let (cmd, fut) = mcpz::tui::to_command(Request {
        id: 7,
        kind: RequestKind::ListShares,
    });
    drop(cmd);
    assert_eq!(
        fut.await.result,
        Err("the engine dropped the request".to_string())
    );

    // Tool results come back as text.
    let (cmd, fut) = mcpz::tui::to_command(Request {
        id: 8,
        kind: RequestKind::CallTool {
            name: "files_read_file".into(),
            arguments: Default::default(),
        },
    });
    if let Command::CallTool { name, reply, .. } = cmd {
        assert_eq!(name, "files_read_file");
        reply.send(Ok("{}".into())).unwrap();
    }
    assert_eq!(fut.await.result, Ok(ResponseValue::Text("{}".into())));
}

#[test]
fn mouse_wheel_scrolls_and_click_focuses_tab() {
    use crossterm::event::{MouseButton, MouseEventKind};
    let mut a = app();
    a.handle_mouse(MouseEventKind::ScrollDown, 10, 10);
    assert_eq!(a.lists[0].cursor, 1);
    a.handle_mouse(MouseEventKind::ScrollUp, 10, 10);
    assert_eq!(a.lists[0].cursor, 0);
    // Tabs row is 3 (after the three header lines): " [1] Backends  [2] Sessions  [3] Tools".
    a.handle_mouse(MouseEventKind::Down(MouseButton::Left), 31, 3);
    assert_eq!(a.pane, Pane::Tools);
    a.handle_mouse(MouseEventKind::Down(MouseButton::Left), 31, 10);
    assert_eq!(a.pane, Pane::Tools);
}

#[test]
fn traffic_filter_matches_outcomes() {
    let mut a = app();
    for i in 0..40 {
        a.apply_event(&Event::Call(fixtures::call(i)));
    }
    ch(&mut a, '5');
    ch(&mut a, '/');
    typ(&mut a, "timeout");
    // call(i) times out when i % 20 == 0.
    assert_eq!(a.traffic.visible_len(), 2);
}
