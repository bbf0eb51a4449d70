//! Byte compatibility of our end-to-end encryption with libsodium: the vectors in `tests/ziti_vectors.json` were
//! produced by libsodium itself (through PyNaCl, see `tests/ziti_gen_vectors.py`).

use mcpz::core::ziti::crypto::{Decryptor, Encryptor, KeyPair};

const VECTORS: &str = include_str!("ziti_vectors.json");

fn hex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2));
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn arr32(s: &str) -> [u8; 32] {
    hex(s).try_into().unwrap()
}

fn pattern(n: usize, salt: usize) -> Vec<u8> {
    (0..n).map(|i| ((i * 7 + salt) % 256) as u8).collect()
}

fn vectors() -> serde_json::Value {
    serde_json::from_str(VECTORS).unwrap()
}

#[test]
fn kx_matches_libsodium() {
    let v = vectors();
    let kx = &v["kx"];
    let s = |k: &str| kx[k].as_str().unwrap().to_string();
    let client = KeyPair::from_seed(&arr32(&s("client_seed")));
    let server = KeyPair::from_seed(&arr32(&s("server_seed")));
    assert_eq!(client.public(), arr32(&s("client_pk")));
    assert_eq!(server.public(), arr32(&s("server_pk")));
    let ck = client.client_session_keys(&server.public()).unwrap();
    let sk = server.server_session_keys(&client.public()).unwrap();
    assert_eq!(ck.rx, arr32(&s("client_rx")));
    assert_eq!(ck.tx, arr32(&s("client_tx")));
    assert_eq!(sk.rx, arr32(&s("server_rx")));
    assert_eq!(sk.tx, arr32(&s("server_tx")));
}

#[test]
fn secretstream_pull_decrypts_libsodium_output() {
    let v = vectors();
    let ss = &v["secretstream"];
    let key = arr32(ss["key"].as_str().unwrap());
    let header = hex(ss["header"].as_str().unwrap());
    let mut dec = Decryptor::new(&key, &header).unwrap();
    for m in ss["messages"].as_array().unwrap() {
        let n = m["len"].as_u64().unwrap() as usize;
        let salt = m["salt"].as_u64().unwrap() as usize;
        let tag = m["tag"].as_u64().unwrap() as u8;
        let (plain, got_tag) = dec.pull(&hex(m["cipher"].as_str().unwrap())).unwrap();
        assert_eq!(plain, pattern(n, salt), "message {salt}");
        assert_eq!(got_tag, tag, "message {salt}");
    }
}

#[test]
fn secretstream_push_reproduces_libsodium_bytes() {
    let v = vectors();
    let ss = &v["secretstream"];
    let key = arr32(ss["key"].as_str().unwrap());
    let header: [u8; 24] = hex(ss["header"].as_str().unwrap()).try_into().unwrap();
    let mut enc = Encryptor::with_header(&key, &header);
    for m in ss["messages"].as_array().unwrap() {
        let n = m["len"].as_u64().unwrap() as usize;
        let salt = m["salt"].as_u64().unwrap() as usize;
        let tag = m["tag"].as_u64().unwrap() as u8;
        let ct = enc.push(&pattern(n, salt), tag).unwrap();
        assert_eq!(ct, hex(m["cipher"].as_str().unwrap()), "message {salt}");
    }
}

#[test]
fn secretstream_rejects_tampering_and_wrong_key() {
    let v = vectors();
    let ss = &v["secretstream"];
    let key = arr32(ss["key"].as_str().unwrap());
    let header = hex(ss["header"].as_str().unwrap());
    let first = hex(ss["messages"][1]["cipher"].as_str().unwrap());
    let mut wrong = Decryptor::new(&[0u8; 32], &header).unwrap();
    assert!(wrong.pull(&first).is_err());
    let mut d = Decryptor::new(&key, &header).unwrap();
    // Skipping a message (out of order) must fail too.
    assert!(d.pull(&first).is_err());
}

/// Throughput check (run with `--ignored --nocapture`): one direction of E2EE costs a push and a pull.
#[test]
#[ignore]
fn secretstream_throughput() {
    let key = [9u8; 32];
    let (mut enc, header) = Encryptor::new(&key);
    let mut dec = Decryptor::new(&key, &header).unwrap();
    let chunk = vec![1u8; 32 * 1024];
    let t = std::time::Instant::now();
    for _ in 0..256 {
        let c = enc.push(&chunk, 0).unwrap();
        dec.pull(&c).unwrap();
    }
    eprintln!("8 MiB push+pull in {:?}", t.elapsed());
}
