//! Fuzz the fast path's JSON-RPC frame reader and rewriter (`core::wire::frame`): arbitrary bytes
//! as a client's POST body, a client's `tools/call` and a backend's response or progress frame.
//! Never panics, and:
//! - only a JSON object has a head (an array is a batch, not a message);
//! - `check_body` Ok: the body is one JSON value (not an array) nested at most `MAX_DEPTH` deep;
//!   Err: the answer is a JSON-RPC error frame with id null and code -32700 or -32600 (batch);
//! - `call_frame` of parsed `tools/call` params is JSON with the new id and tool name, the
//!   client's other params unchanged, and `_meta.progressToken` the new id when there was one;
//! - `readdress` output is JSON with the client's id and the backend's result or error unchanged;
//! - `progress_to_client` output is JSON with the client's token and the other params unchanged;
//! - `error_frame` and `cancelled_frame` are JSON carrying their text.
//!
//! Run: `cargo +nightly fuzz run frame` from the repository root.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcpz::core::wire::frame::{call_frame, CallParams};
use mcpz::core::wire::fuzz;
use serde_json::value::RawValue;
use serde_json::Value;

/// Asserts that `b` is one JSON value; returns it as a `Value` when serde_json can hold it (not,
/// for example, a number out of f64's range, which JSON allows and frames pass through raw).
fn json(b: &[u8]) -> Option<Value> {
    if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(b) {
        panic!("not JSON ({e}): {}", String::from_utf8_lossy(b));
    }
    serde_json::from_slice(b).ok()
}

fn depth(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        Value::Object(o) => 1 + o.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// JSON's equality on values as serde_json reads them (duplicate keys: the last wins); true when
/// `a` cannot be held in a `Value`.
fn same(a: &str, b: &Value) -> bool {
    serde_json::from_str::<Value>(a).map_or(true, |a| &a == b)
}

fn check_body(data: &[u8]) {
    match fuzz::check_body(data) {
        Ok(()) => {
            let Some(v) = json(data) else { return };
            assert!(!v.is_array(), "a batch was accepted");
            assert!(depth(&v) <= fuzz::MAX_DEPTH, "nested deeper than MAX_DEPTH");
        }
        Err((batch, frame)) => {
            let v = json(&frame).expect("an error frame");
            assert_eq!(v["id"], Value::Null);
            let want = if batch { -32600 } else { -32700 };
            assert_eq!(v["error"]["code"], want);
            assert!(v["error"]["message"].is_string());
            if batch {
                assert!(json(data).is_none_or(|v| v.is_array()));
            }
        }
    }
}

fn tools_call(params: &RawValue) {
    let Some(p) = CallParams::parse(params) else {
        return;
    };
    let f = call_frame("mcpz-fast-1", "tool", &p);
    let Some(v) = json(&f) else { return };
    assert_eq!(v["jsonrpc"], "2.0");
    assert_eq!(v["id"], "mcpz-fast-1");
    assert_eq!(v["method"], "tools/call");
    let out = v["params"].as_object().expect("params is an object");
    assert_eq!(out["name"], "tool");
    for (k, raw) in &p.rest {
        assert!(
            same(raw.get(), &out[k.as_ref()])
                || p.rest.iter().filter(|(k2, _)| k2 == k).count() > 1
        );
    }
    if p.meta.is_some() || p.progress.is_some() {
        let meta = out["_meta"].as_object().expect("_meta is an object");
        if p.progress.is_some() {
            assert_eq!(meta["progressToken"], "mcpz-fast-1");
        }
        for (k, raw) in p.meta.iter().flatten() {
            assert!(
                same(raw.get(), &meta[k.as_ref()])
                    || meta.len() < p.meta.as_ref().map_or(0, Vec::len)
            );
        }
    } else {
        assert!(!out.contains_key("_meta"));
    }
    // The rewritten frame parses the same way again.
    let h = fuzz::head(&f).expect("call_frame output has a head");
    let params: &RawValue = serde_json::from_str(h.params.as_deref().expect("params")).unwrap();
    let again = CallParams::parse(params).expect("call_frame params parse again");
    assert_eq!(again.name, "tool");
    assert_eq!(again.rest.len(), p.rest.len());
    assert_eq!(again.progress.is_some(), p.progress.is_some());
}

fn response(data: &[u8], client_id: &str, h: &fuzz::Head) {
    let Some((out, outcome)) = fuzz::readdress(data, client_id) else {
        assert!(
            h.result.is_some() == h.error.is_some(),
            "a response was not re-addressed"
        );
        return;
    };
    let Some(v) = json(&out) else { return };
    assert!(same(client_id, &v["id"]), "id not rewritten");
    assert_eq!(v["jsonrpc"], "2.0");
    match (&h.result, &h.error) {
        (Some(r), None) => {
            assert!(same(r, &v["result"]));
            assert!(matches!(outcome.0, "ok" | "tool_error"));
        }
        (None, Some(e)) => {
            assert!(same(e, &v["error"]));
            assert_eq!(outcome.0, "error");
        }
        _ => panic!("re-addressed a frame that is not one response"),
    }
}

fn progress(data: &[u8], h: &fuzz::Head) {
    let Some(out) = fuzz::progress_to_client(data, r#""client-token""#) else {
        return;
    };
    let Some(v) = json(&out) else { return };
    assert_eq!(v["method"], "notifications/progress");
    assert_eq!(v["params"]["progressToken"], "client-token");
    let before: Option<Value> = serde_json::from_str(h.params.as_deref().expect("params")).ok();
    if let (Some(before), Some(after)) = (
        before.as_ref().and_then(Value::as_object),
        v["params"].as_object(),
    ) {
        for (k, val) in before {
            if k != "progressToken" {
                assert_eq!(&after[k], val);
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    check_body(data);
    if let Some(h) = fuzz::head(data) {
        // A JSON-RPC message is an object; an array is a batch (serde reads structs from both).
        assert_eq!(
            data.iter().find(|b| !b.is_ascii_whitespace()),
            Some(&b'{'),
            "a head read from a frame that is not an object"
        );
        let client_id = match h.id.as_deref() {
            Some(id) if fuzz::valid_id(serde_json::from_str(id).unwrap()) => id.to_string(),
            _ => "7".to_string(),
        };
        if let Some(params) = h.params.as_deref() {
            tools_call(serde_json::from_str(params).unwrap());
        }
        response(data, &client_id, &h);
        if h.params.is_some() {
            progress(data, &h);
        }
    } else {
        assert!(fuzz::readdress(data, "7").is_none());
        assert!(fuzz::progress_to_client(data, "1").is_none());
    }
    let text = String::from_utf8_lossy(data);
    let e = json(&fuzz::error_frame("null", -32603, &text)).expect("an error frame");
    assert_eq!(e["error"]["message"].as_str(), Some(text.as_ref()));
    let c = json(&fuzz::cancelled_frame(&text, &text)).expect("a cancelled frame");
    assert_eq!(c["params"]["requestId"].as_str(), Some(text.as_ref()));
    assert_eq!(c["params"]["reason"].as_str(), Some(text.as_ref()));
});
