//! Fuzz the OpenZiti channel frame decoder: arbitrary bytes, fed whole and in two pieces, must never panic;
//! whatever decodes must re-encode to a frame that decodes to the same message.
//! Run: `cargo +nightly fuzz run ziti_frame` from the repository root.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use mcpz::core::ziti::{der, wire};

fuzz_target!(|data: &[u8]| {
    let mut buf = BytesMut::from(data);
    while let Ok(Some(m)) = wire::decode(&mut buf) {
        let enc = m.to_bytes().expect("decoded message re-encodes");
        let mut again = BytesMut::from(&enc[..]);
        let back = wire::decode(&mut again)
            .expect("re-encoded frame decodes")
            .expect("complete");
        assert_eq!(back, m);
        let _ = wire::split_multipart(&m.body);
    }
    if let Some((&split, rest)) = data.split_first() {
        let cut = (split as usize).min(rest.len());
        let mut b = BytesMut::from(&rest[..cut]);
        let _ = wire::decode(&mut b);
        b.extend_from_slice(&rest[cut..]);
        let _ = wire::decode(&mut b);
    }
    let _ = der::subject_common_name(data);
});
