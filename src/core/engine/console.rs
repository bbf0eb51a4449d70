//! Carries out the console's [`Command`]s against a running engine. Each command runs on its own
//! task and answers on its oneshot; nothing here blocks the console's render loop.

use std::sync::Arc;
use std::time::Instant;

use rmcp::model::CallToolRequestParams;
use tokio::sync::mpsc;

use crate::core::backend::{self, Downstream};
use crate::core::engine::Engine;
use crate::core::live::control::Command;
use crate::core::live::state::CallOutcome;

/// Share operations, when a zrok environment is available.
#[async_trait::async_trait]
pub trait ShareOps: Send + Sync {
    async fn list(&self) -> Result<Vec<crate::core::live::state::ShareState>, String>;
    async fn create(&self, name: Option<String>) -> Result<String, String>;
    async fn delete(&self, token: &str) -> Result<(), String>;
}

/// Serve console commands until the sender side is dropped.
pub fn spawn(engine: Arc<Engine>, shares: Option<Arc<dyn ShareOps>>) -> mpsc::Sender<Command> {
    let (tx, mut rx) = mpsc::channel::<Command>(64);
    tokio::spawn(async move {
        while let Some(cmd) = rx.recv().await {
            let engine = engine.clone();
            let shares = shares.clone();
            tokio::spawn(async move { execute(engine, shares, cmd).await });
        }
    });
    tx
}

const NO_ZROK: &str = "shares need a zrok environment (run 'zrok2 enable <token>')";

pub(crate) async fn execute(engine: Arc<Engine>, shares: Option<Arc<dyn ShareOps>>, cmd: Command) {
    match cmd {
        Command::RestartBackend { id, reply } => {
            let _ = reply.send(engine.rediscover(&id).await);
        }
        Command::Reload { reply } => {
            let r = engine.reload_from_source().await;
            let _ = reply.send(r.map(|report| report.to_string()));
        }
        Command::EndSession { id, reply } => {
            let r = if engine.end_session(&id) {
                Ok(())
            } else {
                Err(format!("no session '{id}'"))
            };
            let _ = reply.send(r);
        }
        Command::CallTool {
            name,
            arguments,
            reply,
        } => {
            let _ = reply.send(call_tool_once(&engine, &name, arguments).await);
        }
        Command::ListShares { reply } => {
            let r = match &shares {
                Some(s) => s.list().await,
                None => Err(NO_ZROK.into()),
            };
            let _ = reply.send(r);
        }
        Command::CreateShare { name, reply } => {
            let r = match &shares {
                Some(s) => s.create(name).await,
                None => Err(NO_ZROK.into()),
            };
            let _ = reply.send(r);
        }
        Command::DeleteShare { token, reply } => {
            let r = match &shares {
                Some(s) => s.delete(&token).await,
                None => Err(NO_ZROK.into()),
            };
            let _ = reply.send(r);
        }
    }
}

/// Call one tool on a fresh connection to its backend (the console's own short session) and
/// render the result as pretty JSON. Counted in the backend's and tool's statistics.
pub(crate) async fn call_tool_once(
    engine: &Arc<Engine>,
    name: &str,
    arguments: serde_json::Map<String, serde_json::Value>,
) -> Result<String, String> {
    let cat = engine.catalog();
    let Some((def, original)) = engine.resolve(&cat, name) else {
        return Err(format!("unknown tool: {name}"));
    };
    if !def.exposes(&original) {
        return Err(format!("unknown tool: {name}"));
    }
    let b = &def.cfg;
    let env = engine.connect_env_now();
    let conn = backend::connect(def.key, b, Arc::new(Downstream::default()), &env)
        .await
        .map_err(|e| format!("backend '{}': {e}", b.id))?;
    let started = Instant::now();
    let mut params = CallToolRequestParams::new(original);
    params.arguments = Some(arguments);
    let call_timeout = cat.agg.call_timeout;
    let r = tokio::time::timeout(call_timeout, async {
        match conn.peer().await {
            Some(p) => p.call_tool(params).await,
            None => Err(rmcp::ServiceError::TransportClosed),
        }
    })
    .await;
    let (out, outcome) = match r {
        Ok(Ok(res)) => {
            let outcome = if res.is_error == Some(true) {
                CallOutcome::ToolError("tool error".into())
            } else {
                CallOutcome::Ok
            };
            (
                serde_json::to_string_pretty(&res).map_err(|e| e.to_string()),
                outcome,
            )
        }
        Ok(Err(e)) => (Err(e.to_string()), CallOutcome::Error(0, e.to_string())),
        Err(_) => (
            Err(format!("no answer within {call_timeout:?} (call_timeout)")),
            CallOutcome::Timeout,
        ),
    };
    engine.hub.record_call(
        crate::core::live::hub::CallRecord {
            session: "console",
            caller: "console",
            backend: &b.id,
            method: "tools/call",
            target: name,
            duration: started.elapsed(),
            outcome,
            path: crate::core::live::state::CallPath::Full,
        },
        Some(name),
    );
    conn.close().await;
    out
}
