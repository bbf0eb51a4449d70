//! The rules of a call, one set for both paths (docs/architecture.md): which backend and tool an
//! exposed name means and whether the filter lets it through, how long a request may take and
//! how progress extends that, why a request is abandoned, and how its result is classified. The
//! rmcp path ([`super::handler`], [`super::session`]) and the fast path ([`super::fast`]) both
//! ask here; neither decides on its own, and no error is classified by its message text.

use std::sync::Arc;
use std::time::Duration;

use rmcp::model::CallToolResult;
use rmcp::ErrorData as McpError;

use crate::core::live::state::CallOutcome;
use crate::core::ops::Denied;
use crate::core::wire::frame;

use super::catalog::{BackendDef, Catalog};
use super::{Caller, Engine};

/// JSON-RPC "invalid params": an unknown (or filtered) tool or prompt.
pub(crate) const INVALID_PARAMS: i32 = -32602;
/// JSON-RPC "invalid request": a request the session does not take from this caller.
const INVALID_REQUEST: i32 = -32600;
/// JSON-RPC "internal error": everything the gateway answers for a backend.
pub(crate) const INTERNAL_ERROR: i32 = -32603;

/// Longest wait for in-flight progress notifications after a backend's response.
pub(crate) const PROGRESS_DRAIN: Duration = Duration::from_secs(2);

/// Why a request did not get its backend's answer. Both paths answer the client with
/// [`CallError::code`] and the `Display` text, and record [`CallError::outcome`].
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum CallError {
    #[error("unknown tool: {0}")]
    UnknownTool(String),
    #[error("unknown prompt: {0}")]
    UnknownPrompt(String),
    #[error(
        "backend '{backend}' did not answer within {timeout:?} (call_timeout); the request was cancelled"
    )]
    Timeout { backend: String, timeout: Duration },
    #[error("backend '{0}' connection closed")]
    Closed(String),
    #[error("request cancelled")]
    Cancelled,
    #[error("session ended")]
    SessionEnded,
    #[error("backend not connected")]
    NotConnected,
    /// The backend's connection in this session died and is being restored, or was given up.
    #[error("backend '{backend}' is unavailable in this session: {why}")]
    Unavailable { backend: String, why: String },
    #[error("this session belongs to another caller")]
    ForeignCaller,
    #[error("backend '{0}' sent an unexpected response type")]
    Unexpected(String),
    /// The backend could not be reached or failed below MCP.
    #[error("backend '{backend}': {message}")]
    Failed { backend: String, message: String },
    /// The backend's own JSON-RPC error, passed through unchanged.
    #[error("{}", .0.message)]
    Backend(McpError),
}

impl CallError {
    /// A failed request to `backend`, from rmcp's service error.
    pub(crate) fn from_service(e: rmcp::ServiceError, backend: &str, timeout: Duration) -> Self {
        match e {
            rmcp::ServiceError::McpError(e) => CallError::Backend(e),
            rmcp::ServiceError::Timeout { .. } => CallError::Timeout {
                backend: backend.to_string(),
                timeout,
            },
            rmcp::ServiceError::TransportClosed | rmcp::ServiceError::TransportSend(_) => {
                CallError::Closed(backend.to_string())
            }
            other => CallError::Failed {
                backend: backend.to_string(),
                message: other.to_string(),
            },
        }
    }

    /// The JSON-RPC error code the client gets.
    pub(crate) fn code(&self) -> i32 {
        match self {
            CallError::UnknownTool(_) | CallError::UnknownPrompt(_) => INVALID_PARAMS,
            CallError::ForeignCaller => INVALID_REQUEST,
            CallError::Backend(e) => e.code.0,
            _ => INTERNAL_ERROR,
        }
    }

    /// How the call is counted (console, statistics).
    pub(crate) fn outcome(&self) -> CallOutcome {
        match self {
            CallError::Timeout { .. } => CallOutcome::Timeout,
            CallError::Cancelled => CallOutcome::Cancelled,
            other => CallOutcome::Error(other.code(), other.to_string()),
        }
    }

    /// The JSON-RPC error response frame for the fast path.
    pub(crate) fn frame(&self, client_id: &str) -> bytes::Bytes {
        frame::error_frame(client_id, self.code(), &self.to_string())
    }
}

impl From<CallError> for McpError {
    fn from(e: CallError) -> McpError {
        match e {
            CallError::Backend(e) => e,
            CallError::UnknownTool(_) | CallError::UnknownPrompt(_) => {
                McpError::invalid_params(e.to_string(), None)
            }
            other => McpError::internal_error(other.to_string(), None),
        }
    }
}

/// The backend and original name of exposed tool `exposed` in `cat`, if `caller` may call it:
/// unknown names, names the backend's allow/deny filter hides and names the caller's `access:`
/// rule hides are all "unknown tool" (the caller learns nothing of tools it may not use).
pub(crate) fn route_tool(
    engine: &Engine,
    cat: &Catalog,
    caller: &Caller,
    exposed: &str,
) -> Result<(Arc<BackendDef>, String), CallError> {
    check_tool(engine, cat, caller, exposed)
        .map_err(|_| CallError::UnknownTool(exposed.to_string()))
}

/// Why [`check_tool`] refused a name: the backend whose name it is and the backend's own name
/// of the tool (if any), and the rule.
pub(crate) type Refusal = (Option<(Arc<BackendDef>, String)>, Denied);

/// [`route_tool`], with why a name is refused (for the audit log and the metrics): the rule,
/// and the backend whose name it is, if any.
pub(crate) fn check_tool(
    engine: &Engine,
    cat: &Catalog,
    caller: &Caller,
    exposed: &str,
) -> Result<(Arc<BackendDef>, String), Refusal> {
    let (def, original) = engine
        .resolve(cat, exposed)
        .ok_or((None, Denied::UnknownTool))?;
    if !def.exposes(&original) {
        let i = cat.position(def.key);
        return Err((Some((def, original)), Denied::Filter(i)));
    }
    if let Some(r) = access_rule(cat, caller) {
        if !cat.access[r].tools.check(exposed).exposed() {
            return Err((Some((def, original)), Denied::Access(r)));
        }
    }
    Ok((def, original))
}

/// The tool error for a call the backend's path policy refuses (upstream's wording), or `None`.
pub(crate) fn policy_denial(
    def: &BackendDef,
    original: &str,
    args: Option<&rmcp::model::JsonObject>,
) -> Option<CallToolResult> {
    let why = def.policy.check(original, args).err()?;
    Some(CallToolResult::error(vec![
        rmcp::model::ContentBlock::text(format!("gateway policy denied tool call: {why}")),
    ]))
}

/// Whether the fast path must leave a call of `original` to the rmcp path (its arguments are
/// governed by a path policy, which needs them decoded).
pub(crate) fn needs_policy(def: &BackendDef, original: &str) -> bool {
    def.policy.governs(original)
}

/// Whether `caller`'s `access:` rule (the first that matches its name) lets it see and call the
/// exposed tool `exposed`; a caller no rule matches may use every tool.
pub(crate) fn may_use(cat: &Catalog, caller: &Caller, exposed: &str) -> bool {
    access_rule(cat, caller).is_none_or(|r| cat.access[r].tools.check(exposed).exposed())
}

/// The index of `caller`'s `access:` rule: the first that matches its name.
fn access_rule(cat: &Catalog, caller: &Caller) -> Option<usize> {
    cat.access.iter().position(|r| r.matches(caller.name()))
}

/// How long one forwarded request may take: `timeout` (the aggregator's `call_timeout`); a
/// request that asked for progress has each progress notification restart `timeout`, up to
/// `max_total` in all.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub timeout: Duration,
    pub max_total: Duration,
    pub progress: bool,
}

impl Limits {
    pub(crate) fn new(call_timeout: Duration, progress: bool) -> Limits {
        Limits {
            timeout: call_timeout,
            max_total: if progress {
                call_timeout * 10
            } else {
                call_timeout
            },
            progress,
        }
    }
}

/// Why a forwarded request was abandoned: the reason the backend is sent in
/// `notifications/cancelled`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Abandon {
    Client,
    Timeout,
    SessionEnded,
}

impl Abandon {
    pub(crate) fn reason(self) -> &'static str {
        match self {
            Abandon::Client => "cancelled by the client",
            Abandon::Timeout => "call_timeout expired",
            Abandon::SessionEnded => "session ended",
        }
    }
}

/// The outcome of a tool's result: `isError` results count as tool errors (their first text).
pub(crate) fn tool_outcome(r: &CallToolResult) -> CallOutcome {
    if r.is_error == Some(true) {
        let text = r
            .content
            .iter()
            .find_map(|c| c.as_text().map(|t| t.text.clone()));
        CallOutcome::ToolError(text.unwrap_or_else(|| "tool error".into()))
    } else {
        CallOutcome::Ok
    }
}

/// The outcome of a raw response frame (fast path), as [`tool_outcome`] would see it.
pub(crate) fn frame_outcome(o: frame::Outcome) -> CallOutcome {
    match o {
        frame::Outcome::Ok => CallOutcome::Ok,
        frame::Outcome::ToolError(m) => CallOutcome::ToolError(m),
        frame::Outcome::Error(c, m) => CallOutcome::Error(c, m),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_classified_by_kind_not_text() {
        let t = CallError::Timeout {
            backend: "b".into(),
            timeout: Duration::from_secs(1),
        };
        assert_eq!(t.outcome(), CallOutcome::Timeout);
        assert_eq!(t.code(), INTERNAL_ERROR);
        assert!(t.to_string().contains("call_timeout"));
        // A backend's own error that happens to mention call_timeout is still the backend's.
        let own = CallError::Backend(McpError::internal_error("my call_timeout", None));
        assert_eq!(
            own.outcome(),
            CallOutcome::Error(INTERNAL_ERROR, "my call_timeout".into())
        );
        assert_eq!(CallError::Cancelled.outcome(), CallOutcome::Cancelled);
        let unknown: McpError = CallError::UnknownTool("x".into()).into();
        assert_eq!(unknown.code.0, INVALID_PARAMS);
        assert_eq!(unknown.message, "unknown tool: x");
    }

    #[test]
    fn progress_extends_the_limit_tenfold() {
        let l = Limits::new(Duration::from_secs(3), true);
        assert_eq!(l.max_total, Duration::from_secs(30));
        let l = Limits::new(Duration::from_secs(3), false);
        assert_eq!(l.max_total, Duration::from_secs(3));
    }

    #[test]
    fn frame_errors_carry_code_and_text() {
        let f = CallError::Closed("fs".into()).frame("7");
        let v: serde_json::Value = serde_json::from_slice(&f).unwrap();
        assert_eq!(v["id"], 7);
        assert_eq!(v["error"]["code"], INTERNAL_ERROR);
        assert_eq!(v["error"]["message"], "backend 'fs' connection closed");
    }
}
