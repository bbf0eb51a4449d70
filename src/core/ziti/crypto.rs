//! End-to-end encryption as OpenZiti SDKs do it: libsodium `crypto_kx` for the session keys and
//! `crypto_secretstream_xchacha20poly1305` for the data, one secretstream message per edge data message, the
//! 24-byte stream header sent as the first data message (openziti/secretstream `kx/kx.go`, `stream.go`;
//! sdk-golang `ziti/edge/network/conn.go` establishClientCrypto / establishServerCrypto).
//! Backed by `dryoc` (pure Rust); byte compatibility with libsodium is proven by `tests/ziti_vectors.rs`.

use dryoc::classic::crypto_kx;
use dryoc::classic::crypto_secretstream_xchacha20poly1305 as ss;

/// secretstream header (openziti/secretstream `StreamHeaderBytes`).
pub(crate) const STREAM_HEADER_BYTES: usize = 24;
/// Per-message overhead: 1 tag byte + 16 MAC bytes (`StreamABytes`).
pub(crate) const STREAM_ABYTES: usize = 17;
/// `TagMessage` (openziti/secretstream `stream.go`).
pub(crate) const TAG_MESSAGE: u8 = 0;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    #[error("peer public key has {0} bytes, want 32")]
    BadPeerKey(usize),
    #[error("key exchange failed")]
    KeyExchange,
    #[error("stream header has {0} bytes, want 24")]
    BadHeader(usize),
    #[error("ciphertext too short ({0} bytes)")]
    ShortCiphertext(usize),
    #[error("decryption failed (wrong key or corrupted data)")]
    Decrypt,
    #[error("encryption failed")]
    Encrypt,
}

/// An X25519 key pair for `crypto_kx`. The secret half never leaves this struct and is not printed.
pub struct KeyPair {
    pk: [u8; 32],
    sk: [u8; 32],
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPair").finish_non_exhaustive()
    }
}

/// Session keys: `rx` decrypts what the peer sends, `tx` encrypts what we send.
pub struct SessionKeys {
    pub rx: [u8; 32],
    pub tx: [u8; 32],
}

impl KeyPair {
    pub fn generate() -> Self {
        let (pk, sk) = crypto_kx::crypto_kx_keypair();
        KeyPair { pk, sk }
    }

    /// Deterministic key pair (libsodium `crypto_kx_seed_keypair`), for test vectors.
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        let (pk, sk) =
            crypto_kx::crypto_kx_seed_keypair(seed).expect("32-byte seed is always valid");
        KeyPair { pk, sk }
    }

    pub fn public(&self) -> [u8; 32] {
        self.pk
    }

    fn peer(peer: &[u8]) -> Result<[u8; 32], CryptoError> {
        peer.try_into()
            .map_err(|_| CryptoError::BadPeerKey(peer.len()))
    }

    /// The dialing side's keys (`crypto_kx_client_session_keys`).
    pub fn client_session_keys(&self, server_pk: &[u8]) -> Result<SessionKeys, CryptoError> {
        self.session_keys(server_pk, crypto_kx::crypto_kx_client_session_keys)
    }

    /// The hosting side's keys (`crypto_kx_server_session_keys`).
    pub fn server_session_keys(&self, client_pk: &[u8]) -> Result<SessionKeys, CryptoError> {
        self.session_keys(client_pk, crypto_kx::crypto_kx_server_session_keys)
    }

    fn session_keys(&self, peer: &[u8], kx: KxSessionKeys) -> Result<SessionKeys, CryptoError> {
        let peer = Self::peer(peer)?;
        let (mut rx, mut tx) = ([0u8; 32], [0u8; 32]);
        kx(&mut rx, &mut tx, &self.pk, &self.sk, &peer).map_err(|_| CryptoError::KeyExchange)?;
        Ok(SessionKeys { rx, tx })
    }
}

/// `crypto_kx_client_session_keys` or `crypto_kx_server_session_keys`: (rx, tx, our public key,
/// our secret key, the peer's public key).
type KxSessionKeys = fn(
    &mut crypto_kx::SessionKey,
    &mut crypto_kx::SessionKey,
    &crypto_kx::PublicKey,
    &crypto_kx::SecretKey,
    &crypto_kx::PublicKey,
) -> Result<(), dryoc::Error>;

/// The sending half of a secretstream.
pub struct Encryptor {
    state: ss::State,
}

impl Encryptor {
    /// Start a stream with a random header; the header must reach the peer before any ciphertext.
    pub fn new(key: &[u8; 32]) -> (Self, [u8; STREAM_HEADER_BYTES]) {
        let mut state = ss::State::new();
        let mut header = [0u8; STREAM_HEADER_BYTES];
        ss::crypto_secretstream_xchacha20poly1305_init_push(&mut state, &mut header, key);
        (Encryptor { state }, header)
    }

    /// Start a stream with a given header (test vectors only: push and pull states are identical after init).
    pub fn with_header(key: &[u8; 32], header: &[u8; STREAM_HEADER_BYTES]) -> Self {
        let mut state = ss::State::new();
        ss::crypto_secretstream_xchacha20poly1305_init_pull(&mut state, header, key);
        Encryptor { state }
    }

    pub fn push(&mut self, plain: &[u8], tag: u8) -> Result<Vec<u8>, CryptoError> {
        let mut out = vec![0u8; plain.len() + STREAM_ABYTES];
        ss::crypto_secretstream_xchacha20poly1305_push(&mut self.state, &mut out, plain, None, tag)
            .map_err(|_| CryptoError::Encrypt)?;
        Ok(out)
    }
}

/// The receiving half of a secretstream.
pub struct Decryptor {
    state: ss::State,
}

impl Decryptor {
    pub fn new(key: &[u8; 32], header: &[u8]) -> Result<Self, CryptoError> {
        let h: [u8; STREAM_HEADER_BYTES] = header
            .try_into()
            .map_err(|_| CryptoError::BadHeader(header.len()))?;
        let mut state = ss::State::new();
        ss::crypto_secretstream_xchacha20poly1305_init_pull(&mut state, &h, key);
        Ok(Decryptor { state })
    }

    /// Decrypt one message; returns the plaintext and its tag.
    pub fn pull(&mut self, cipher: &[u8]) -> Result<(Vec<u8>, u8), CryptoError> {
        if cipher.len() < STREAM_ABYTES {
            return Err(CryptoError::ShortCiphertext(cipher.len()));
        }
        let mut out = vec![0u8; cipher.len() - STREAM_ABYTES];
        let mut tag = 0u8;
        ss::crypto_secretstream_xchacha20poly1305_pull(
            &mut self.state,
            &mut out,
            &mut tag,
            cipher,
            None,
        )
        .map_err(|_| CryptoError::Decrypt)?;
        Ok((out, tag))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants_match_openziti_secretstream() {
        // openziti/secretstream stream.go: TagMessage=0,
        // StreamHeaderBytes=NonceSizeX=24, StreamABytes=16+1.
        assert_eq!(TAG_MESSAGE, 0);
        assert_eq!((STREAM_HEADER_BYTES, STREAM_ABYTES), (24, 17));
        assert_eq!(
            STREAM_HEADER_BYTES,
            dryoc::constants::CRYPTO_SECRETSTREAM_XCHACHA20POLY1305_HEADERBYTES
        );
    }

    #[test]
    fn kx_and_stream_roundtrip() {
        let c = KeyPair::generate();
        let s = KeyPair::generate();
        let ck = c.client_session_keys(&s.public()).unwrap();
        let sk = s.server_session_keys(&c.public()).unwrap();
        assert_eq!(ck.tx, sk.rx);
        assert_eq!(ck.rx, sk.tx);
        let (mut enc, header) = Encryptor::new(&ck.tx);
        let mut dec = Decryptor::new(&sk.rx, &header).unwrap();
        for msg in [&b""[..], b"x", &[7u8; 70000]] {
            let ct = enc.push(msg, TAG_MESSAGE).unwrap();
            assert_eq!(dec.pull(&ct).unwrap(), (msg.to_vec(), TAG_MESSAGE));
        }
    }

    #[test]
    fn wrong_key_and_corruption_fail_cleanly() {
        let key = [1u8; 32];
        let (mut enc, header) = Encryptor::new(&key);
        let ct = enc.push(b"hello", TAG_MESSAGE).unwrap();
        let mut wrong = Decryptor::new(&[2u8; 32], &header).unwrap();
        assert_eq!(wrong.pull(&ct), Err(CryptoError::Decrypt));
        let mut dec = Decryptor::new(&key, &header).unwrap();
        let mut bad = ct.clone();
        bad[3] ^= 1;
        assert_eq!(dec.pull(&bad), Err(CryptoError::Decrypt));
        assert_eq!(dec.pull(&ct[..5]), Err(CryptoError::ShortCiphertext(5)));
        assert!(matches!(
            Decryptor::new(&key, &[0; 5]),
            Err(CryptoError::BadHeader(5))
        ));
        assert!(matches!(
            KeyPair::generate().client_session_keys(&[0; 31]),
            Err(CryptoError::BadPeerKey(31))
        ));
    }
}
