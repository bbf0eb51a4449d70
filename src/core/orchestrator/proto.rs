//! The messages of the orchestrator IPC: the Go gateway's `GatewayIPC` service (its
//! `ipc/gatewayGrpc/gateway.proto`, proto3), written by hand so that the build needs no
//! `protoc`. Message and field names, numbers and types are the interface contract: they must
//! stay exactly those of the proto.

/// The one RPC: `rpc Connect(stream GatewayMessage) returns (stream OrchestratorMessage)`.
pub(crate) const CONNECT: &str = "/GatewayIPC/Connect";

/// `GatewayMessage`: gateway -> orchestrator.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct GatewayMessage {
    #[prost(oneof = "Outbound", tags = "1, 2, 3, 4, 5")]
    pub payload: Option<Outbound>,
}

/// `GatewayMessage.payload`.
#[derive(Clone, PartialEq, prost::Oneof)]
pub(crate) enum Outbound {
    #[prost(message, tag = "1")]
    Register(RegisterRequest),
    #[prost(message, tag = "2")]
    Heartbeat(HeartbeatRequest),
    #[prost(message, tag = "3")]
    Status(StatusReport),
    #[prost(message, tag = "4")]
    Pong(PingResponse),
    #[prost(message, tag = "5")]
    ShutdownAck(ShutdownAck),
}

/// `OrchestratorMessage`: orchestrator -> gateway.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct OrchestratorMessage {
    #[prost(oneof = "Inbound", tags = "1, 2, 3, 4")]
    pub payload: Option<Inbound>,
}

/// `OrchestratorMessage.payload`.
#[derive(Clone, PartialEq, prost::Oneof)]
pub(crate) enum Inbound {
    #[prost(message, tag = "1")]
    RegisterResponse(RegisterResponse),
    #[prost(message, tag = "2")]
    HeartbeatAck(HeartbeatAck),
    #[prost(message, tag = "3")]
    Ping(PingRequest),
    #[prost(message, tag = "4")]
    Shutdown(ShutdownRequest),
}

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct RegisterRequest {
    #[prost(string, tag = "1")]
    pub share_token: String,
    #[prost(int64, tag = "2")]
    pub pid: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct RegisterResponse {
    #[prost(bool, tag = "1")]
    pub accepted: bool,
    #[prost(string, tag = "2")]
    pub error: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct HeartbeatRequest {
    #[prost(string, tag = "1")]
    pub share_token: String,
    #[prost(int32, tag = "2")]
    pub active_connections: i32,
    #[prost(int64, tag = "3")]
    pub tool_invocations: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct HeartbeatAck {}

/// `state` is one of `starting`, `running`, `stopping`, `failed`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct StatusReport {
    #[prost(string, tag = "1")]
    pub share_token: String,
    #[prost(string, tag = "2")]
    pub state: String,
    #[prost(string, tag = "3")]
    pub error: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct PingRequest {}

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct PingResponse {
    #[prost(string, tag = "1")]
    pub version: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct ShutdownRequest {
    #[prost(string, tag = "1")]
    pub reason: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct ShutdownAck {
    #[prost(bool, tag = "1")]
    pub accepted: bool,
}

impl From<Outbound> for GatewayMessage {
    fn from(payload: Outbound) -> Self {
        GatewayMessage {
            payload: Some(payload),
        }
    }
}

/// The wire bytes below were worked out from the proto by hand (tag = field << 3 | wire type;
/// 0 varint, 2 length-delimited), and agree with what Python's protobuf produces from
/// upstream's gateway.proto (tests/e2e/test_orchestrator.py checks the same vectors there).
#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    fn out(p: Outbound) -> Vec<u8> {
        GatewayMessage::from(p).encode_to_vec()
    }

    #[test]
    fn gateway_messages_encode_as_the_proto_says() {
        // payload field 1 (len 8): share_token "tok", pid 1234 (varint d2 09).
        let reg = out(Outbound::Register(RegisterRequest {
            share_token: "tok".into(),
            pid: 1234,
        }));
        assert_eq!(reg, b"\x0a\x08\x0a\x03tok\x10\xd2\x09");
        let beat = out(Outbound::Heartbeat(HeartbeatRequest {
            share_token: "t".into(),
            active_connections: 2,
            tool_invocations: 300,
        }));
        assert_eq!(beat, b"\x12\x08\x0a\x01t\x10\x02\x18\xac\x02");
        let status = out(Outbound::Status(StatusReport {
            share_token: "t".into(),
            state: "failed".into(),
            error: "x".into(),
        }));
        assert_eq!(status, b"\x1a\x0e\x0a\x01t\x12\x06failed\x1a\x01x");
        let pong = out(Outbound::Pong(PingResponse {
            version: "v1".into(),
        }));
        assert_eq!(pong, b"\x22\x04\x0a\x02v1");
        let ack = out(Outbound::ShutdownAck(ShutdownAck { accepted: true }));
        assert_eq!(ack, b"\x2a\x02\x08\x01");
        // proto3: default values are not written, but the oneof member is (empty message).
        let zero = out(Outbound::Heartbeat(HeartbeatRequest::default()));
        assert_eq!(zero, b"\x12\x00");
    }

    #[test]
    fn orchestrator_messages_decode_as_the_proto_says() {
        let dec = |b: &[u8]| OrchestratorMessage::decode(b).expect("decodes").payload;
        assert_eq!(
            dec(b"\x0a\x07\x12\x05nope!"),
            Some(Inbound::RegisterResponse(RegisterResponse {
                accepted: false,
                error: "nope!".into()
            }))
        );
        assert_eq!(
            dec(b"\x0a\x02\x08\x01"),
            Some(Inbound::RegisterResponse(RegisterResponse {
                accepted: true,
                error: String::new()
            }))
        );
        assert_eq!(
            dec(b"\x12\x00"),
            Some(Inbound::HeartbeatAck(HeartbeatAck {}))
        );
        assert_eq!(dec(b"\x1a\x00"), Some(Inbound::Ping(PingRequest {})));
        assert_eq!(
            dec(b"\x22\x06\x0a\x04done"),
            Some(Inbound::Shutdown(ShutdownRequest {
                reason: "done".into()
            }))
        );
        // A field a newer orchestrator may add (99, varint) is skipped; no payload is None.
        assert_eq!(
            dec(b"\x98\x06\x01\x1a\x00"),
            Some(Inbound::Ping(PingRequest {}))
        );
        assert_eq!(dec(b""), None);
        // Truncated or malformed bytes are an error, not a panic.
        assert!(OrchestratorMessage::decode(&b"\x0a\x09\x12"[..]).is_err());
        assert!(OrchestratorMessage::decode(&b"\x0a\x02\x12\x05"[..]).is_err());
    }
}
