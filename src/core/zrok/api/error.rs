//! The controller's error answers as [`ApiError`].

use std::time::Duration;

use reqwest::StatusCode;
use serde::Deserialize;

/// A failed API call. `op` names the operation (share tokens appear only as a prefix); `message`
/// is the controller's message (possibly empty: many handler errors have no body).
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("invalid zrok API endpoint '{endpoint}': {reason}")]
    InvalidEndpoint { endpoint: String, reason: String },
    #[error("zrok controller rejected client version '{version}'{}", msg(message))]
    VersionRejected { version: String, message: String },
    #[error("{op}: bad request (400){}", msg(message))]
    BadRequest { op: String, message: String },
    #[error("{op}: unauthorized (401){}", msg(message))]
    Unauthorized { op: String, message: String },
    #[error("{op}: not found (404){}", msg(message))]
    NotFound { op: String, message: String },
    #[error("{op}: conflict (409){}", msg(message))]
    Conflict { op: String, message: String },
    #[error("{op}: unsupported media type (415){}", msg(message))]
    UnsupportedMediaType { op: String, message: String },
    #[error("{op}: invalid request (422){}", msg(message))]
    Unprocessable { op: String, message: String },
    #[error("{op}: zrok controller error ({status}){}", msg(message))]
    Server {
        op: String,
        status: u16,
        message: String,
    },
    #[error("{op}: unexpected HTTP status {status}{}", msg(message))]
    UnexpectedStatus {
        op: String,
        status: u16,
        message: String,
    },
    #[error("{op}: no answer from the zrok controller within {}s", after.as_secs_f32())]
    Timeout { op: String, after: Duration },
    #[error("{op}: cannot reach the zrok controller at {endpoint}: {message}")]
    Transport {
        op: String,
        endpoint: String,
        message: String,
    },
    #[error("{op}: unexpected response from the zrok controller: {message}")]
    Decode { op: String, message: String },
}

fn msg(m: &str) -> String {
    if m.is_empty() {
        String::new()
    } else {
        format!(": {m}")
    }
}

impl ApiError {
    /// The HTTP status, for errors that carry one.
    pub fn status(&self) -> Option<u16> {
        Some(match self {
            ApiError::VersionRejected { .. } | ApiError::BadRequest { .. } => 400,
            ApiError::Unauthorized { .. } => 401,
            ApiError::NotFound { .. } => 404,
            ApiError::Conflict { .. } => 409,
            ApiError::UnsupportedMediaType { .. } => 415,
            ApiError::Unprocessable { .. } => 422,
            ApiError::Server { status, .. } | ApiError::UnexpectedStatus { status, .. } => *status,
            _ => return None,
        })
    }

    /// The controller's message, if the error carries one.
    pub fn message(&self) -> Option<&str> {
        match self {
            ApiError::VersionRejected { message, .. }
            | ApiError::BadRequest { message, .. }
            | ApiError::Unauthorized { message, .. }
            | ApiError::NotFound { message, .. }
            | ApiError::Conflict { message, .. }
            | ApiError::UnsupportedMediaType { message, .. }
            | ApiError::Unprocessable { message, .. }
            | ApiError::Server { message, .. }
            | ApiError::UnexpectedStatus { message, .. } => Some(message),
            _ => None,
        }
    }

    pub(super) fn from_status(op: String, status: StatusCode, message: String) -> ApiError {
        match status.as_u16() {
            400 => ApiError::BadRequest { op, message },
            401 => ApiError::Unauthorized { op, message },
            404 => ApiError::NotFound { op, message },
            409 => ApiError::Conflict { op, message },
            415 => ApiError::UnsupportedMediaType { op, message },
            422 => ApiError::Unprocessable { op, message },
            s @ 500..=599 => ApiError::Server {
                op,
                status: s,
                message,
            },
            s => ApiError::UnexpectedStatus {
                op,
                status: s,
                message,
            },
        }
    }
}

/// Extract the controller's message from an error body: a bare JSON string, go-openapi's
/// `{"code","message"}`, or (anything else) the text itself, shortened.
pub(super) fn error_message(body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct Framework {
        message: String,
    }
    let text = if let Ok(s) = serde_json::from_slice::<String>(body) {
        s
    } else if let Ok(f) = serde_json::from_slice::<Framework>(body) {
        f.message
    } else {
        String::from_utf8_lossy(body).into_owned()
    };
    let text: String = text
        .trim()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.chars().count() > 300 {
        let mut t: String = text.chars().take(300).collect();
        t.push('…');
        t
    } else {
        text
    }
}
