//! Channel V2 message framing and the numeric constants of the edge protocol.
//!
//! Every message on an edge-router channel is, little-endian throughout:
//! `magic [03 06 09 0c] | content-type i32 | sequence i32 | headers-len u32 | body-len u32 | headers | body`,
//! and the headers section is a run of `key i32 | len u32 | value`. Each message carries the magic, not just the
//! first one. Decoding treats every byte as hostile: lengths are bounded before any allocation and all arithmetic
//! is checked. Constants come from openziti/channel v4.2.37 `message.go`, `messages.go`, `channel.go` and
//! openziti/sdk-golang v1.2.8 `pb/edge_client_pb/edge_client.proto`, `ziti/edge/messages.go`; the unit tests pin
//! them.

use std::collections::BTreeMap;

use bytes::{Buf, BufMut, Bytes, BytesMut};

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

/// Answer to a router's ConnInspectRequest (sdk-golang `NewConnInspectResponse(0, type, state)` + `ReplyTo`).
pub fn conn_inspect_response(req: &Message, conn_type: u8, state_json: String) -> Message {
    let mut r = Message::new(ct::CONN_INSPECT_RESPONSE_WIRE, state_json.into_bytes());
    r.put_u32(hdr::CONN_ID, 0)
        .put_byte(hdr::CONN_TYPE, conn_type)
        .reply_to(req);
    r
}

/// Why a frame could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("bad magic {0:02x?} (not an openziti channel v2 peer)")]
    BadMagic([u8; 4]),
    #[error("peer does not support channel version 2 (unknown-version answer)")]
    UnknownVersion,
    #[error("headers section too large: {0} bytes")]
    HeadersTooLarge(u32),
    #[error("body too large: {0} bytes")]
    BodyTooLarge(u32),
    #[error("truncated header entry at offset {0}")]
    TruncatedHeader(usize),
    #[error("header value length {len} at offset {offset} overruns the headers section")]
    HeaderOverrun { offset: usize, len: u32 },
    #[error("too many headers")]
    TooManyHeaders,
    #[error("message too large to encode")]
    TooLargeToEncode,
}

/// One channel message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message {
    pub content_type: i32,
    pub sequence: i32,
    pub headers: BTreeMap<i32, Bytes>,
    pub body: Bytes,
}

impl Message {
    pub fn new(content_type: i32, body: impl Into<Bytes>) -> Self {
        Message {
            content_type,
            sequence: 0,
            headers: BTreeMap::new(),
            body: body.into(),
        }
    }

    pub fn put(&mut self, key: i32, value: impl Into<Bytes>) -> &mut Self {
        self.headers.insert(key, value.into());
        self
    }
    pub fn put_u32(&mut self, key: i32, v: u32) -> &mut Self {
        self.put(key, Bytes::copy_from_slice(&v.to_le_bytes()))
    }
    pub fn put_u64(&mut self, key: i32, v: u64) -> &mut Self {
        self.put(key, Bytes::copy_from_slice(&v.to_le_bytes()))
    }
    pub fn put_u16(&mut self, key: i32, v: u16) -> &mut Self {
        self.put(key, Bytes::copy_from_slice(&v.to_le_bytes()))
    }
    pub fn put_bool(&mut self, key: i32, v: bool) -> &mut Self {
        self.put(key, Bytes::from_static(if v { &[1] } else { &[0] }))
    }
    pub fn put_byte(&mut self, key: i32, v: u8) -> &mut Self {
        self.put(key, Bytes::copy_from_slice(&[v]))
    }

    pub fn get(&self, key: i32) -> Option<&Bytes> {
        self.headers.get(&key)
    }
    /// A u32 header; `None` if absent or not exactly 4 bytes (as channel's `GetUint32Header`).
    pub fn get_u32(&self, key: i32) -> Option<u32> {
        let b = self.headers.get(&key)?;
        let a: [u8; 4] = b.as_ref().try_into().ok()?;
        Some(u32::from_le_bytes(a))
    }
    pub fn get_u64(&self, key: i32) -> Option<u64> {
        let b = self.headers.get(&key)?;
        let a: [u8; 8] = b.as_ref().try_into().ok()?;
        Some(u64::from_le_bytes(a))
    }
    /// A bool header: present and first byte == 1 (as channel's `GetBoolHeader`).
    pub fn get_bool(&self, key: i32) -> Option<bool> {
        self.headers.get(&key).map(|b| b.first() == Some(&1))
    }
    pub fn get_byte(&self, key: i32) -> Option<u8> {
        self.headers.get(&key).and_then(|b| b.first().copied())
    }
    pub fn get_str(&self, key: i32) -> Option<String> {
        self.headers
            .get(&key)
            .map(|b| String::from_utf8_lossy(b).into_owned())
    }

    /// The sequence this message answers, if it is a reply.
    pub fn reply_for(&self) -> Option<i32> {
        self.get_u32(hdr::REPLY_FOR).map(|v| v as i32)
    }

    /// Make this a reply to `req`: set reply-for and copy the reflected headers (channel `Message.ReplyTo`).
    pub fn reply_to(&mut self, req: &Message) -> &mut Self {
        self.put_u32(hdr::REPLY_FOR, req.sequence as u32);
        for (k, v) in req.headers.range(hdr::REFLECTED_MIN..=hdr::REFLECTED_MAX) {
            self.headers.insert(*k, v.clone());
        }
        self
    }

    /// Encoded length, or an error if a length does not fit the wire's 32-bit fields.
    pub fn encoded_len(&self) -> Result<usize, FrameError> {
        let mut n = FIXED_LEN;
        for v in self.headers.values() {
            if v.len() > i32::MAX as usize {
                return Err(FrameError::TooLargeToEncode);
            }
            n = n
                .checked_add(8 + v.len())
                .ok_or(FrameError::TooLargeToEncode)?;
        }
        if self.body.len() > i32::MAX as usize {
            return Err(FrameError::TooLargeToEncode);
        }
        n.checked_add(self.body.len())
            .ok_or(FrameError::TooLargeToEncode)
    }

    /// Append the wire form to `out`.
    pub fn encode(&self, out: &mut BytesMut) -> Result<(), FrameError> {
        let total = self.encoded_len()?;
        let headers_len = total - FIXED_LEN - self.body.len();
        if headers_len > i32::MAX as usize {
            return Err(FrameError::TooLargeToEncode);
        }
        out.reserve(total);
        out.put_slice(&MAGIC_V2);
        out.put_i32_le(self.content_type);
        out.put_i32_le(self.sequence);
        out.put_i32_le(headers_len as i32);
        out.put_i32_le(self.body.len() as i32);
        for (k, v) in &self.headers {
            out.put_i32_le(*k);
            out.put_i32_le(v.len() as i32);
            out.put_slice(v);
        }
        out.put_slice(&self.body);
        Ok(())
    }

    pub fn to_bytes(&self) -> Result<Bytes, FrameError> {
        let mut b = BytesMut::new();
        self.encode(&mut b)?;
        Ok(b.freeze())
    }
}

/// Try to decode one message from the front of `buf`. `Ok(None)` means more bytes are needed; on success the
/// message's bytes are removed from `buf`. Errors are final: the stream is out of sync and must be closed.
pub fn decode(buf: &mut BytesMut) -> Result<Option<Message>, FrameError> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let magic: [u8; 4] = [buf[0], buf[1], buf[2], buf[3]];
    if magic == MAGIC_UNKNOWN_VERSION {
        return Err(FrameError::UnknownVersion);
    }
    if magic != MAGIC_V2 {
        return Err(FrameError::BadMagic(magic));
    }
    if buf.len() < FIXED_LEN {
        return Ok(None);
    }
    let le = |i: usize| u32::from_le_bytes([buf[i], buf[i + 1], buf[i + 2], buf[i + 3]]);
    let content_type = le(4) as i32;
    let sequence = le(8) as i32;
    let headers_len = le(12);
    let body_len = le(16);
    if headers_len > MAX_HEADERS_LEN {
        return Err(FrameError::HeadersTooLarge(headers_len));
    }
    if body_len > MAX_BODY_LEN {
        return Err(FrameError::BodyTooLarge(body_len));
    }
    // Both bounded above, so this cannot overflow usize.
    let total = FIXED_LEN + headers_len as usize + body_len as usize;
    if buf.len() < total {
        buf.reserve(total - buf.len());
        return Ok(None);
    }
    let mut frame = buf.split_to(total).freeze();
    frame.advance(FIXED_LEN);
    let header_bytes = frame.split_to(headers_len as usize);
    let headers = decode_headers(&header_bytes)?;
    Ok(Some(Message {
        content_type,
        sequence,
        headers,
        body: frame,
    }))
}

/// Decode a headers section (`key i32 | len u32 | value` repeated). Later duplicates win, as in Go's map.
pub fn decode_headers(data: &Bytes) -> Result<BTreeMap<i32, Bytes>, FrameError> {
    let mut out = BTreeMap::new();
    let mut i = 0usize;
    let mut count = 0usize;
    while i < data.len() {
        let meta_end = i.checked_add(8).ok_or(FrameError::TruncatedHeader(i))?;
        if meta_end > data.len() {
            return Err(FrameError::TruncatedHeader(i));
        }
        let key = i32::from_le_bytes([data[i], data[i + 1], data[i + 2], data[i + 3]]);
        let len = u32::from_le_bytes([data[i + 4], data[i + 5], data[i + 6], data[i + 7]]);
        let end = meta_end
            .checked_add(len as usize)
            .filter(|e| *e <= data.len())
            .ok_or(FrameError::HeaderOverrun { offset: i, len })?;
        count += 1;
        if count > MAX_HEADER_COUNT {
            return Err(FrameError::TooManyHeaders);
        }
        out.insert(key, data.slice(meta_end..end));
        i = end;
    }
    Ok(out)
}

/// Split a MULTIPART_MSG plaintext into its parts (`u16 len | part` repeated, sdk-golang `conn.go` Read).
pub fn split_multipart(mut d: &[u8]) -> Option<Vec<Bytes>> {
    let mut parts = Vec::new();
    while !d.is_empty() {
        if d.len() < 2 {
            return None;
        }
        let l = u16::from_le_bytes([d[0], d[1]]) as usize;
        d = &d[2..];
        if l > d.len() {
            return None;
        }
        parts.push(Bytes::copy_from_slice(&d[..l]));
        d = &d[l..];
    }
    Some(parts)
}

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

    #[test]
    fn encode_layout_is_exact() {
        let mut m = Message::new(ct::DATA, &b"hi"[..]);
        m.sequence = 7;
        m.put_u32(hdr::CONN_ID, 5);
        let b = m.to_bytes().unwrap();
        let mut want = vec![0x03, 0x06, 0x09, 0x0c];
        want.extend_from_slice(&60786i32.to_le_bytes());
        want.extend_from_slice(&7i32.to_le_bytes());
        want.extend_from_slice(&12i32.to_le_bytes());
        want.extend_from_slice(&2i32.to_le_bytes());
        want.extend_from_slice(&1000i32.to_le_bytes());
        want.extend_from_slice(&4i32.to_le_bytes());
        want.extend_from_slice(&5u32.to_le_bytes());
        want.extend_from_slice(b"hi");
        assert_eq!(&b[..], &want[..]);
    }

    #[test]
    fn roundtrip_and_partial_input() {
        let mut m = Message::new(ct::HELLO, &b"body"[..]);
        m.sequence = HELLO_SEQUENCE;
        m.put(hdr::SESSION_TOKEN, &b"tok"[..])
            .put_bool(hdr::RESULT_SUCCESS, true);
        let enc = m.to_bytes().unwrap();
        for cut in 0..enc.len() {
            let mut b = BytesMut::from(&enc[..cut]);
            assert_eq!(decode(&mut b).unwrap(), None, "cut at {cut}");
        }
        let mut b = BytesMut::from(&enc[..]);
        b.extend_from_slice(&enc);
        assert_eq!(decode(&mut b).unwrap().unwrap(), m);
        assert_eq!(decode(&mut b).unwrap().unwrap(), m);
        assert!(b.is_empty());
    }

    #[test]
    fn hostile_frames_are_rejected_without_panic() {
        let mut b = BytesMut::from(&b"HTTP/1.1 400"[..]);
        assert!(matches!(decode(&mut b), Err(FrameError::BadMagic(_))));

        let mut b = BytesMut::from(&[0x03, 0x06, 0x09, 0x0a, 2, 0, 0, 0][..]);
        assert_eq!(decode(&mut b), Err(FrameError::UnknownVersion));

        let mut hdr_too_big = BytesMut::from(&MAGIC_V2[..]);
        hdr_too_big.extend_from_slice(&[0; 8]);
        hdr_too_big.extend_from_slice(&u32::MAX.to_le_bytes());
        hdr_too_big.extend_from_slice(&0u32.to_le_bytes());
        assert!(matches!(
            decode(&mut hdr_too_big),
            Err(FrameError::HeadersTooLarge(_))
        ));

        let mut body_too_big = BytesMut::from(&MAGIC_V2[..]);
        body_too_big.extend_from_slice(&[0; 12]);
        body_too_big.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            decode(&mut body_too_big),
            Err(FrameError::BodyTooLarge(_))
        ));

        // A header entry whose length points past the section.
        let mut h = Vec::new();
        h.extend_from_slice(&1000i32.to_le_bytes());
        h.extend_from_slice(&0xffff_fff0u32.to_le_bytes());
        h.extend_from_slice(&[1, 2, 3, 4]);
        let mut f = BytesMut::from(&MAGIC_V2[..]);
        f.extend_from_slice(&[0; 8]);
        f.extend_from_slice(&(h.len() as u32).to_le_bytes());
        f.extend_from_slice(&0u32.to_le_bytes());
        f.extend_from_slice(&h);
        assert!(matches!(
            decode(&mut f),
            Err(FrameError::HeaderOverrun { .. })
        ));

        // Truncated header meta-data.
        let mut f = BytesMut::from(&MAGIC_V2[..]);
        f.extend_from_slice(&[0; 8]);
        f.extend_from_slice(&3u32.to_le_bytes());
        f.extend_from_slice(&0u32.to_le_bytes());
        f.extend_from_slice(&[1, 2, 3]);
        assert_eq!(decode(&mut f), Err(FrameError::TruncatedHeader(0)));
    }

    #[test]
    fn typed_getters_check_lengths() {
        let mut m = Message::new(ct::DATA, Bytes::new());
        m.put(hdr::CONN_ID, &b"abc"[..]);
        assert_eq!(m.get_u32(hdr::CONN_ID), None);
        m.put_u32(hdr::CONN_ID, 9);
        assert_eq!(m.get_u32(hdr::CONN_ID), Some(9));
        assert_eq!(m.get_bool(hdr::RESULT_SUCCESS), None);
        m.put(hdr::RESULT_SUCCESS, Bytes::new());
        assert_eq!(m.get_bool(hdr::RESULT_SUCCESS), Some(false));
    }

    #[test]
    fn reply_reflects_only_128_to_255() {
        let mut req = Message::new(ct::LATENCY, Bytes::new());
        req.sequence = 42;
        req.put_u64(hdr::LATENCY_PROBE_TIME, 77)
            .put_u32(hdr::CONN_ID, 1);
        let mut r = Message::new(ct::RESULT, Bytes::new());
        r.reply_to(&req);
        assert_eq!(r.reply_for(), Some(42));
        assert_eq!(r.get_u64(hdr::LATENCY_PROBE_TIME), Some(77));
        assert_eq!(r.get(hdr::CONN_ID), None);
    }

    #[test]
    fn multipart_split() {
        assert_eq!(
            split_multipart(&[2, 0, b'a', b'b', 1, 0, b'c']).unwrap(),
            vec![Bytes::from_static(b"ab"), Bytes::from_static(b"c")]
        );
        assert_eq!(split_multipart(&[5, 0, b'a']), None);
        assert_eq!(split_multipart(&[5]), None);
    }
}
