//! Every file in `tests/configs/bad/*.yml` must fail to load with exactly the message in its
//! sibling `.err` file (one error per line, named as when checked from that directory).
//!
//! To (re)write the `.err` files after an intended message change: `MCPZ_BLESS=1 cargo test
//! --test config_errors`, then review the diff.

use std::path::{Path, PathBuf};

use mcpz::core::config;

const BAD: &str = "tests/configs/bad";

/// The fixtures only reference variables named `MCPZ_FIXTURE_UNSET_*`, which are never set.
fn env(name: &str) -> Option<String> {
    if name.starts_with("MCPZ_FIXTURE_UNSET") {
        None
    } else {
        std::env::var(name).ok()
    }
}

fn fixtures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(BAD);
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("fixture dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    v.sort();
    v
}

fn check(path: &Path) -> String {
    let name = path.file_name().unwrap().to_string_lossy().to_string();
    let text = std::fs::read_to_string(path).unwrap();
    match config::parse(&text, &name, &env) {
        Ok((cfg, _)) => panic!("{name}: expected errors, got a config: {cfg:?}"),
        Err(errs) => {
            assert!(!errs.is_empty(), "{name}: empty error list");
            errs.to_string()
        }
    }
}

#[test]
fn bad_configs_fail_with_exact_messages() {
    let bless = std::env::var_os("MCPZ_BLESS").is_some();
    let files = fixtures();
    assert!(
        files.len() >= 25,
        "expected at least 25 bad fixtures, found {}",
        files.len()
    );
    let mut failures = Vec::new();
    for path in &files {
        let got = check(path);
        let err_file = path.with_extension("err");
        if bless {
            std::fs::write(&err_file, format!("{got}\n")).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&err_file)
            .unwrap_or_else(|_| panic!("missing {}", err_file.display()));
        if got != want.trim_end_matches('\n') {
            failures.push(format!(
                "--- {}\nwant:\n{}\ngot:\n{}\n",
                path.file_name().unwrap().to_string_lossy(),
                want.trim_end(),
                got
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} fixture(s) differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_err_file_has_a_fixture() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(BAD);
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|e| e == "err") {
            assert!(
                p.with_extension("yml").exists(),
                "{} has no .yml",
                p.display()
            );
        }
    }
}

#[test]
fn messages_name_every_line_and_never_leak_values() {
    for path in fixtures() {
        let got = check(&path);
        for line in got.lines() {
            // Every message points into the file (file-not-found is tested separately).
            assert!(
                line.contains(".yml:"),
                "{}: no location in {line:?}",
                path.display()
            );
        }
        assert!(
            !got.contains("secret"),
            "{}: leaked a value: {got}",
            path.display()
        );
    }
}

#[test]
fn load_names_the_path_as_given() {
    let rel = Path::new(BAD).join("zrok_no_token.yml");
    let abs = Path::new(env!("CARGO_MANIFEST_DIR")).join(&rel);
    let err = config::load(&abs).unwrap_err().to_string();
    assert!(err.ends_with(&format!("({}:3)", abs.display())), "{err}");
    // Missing key: the line of its parent mapping (`transport:` on line 3).
    assert!(
        err.starts_with("backends[0].transport.share_token: required for zrok transport"),
        "{err}"
    );
}

#[test]
fn load_missing_file_names_the_path() {
    let err = config::load(Path::new("/nonexistent/mcpz/gateway.yml")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot read config file '/nonexistent/mcpz/gateway.yml': No such file or directory (os error 2)"
    );
    let dir = config::load(Path::new(BAD)).unwrap_err().to_string();
    assert_eq!(
        dir,
        format!("cannot read config file '{BAD}': is a directory")
    );
}

#[test]
fn load_rejects_non_utf8() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bin.yml");
    std::fs::write(&p, b"backends:\n  - id: \xff\xfe\n").unwrap();
    let err = config::load(&p).unwrap_err().to_string();
    assert_eq!(
        err,
        format!("config file is not valid UTF-8 ({}:2)", p.display())
    );
}
