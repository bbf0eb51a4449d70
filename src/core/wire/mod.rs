//! Bytes on the wire, shared by fronts and backends: raw JSON-RPC frames (the fast path), the SSE
//! event codec, and bounded newline-delimited reading (stdio).

pub mod frame;
#[doc(hidden)]
pub mod fuzz;
pub(crate) mod lines;
pub mod sse;
