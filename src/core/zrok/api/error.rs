//! The controller's error answers as [`ApiError`].

use std::time::Duration;

use reqwest::StatusCode;
use serde::Deserialize;

/// Declares [`ApiError`] with one variant per row `Variant = status, "what"` (the errors named
/// after an HTTP status), and the status mappings that must agree with those rows.
macro_rules! api_error {
    ($($variant:ident = $status:literal, $what:literal;)*) => {
        /// A failed API call. `op` names the operation (share tokens appear only as a prefix);
        /// `message` is the controller's message (possibly empty: many handler errors have no body).
        #[derive(Debug, thiserror::Error)]
        pub enum ApiError {
            #[error("invalid zrok API endpoint '{endpoint}': {reason}")]
            InvalidEndpoint { endpoint: String, reason: String },
            #[error("zrok controller rejected client version '{version}'{}", msg(message))]
            VersionRejected { version: String, message: String },
            $(
                #[doc = concat!("HTTP ", $status, ": ", $what, ".")]
                #[error("{op}: {} ({}){}", $what, $status, msg(message))]
                $variant { op: String, message: String },
            )*
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

        impl ApiError {
            /// The HTTP status, for errors that carry one.
            pub fn status(&self) -> Option<u16> {
                match self {
                    ApiError::VersionRejected { .. } => Some(400),
                    $(ApiError::$variant { .. } => Some($status),)*
                    ApiError::Server { status, .. } | ApiError::UnexpectedStatus { status, .. } => {
                        Some(*status)
                    }
                    _ => None,
                }
            }

            /// The controller's message, if the error carries one.
            pub fn message(&self) -> Option<&str> {
                match self {
                    $(ApiError::$variant { message, .. })|*
                    | ApiError::VersionRejected { message, .. }
                    | ApiError::Server { message, .. }
                    | ApiError::UnexpectedStatus { message, .. } => Some(message),
                    _ => None,
                }
            }

            pub(super) fn from_status(op: String, status: StatusCode, message: String) -> ApiError {
                match status.as_u16() {
                    $($status => ApiError::$variant { op, message },)*
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
    };
}

api_error! {
    BadRequest = 400, "bad request";
    Unauthorized = 401, "unauthorized";
    NotFound = 404, "not found";
    Conflict = 409, "conflict";
    UnsupportedMediaType = 415, "unsupported media type";
    Unprocessable = 422, "invalid request";
}

fn msg(m: &str) -> String {
    if m.is_empty() {
        String::new()
    } else {
        format!(": {m}")
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The messages, statuses and controller messages of the status-named errors.
    #[test]
    fn status_errors() {
        let e = |status: u16, message: &str| {
            let status = StatusCode::from_u16(status).unwrap();
            ApiError::from_status("list shares".into(), status, message.into())
        };
        let shown: Vec<String> = [400, 401, 404, 409, 415, 422, 503, 302]
            .map(|s| e(s, "").to_string())
            .into();
        assert_eq!(
            shown.join("|"),
            "list shares: bad request (400)|list shares: unauthorized (401)|\
             list shares: not found (404)|list shares: conflict (409)|\
             list shares: unsupported media type (415)|list shares: invalid request (422)|\
             list shares: zrok controller error (503)|list shares: unexpected HTTP status 302"
        );
        let nf = e(404, "no such share");
        assert_eq!(
            nf.to_string(),
            "list shares: not found (404): no such share"
        );
        assert_eq!(
            (nf.status(), nf.message()),
            (Some(404), Some("no such share"))
        );
        let v = ApiError::VersionRejected {
            version: "v9".into(),
            message: String::new(),
        };
        assert_eq!((v.status(), v.message()), (Some(400), Some("")));
    }
}
