//! [`Message`]: encoding, and decoding that treats every byte as hostile.

use std::collections::BTreeMap;

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::{
    ct, hdr, CRYPTO_METHOD_LIBSODIUM, FIXED_LEN, MAGIC_UNKNOWN_VERSION, MAGIC_V2, MAX_BODY_LEN,
    MAX_HEADERS_LEN, MAX_HEADER_COUNT,
};

/// Answer to a router's ConnInspectRequest (sdk-golang `NewConnInspectResponse(0, type, state)` + `ReplyTo`).
pub(crate) fn conn_inspect_response(req: &Message, conn_type: u8, state_json: String) -> Message {
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
    pub(crate) fn new(content_type: i32, body: impl Into<Bytes>) -> Self {
        Message {
            content_type,
            sequence: 0,
            headers: BTreeMap::new(),
            body: body.into(),
        }
    }

    pub(crate) fn put(&mut self, key: i32, value: impl Into<Bytes>) -> &mut Self {
        self.headers.insert(key, value.into());
        self
    }
    pub(crate) fn put_u32(&mut self, key: i32, v: u32) -> &mut Self {
        self.put(key, Bytes::copy_from_slice(&v.to_le_bytes()))
    }
    pub(crate) fn put_u64(&mut self, key: i32, v: u64) -> &mut Self {
        self.put(key, Bytes::copy_from_slice(&v.to_le_bytes()))
    }
    pub(crate) fn put_u16(&mut self, key: i32, v: u16) -> &mut Self {
        self.put(key, Bytes::copy_from_slice(&v.to_le_bytes()))
    }
    pub(crate) fn put_bool(&mut self, key: i32, v: bool) -> &mut Self {
        self.put(key, Bytes::from_static(if v { &[1] } else { &[0] }))
    }
    pub(crate) fn put_byte(&mut self, key: i32, v: u8) -> &mut Self {
        self.put(key, Bytes::copy_from_slice(&[v]))
    }

    /// Our end-to-end public key and its crypto method (libsodium).
    pub(crate) fn put_public_key(&mut self, key: [u8; 32]) -> &mut Self {
        self.put(hdr::PUBLIC_KEY, key.to_vec())
            .put_byte(hdr::CRYPTO_METHOD, CRYPTO_METHOD_LIBSODIUM)
    }

    pub(crate) fn get(&self, key: i32) -> Option<&Bytes> {
        self.headers.get(&key)
    }
    /// A u32 header; `None` if absent or not exactly 4 bytes (as channel's `GetUint32Header`).
    pub(crate) fn get_u32(&self, key: i32) -> Option<u32> {
        let b = self.headers.get(&key)?;
        let a: [u8; 4] = b.as_ref().try_into().ok()?;
        Some(u32::from_le_bytes(a))
    }
    pub(crate) fn get_u64(&self, key: i32) -> Option<u64> {
        let b = self.headers.get(&key)?;
        let a: [u8; 8] = b.as_ref().try_into().ok()?;
        Some(u64::from_le_bytes(a))
    }
    /// A bool header: present and first byte == 1 (as channel's `GetBoolHeader`).
    pub(crate) fn get_bool(&self, key: i32) -> Option<bool> {
        self.headers.get(&key).map(|b| b.first() == Some(&1))
    }
    pub(crate) fn get_byte(&self, key: i32) -> Option<u8> {
        self.headers.get(&key).and_then(|b| b.first().copied())
    }
    pub(crate) fn get_str(&self, key: i32) -> Option<String> {
        self.headers
            .get(&key)
            .map(|b| String::from_utf8_lossy(b).into_owned())
    }

    /// The sequence this message answers, if it is a reply.
    pub(crate) fn reply_for(&self) -> Option<i32> {
        self.get_u32(hdr::REPLY_FOR).map(|v| v as i32)
    }

    /// Make this a reply to `req`: set reply-for and copy the reflected headers (channel `Message.ReplyTo`).
    pub(crate) fn reply_to(&mut self, req: &Message) -> &mut Self {
        self.put_u32(hdr::REPLY_FOR, req.sequence as u32);
        for (k, v) in req.headers.range(hdr::REFLECTED_MIN..=hdr::REFLECTED_MAX) {
            self.headers.insert(*k, v.clone());
        }
        self
    }

    /// Encoded length, or an error if a length does not fit the wire's 32-bit fields.
    fn encoded_len(&self) -> Result<usize, FrameError> {
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
    pub(crate) fn encode(&self, out: &mut BytesMut) -> Result<(), FrameError> {
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
fn decode_headers(data: &Bytes) -> Result<BTreeMap<i32, Bytes>, FrameError> {
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
    use crate::core::ziti::wire::HELLO_SEQUENCE;

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
