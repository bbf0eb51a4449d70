//! Screen tests: fixture snapshots drawn into ratatui's `TestBackend`.
//!
//! Golden screens live in `tests/fixtures/tui/*.txt`; regenerate with `UPDATE_GOLDEN=1 cargo test
//! --test tui_render` and review the diff.

use std::path::PathBuf;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use mcpz::core::live::state::{Event, LogLevel};
use mcpz::tui::app::Console;
use mcpz::tui::{fixtures, render, ConsoleOptions, Pane};
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::style::{Color, Modifier};
use ratatui::Terminal;

fn app_with(opts: ConsoleOptions) -> Console {
    let mut app = Console::new(opts);
    app.apply_snapshot(&fixtures::small());
    app.tick(fixtures::t0());
    for i in 0..30 {
        app.apply_event(&Event::Call(fixtures::call(i)));
    }
    app.apply_event(&Event::Log(fixtures::log(
        1,
        LogLevel::Info,
        "gateway listening",
    )));
    app.apply_event(&Event::Log(fixtures::log(
        2,
        LogLevel::Warn,
        "backend files degraded",
    )));
    app.apply_event(&Event::Log(fixtures::log(
        3,
        LogLevel::Debug,
        "debug detail",
    )));
    app
}

fn app() -> Console {
    app_with(ConsoleOptions::default())
}

fn key(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
}

fn draw(app: &mut Console, w: u16, h: u16) -> Buffer {
    let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
    term.draw(|f| render(app, f)).unwrap();
    term.backend().buffer().clone()
}

fn lines(buf: &Buffer) -> Vec<String> {
    let a = buf.area;
    (0..a.height)
        .map(|y| {
            let mut s = String::new();
            let mut x = 0;
            while x < a.width {
                let sym = buf[(x, y)].symbol();
                s.push_str(sym);
                // A wide character covers the next cell too.
                x += ratatui::text::Span::raw(sym).width().max(1) as u16;
            }
            s.trim_end().to_string()
        })
        .collect()
}

fn text(buf: &Buffer) -> String {
    lines(buf).join("\n")
}

fn row_with<'a>(l: &'a [String], needle: &str) -> &'a str {
    l.iter()
        .find(|r| r.contains(needle))
        .unwrap_or_else(|| panic!("no row contains {needle:?} in\n{}", l.join("\n")))
}

fn golden(name: &str, buf: &Buffer) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tui")
        .join(format!("{name}.txt"));
    let got = text(buf) + "\n";
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("missing {}; run with UPDATE_GOLDEN=1", path.display()));
    assert_eq!(got, want, "screen {name} differs from {}", path.display());
}

fn cell_at<'a>(buf: &'a Buffer, needle: &str) -> &'a ratatui::buffer::Cell {
    let l = lines(buf);
    let (y, row) = l
        .iter()
        .enumerate()
        .find(|(_, r)| r.contains(needle))
        .expect("needle on screen");
    let col = row[..row.find(needle).unwrap()].chars().count();
    &buf[(col as u16, y as u16)]
}

#[test]
fn golden_screens_80x24() {
    for (name, pane) in [
        ("backends_80x24", Pane::Backends),
        ("sessions_80x24", Pane::Sessions),
        ("tools_80x24", Pane::Tools),
        ("shares_80x24", Pane::Shares),
        ("traffic_80x24", Pane::Traffic),
        ("logs_80x24", Pane::Logs),
    ] {
        let mut a = app();
        a.pane = pane;
        golden(name, &draw(&mut a, 80, 24));
    }
}

#[test]
fn golden_modals_80x24() {
    let mut a = app();
    ch_keys(&mut a, "?");
    golden("help_80x24", &draw(&mut a, 80, 24));
    let mut a = app();
    ch_keys(&mut a, "2x");
    golden("confirm_end_session_80x24", &draw(&mut a, 80, 24));
    let mut a = app_with(ConsoleOptions {
        ascii: true,
        no_color: true,
        read_only: true,
        ..Default::default()
    });
    ch_keys(&mut a, "3");
    golden("tools_ascii_read_only_80x24", &draw(&mut a, 80, 24));
}

fn ch_keys(a: &mut Console, keys: &str) {
    for c in keys.chars() {
        a.handle_key(key(c));
    }
}

#[test]
fn golden_screens_160x48() {
    for (name, pane) in [
        ("backends_160x48", Pane::Backends),
        ("traffic_160x48", Pane::Traffic),
    ] {
        let mut a = app();
        a.pane = pane;
        golden(name, &draw(&mut a, 160, 48));
    }
}

#[test]
fn header_shows_gateway_overlay_and_counts() {
    let buf = draw(&mut app(), 80, 24);
    let l = lines(&buf);
    assert!(l[0].contains("mcp-gateway 0.1.0"));
    assert!(l[0].contains("up 1h02m"));
    assert!(l[1].contains("zrok https://api.zrok.io │ share mcpzdemo01 (c copy)"));
    assert!(l[2].contains("backends 1/4 ready"));
    assert!(l[2].contains("sessions 2"));
    assert!(l[2].contains("calls 150"));
    assert!(l[2].contains("errors 8"));
    assert!(l[3].contains("[1] Backends") && l[3].contains("[6] Logs"));
    assert!(!l[0].contains("READ-ONLY"));
}

#[test]
fn backends_rows_carry_glyph_word_and_numbers() {
    let buf = draw(&mut app(), 80, 24);
    let l = lines(&buf);
    let gh = row_with(&l, "github ");
    for cell in ["stdio", "● ready", "3/4", "120", "42ms", "180ms"] {
        assert!(gh.contains(cell), "{cell:?} missing from {gh:?}");
    }
    assert!(row_with(&l, "files ").contains("▲ degraded"));
    assert!(row_with(&l, "search ").contains("✖ failed"));
    assert!(row_with(&l, "remote ").contains("◐ starting"));
    // Selected row's detail footer.
    assert!(row_with(&l, "target: npx -y @example/github-mcp").contains("server: github-mcp 1.0.0"));
}

#[test]
fn wide_screen_shows_secondary_columns() {
    let mut a = app();
    let buf = draw(&mut a, 160, 48);
    let l = lines(&buf);
    assert!(row_with(&l, "ID ").contains("LAST ERROR"));
    assert!(row_with(&l, "search ").contains("connect: connection refused"));
    a.pane = Pane::Sessions;
    let l = lines(&draw(&mut a, 160, 48));
    assert!(row_with(&l, "ID ").contains("TRANSPORT"));
    assert!(row_with(&l, "s-alpha ").contains("claude-code 1.0.3"));
}

#[test]
fn status_cells_are_coloured_unless_no_color() {
    let buf = draw(&mut app(), 80, 24);
    assert_eq!(cell_at(&buf, "✖ failed").fg, Color::Indexed(208));
    assert_eq!(cell_at(&buf, "▲ degraded").fg, Color::Yellow);
    let buf = draw(
        &mut app_with(ConsoleOptions {
            no_color: true,
            ..Default::default()
        }),
        80,
        24,
    );
    for y in 0..buf.area.height {
        for x in 0..buf.area.width {
            let c = &buf[(x, y)];
            assert_eq!(
                (c.fg, c.bg),
                (Color::Reset, Color::Reset),
                "colour at {x},{y}"
            );
        }
    }
    // Status still readable without colour.
    assert!(text(&buf).contains("✖ failed"));
    // Selection still visible without colour.
    assert!(cell_at(&buf, "github ")
        .modifier
        .contains(Modifier::REVERSED));
}

#[test]
fn ascii_mode_draws_only_ascii() {
    for pane in Pane::ALL {
        let mut a = app_with(ConsoleOptions {
            ascii: true,
            ..Default::default()
        });
        a.pane = pane;
        let t = text(&draw(&mut a, 80, 24));
        assert!(t.is_ascii(), "non-ASCII in {pane:?}:\n{t}");
        if pane == Pane::Backends {
            assert!(t.contains("x failed") && t.contains("+ ready") && t.contains("! degraded"));
            assert!(t.contains("+[1] Backends---"));
        }
    }
    let mut a = app_with(ConsoleOptions {
        ascii: true,
        ..Default::default()
    });
    a.handle_key(key('?'));
    assert!(text(&draw(&mut a, 80, 24)).is_ascii());
}

#[test]
fn too_small_shows_centered_message() {
    let buf = draw(&mut app(), 60, 20);
    let l = lines(&buf);
    let row = row_with(&l, "terminal too small");
    assert_eq!(row.trim(), "terminal too small: need 80x24, have 60x20");
    assert_eq!(l.iter().position(|r| r.contains("too small")), Some(10));
    assert!(row.starts_with("   "), "centred: {row:?}");
    assert!(l.iter().all(|r| !r.contains("Backends")));
    // Just below in one dimension.
    assert!(text(&draw(&mut app(), 79, 30)).contains("have 79x30"));
    assert!(text(&draw(&mut app(), 100, 23)).contains("have 100x23"));
}

#[test]
fn tiny_and_odd_sizes_do_not_panic() {
    for (w, h) in [
        (0, 0),
        (1, 1),
        (5, 2),
        (80, 24),
        (81, 25),
        (300, 100),
        (80, 60),
        (200, 24),
    ] {
        for pane in Pane::ALL {
            let mut a = app();
            a.pane = pane;
            draw(&mut a, w, h);
            a.handle_key(key('?'));
            draw(&mut a, w, h);
        }
    }
    // Empty app (no snapshot yet).
    let mut a = Console::new(ConsoleOptions::default());
    for pane in Pane::ALL {
        a.pane = pane;
        let t = text(&draw(&mut a, 80, 24));
        assert!(t.contains("waiting for the gateway"));
    }
}

#[test]
fn unicode_names_render() {
    let mut snap = fixtures::small();
    snap.backends[0].id = "gïthüb-日本語-🚀".to_string();
    snap.tools[0].name = "日本語_ツール_名前_とても長い_名前_です_もっと長く".to_string();
    let mut a = Console::new(ConsoleOptions::default());
    a.apply_snapshot(&snap);
    let t = text(&draw(&mut a, 80, 24));
    assert!(t.contains("gïthüb"));
    a.pane = Pane::Tools;
    for c in "/日本".chars() {
        a.handle_key(key(c));
    }
    let t = text(&draw(&mut a, 80, 24));
    assert!(t.contains("(filter: 日本)"));
    assert!(t.contains("日本語_ツール"));
}

#[test]
fn read_only_and_banner_in_header() {
    let mut a = app_with(ConsoleOptions {
        read_only: true,
        banner: Some("demo gateway on loopback: connect with mcp-tools".into()),
        ..Default::default()
    });
    let l = lines(&draw(&mut a, 80, 24));
    assert!(l[0].contains("READ-ONLY"));
    assert!(l[3].contains("demo gateway on loopback"));
    assert!(l[4].contains("[1] Backends"));
    // Mutating keys are not offered in the hint bar.
    assert!(!l[23].contains("restart"), "{}", l[23]);
    assert!(l[23].contains("? help"));
}

#[test]
fn filter_shows_in_title_and_narrows() {
    let mut a = app();
    a.pane = Pane::Tools;
    for c in "/GITHUB_LIST".chars() {
        a.handle_key(key(c));
    }
    let l = lines(&draw(&mut a, 80, 24));
    assert!(l[4].contains("[3] Tools (filter: GITHUB_LIST)"), "{}", l[4]);
    assert!(l.iter().any(|r| r.contains("github_list_repos")));
    assert!(!l.iter().any(|r| r.contains("files_read_file")));
    assert!(l[22].contains("filter /GITHUB_LIST"));
}

#[test]
fn modals_render() {
    let mut a = app();
    a.handle_key(key('r'));
    let t = text(&draw(&mut a, 80, 24));
    assert!(t.contains("Restart backend github? y/N"), "{t}");
    a.handle_key(key('n'));

    a.pane = Pane::Tools;
    a.handle_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
    let t = text(&draw(&mut a, 160, 48));
    assert!(t.contains("github_create_issue"));
    assert!(t.contains("Does create_issue on github."));
    assert!(t.contains("Input schema:"));
    assert!(t.contains("\"required\""));
    a.handle_key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE));

    a.handle_key(key('t'));
    let t = text(&draw(&mut a, 80, 24));
    assert!(t.contains("Try github_create_issue"));
    assert!(t.contains("\"path\": \"\""), "{t}");
    a.handle_key(KeyEvent::new(KeyCode::Char('x'), KeyModifiers::NONE));
    a.handle_key(KeyEvent::new(KeyCode::Char('s'), KeyModifiers::CONTROL));
    let t = text(&draw(&mut a, 80, 24));
    assert!(t.contains("invalid JSON"), "{t}");
}

#[test]
fn large_snapshot_renders_visible_rows_only() {
    let mut a = Console::new(ConsoleOptions::default());
    a.apply_snapshot(&fixtures::large(50, 10_000, 1_000));
    a.tick(fixtures::t0());
    a.pane = Pane::Tools;
    a.handle_key(KeyEvent::new(KeyCode::End, KeyModifiers::NONE));
    let l = lines(&draw(&mut a, 160, 48));
    assert!(l.iter().any(|r| r.contains("backend049_tool09999")));
    assert!(row_with(&l, "[3] Tools 1").contains("10000 shown, 9000/10000 exposed"));
}
