#!/usr/bin/env python3
"""Bridge RSS per session (BENCHMARKS.md "Soak and memory per session", the bridge).

One `mcp-bridge --listen 127.0.0.1:0 -- mcp-filesystem DIR` (one backend process per session, not
counted), N streamable-HTTP sessions opened one after the other on keep-alive connections and
held: `initialize`, `notifications/initialized`, `tools/list` ("light": what most clients do),
and with `--heavy` also `prompts/list`, which only rmcp's service answers (so the session's
service and the backend connection's rmcp client start). Prints the bridge's VmRSS at rest and
with the sessions held (each reading once the RSS has not changed for 1 s, at most 15 s).

    python3 benches/bridge_memory.py --bridge target/release/mcp-bridge --sessions 200 [--heavy]
"""

from __future__ import annotations

import argparse
import http.client
import json
import subprocess
import tempfile
import time
from urllib.parse import urlparse

HEADERS = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}},
}


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def settled(pid: int) -> int:
    """VmRSS once it has not changed for 1 s (at most 15 s)."""
    deadline = time.monotonic() + 15
    last, since = rss_kib(pid), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now = rss_kib(pid)
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= 1.0:
            break
    return last


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bridge", default="target/release/mcp-bridge")
    ap.add_argument("--backend", default="target/release/mcp-filesystem")
    ap.add_argument("--sessions", type=int, default=200)
    ap.add_argument("--heavy", action="store_true")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        p = subprocess.Popen([a.bridge, "-q", "--listen", "127.0.0.1:0", "--", a.backend, d], stdout=subprocess.PIPE, text=True)
        try:
            assert p.stdout is not None
            url = urlparse(json.loads(p.stdout.readline())["mcp_url"])
            base = settled(p.pid)
            conns = []
            for _ in range(a.sessions):
                c = http.client.HTTPConnection(url.hostname, url.port, timeout=30)

                def post(body: dict, h: dict[str, str]) -> http.client.HTTPResponse:
                    c.request("POST", url.path, json.dumps(body), h)
                    r = c.getresponse()
                    r.read()
                    assert r.status in (200, 202), r.status
                    return r

                r = post(INIT, HEADERS)
                h = dict(HEADERS, **{"Mcp-Session-Id": r.getheader("mcp-session-id")})
                post({"jsonrpc": "2.0", "method": "notifications/initialized"}, h)
                post({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, h)
                if a.heavy:
                    post({"jsonrpc": "2.0", "id": 3, "method": "prompts/list"}, h)
                conns.append(c)
            held = settled(p.pid)
            kind = "heavy (prompts/list too)" if a.heavy else "light (initialize, tools/list)"
            print(
                f"{kind}: {a.sessions} sessions; RSS at rest {base / 1024:.1f} MiB, held {held / 1024:.1f} MiB, "
                f"{(held - base) / a.sessions:.1f} KiB per session"
            )
        finally:
            p.terminate()
            p.wait(timeout=30)


if __name__ == "__main__":
    main()
