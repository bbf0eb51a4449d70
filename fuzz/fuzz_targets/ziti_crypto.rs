//! Fuzz the OpenZiti end-to-end crypto framing (`core::ziti::crypto`): a peer's key exchange
//! public key, stream header and data messages are arbitrary bytes. Decrypting arbitrary
//! ciphertext gives an error, never a panic; what our encryptor wrote decrypts to the plaintext
//! with its tag, and any single flipped byte of it is refused.
//!
//! Input: 32 bytes of key, 24 bytes of stream header, then messages, each one length byte and that
//! many bytes (as ciphertext, and as plaintext for the round trip).
//! Run: `cargo +nightly fuzz run ziti_crypto` from the repository root.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcpz::core::ziti::crypto::{CryptoError, Decryptor, Encryptor, KeyPair};

/// secretstream `TagMessage` (what the edge sends on every data message).
const TAG_MESSAGE: u8 = 0;

fuzz_target!(|data: &[u8]| {
    let kp = KeyPair::from_seed(&[7u8; 32]);
    // A peer key of any length: an error unless it has 32 bytes, never a panic.
    let peer = &data[..data.len().min(40)];
    let _ = kp.client_session_keys(peer);
    let _ = kp.server_session_keys(peer);
    if data.len() < 32 {
        return;
    }
    let (key, rest) = data.split_at(32);
    let key: [u8; 32] = key.try_into().unwrap();
    let header_len = rest.len().min(24);
    let (header, mut rest) = rest.split_at(header_len);
    let mut dec = match Decryptor::new(&key, header) {
        Ok(d) => d,
        Err(e) => {
            assert_eq!(e, CryptoError::BadHeader(header_len));
            return;
        }
    };
    let header: [u8; 24] = header.try_into().unwrap();
    let mut enc = Encryptor::with_header(&key, &header);
    let mut mirror = Decryptor::new(&key, &header).unwrap();
    let mut first = true;
    while let Some((&len, tail)) = rest.split_first() {
        let n = usize::from(len).min(tail.len());
        let (msg, tail) = tail.split_at(n);
        rest = tail;
        // Arbitrary ciphertext: an error (an accidental forgery is not reachable by a fuzzer).
        match dec.pull(msg) {
            Err(CryptoError::ShortCiphertext(k)) => assert!(k == msg.len() && k < 17),
            Err(CryptoError::Decrypt) => {}
            other => panic!("arbitrary ciphertext gave {other:?}"),
        }
        // Our own: round trip; the first message with a flipped byte is refused by a fresh stream.
        let ct = enc.push(msg, TAG_MESSAGE).expect("encrypts");
        assert_eq!(ct.len(), msg.len() + 17);
        if first {
            first = false;
            let mut bad = ct.clone();
            let i = usize::from(len) % bad.len();
            bad[i] ^= 1 << (len % 8);
            let mut fresh = Decryptor::new(&key, &header).unwrap();
            assert_eq!(fresh.pull(&bad), Err(CryptoError::Decrypt));
        }
        assert_eq!(mirror.pull(&ct), Ok((msg.to_vec(), TAG_MESSAGE)));
    }
});
