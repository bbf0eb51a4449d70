//! What the console asks of the outside world: the output of `Console::handle_key`.
//!
//! Actions carry no channels: the run loop turns a [`Request`] into a `core::live::control::Command`
//! with a fresh oneshot, and feeds the answer back through `Console::apply_response`.

use serde_json::{Map, Value};

use crate::core::live::state::ShareState;

/// The six panes, in Tab order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Pane {
    Backends,
    Sessions,
    Tools,
    Shares,
    Traffic,
    Logs,
}

impl Pane {
    pub const ALL: [Pane; 6] = [
        Pane::Backends,
        Pane::Sessions,
        Pane::Tools,
        Pane::Shares,
        Pane::Traffic,
        Pane::Logs,
    ];

    pub(crate) fn index(self) -> usize {
        match self {
            Pane::Backends => 0,
            Pane::Sessions => 1,
            Pane::Tools => 2,
            Pane::Shares => 3,
            Pane::Traffic => 4,
            Pane::Logs => 5,
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Pane::Backends => "Backends",
            Pane::Sessions => "Sessions",
            Pane::Tools => "Tools",
            Pane::Shares => "Shares",
            Pane::Traffic => "Traffic",
            Pane::Logs => "Logs",
        }
    }

    pub fn next(self) -> Pane {
        Pane::ALL[(self.index() + 1) % Pane::ALL.len()]
    }

    pub(crate) fn prev(self) -> Pane {
        Pane::ALL[(self.index() + Pane::ALL.len() - 1) % Pane::ALL.len()]
    }
}

/// A command for the engine, without its reply channel.
#[derive(Debug, Clone, PartialEq)]
pub enum RequestKind {
    RestartBackend {
        id: String,
    },
    EndSession {
        id: String,
    },
    CallTool {
        name: String,
        arguments: Map<String, Value>,
    },
    ListShares,
    CreateShare {
        name: Option<String>,
    },
    DeleteShare {
        token: String,
    },
    ReloadConfig,
}

impl RequestKind {
    /// Short human description, used in feedback messages.
    pub(crate) fn describe(&self) -> String {
        match self {
            RequestKind::RestartBackend { id } => format!("restart backend {id}"),
            RequestKind::EndSession { id } => format!("end session {id}"),
            RequestKind::CallTool { name, .. } => format!("call {name}"),
            RequestKind::ListShares => "list shares".to_string(),
            RequestKind::CreateShare { name: Some(n) } => format!("create share {n}"),
            RequestKind::CreateShare { name: None } => "create share".to_string(),
            RequestKind::DeleteShare { token } => format!("delete share {token}"),
            RequestKind::ReloadConfig => "reload configuration".to_string(),
        }
    }
}

/// A request with the id its reply will carry.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub id: u64,
    pub kind: RequestKind,
}

/// The engine's answer to a [`Request`].
#[derive(Debug, Clone, PartialEq)]
pub enum ResponseValue {
    Done,
    Text(String),
    Shares(Vec<ShareState>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub id: u64,
    pub result: Result<ResponseValue, String>,
}

/// Side effects requested by the UI state machine.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Quit,
    Send(Request),
    /// Put this text on the clipboard (OSC 52).
    Copy(String),
}
