#!/usr/bin/env python3
"""Generate libsodium test vectors for the Rust OpenZiti client's end-to-end encryption.

Run with PyNaCl (which wraps libsodium) installed in a throw-away venv:
    python3 -m venv /tmp/nacl && /tmp/nacl/bin/pip install pynacl
    /tmp/nacl/bin/python tests/ziti_gen_vectors.py > tests/ziti_vectors.json
The committed JSON is what tests/ziti_vectors.rs checks; PyNaCl is not a project dependency.
"""
import json

import nacl
import nacl.bindings as b


def pattern(n, salt):
    return bytes((i * 7 + salt) % 256 for i in range(n))


def main():
    cseed = bytes(range(32))
    sseed = bytes(range(100, 132))
    cpk, csk = b.crypto_kx_seed_keypair(cseed)
    spk, ssk = b.crypto_kx_seed_keypair(sseed)
    crx, ctx = b.crypto_kx_client_session_keys(cpk, csk, spk)
    srx, stx = b.crypto_kx_server_session_keys(spk, ssk, cpk)
    assert crx == stx and ctx == srx

    key = ctx
    state = b.crypto_secretstream_xchacha20poly1305_state()
    header = b.crypto_secretstream_xchacha20poly1305_init_push(state, key)
    msgs = []
    plan = [
        (0, b.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE),
        (1, b.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE),
        (17, b.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE),
        (64, b.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE),
        (1000, b.crypto_secretstream_xchacha20poly1305_TAG_PUSH),
        (5, b.crypto_secretstream_xchacha20poly1305_TAG_REKEY),
        (32768, b.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE),
        (3, b.crypto_secretstream_xchacha20poly1305_TAG_FINAL),
    ]
    for i, (n, tag) in enumerate(plan):
        p = pattern(n, i)
        c = b.crypto_secretstream_xchacha20poly1305_push(state, p, None, tag)
        msgs.append({"len": n, "salt": i, "tag": tag, "cipher": c.hex()})

    out = {
        "generator": "tests/ziti_gen_vectors.py with PyNaCl %s (libsodium)" % nacl.__version__,
        "kx": {
            "client_seed": cseed.hex(), "server_seed": sseed.hex(),
            "client_pk": cpk.hex(), "server_pk": spk.hex(),
            "client_rx": crx.hex(), "client_tx": ctx.hex(),
            "server_rx": srx.hex(), "server_tx": stx.hex(),
        },
        "secretstream": {"key": key.hex(), "header": header.hex(), "messages": msgs},
    }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
