//! Channel V2 message framing and the numeric constants of the edge protocol.
//!
//! Every message on an edge-router channel is, little-endian throughout:
//! `magic [03 06 09 0c] | content-type i32 | sequence i32 | headers-len u32 | body-len u32 | headers | body`,
//! and the headers section is a run of `key i32 | len u32 | value`. Each message carries the magic, not just the
//! first one. Decoding treats every byte as hostile: lengths are bounded before any allocation and all arithmetic
//! is checked. Constants come from openziti/channel v4.2.37 `message.go`, `messages.go`, `channel.go` and
//! openziti/sdk-golang v1.2.8 `pb/edge_client_pb/edge_client.proto`, `ziti/edge/messages.go`; the unit tests pin
//! them.

//!
//! `consts` holds the numbers, `message` the [`Message`] type with its encoder and decoder.

mod consts;
mod message;

pub use consts::*;
pub(crate) use message::conn_inspect_response;
pub use message::{decode, split_multipart, FrameError, Message};
