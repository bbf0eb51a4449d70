//! `mcpz tui`: the operator console.
