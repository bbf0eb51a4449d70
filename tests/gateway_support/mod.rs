//! Shared by the in-process gateway tests: a gateway engine from a config, and serving it on
//! loopback TCP the way `mcp-gateway run --listen` does.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use mcpz::core::config;
use mcpz::core::engine::{Engine, EngineOptions, Mode, StartError};
use mcpz::core::front::{self, ServeOptions};
use mcpz::core::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Bound on starting an engine (connecting and discovering its backends).
pub const START: Duration = Duration::from_secs(30);

/// A gateway engine for `cfg`, its backends discovered at start (bounded by [`START`]).
pub async fn gateway(cfg: config::Config) -> Result<Arc<Engine>, StartError> {
    tokio::time::timeout(
        START,
        Engine::start(EngineOptions {
            aggregator: cfg.aggregator,
            backends: cfg.backends,
            mode: Mode::Gateway,
            zrok: None,
            discover: true,
            access: cfg.access,
        }),
    )
    .await
    .expect("the engine start ends in time")
}

/// [`gateway`] for a YAML config (which must parse).
pub async fn gateway_yaml(yaml: &str) -> Result<Arc<Engine>, StartError> {
    let (cfg, _) = config::parse(yaml, "test.yml", &|_| None).expect("config");
    gateway(cfg).await
}

/// Serves `engine` on a fresh loopback port (as `--listen 127.0.0.1:0`) until the token fires.
pub async fn serve_loopback(engine: &Arc<Engine>) -> (u16, CancellationToken) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().port();
    let app = front::router(engine.clone(), &ServeOptions::loopback(port));
    let stop = CancellationToken::new();
    tokio::spawn(front::serve(Box::new(listener), app, stop.clone()));
    (port, stop)
}
