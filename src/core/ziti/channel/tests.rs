use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream};
use tokio::time::timeout;

use super::hello::split_host_port;
use super::RouterChannel;
use crate::core::ziti::conn::{ConnStats, Direction, RxCrypto, ZitiStream};
use crate::core::ziti::crypto::{Encryptor, TAG_MESSAGE};
use crate::core::ziti::wire::{self, ct, hdr, Message};
use crate::core::ziti::ZitiError;

const WAIT: Duration = Duration::from_secs(5);

#[test]
fn host_port() {
    assert_eq!(
        split_host_port("127.0.0.1:3022").unwrap(),
        ("127.0.0.1".into(), 3022)
    );
    assert_eq!(split_host_port("[::1]:3022").unwrap(), ("::1".into(), 3022));
    assert!(split_host_port("nohost").is_err());
    assert!(split_host_port("h:99999").is_err());
}

async fn read_msg(r: &mut DuplexStream, buf: &mut BytesMut) -> Option<Message> {
    loop {
        if let Some(m) = wire::decode(buf).unwrap() {
            return Some(m);
        }
        if r.read_buf(buf).await.ok()? == 0 {
            return None;
        }
    }
}

/// The next message the channel sends to the router (the test fails after [`WAIT`]).
async fn next_msg(router: &mut DuplexStream, buf: &mut BytesMut) -> Message {
    timeout(WAIT, read_msg(router, buf)).await.unwrap().unwrap()
}

/// A data message for connection `id`.
fn data(id: u32, body: impl Into<bytes::Bytes>) -> Message {
    let mut m = Message::new(ct::DATA, body);
    m.put_u32(hdr::CONN_ID, id);
    m
}

/// The router sends `m`.
async fn send(router: &mut DuplexStream, m: &Message) {
    router.write_all(&m.to_bytes().unwrap()).await.unwrap();
}

/// Play the router's side of the hello; returns the router end of the pipe.
async fn fake_router(
    accept: bool,
) -> (
    Result<Arc<RouterChannel>, ZitiError>,
    DuplexStream,
    BytesMut,
) {
    let (client, mut router) = tokio::io::duplex(1 << 20);
    let srv = tokio::spawn(async move {
        let mut buf = BytesMut::new();
        let hello = read_msg(&mut router, &mut buf).await.unwrap();
        assert_eq!(hello.content_type, ct::HELLO);
        assert_eq!(hello.sequence, wire::HELLO_SEQUENCE);
        assert_eq!(&hello.body[..], b"my-cn");
        assert_eq!(
            hello.get(hdr::SESSION_TOKEN).map(|b| &b[..]),
            Some(&b"api-token"[..])
        );
        let mut r = Message::new(
            ct::RESULT,
            if accept {
                &b""[..]
            } else {
                &b"no api session"[..]
            },
        );
        r.sequence = 1;
        r.put_bool(hdr::RESULT_SUCCESS, accept).reply_to(&hello);
        router.write_all(&r.to_bytes().unwrap()).await.unwrap();
        (router, buf)
    });
    let ch = RouterChannel::over(client, "my-cn", "fake", "127.0.0.1:1", "api-token").await;
    let (router, buf) = srv.await.unwrap();
    (ch, router, buf)
}

fn stream(ch: &Arc<RouterChannel>, id: u32, rx_crypto: RxCrypto) -> ZitiStream {
    let rx = ch.register(id).unwrap();
    let stats = Arc::new(ConnStats::new(
        id,
        "svc",
        "fake",
        Direction::Dial,
        String::new(),
        false,
        String::new(),
    ));
    ZitiStream::new(id, ch.clone(), rx, rx_crypto, None, stats, None)
}

#[tokio::test]
async fn hello_rejection_is_a_clear_error() {
    let (ch, _router, _) = fake_router(false).await;
    match ch {
        Err(ZitiError::RouterRejected(m)) => assert!(m.contains("no api session"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn garbage_from_router_closes_channel_and_fails_waiters() {
    let (ch, mut router, _) = fake_router(true).await;
    let ch = ch.unwrap();
    let mut s = stream(&ch, 5, RxCrypto::None);
    let ch2 = ch.clone();
    let req = tokio::spawn(async move {
        ch2.request(Message::new(ct::CONNECT, Vec::new()), WAIT)
            .await
    });
    router
        .write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        .await
        .unwrap();
    let r = timeout(WAIT, req).await.unwrap().unwrap();
    assert!(matches!(r, Err(ZitiError::RouterLost(_))), "{r:?}");
    let mut b = Vec::new();
    let e = timeout(WAIT, s.read_to_end(&mut b))
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::ConnectionAborted);
    assert!(ch.is_closed());
    assert!(s.write_all(b"x").await.is_err());
}

#[tokio::test]
async fn truncated_frame_then_eof_closes_channel() {
    let (ch, mut router, _) = fake_router(true).await;
    let ch = ch.unwrap();
    let m = data(5, &b"hello"[..]);
    let bytes = m.to_bytes().unwrap();
    router.write_all(&bytes[..10]).await.unwrap();
    drop(router);
    timeout(WAIT, ch.closed()).await.unwrap();
}

#[tokio::test]
async fn oversized_lengths_close_channel_without_allocating() {
    let (ch, mut router, _) = fake_router(true).await;
    let ch = ch.unwrap();
    let mut f = wire::MAGIC_V2.to_vec();
    f.extend_from_slice(&ct::DATA.to_le_bytes());
    f.extend_from_slice(&[0; 4]);
    f.extend_from_slice(&0u32.to_le_bytes());
    f.extend_from_slice(&u32::MAX.to_le_bytes());
    router.write_all(&f).await.unwrap();
    timeout(WAIT, ch.closed()).await.unwrap();
}

#[tokio::test]
async fn latency_probe_is_answered_with_reflected_headers() {
    let (ch, mut router, mut buf) = fake_router(true).await;
    let _ch = ch.unwrap();
    let mut probe = Message::new(ct::LATENCY, Vec::new());
    probe.sequence = 9;
    probe
        .put_u64(hdr::LATENCY_PROBE_TIME, 1234)
        .put_u64(hdr::HEARTBEAT, 77);
    send(&mut router, &probe).await;
    let mut got_result = false;
    let mut got_hb = false;
    while !(got_result && got_hb) {
        let m = next_msg(&mut router, &mut buf).await;
        match m.content_type {
            ct::RESULT => {
                assert_eq!(m.reply_for(), Some(9));
                assert_eq!(m.get_u64(hdr::LATENCY_PROBE_TIME), Some(1234));
                assert_eq!(m.get_bool(hdr::RESULT_SUCCESS), Some(true));
                got_result = true;
            }
            ct::HEARTBEAT => {
                assert_eq!(m.get_u64(hdr::HEARTBEAT_RESPONSE), Some(77));
                got_hb = true;
            }
            other => panic!("unexpected {other}"),
        }
    }
}

#[tokio::test]
async fn a_vectored_write_is_one_data_message() {
    let (ch, mut router, mut buf) = fake_router(true).await;
    let ch = ch.unwrap();
    let mut s = stream(&ch, 9, RxCrypto::None);
    assert!(s.is_write_vectored());
    let parts = [
        std::io::IoSlice::new(b"HEADERS|"),
        std::io::IoSlice::new(b""),
        std::io::IoSlice::new(b"DATA"),
    ];
    let n = s.write_vectored(&parts).await.unwrap();
    assert_eq!(n, 12);
    let m = next_msg(&mut router, &mut buf).await;
    assert_eq!(
        (m.content_type, m.get_u32(hdr::CONN_ID), &m.body[..]),
        (ct::DATA, Some(9), &b"HEADERS|DATA"[..])
    );
    assert_eq!(s.info().bytes_out, 12);
}

#[tokio::test]
async fn data_fin_and_half_close_on_the_wire() {
    let (ch, mut router, mut buf) = fake_router(true).await;
    let ch = ch.unwrap();
    let mut s = stream(&ch, 7, RxCrypto::None);
    for (body, flags) in [
        (&b"hel"[..], 0u32),
        (&b"lo"[..], 0),
        (&b""[..], wire::flag::FIN),
    ] {
        let mut m = data(7, body);
        if flags != 0 {
            m.put_u32(hdr::FLAGS, flags);
        }
        send(&mut router, &m).await;
    }
    let mut got = Vec::new();
    timeout(WAIT, s.read_to_end(&mut got))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, b"hello");
    s.write_all(b"abc").await.unwrap();
    s.shutdown().await.unwrap();
    let m = next_msg(&mut router, &mut buf).await;
    assert_eq!(
        (m.content_type, m.get_u32(hdr::CONN_ID), &m.body[..]),
        (ct::DATA, Some(7), &b"abc"[..])
    );
    let m = next_msg(&mut router, &mut buf).await;
    assert_eq!(m.get_u32(hdr::FLAGS), Some(wire::flag::FIN));
    assert!(m.body.is_empty());
    assert_eq!(s.info().bytes_in, 5);
    assert_eq!(s.info().bytes_out, 3);
    drop(s);
    let m = next_msg(&mut router, &mut buf).await;
    assert_eq!(
        (m.content_type, m.get_u32(hdr::CONN_ID)),
        (ct::STATE_CLOSED, Some(7))
    );
}

#[tokio::test]
async fn read_timeout_fires_and_clears() {
    let (ch, mut router, _) = fake_router(true).await;
    let ch = ch.unwrap();
    let mut s = stream(&ch, 11, RxCrypto::None);
    s.set_read_timeout(Some(Duration::from_millis(100)));
    let mut b = [0u8; 4];
    let e = timeout(WAIT, s.read(&mut b)).await.unwrap().unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
    // Data that arrives afterwards is still delivered.
    send(&mut router, &data(11, &b"late"[..])).await;
    timeout(WAIT, s.read_exact(&mut b)).await.unwrap().unwrap();
    assert_eq!(&b, b"late");
}

#[tokio::test]
async fn wrong_e2e_key_is_a_read_error_not_a_panic() {
    let (ch, mut router, _) = fake_router(true).await;
    let ch = ch.unwrap();
    let mut s = stream(&ch, 8, RxCrypto::AwaitHeader([1u8; 32]));
    let (mut enc, header) = Encryptor::new(&[2u8; 32]);
    for body in [header.to_vec(), enc.push(b"secret", TAG_MESSAGE).unwrap()] {
        send(&mut router, &data(8, body)).await;
    }
    let mut b = [0u8; 16];
    let e = timeout(WAIT, s.read(&mut b)).await.unwrap().unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
    // A short header is rejected the same way.
    let mut s2 = stream(&ch, 9, RxCrypto::AwaitHeader([1u8; 32]));
    send(&mut router, &data(9, vec![0u8; 5])).await;
    let e = timeout(WAIT, s2.read(&mut b)).await.unwrap().unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
}
