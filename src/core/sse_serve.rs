//! Legacy SSE endpoints for the engine (filled in when the SSE transport lands).
use std::sync::Arc;

use crate::core::engine::Engine;
use crate::core::serve::ServeOptions;

pub fn router(_engine: Arc<Engine>, _opts: &ServeOptions) -> axum::Router {
    axum::Router::new()
}
