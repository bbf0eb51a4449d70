//! Legacy SSE client (filled in below).
