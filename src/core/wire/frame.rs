//! JSON-RPC frames as raw bytes, for the `tools/call` fast path: parse the few fields a call
//! needs and build or re-address frames, without decoding into model types and re-encoding.
//! A client's `tools/call` goes to the backend with only its `id` and tool `name` rewritten, and
//! the response comes back with only its `id` rewritten (docs/architecture.md).

use std::borrow::Cow;
use std::fmt::Write as _;

use bytes::Bytes;
use serde::de::{MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

/// The envelope fields of a JSON-RPC message, borrowed from the frame.
#[derive(Deserialize)]
pub(crate) struct Head<'a> {
    #[serde(borrow, default)]
    pub jsonrpc: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub method: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub params: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub result: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub error: Option<&'a RawValue>,
}

impl<'a> Head<'a> {
    /// The envelope of a frame that is one JSON object (serde would also read a struct from an
    /// array, `["2.0",7,"tools/call",{..}]`, which is a batch, not a message).
    pub fn parse(frame: &'a [u8]) -> Option<Head<'a>> {
        if frame.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return None;
        }
        serde_json::from_slice(frame).ok()
    }
}

/// A JSON-RPC id as the client sent it: a number or a string (null and others are refused).
pub(crate) fn valid_id(id: &RawValue) -> bool {
    let s = id.get();
    s.starts_with('"') || s.starts_with('-') || s.as_bytes().first().is_some_and(u8::is_ascii_digit)
}

/// The fields of `tools/call` params: the tool name, `_meta` split into its fields, and every
/// other field, raw.
pub struct CallParams<'a> {
    pub name: Cow<'a, str>,
    pub rest: Vec<(Cow<'a, str>, &'a RawValue)>,
    /// `_meta`'s fields other than `progressToken`, if `_meta` is present.
    pub meta: Option<Vec<(Cow<'a, str>, &'a RawValue)>>,
    /// `_meta.progressToken`, raw.
    pub progress: Option<&'a RawValue>,
}

/// The fields of a JSON object, raw, in order.
struct Fields<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de> Deserialize<'de> for Fields<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Fields<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
                let mut v = Vec::new();
                while let Some(JsonKey(k)) = m.next_key::<JsonKey<'de>>()? {
                    v.push((k, m.next_value::<&'de RawValue>()?));
                }
                Ok(Fields(v))
            }
        }
        d.deserialize_map(V)
    }
}

#[derive(Deserialize)]
struct JsonKey<'a>(#[serde(borrow)] Cow<'a, str>);

/// The fields of the JSON object `json`, raw and in order; `None` for anything else.
pub(crate) fn object_fields(json: &str) -> Option<Vec<(Cow<'_, str>, &RawValue)>> {
    serde_json::from_str::<Fields>(json).ok().map(|f| f.0)
}

impl<'de> Deserialize<'de> for CallParams<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CallParams<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("tools/call params")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
                let mut name = None;
                let mut rest = Vec::new();
                let mut meta = None;
                let mut progress = None;
                while let Some(JsonKey(k)) = m.next_key::<JsonKey<'de>>()? {
                    if k == "name" {
                        if name.is_some() {
                            return Err(serde::de::Error::duplicate_field("name"));
                        }
                        let JsonKey(n) = m.next_value::<JsonKey<'de>>()?;
                        name = Some(n);
                        continue;
                    }
                    if k == "_meta" {
                        if meta.is_some() {
                            return Err(serde::de::Error::duplicate_field("_meta"));
                        }
                        let Fields(mut f) = m.next_value::<Fields<'de>>()?;
                        if let Some(i) = f.iter().position(|(k, _)| k == "progressToken") {
                            progress = Some(f.remove(i).1);
                            if f.iter().any(|(k, _)| k == "progressToken") {
                                return Err(serde::de::Error::duplicate_field("progressToken"));
                            }
                        }
                        meta = Some(f);
                        continue;
                    }
                    let v: &'de RawValue = m.next_value()?;
                    rest.push((k, v));
                }
                let name = name.ok_or_else(|| serde::de::Error::missing_field("name"))?;
                Ok(CallParams {
                    name,
                    rest,
                    meta,
                    progress,
                })
            }
        }
        d.deserialize_map(V)
    }
}

impl<'a> CallParams<'a> {
    pub fn parse(params: &'a RawValue) -> Option<CallParams<'a>> {
        serde_json::from_str(params.get()).ok()
    }
}

fn push_json_str(out: &mut Vec<u8>, s: &str) {
    // serde_json never fails to serialize a str.
    let _ = serde_json::to_writer(&mut *out, s);
}

fn push_fields(out: &mut Vec<u8>, fields: &[(Cow<'_, str>, &RawValue)], mut first: bool) {
    for (k, v) in fields {
        if !first {
            out.push(b',');
        }
        first = false;
        push_json_str(out, k);
        out.push(b':');
        out.extend_from_slice(v.get().as_bytes());
    }
}

/// `{"jsonrpc":"2.0","id":"<id>","method":"tools/call","params":{"name":<tool>,...}}` with the
/// client's other params; `_meta` keeps its fields, and its `progressToken` becomes `<id>`.
pub fn call_frame(id: &str, tool: &str, p: &CallParams<'_>) -> Vec<u8> {
    let extra: usize = p
        .rest
        .iter()
        .chain(p.meta.iter().flatten())
        .map(|(k, v)| k.len() + v.get().len() + 4)
        .sum();
    let mut out = Vec::with_capacity(120 + 2 * id.len() + tool.len() + extra);
    out.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
    push_json_str(&mut out, id);
    out.extend_from_slice(br#","method":"tools/call","params":{"name":"#);
    push_json_str(&mut out, tool);
    if !p.rest.is_empty() {
        out.push(b',');
        push_fields(&mut out, &p.rest, true);
    }
    if p.meta.is_some() || p.progress.is_some() {
        out.extend_from_slice(br#","_meta":{"#);
        let mut first = true;
        if p.progress.is_some() {
            out.extend_from_slice(br#""progressToken":"#);
            push_json_str(&mut out, id);
            first = false;
        }
        push_fields(&mut out, p.meta.as_deref().unwrap_or(&[]), first);
        out.push(b'}');
    }
    out.extend_from_slice(b"}}");
    out
}

/// A backend's `notifications/progress` frame with its token replaced by the client's.
pub(crate) fn progress_to_client(frame: &[u8], client_token: &str) -> Option<Bytes> {
    let h = Head::parse(frame)?;
    let Fields(fields) = serde_json::from_str(h.params?.get()).ok()?;
    let mut out = Vec::with_capacity(frame.len() + client_token.len());
    out.extend_from_slice(
        br#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"#,
    );
    out.extend_from_slice(client_token.as_bytes());
    for (k, v) in &fields {
        if k == "progressToken" {
            continue;
        }
        out.push(b',');
        push_json_str(&mut out, k);
        out.push(b':');
        out.extend_from_slice(v.get().as_bytes());
    }
    out.extend_from_slice(b"}}");
    Some(Bytes::from(out))
}

/// The backend's response re-addressed to the client's request id, with what it says (for the
/// console's call records), or `None` when the frame is not a response. The frame is parsed once.
pub(crate) fn readdress(frame: &[u8], client_id: &str) -> Option<(Bytes, Outcome)> {
    let h = Head::parse(frame)?;
    let (key, body, outcome) = match (h.result, h.error) {
        (Some(r), None) => ("result", r, result_outcome(r)),
        (None, Some(e)) => ("error", e, error_outcome(e)),
        _ => return None,
    };
    let mut out = Vec::with_capacity(body.get().len() + client_id.len() + 32);
    out.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
    out.extend_from_slice(client_id.as_bytes());
    out.extend_from_slice(b",\"");
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":");
    out.extend_from_slice(body.get().as_bytes());
    out.push(b'}');
    Some((Bytes::from(out), outcome))
}

/// A JSON-RPC error response to `client_id`.
pub(crate) fn error_frame(client_id: &str, code: i32, message: &str) -> Bytes {
    let mut out = Vec::with_capacity(message.len() + client_id.len() + 64);
    out.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
    out.extend_from_slice(client_id.as_bytes());
    let _ = write!(
        VecWriter(&mut out),
        r#","error":{{"code":{code},"message":"#
    );
    push_json_str(&mut out, message);
    out.extend_from_slice(b"}}");
    Bytes::from(out)
}

/// Deepest nesting of arrays and objects a POSTed message may have. rmcp's decoder gives up at
/// serde_json's recursion limit (128) with an HTTP error of its own; we answer first, with a
/// JSON-RPC error, and leave room below that limit.
pub(crate) const MAX_DEPTH: usize = 100;

/// Why a POSTed body is not one JSON-RPC message we can take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BodyError {
    /// Not JSON, or nested deeper than [`MAX_DEPTH`] (JSON-RPC -32700).
    Parse(String),
    /// A JSON-RPC batch (an array): batching left MCP in protocol revision 2025-06-18
    /// (JSON-RPC -32600).
    Batch,
}

impl BodyError {
    /// The JSON-RPC error response (id `null`) to answer with, status 400.
    pub fn frame(&self) -> Bytes {
        match self {
            BodyError::Parse(why) => error_frame("null", -32700, &format!("Parse error: {why}")),
            BodyError::Batch => error_frame(
                "null",
                -32600,
                "Invalid Request: JSON-RPC batches are not supported (MCP removed them in \
                 protocol revision 2025-06-18); send one message per request",
            ),
        }
    }
}

/// Check that `body` is one JSON value, not a batch, nested at most [`MAX_DEPTH`] deep: one pass
/// over the bytes for the depth (no recursion, nothing allocated), then serde_json for syntax.
pub(crate) fn check_body(body: &[u8]) -> Result<(), BodyError> {
    let (mut depth, mut in_str, mut escaped) = (0usize, false, false);
    for &b in body {
        if in_str {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_str = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(BodyError::Parse(format!(
                        "the body is nested deeper than {MAX_DEPTH} levels"
                    )));
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    if let Err(e) = serde_json::from_slice::<&RawValue>(body) {
        return Err(BodyError::Parse(format!("the body is not JSON ({e})")));
    }
    if body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return Err(BodyError::Batch);
    }
    Ok(())
}

/// `notifications/cancelled` for a fast request.
pub(crate) fn cancelled_frame(id: &str, reason: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(96 + id.len() + reason.len());
    out.extend_from_slice(
        br#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"#,
    );
    push_json_str(&mut out, id);
    out.extend_from_slice(br#","reason":"#);
    push_json_str(&mut out, reason);
    out.extend_from_slice(b"}}");
    out
}

struct VecWriter<'a>(&'a mut Vec<u8>);
impl std::fmt::Write for VecWriter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// What a client frame's response says, for the console's call records.
pub(crate) enum Outcome {
    Ok,
    ToolError(String),
    Error(i32, String),
}

#[derive(Deserialize)]
struct ToolResultHead<'a> {
    #[serde(rename = "isError", default)]
    is_error: Option<bool>,
    #[serde(borrow, default)]
    content: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct TextContent {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: Option<String>,
}

#[derive(Deserialize)]
struct ErrorBody {
    code: i32,
    message: String,
}

/// What a response's `error` says.
fn error_outcome(e: &RawValue) -> Outcome {
    match serde_json::from_str::<ErrorBody>(e.get()) {
        Ok(e) => Outcome::Error(e.code, e.message),
        Err(_) => Outcome::Error(-32603, "malformed error".into()),
    }
}

/// What a `tools/call` response's `result` says: a tool error (with its first text) or success.
fn result_outcome(r: &RawValue) -> Outcome {
    match serde_json::from_str::<ToolResultHead>(r.get()) {
        Ok(ToolResultHead {
            is_error: Some(true),
            content,
        }) => {
            let text = content
                .and_then(|c| serde_json::from_str::<Vec<TextContent>>(c.get()).ok())
                .and_then(|v| {
                    v.into_iter()
                        .find(|c| c.kind == "text")
                        .and_then(|c| c.text)
                });
            Outcome::ToolError(text.unwrap_or_else(|| "tool error".into()))
        }
        _ => Outcome::Ok,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_params_keep_everything_but_the_name() {
        let p: &RawValue = serde_json::from_str(
            r#"{"arguments":{"a":[1,2,{"b":"c\"d"}]},"name":"gw_echo","_meta":{"x":1}}"#,
        )
        .unwrap();
        let c = CallParams::parse(p).unwrap();
        assert_eq!(c.name, "gw_echo");
        assert!(c.progress.is_none());
        let f = call_frame("mcpz-fast-7", "echo", &c);
        let v: serde_json::Value = serde_json::from_slice(&f).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"jsonrpc":"2.0","id":"mcpz-fast-7","method":"tools/call",
                "params":{"name":"echo","arguments":{"a":[1,2,{"b":"c\"d"}]},"_meta":{"x":1}}})
        );
    }

    #[test]
    fn progress_token_and_escaped_names_are_seen() {
        let p: &RawValue = serde_json::from_str(
            r#"{"name":"a\u005fb","_meta":{"z":[1],"progressToken":"t"},"arguments":{}}"#,
        )
        .unwrap();
        let c = CallParams::parse(p).unwrap();
        assert_eq!(c.name, "a_b");
        assert_eq!(c.progress.unwrap().get(), r#""t""#);
        // The backend sees the fast id as the token; other _meta fields stay.
        let f: serde_json::Value =
            serde_json::from_slice(&call_frame("mcpz-fast-9", "b", &c)).unwrap();
        assert_eq!(
            f["params"],
            serde_json::json!({"name":"b","arguments":{},"_meta":{"progressToken":"mcpz-fast-9","z":[1]}})
        );
        // ... and the client gets its own token back.
        let back = progress_to_client(
            br#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"mcpz-fast-9","progress":1,"total":2,"message":"m"}}"#,
            c.progress.unwrap().get(),
        )
        .unwrap();
        let back: serde_json::Value = serde_json::from_slice(&back).unwrap();
        assert_eq!(
            back,
            serde_json::json!({"jsonrpc":"2.0","method":"notifications/progress",
                "params":{"progressToken":"t","progress":1,"total":2,"message":"m"}})
        );
        for bad in [
            r#"{"arguments":{}}"#,
            r#"{"name":1}"#,
            r#"{"name":"a","name":"b"}"#,
            r#"[1]"#,
            r#"{"name":"a","_meta":5}"#,
            r#"{"name":"a","_meta":{},"_meta":{}}"#,
        ] {
            let p: &RawValue = serde_json::from_str(bad).unwrap();
            assert!(CallParams::parse(p).is_none(), "{bad}");
        }
    }

    #[test]
    fn responses_are_readdressed_exactly() {
        let r = readdress(
            br#"{"jsonrpc":"2.0","id":"mcpz-fast-1","result":{"content":[{"type":"text","text":"hi"}]}}"#,
            r#""abc""#,
        )
        .unwrap();
        assert_eq!(
            &r.0[..],
            br#"{"jsonrpc":"2.0","id":"abc","result":{"content":[{"type":"text","text":"hi"}]}}"#
        );
        let e = readdress(
            br#"{"id":"mcpz-fast-1","jsonrpc":"2.0","error":{"code":-32602,"message":"no"}}"#,
            "5",
        )
        .unwrap();
        assert_eq!(
            &e.0[..],
            br#"{"jsonrpc":"2.0","id":5,"error":{"code":-32602,"message":"no"}}"#
        );
        assert!(matches!(e.1, Outcome::Error(-32602, m) if m == "no"));
        assert!(readdress(br#"{"jsonrpc":"2.0","id":1,"method":"x"}"#, "1").is_none());
        assert!(readdress(b"not json", "1").is_none());
    }

    /// The `frame` fuzz target's property "only an object has a head": serde reads a struct
    /// from an array too, so `["2.0",7,"tools/call",{..}]` (a batch, which the rmcp path refuses
    /// with -32600) was taken by the fast path as a `tools/call`, and an array from a backend as a
    /// response.
    #[test]
    fn only_an_object_has_a_head() {
        let call = br#"["2.0",7,"tools/call",{"name":"fs_read_file","arguments":{}}]"#;
        assert!(Head::parse(call).is_none());
        assert!(Head::parse(br#"["2.0","mcpz-fast-1",null,null,{"content":[]}]"#).is_none());
        assert!(readdress(br#"[null,"mcpz-fast-1",null,null,{}]"#, "1").is_none());
        assert!(Head::parse(b"[]").is_none());
        let h = Head::parse(b" \n{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"ping\"}").unwrap();
        assert_eq!(h.method.as_deref(), Some("ping"));
        assert_eq!(h.id.map(RawValue::get), Some("7"));
    }

    #[test]
    fn outcomes() {
        let ok = br#"{"jsonrpc":"2.0","id":1,"result":{"content":[]}}"#;
        assert!(matches!(readdress(ok, "1").unwrap().1, Outcome::Ok));
        let te = br#"{"jsonrpc":"2.0","id":1,"result":{"isError":true,"content":[{"type":"text","text":"boom"}]}}"#;
        assert!(matches!(readdress(te, "1").unwrap().1, Outcome::ToolError(m) if m == "boom"));
        let f = error_frame("7", -32603, "backend \"b\" gone");
        let v: serde_json::Value = serde_json::from_slice(&f).unwrap();
        assert_eq!(v["error"]["message"], "backend \"b\" gone");
        assert_eq!(v["id"], 7);
        let c: serde_json::Value =
            serde_json::from_slice(&cancelled_frame("mcpz-fast-3", "timeout")).unwrap();
        assert_eq!(c["params"]["requestId"], "mcpz-fast-3");
    }

    #[test]
    fn ids() {
        for ok in ["1", "-3", "\"x\""] {
            assert!(valid_id(serde_json::from_str(ok).unwrap()), "{ok}");
        }
        for bad in ["null", "{}", "[1]", "true"] {
            assert!(!valid_id(serde_json::from_str(bad).unwrap()), "{bad}");
        }
    }

    #[test]
    fn bodies_too_deep_batched_or_not_json_are_refused_with_json_rpc_errors() {
        assert_eq!(
            check_body(br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#),
            Ok(())
        );
        let ok_deep = format!("{}1{}", r#"{"a":"#.repeat(MAX_DEPTH), "}".repeat(MAX_DEPTH));
        assert_eq!(check_body(ok_deep.as_bytes()), Ok(()));
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let e = check_body(deep.as_bytes()).unwrap_err();
        assert!(
            matches!(&e, BodyError::Parse(m) if m.contains("deeper than 100")),
            "{e:?}"
        );
        // Brackets inside strings (escaped quotes too) do not count.
        let s = format!(r#"{{"a":"{}\"{}"}}"#, "[".repeat(500), "{".repeat(500));
        assert_eq!(check_body(s.as_bytes()), Ok(()));
        let batch = br#" [{"jsonrpc":"2.0","id":2,"method":"ping"}]"#;
        assert_eq!(check_body(batch), Err(BodyError::Batch));
        let v: serde_json::Value = serde_json::from_slice(&BodyError::Batch.frame()).unwrap();
        assert_eq!(v["error"]["code"], -32600);
        assert!(v["id"].is_null());
        assert!(v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("2025-06-18"));
        let e = check_body(b"{nope").unwrap_err();
        let v: serde_json::Value = serde_json::from_slice(&e.frame()).unwrap();
        assert_eq!(v["error"]["code"], -32700);
    }
}
