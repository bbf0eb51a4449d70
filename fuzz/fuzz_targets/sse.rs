//! Fuzz the SSE decoder (`core::wire::sse`): arbitrary bytes as a backend's event stream, decoded
//! whole and split at fuzzer-chosen points, must give the same events and the same error (an event
//! over the limit, a line that is not UTF-8), never a panic. An event the encoder writes decodes to
//! its name and data.
//!
//! Input: byte 0 picks the event size limit, byte 1 the number of cuts (0-15), then two bytes per
//! cut (a position in the stream), then the stream.
//! Run: `cargo +nightly fuzz run sse` from the repository root.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcpz::core::wire::fuzz;

fuzz_target!(|data: &[u8]| {
    let [limit, cuts, rest @ ..] = data else {
        return;
    };
    let max = match limit % 4 {
        0 => 1 + usize::from(*limit),
        1 => 64,
        2 => 4096,
        _ => 1 << 20,
    };
    let n = usize::from(cuts % 16);
    if rest.len() < 2 * n {
        return;
    }
    let (cut_bytes, stream) = rest.split_at(2 * n);
    let mut cuts: Vec<usize> = cut_bytes
        .chunks(2)
        .map(|c| usize::from(u16::from_le_bytes([c[0], c[1]])) % (stream.len() + 1))
        .collect();
    cuts.sort_unstable();
    let mut chunks = Vec::with_capacity(n + 1);
    let mut at = 0;
    for c in cuts {
        chunks.push(&stream[at..c]);
        at = c;
    }
    chunks.push(&stream[at..]);

    let whole = fuzz::sse_decode(&[stream], max);
    let split = fuzz::sse_decode(&chunks, max);
    assert_eq!(
        whole,
        split,
        "chunks {:?}",
        chunks.iter().map(|c| c.len()).collect::<Vec<_>>()
    );
    // One byte at a time, too.
    let bytes: Vec<&[u8]> = stream.chunks(1).collect();
    assert_eq!(whole, fuzz::sse_decode(&bytes, max));

    // What the encoder writes (data without `\r`, a name without line ends) decodes back.
    if let Ok(text) = std::str::from_utf8(stream) {
        let (name, body) = text.split_once('\u{0}').unwrap_or(("", text));
        if !name.contains(['\r', '\n']) && !body.contains('\r') {
            let enc = fuzz::sse_encode_event(name, body);
            let (events, err) = fuzz::sse_decode(&[&enc], enc.len() + 1);
            assert_eq!(err, None);
            let want_name = (!name.is_empty()).then(|| name.to_string());
            assert_eq!(
                events,
                vec![(want_name, Some(body.to_string()), None, None)]
            );
        }
    }
});
