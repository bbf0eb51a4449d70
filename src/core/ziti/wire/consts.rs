//! The numeric constants of the channel and edge protocols, pinned by the tests against their sources.

/// Per-message magic (channel v4 `message.go` `magicV2`).
pub const MAGIC_V2: [u8; 4] = [0x03, 0x06, 0x09, 0x0c];
/// Magic of the "unknown version" answer a peer sends when it rejects our version (`magicUnknownVersion`).
pub const MAGIC_UNKNOWN_VERSION: [u8; 4] = [0x03, 0x06, 0x09, 0x0a];
/// Fixed part of a message (`dataSectionV2`).
pub const FIXED_LEN: usize = 20;

/// Upper bound on the headers section we accept from the network.
pub const MAX_HEADERS_LEN: u32 = 64 * 1024;
/// Upper bound on a body we accept from the network (data messages are far smaller in practice).
pub const MAX_BODY_LEN: u32 = 16 * 1024 * 1024;
/// Upper bound on the number of headers in one message.
pub const MAX_HEADER_COUNT: usize = 256;

/// Sequence used by the hello exchange (channel v4 `channel.go` `HelloSequence`).
pub const HELLO_SEQUENCE: i32 = -1;

/// Channel-level content types (channel v4 `messages.go`).
pub mod ct {
    pub const HELLO: i32 = 0;
    pub const PING: i32 = 1;
    pub const RESULT: i32 = 2;
    pub const LATENCY: i32 = 3;
    pub const LATENCY_RESPONSE: i32 = 4;
    pub const HEARTBEAT: i32 = 5;

    // Edge content types (sdk-golang `pb/edge_client_pb/edge_client.proto` enum ContentType).
    pub const CONNECT: i32 = 60783;
    pub const STATE_CONNECTED: i32 = 60784;
    pub const STATE_CLOSED: i32 = 60785;
    pub const DATA: i32 = 60786;
    pub const DIAL: i32 = 60787;
    pub const DIAL_SUCCESS: i32 = 60788;
    pub const DIAL_FAILED: i32 = 60789;
    pub const BIND: i32 = 60790;
    pub const UNBIND: i32 = 60791;
    pub const STATE_SESSION_ENDED: i32 = 60792;
    pub const PROBE: i32 = 60793;
    pub const UPDATE_BIND: i32 = 60794;
    pub const HEALTH_EVENT: i32 = 60795;
    pub const TRACE_ROUTE: i32 = 60796;
    pub const TRACE_ROUTE_RESPONSE: i32 = 60797;
    pub const CONN_INSPECT_REQUEST: i32 = 60798;
    pub const CONN_INSPECT_RESPONSE: i32 = 60799;
    /// What SDKs and routers actually send as a connection inspect response: sdk-golang `ziti/edge/messages.go`
    /// (v1.1.x and v1.2.8) defines `ContentTypeConnInspectResponse = ContentType_InspectResponse` (60805) and
    /// `ContentTypeInspectResponse = ContentType_ConnInspectResponse` (60799): the names are swapped.
    pub const CONN_INSPECT_RESPONSE_WIRE: i32 = INSPECT_RESPONSE;
    pub const BIND_SUCCESS: i32 = 60800;
    pub const UPDATE_TOKEN_SUCCESS: i32 = 60801;
    pub const UPDATE_TOKEN_FAILURE: i32 = 60802;
    pub const UPDATE_TOKEN: i32 = 60803;
    pub const INSPECT_REQUEST: i32 = 60804;
    pub const INSPECT_RESPONSE: i32 = 60805;
    pub const XG_PAYLOAD: i32 = 1100;
    pub const XG_ACKNOWLEDGEMENT: i32 = 1101;
    pub const XG_CONTROL: i32 = 1102;
    pub const XG_CLOSE: i32 = 1103;
}

/// Header ids (channel v4 `message.go`; sdk-golang `edge_client.proto` enum HeaderId).
pub mod hdr {
    pub const CONNECTION_ID: i32 = 0;
    pub const REPLY_FOR: i32 = 1;
    pub const RESULT_SUCCESS: i32 = 2;
    pub const HELLO_ROUTER_ADVERTISEMENTS: i32 = 3;
    pub const HELLO_VERSION: i32 = 4;
    pub const HEARTBEAT: i32 = 5;
    pub const HEARTBEAT_RESPONSE: i32 = 6;
    pub const TYPE: i32 = 7;
    pub const ID: i32 = 8;
    pub const IS_GROUPED: i32 = 9;
    /// Latency probe send time (channel v4 `latency/latency.go` `probeTime`); in the reflected range.
    pub const LATENCY_PROBE_TIME: i32 = 128;
    /// Message UUID (edge `UUID = 128`), reflected on replies.
    pub const UUID: i32 = 128;

    pub const CONN_ID: i32 = 1000;
    pub const SEQ: i32 = 1001;
    pub const SESSION_TOKEN: i32 = 1002;
    pub const PUBLIC_KEY: i32 = 1003;
    pub const COST: i32 = 1004;
    pub const PRECEDENCE: i32 = 1005;
    pub const TERMINATOR_IDENTITY: i32 = 1006;
    pub const TERMINATOR_IDENTITY_SECRET: i32 = 1007;
    pub const CALLER_ID: i32 = 1008;
    pub const CRYPTO_METHOD: i32 = 1009;
    pub const FLAGS: i32 = 1010;
    pub const APP_DATA: i32 = 1011;
    pub const ROUTER_PROVIDED_CONN_ID: i32 = 1012;
    pub const HEALTH_STATUS: i32 = 1013;
    pub const ERROR_CODE: i32 = 1014;
    pub const TIMESTAMP: i32 = 1015;
    pub const LISTENER_ID: i32 = 1021;
    /// Connection type byte in inspect responses (`ConnTypeDial = 1`, `ConnTypeBind = 2`).
    pub const CONN_TYPE: i32 = 1022;
    pub const SUPPORTS_INSPECT: i32 = 1023;
    pub const SUPPORTS_BIND_SUCCESS: i32 = 1024;
    pub const CONNECTION_MARKER: i32 = 1025;
    pub const CIRCUIT_ID: i32 = 1026;
    pub const STICKINESS_TOKEN: i32 = 1027;
    pub const USE_XGRESS_TO_SDK: i32 = 1028;

    /// Headers in 128..=255 are copied from a request onto its reply (`ReflectedHeaderBitMask`, `MaxReflectedHeader`).
    pub const REFLECTED_MIN: i32 = 128;
    pub const REFLECTED_MAX: i32 = 255;
}

/// Edge data flags (sdk-golang `edge_client.proto` enum Flag).
pub mod flag {
    pub const FIN: u32 = 1;
    pub const TRACE_UUID: u32 = 2;
    pub const MULTIPART: u32 = 4;
    pub const STREAM: u32 = 8;
    pub const MULTIPART_MSG: u32 = 16;
}

/// Crypto method for the public-key header (sdk-golang `ziti/edge/messages.go` `CryptoMethodLibsodium`).
pub const CRYPTO_METHOD_LIBSODIUM: u8 = 0;

/// `ConnTypeDial` / `ConnTypeBind` (sdk-golang `ziti/edge/messages.go`).
pub const CONN_TYPE_DIAL: u8 = 1;
pub const CONN_TYPE_BIND: u8 = 2;

#[cfg(test)]
mod tests {
    use super::*;

    /// Constants pinned against their sources.
    #[test]
    fn constants_match_channel_v4_message_go() {
        // openziti/channel v4.2.37 message.go: magicV2, magicUnknownVersion, dataSectionV2, header ids.
        assert_eq!(MAGIC_V2, [0x03, 0x06, 0x09, 0x0c]);
        assert_eq!(MAGIC_UNKNOWN_VERSION, [0x03, 0x06, 0x09, 0x0a]);
        assert_eq!(FIXED_LEN, 20);
        assert_eq!(hdr::CONNECTION_ID, 0);
        assert_eq!(hdr::REPLY_FOR, 1);
        assert_eq!(hdr::RESULT_SUCCESS, 2);
        assert_eq!(hdr::HELLO_VERSION, 4);
        assert_eq!(hdr::HEARTBEAT, 5);
        assert_eq!(hdr::HEARTBEAT_RESPONSE, 6);
        assert_eq!(hdr::TYPE, 7);
        assert_eq!(hdr::ID, 8);
        assert_eq!(hdr::IS_GROUPED, 9);
        assert_eq!(
            (hdr::REFLECTED_MIN, hdr::REFLECTED_MAX),
            (1 << 7, (1 << 8) - 1)
        );
        // channel.go HelloSequence; latency/latency.go probeTime.
        assert_eq!(HELLO_SEQUENCE, -1);
        assert_eq!(hdr::LATENCY_PROBE_TIME, 128);
    }

    #[test]
    fn constants_match_channel_v4_messages_go() {
        // openziti/channel v4.2.37 messages.go
        assert_eq!(
            [
                ct::HELLO,
                ct::PING,
                ct::RESULT,
                ct::LATENCY,
                ct::LATENCY_RESPONSE,
                ct::HEARTBEAT
            ],
            [0, 1, 2, 3, 4, 5]
        );
    }

    #[test]
    fn constants_match_sdk_golang_edge_client_proto() {
        // openziti/sdk-golang v1.2.8 pb/edge_client_pb/edge_client.proto, enum ContentType
        assert_eq!(ct::CONNECT, 60783);
        assert_eq!(ct::STATE_CONNECTED, 60784);
        assert_eq!(ct::STATE_CLOSED, 60785);
        assert_eq!(ct::DATA, 60786);
        assert_eq!(ct::DIAL, 60787);
        assert_eq!(ct::DIAL_SUCCESS, 60788);
        assert_eq!(ct::DIAL_FAILED, 60789);
        assert_eq!(ct::BIND, 60790);
        assert_eq!(ct::UNBIND, 60791);
        assert_eq!(ct::STATE_SESSION_ENDED, 60792);
        assert_eq!(ct::PROBE, 60793);
        assert_eq!(ct::UPDATE_BIND, 60794);
        assert_eq!(ct::HEALTH_EVENT, 60795);
        assert_eq!(ct::TRACE_ROUTE, 60796);
        assert_eq!(ct::TRACE_ROUTE_RESPONSE, 60797);
        assert_eq!(ct::CONN_INSPECT_REQUEST, 60798);
        assert_eq!(ct::CONN_INSPECT_RESPONSE, 60799);
        assert_eq!(ct::BIND_SUCCESS, 60800);
        assert_eq!(ct::UPDATE_TOKEN_SUCCESS, 60801);
        assert_eq!(ct::UPDATE_TOKEN_FAILURE, 60802);
        assert_eq!(ct::UPDATE_TOKEN, 60803);
        assert_eq!(ct::INSPECT_REQUEST, 60804);
        assert_eq!(ct::INSPECT_RESPONSE, 60805);
        // ziti/edge/messages.go: ContentTypeConnInspectResponse = int32(edge_client_pb.ContentType_InspectResponse)
        assert_eq!(ct::CONN_INSPECT_RESPONSE_WIRE, 60805);
        assert_eq!(
            [
                ct::XG_PAYLOAD,
                ct::XG_ACKNOWLEDGEMENT,
                ct::XG_CONTROL,
                ct::XG_CLOSE
            ],
            [1100, 1101, 1102, 1103]
        );
        // enum HeaderId
        assert_eq!(hdr::UUID, 128);
        assert_eq!(hdr::CONN_ID, 1000);
        assert_eq!(hdr::SEQ, 1001);
        assert_eq!(hdr::SESSION_TOKEN, 1002);
        assert_eq!(hdr::PUBLIC_KEY, 1003);
        assert_eq!(hdr::COST, 1004);
        assert_eq!(hdr::PRECEDENCE, 1005);
        assert_eq!(hdr::TERMINATOR_IDENTITY, 1006);
        assert_eq!(hdr::TERMINATOR_IDENTITY_SECRET, 1007);
        assert_eq!(hdr::CALLER_ID, 1008);
        assert_eq!(hdr::CRYPTO_METHOD, 1009);
        assert_eq!(hdr::FLAGS, 1010);
        assert_eq!(hdr::APP_DATA, 1011);
        assert_eq!(hdr::ROUTER_PROVIDED_CONN_ID, 1012);
        assert_eq!(hdr::HEALTH_STATUS, 1013);
        assert_eq!(hdr::ERROR_CODE, 1014);
        assert_eq!(hdr::TIMESTAMP, 1015);
        assert_eq!(hdr::LISTENER_ID, 1021);
        assert_eq!(hdr::CONN_TYPE, 1022);
        // ziti/edge/messages.go ConnType
        assert_eq!((CONN_TYPE_DIAL, CONN_TYPE_BIND), (1, 2));
        assert_eq!(hdr::SUPPORTS_INSPECT, 1023);
        assert_eq!(hdr::SUPPORTS_BIND_SUCCESS, 1024);
        assert_eq!(hdr::CONNECTION_MARKER, 1025);
        assert_eq!(hdr::CIRCUIT_ID, 1026);
        assert_eq!(hdr::STICKINESS_TOKEN, 1027);
        assert_eq!(hdr::USE_XGRESS_TO_SDK, 1028);
        // enum Flag
        assert_eq!(
            [
                flag::FIN,
                flag::TRACE_UUID,
                flag::MULTIPART,
                flag::STREAM,
                flag::MULTIPART_MSG
            ],
            [1, 2, 4, 8, 16]
        );
        // ziti/edge/messages.go CryptoMethodLibsodium
        assert_eq!(CRYPTO_METHOD_LIBSODIUM, 0);
    }
}
