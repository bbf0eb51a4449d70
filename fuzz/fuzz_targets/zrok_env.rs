//! Fuzz the zrok environment readers (`core::zrok::env::Root` over `~/.zrok2`: `metadata.json`,
//! `config.json`, `environment.json`) and the OpenZiti identity it points at
//! (`identities/environment.json`, `core::ziti::Identity::from_json`). Never panics; an environment
//! is enabled exactly when it has a token and an identity, otherwise the reason is given; the API
//! endpoint never ends in `/`.
//!
//! Input: the four files' contents, separated by NUL bytes (a missing part: no such file). They are
//! written into one temporary directory per process, rewritten for every input. Identity inputs
//! that could name a device or kernel file (`dev/`, `proc/`, `sys/`) are skipped.
//! Run: `cargo +nightly fuzz run zrok_env` from the repository root.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mcpz::core::ziti::Identity;
use mcpz::core::zrok::Root;

const FILES: [&str; 4] = [
    "metadata.json",
    "config.json",
    "environment.json",
    "identities/environment.json",
];

fn dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("mcpz-fuzz-zrok-{}", std::process::id()));
        std::fs::create_dir_all(d.join("identities")).expect("temp dir");
        d
    })
}

fuzz_target!(|data: &[u8]| {
    let dir = dir();
    let parts: Vec<&[u8]> = data.splitn(4, |b| *b == 0).collect();
    for (i, name) in FILES.iter().enumerate() {
        let p = dir.join(name);
        match parts.get(i) {
            Some(text) => std::fs::write(&p, text).expect("write"),
            None => {
                let _ = std::fs::remove_file(&p);
            }
        }
    }
    for var in [None, Some("http://127.0.0.1:1/".to_string())] {
        let root = Root::load_with(dir, var);
        match root.require_enabled() {
            Ok(env) => {
                assert!(root.environment().is_some());
                assert!(!env.env_zid().is_empty());
                assert!(root.metadata_version().is_some());
            }
            Err(e) => {
                assert!(root.environment().is_none());
                assert!(!e.reason().is_empty(), "not enabled, without a reason");
            }
        }
        let ep = root.api_endpoint();
        assert!(!ep.url.ends_with('/'), "endpoint {:?}", ep.url);
        let _ = root.config();
        let _ = root.identity_path();
    }
    if let Some(id) = parts.get(3) {
        if ![&b"dev/"[..], b"proc/", b"sys/"]
            .iter()
            .any(|p| id.windows(p.len()).any(|w| w == *p))
        {
            let _ = Identity::from_json(id, Some(dir));
        }
    }
});
