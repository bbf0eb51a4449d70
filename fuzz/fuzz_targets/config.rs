//! Fuzz config decoding (`core::config::parse`, YAML): arbitrary text as a config file. Never
//! panics; an error list is never empty and every error names the file and a line inside it (or
//! one past its end); a value that came from a `${VAR}` expansion never appears in a message; an
//! accepted config has unique, valid backend ids.
//!
//! `tls.ca_cert_file` is read from the filesystem: inputs that could name a device or kernel file
//! (`dev/`, `proc/`, `sys/`) are skipped, so that the fuzzer cannot make the harness read
//! `/dev/zero` forever.
//! Run: `cargo +nightly fuzz run config` from the repository root.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcpz::core::config;

/// What `${VAR}` expands to: recognisable in any message.
const SECRET: &str = "s3cr3t-fuzz-value";

fn check(text: &str, env: &dyn Fn(&str) -> Option<String>, secret_set: bool) {
    // Lines as YAML counts them: `\r\n`, `\r` and `\n` each end one.
    let lines = text.replace("\r\n", "\n").split(['\r', '\n']).count();
    match config::parse(text, "fuzz.yml", env) {
        Ok((cfg, warnings)) => {
            assert_eq!(cfg.source, "fuzz.yml");
            let mut ids: Vec<&str> = cfg.backends.iter().map(|b| b.id.as_str()).collect();
            for id in &ids {
                assert!(
                    !id.is_empty()
                        && id
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b)),
                    "accepted backend id {id:?}"
                );
            }
            ids.sort_unstable();
            let n = ids.len();
            ids.dedup();
            assert_eq!(ids.len(), n, "duplicate backend ids accepted");
            for w in &warnings {
                let _ = w.to_string();
                assert!(
                    !secret_set || !w.message.contains(SECRET),
                    "secret in a warning: {w}"
                );
            }
        }
        Err(errs) => {
            assert!(!errs.is_empty(), "an empty error list");
            for e in errs.iter() {
                let shown = e.to_string();
                let loc = e
                    .location
                    .as_ref()
                    .unwrap_or_else(|| panic!("an error without a location: {shown}"));
                assert_eq!(loc.source, "fuzz.yml");
                assert!(
                    (1..=lines + 1).contains(&loc.line),
                    "line {} of {lines}: {shown}",
                    loc.line
                );
                assert!(!e.message.is_empty());
                assert!(
                    !secret_set || !shown.contains(SECRET),
                    "secret in an error: {shown}"
                );
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if ["dev/", "proc/", "sys/"].iter().any(|p| text.contains(p)) {
        return;
    }
    check(text, &|_| None, false);
    if !text.contains(SECRET) {
        check(
            text,
            &|name| (!name.starts_with('U')).then(|| SECRET.to_string()),
            true,
        );
    }
});
