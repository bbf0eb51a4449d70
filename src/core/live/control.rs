//! Commands a front end (the console) sends to a running gateway. The engine answers each on its
//! oneshot; a front end never blocks its render loop waiting: it polls the reply.

use tokio::sync::oneshot;

use super::state::ShareState;

/// Result of a console action, ready to show to the operator.
pub(crate) type ReplyTx<T> = oneshot::Sender<Result<T, String>>;

#[derive(Debug)]
pub enum Command {
    /// Stop and start a backend's discovery connection again (sessions keep theirs).
    RestartBackend { id: String, reply: ReplyTx<()> },
    /// End a client session (its backend connections and subprocesses are released).
    EndSession { id: String, reply: ReplyTx<()> },
    /// Call a tool by its namespaced name on a console-owned session; the reply is the result
    /// rendered as pretty JSON.
    CallTool {
        name: String,
        arguments: serde_json::Map<String, serde_json::Value>,
        reply: ReplyTx<String>,
    },
    /// List this environment's zrok shares (persistent and running).
    ListShares { reply: ReplyTx<Vec<ShareState>> },
    /// Create a persistent private share (`None` = random token); the reply is the token.
    CreateShare {
        name: Option<String>,
        reply: ReplyTx<String>,
    },
    /// Delete a persistent share by token.
    DeleteShare { token: String, reply: ReplyTx<()> },
    /// Re-read the configuration file and apply it (sessions stay open); the reply says what
    /// changed, or every error (the running configuration is kept then).
    Reload { reply: ReplyTx<String> },
}
