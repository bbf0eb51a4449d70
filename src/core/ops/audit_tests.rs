use std::time::{Duration, UNIX_EPOCH};

use rmcp::model::JsonObject;
use serde_json::Value;

use super::*;
use crate::core::live::state::CallPath;
use crate::core::ops::Denied;

fn info<'a>(backend: Option<&'a str>, target: &'a str, outcome: Outcome) -> CallInfo<'a> {
    CallInfo {
        session: "s1-abc123",
        caller: "bob@example.com-0123-env",
        backend,
        method: "tools/call",
        target,
        duration: Duration::from_micros(1500),
        outcome,
        path: CallPath::Fast,
    }
}

/// The line for `c` and `r`, parsed (and checked to be one line).
fn line(c: &CallInfo<'_>, r: Option<&Request>) -> Value {
    let mut out = Vec::new();
    let now = UNIX_EPOCH + Duration::from_millis(1_764_028_800_000 + 3_723_004);
    format_line(&mut out, c, r, now);
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.ends_with('\n') && text.matches('\n').count() == 1,
        "{text:?}"
    );
    serde_json::from_str(&text).unwrap()
}

fn raw(json: &str) -> Box<serde_json::value::RawValue> {
    serde_json::value::RawValue::from_string(json.to_string()).unwrap()
}

const SECRET_ARGS: &str =
    "{\n  \"path\": \"/srv/secret-plans.txt\",\n  \"token\": \"hunter2\",\n  \"n\": [1, {\"a\": \"x y\"}]\n}";

#[test]
fn a_line_has_every_field_of_the_schema_and_argument_keys_only() {
    let a = raw(SECRET_ARGS);
    let r = request(Some("read_file"), Args::Raw(&a), false);
    let v = line(&info(Some("fs"), "fs_read_file", Outcome::Ok), Some(&r));
    assert_eq!(
        v,
        serde_json::json!({
            "v": 1,
            "time": "2025-11-25T01:02:03.002Z",
            "session": "s1-abc123",
            "caller": "bob@example.com-0123-env",
            "method": "tools/call",
            "path": "fast",
            "backend": "fs",
            "tool": "fs_read_file",
            "backend_tool": "read_file",
            "outcome": "ok",
            "duration_us": 1500,
            "argument_keys": ["n", "path", "token"],
        })
    );
    // Decoded arguments (the rmcp path) give the same keys, sorted too.
    let obj: JsonObject = serde_json::from_str(SECRET_ARGS).unwrap();
    let r2 = request(Some("read_file"), Args::Json(&obj), false);
    let v2 = line(&info(Some("fs"), "fs_read_file", Outcome::Ok), Some(&r2));
    assert_eq!(v2["argument_keys"], v["argument_keys"]);
    for text in [v.to_string(), v2.to_string()] {
        for secret in ["hunter2", "secret-plans", "x y"] {
            assert!(!text.contains(secret), "{text}");
        }
    }
}

#[test]
fn argument_values_only_when_enabled_as_one_compact_line() {
    let a = raw(SECRET_ARGS);
    let r = request(Some("read_file"), Args::Raw(&a), true);
    let v = line(&info(Some("fs"), "fs_read_file", Outcome::Ok), Some(&r));
    let want: Value = serde_json::from_str(SECRET_ARGS).unwrap();
    assert_eq!(v["arguments"], want);
    assert_eq!(
        v["arguments"]["n"][1]["a"], "x y",
        "spaces in strings are kept"
    );
    assert_eq!(
        v["argument_keys"],
        serde_json::json!(["n", "path", "token"])
    );
    let obj: JsonObject = serde_json::from_str(SECRET_ARGS).unwrap();
    let r = request(Some("read_file"), Args::Json(&obj), true);
    assert_eq!(
        line(&info(Some("fs"), "t", Outcome::Ok), Some(&r))["arguments"],
        want
    );
    // No arguments at all: null, and no keys.
    let r = request(Some("read_file"), Args::None, true);
    let v = line(&info(Some("fs"), "t", Outcome::Ok), Some(&r));
    assert_eq!(
        (&v["arguments"], &v["argument_keys"]),
        (&Value::Null, &serde_json::json!([]))
    );
    // Too large: the size only.
    let big = format!("{{\"blob\":\"{}\"}}", "x".repeat(MAX_ARGUMENTS));
    let big = raw(&big);
    let r = request(Some("w"), Args::Raw(&big), true);
    let v = line(&info(Some("fs"), "t", Outcome::Ok), Some(&r));
    assert_eq!(v["arguments"], Value::Null);
    assert_eq!(v["arguments_omitted_bytes"], MAX_ARGUMENTS + 11);
    assert_eq!(v["argument_keys"], serde_json::json!(["blob"]));
}

#[test]
fn outcomes_codes_and_denials() {
    let v = line(&info(Some("fs"), "fs_x", Outcome::Error(-32603)), None);
    assert_eq!(
        (&v["outcome"], &v["code"]),
        (&"error".into(), &(-32603).into())
    );
    assert!(v.get("argument_keys").is_none());
    for (o, label) in [
        (Outcome::ToolError, "tool_error"),
        (Outcome::Timeout, "timeout"),
        (Outcome::Cancelled, "cancelled"),
    ] {
        let v = line(&info(Some("fs"), "fs_x", o), None);
        assert_eq!(v["outcome"], label);
        assert!(
            v.get("code").is_none() && v.get("denied_by").is_none(),
            "{v}"
        );
    }
    let denials = [
        (Denied::UnknownTool, "unknown_tool"),
        (Denied::Filter(2), "backends[2].tools"),
        (Denied::Access(1), "access[1]"),
        (Denied::Policy(0), "backends[0].policy.paths"),
    ];
    for (d, rule) in denials {
        let v = line(&info(Some("fs"), "fs_x", Outcome::Denied(d)), None);
        assert_eq!(
            (&v["outcome"], &v["denied_by"]),
            (&"denied".into(), &rule.into())
        );
    }
    // No backend serves the name: null backend and backend tool.
    let r = request(None, Args::None, false);
    let v = line(
        &info(None, "nope", Outcome::Denied(Denied::UnknownTool)),
        Some(&r),
    );
    assert_eq!(
        (&v["backend"], &v["backend_tool"]),
        (&Value::Null, &Value::Null)
    );
    assert_eq!(v["path"], "fast");
}

#[test]
fn client_strings_are_capped_and_uris_lose_credentials() {
    let long = "é".repeat(300);
    let v = line(
        &info(None, &long, Outcome::Denied(Denied::UnknownTool)),
        None,
    );
    let tool = v["tool"].as_str().unwrap();
    assert!(
        tool.len() <= MAX_NAME && tool.len() > MAX_NAME - 2,
        "{}",
        tool.len()
    );
    let many: String = (0..100).map(|i| format!("\"k{i}\":{i},")).collect();
    let many = raw(&format!("{{{}\"{}\":0}}", many, "y".repeat(500)));
    let r = request(Some("t"), Args::Raw(&many), false);
    let v = line(&info(Some("fs"), "fs_t", Outcome::Ok), Some(&r));
    assert_eq!(v["argument_keys"].as_array().unwrap().len(), MAX_KEYS);
    assert_eq!(v["argument_keys_truncated"], true);
    let mut c = info(
        Some("web"),
        "https://user:pw@example.com/a/b?token=abc#frag",
        Outcome::Ok,
    );
    c.method = "resources/read";
    let v = line(&c, None);
    assert_eq!(v["uri"], "https://example.com/a/b");
    assert!(v.get("tool").is_none());
    c.method = "prompts/get";
    c.target = "fs_summary";
    assert_eq!(line(&c, None)["prompt"], "fs_summary");
    // Arguments that are not an object have no keys.
    let r = request(Some("t"), Args::Raw(&raw("[1,2]")), false);
    assert_eq!(line(&c, Some(&r))["argument_keys"], serde_json::json!([]));
}

#[test]
fn the_log_file_gets_one_line_per_call_and_rotation_links_the_newest() {
    let d = tempfile::tempdir().unwrap();
    let cfg = |file: &str, rotation| config::Audit {
        file: d.path().join(file),
        rotation,
        max_files: 3,
        arguments: false,
    };
    let (log, guard) = AuditLog::open(&cfg("never.jsonl", config::Rotation::Never)).unwrap();
    for t in ["a_one", "a_two"] {
        log.write(&info(Some("a"), t, Outcome::Ok), None);
    }
    // Nothing reaches the file until the pending lines are handed over.
    assert_eq!(
        std::fs::read_to_string(d.path().join("never.jsonl")).unwrap(),
        ""
    );
    log.flush();
    drop(guard);
    let text = std::fs::read_to_string(d.path().join("never.jsonl")).unwrap();
    let tools: Vec<String> = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["tool"].to_string())
        .collect();
    assert_eq!(tools, ["\"a_one\"", "\"a_two\""]);
    assert_eq!(log.dropped(), 0);

    let (log, guard) = AuditLog::open(&cfg("daily.jsonl", config::Rotation::Daily)).unwrap();
    log.write(&info(Some("a"), "a_one", Outcome::Ok), None);
    log.flush();
    drop(guard);
    let link = d.path().join("daily.jsonl");
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    let dated: Vec<String> = std::fs::read_dir(d.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("daily.") && n != "daily.jsonl")
        .collect();
    assert_eq!(dated.len(), 1, "{dated:?}");
    assert!(dated[0].ends_with(".jsonl") && dated[0].len() == "daily.2026-01-01.jsonl".len());
    assert_eq!(std::fs::read_to_string(&link).unwrap().lines().count(), 1);

    // A plain file where the link goes is refused, naming the key.
    std::fs::write(d.path().join("plain.jsonl"), "x").unwrap();
    let e = AuditLog::open(&cfg("plain.jsonl", config::Rotation::Hourly))
        .err()
        .unwrap();
    assert!(
        e.starts_with("audit.file ") && e.contains("not a link"),
        "{e}"
    );
    // A directory that cannot be created is an error too, not a panic.
    std::fs::write(d.path().join("f"), "x").unwrap();
    let e = AuditLog::open(&cfg("f/sub/a.jsonl", config::Rotation::Never))
        .err()
        .unwrap();
    assert!(e.starts_with("audit.file "), "{e}");
}
