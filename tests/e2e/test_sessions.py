"""Streamable-HTTP sessions served without rmcp's service until they need it
(src/core/front/streamable.rs, src/core/engine/light.rs).

`initialize`, `notifications/initialized`, `ping`, a gateway's `tools/list` and fast calls are
answered by the gateway itself; the first request that needs more (here `prompts/list`), or a
message the gateway must send the client (here `notifications/tools/list_changed` after a reload,
on a standalone GET stream opened before), starts the service, once. The client sees the same
answers either way.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from harness import Server, bin_path, write_config
from test_proxy import HEADERS, INIT, Raw, rpc, sse_messages

WAIT = 30.0
STARTED = "MCP service started"


def fs(bid: str, d: Path) -> str:
    return f"""
  - id: {bid}
    transport:
      type: stdio
      command: {json.dumps(bin_path("mcp-filesystem"))}
      args: [{json.dumps(str(d))}]
"""


def gateway(tmp: Path, *backends: str) -> tuple[Server, Path]:
    cfg = write_config(tmp, "aggregator:\n  name: sessions-e2e\nbackends:" + "".join(backends))
    gw = Server([bin_path("mcp-gateway"), "run", str(cfg), "--listen", "127.0.0.1:0", "-vv"])
    return gw, cfg


def wait_for(pred, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not pred():
        assert time.monotonic() < deadline, f"no {what} within {WAIT}s"
        time.sleep(0.02)


def open_session(raw: Raw) -> dict[str, str]:
    status, headers, body = raw.post(INIT, HEADERS)
    assert status == 200, body
    # Answered by the gateway itself: one JSON body, not rmcp's SSE stream.
    assert headers["content-type"].startswith("application/json"), headers
    m = json.loads(body)
    assert m["id"] == 1 and m["result"]["serverInfo"]["name"] == "sessions-e2e", m
    assert m["result"]["protocolVersion"] == "2025-06-18", m
    assert "tools" in m["result"]["capabilities"], m
    h = dict(HEADERS, **{"Mcp-Session-Id": headers["mcp-session-id"]})
    status, _, body = raw.post({"jsonrpc": "2.0", "method": "notifications/initialized"}, h)
    assert status == 202, body
    return h


class Standalone:
    """A standalone GET stream, read on a thread."""

    def __init__(self, raw: Raw, h: dict[str, str]) -> None:
        headers = {"Accept": "text/event-stream", "Mcp-Session-Id": h["Mcp-Session-Id"]}
        self.conn, self.resp = raw.open("GET", None, headers)
        assert self.resp.status == 200, self.resp.status
        self.messages: list[dict] = []
        threading.Thread(target=self.read, daemon=True).start()

    def read(self) -> None:
        try:
            for line in self.resp:
                s = line.decode().strip()
                if s.startswith("data:") and s[5:].strip():
                    self.messages.append(json.loads(s[5:]))
        except (OSError, ValueError, AttributeError):  # closed by close(), mid-read
            pass

    def close(self) -> None:
        self.conn.close()


def test_a_session_starts_the_service_only_when_it_needs_it(tmp_path):
    d = tmp_path / "files"
    d.mkdir()
    (d / "note.txt").write_text("hello")
    gw, _ = gateway(tmp_path, fs("fs", d))
    try:
        raw = Raw(gw.mcp_url)
        h = open_session(raw)
        assert rpc(raw, h, {"jsonrpc": "2.0", "id": 2, "method": "ping"}) == {"jsonrpc": "2.0", "id": 2, "result": {}}
        tools = rpc(raw, h, {"jsonrpc": "2.0", "id": "t", "method": "tools/list"})["result"]["tools"]
        names = {t["name"] for t in tools}
        assert {"fs_read_file", "fs_list_directory"} <= names, names
        assert all("inputSchema" in t for t in tools), tools
        r = rpc(raw, h, {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "fs_read_file", "arguments": {"path": str(d / "note.txt")}}})
        assert r["result"]["content"][0]["text"] == "hello", r
        # A cancellation (only fast calls could be cancelled) is taken, as rmcp would.
        status, _, _ = raw.post({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 3}}, h)
        assert status == 202
        assert STARTED not in gw.stderr(), gw.stderr()[-2000:]

        # A request only rmcp's service answers: started now, and answered.
        status, headers, body = raw.post({"jsonrpc": "2.0", "id": 4, "method": "prompts/list"}, h)
        assert status == 200, body
        msgs = sse_messages(body) if "event-stream" in headers["content-type"] else [json.loads(body)]
        assert msgs[-1] == {"jsonrpc": "2.0", "id": 4, "result": {"prompts": []}}, msgs
        wait_for(lambda: STARTED in gw.stderr(), "service start in the log")
        # Everything else still works, and the service is not started again.
        assert rpc(raw, h, {"jsonrpc": "2.0", "id": 5, "method": "ping"})["result"] == {}
        names2 = {t["name"] for t in rpc(raw, h, {"jsonrpc": "2.0", "id": 6, "method": "tools/list"})["result"]["tools"]}
        assert names2 == names
        r = rpc(raw, h, {"jsonrpc": "2.0", "id": 7, "method": "resources/list"})
        assert "result" in r or r["error"]["code"] == -32601, r
        assert gw.stderr().count(STARTED) == 1, gw.stderr()[-3000:]

        # DELETE ends the session: its id is unknown afterwards.
        status, _, _ = raw.post(b"", {"Mcp-Session-Id": h["Mcp-Session-Id"]}, method="DELETE")
        assert status in (200, 202, 204), status
        status, _, _ = raw.post({"jsonrpc": "2.0", "id": 8, "method": "ping"}, h)
        assert status == 404
    finally:
        gw.close()


def test_a_message_for_the_client_starts_the_service_and_reaches_its_stream(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    gw, cfg = gateway(tmp_path, fs("a", one))
    try:
        raw = Raw(gw.mcp_url)
        h = open_session(raw)
        names = {t["name"] for t in rpc(raw, h, {"jsonrpc": "2.0", "id": 2, "method": "tools/list"})["result"]["tools"]}
        assert "a_read_file" in names, names
        stream = Standalone(raw, h)
        # A second session that has no stream to be told on.
        quiet = open_session(raw)
        assert STARTED not in gw.stderr()
        # A reload adds a backend: the open session is told on the stream it opened before.
        cfg.write_text("aggregator:\n  name: sessions-e2e\nbackends:" + fs("a", one) + fs("b", two))
        gw.proc.send_signal(signal.SIGHUP)
        wait_for(
            lambda: any(m.get("method") == "notifications/tools/list_changed" for m in stream.messages),
            "tools/list_changed on the standalone stream",
        )
        # Every session has been told once this is logged: only the one with a stream needed
        # the service for it.
        wait_for(lambda: "configuration reloaded" in gw.stderr(), "the reload's end")
        assert gw.stderr().count(STARTED) == 1, gw.stderr()[-3000:]
        names = {t["name"] for t in rpc(raw, quiet, {"jsonrpc": "2.0", "id": 9, "method": "tools/list"})["result"]["tools"]}
        assert "b_read_file" in names, names
        names = {t["name"] for t in rpc(raw, h, {"jsonrpc": "2.0", "id": 3, "method": "tools/list"})["result"]["tools"]}
        assert "a_read_file" in names and "b_read_file" in names, names
        stream.close()
    finally:
        gw.close()


@pytest.fixture
def one_fs(tmp_path):
    """A gateway with one filesystem backend, and raw HTTP to it."""
    d = tmp_path / "files"
    d.mkdir()
    gw, _ = gateway(tmp_path, fs("fs", d))
    yield gw, Raw(gw.mcp_url)
    gw.close()


def test_concurrent_requests_start_the_service_once(one_fs):
    gw, raw = one_fs
    h = open_session(raw)
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda i: rpc(raw, h, {"jsonrpc": "2.0", "id": 100 + i, "method": "prompts/list"}), range(8)))
    assert [a["result"] for a in answers] == [{"prompts": []}] * 8, answers
    wait_for(lambda: STARTED in gw.stderr(), "service start in the log")
    assert gw.stderr().count(STARTED) == 1, gw.stderr()[-3000:]


def test_initialize_with_a_contradicting_version_header_is_refused(one_fs):
    _, raw = one_fs
    status, _, body = raw.post(INIT, dict(HEADERS, **{"MCP-Protocol-Version": "2025-03-26"}))
    assert status == 400, (status, body)
    # An unknown version in the header of a session's request: refused as well.
    h = open_session(raw)
    status, _, body = raw.post({"jsonrpc": "2.0", "id": 2, "method": "ping"}, dict(h, **{"MCP-Protocol-Version": "1999-01-01"}))
    assert status == 400, (status, body)


BACKEND_STARTED = "backend client started"


def test_a_backend_connection_starts_its_mcp_client_only_when_it_needs_it(tmp_path):
    """A stdio backend's rmcp client (src/core/backend/lazy.rs): not started for the handshake,
    fast calls or health pings (those go over the raw link), started by a request that needs it
    (here a call from a client that offers sampling, which takes the rmcp path)."""
    d = tmp_path / "files"
    d.mkdir()
    (d / "note.txt").write_text("hello")
    cfg = write_config(
        tmp_path,
        "aggregator:\n  name: sessions-e2e\n  health:\n    interval: 100ms\n    timeout: 5s\nbackends:" + fs("fs", d),
    )
    gw = Server([bin_path("mcp-gateway"), "run", str(cfg), "--listen", "127.0.0.1:0", "-vv"])
    try:
        raw = Raw(gw.mcp_url)
        h = open_session(raw)
        call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "fs_read_file", "arguments": {"path": str(d / "note.txt")}}}
        assert rpc(raw, h, call)["result"]["content"][0]["text"] == "hello"
        # Health pings are answered over the raw link (two in a row, so the connection was idle).
        wait_for(lambda: gw.stderr().count("health ping answered") >= 2, "two health pings")
        assert rpc(raw, h, dict(call, id=3))["result"]["content"][0]["text"] == "hello"
        assert BACKEND_STARTED not in gw.stderr(), gw.stderr()[-3000:]

        # A client that offers sampling is served on the rmcp path: its backend client starts.
        init = json.loads(json.dumps(INIT))
        init["params"]["capabilities"] = {"sampling": {}}
        status, headers, body = raw.post(init, HEADERS)
        assert status == 200, body
        h2 = dict(HEADERS, **{"Mcp-Session-Id": headers["mcp-session-id"]})
        assert raw.post({"jsonrpc": "2.0", "method": "notifications/initialized"}, h2)[0] == 202
        assert rpc(raw, h2, dict(call, id=4))["result"]["content"][0]["text"] == "hello"
        wait_for(lambda: BACKEND_STARTED in gw.stderr(), "the backend client to start")
        assert gw.stderr().count(BACKEND_STARTED) == 1, gw.stderr()[-3000:]
        # The first session's connection still has none, and still works.
        assert rpc(raw, h, dict(call, id=5))["result"]["content"][0]["text"] == "hello"
    finally:
        gw.close()


def test_a_bridge_session_lists_tools_page_by_page_without_the_service(tmp_path):
    """Transparent mode (mcp-bridge): `tools/list` goes to the one backend over its raw link with
    the client's cursor, and its answer comes back as the backend gave it. Neither the session's
    service nor the backend connection's rmcp client starts; a request only rmcp answers still
    starts the service and sees the same pages."""
    from harness import deps

    d = deps()
    server = Path(__file__).resolve().parents[1] / "servers" / "conformance_server.cjs"
    argv = [bin_path("mcp-bridge"), "--listen", "127.0.0.1:0", "-vv", "--", d["MCPZ_NODE22"], str(server), "stdio", "--page-size", "2"]
    br = Server(argv, env={"NODE_PATH": d["MCPZ_NODE_MODULES"]})
    try:
        raw = Raw(br.mcp_url)
        status, headers, body = raw.post(INIT, HEADERS)
        assert status == 200 and headers["content-type"].startswith("application/json"), body
        h = dict(HEADERS, **{"Mcp-Session-Id": headers["mcp-session-id"]})
        status, _, body = raw.post({"jsonrpc": "2.0", "method": "notifications/initialized"}, h)
        assert status == 202, body

        def pages(first_id: int) -> list[list[str]]:
            out, cursor, n = [], None, first_id
            while True:
                msg = {"jsonrpc": "2.0", "id": n, "method": "tools/list"}
                if cursor is not None:
                    msg["params"] = {"cursor": cursor}
                r = rpc(raw, h, msg)
                assert r["id"] == n, r
                out.append([t["name"] for t in r["result"]["tools"]])
                cursor = r["result"].get("nextCursor")
                n += 1
                if cursor is None or len(out) > 50:
                    return out

        light = pages(10)
        assert len(light) > 1 and all(len(p) <= 2 for p in light), light
        # A cursor the backend does not know: its own error comes back, re-addressed.
        bad = rpc(raw, h, {"jsonrpc": "2.0", "id": "bad", "method": "tools/list", "params": {"cursor": "no-such-cursor"}})
        assert bad["id"] == "bad" and bad["error"]["code"] == -32602, bad
        assert "invalid cursor: no-such-cursor" in bad["error"]["message"], bad
        log = br.stderr()
        assert STARTED not in log and "backend client started" not in log, log[-3000:]

        # A request only rmcp's service answers starts it; the pages are the same through it.
        status, _, body = raw.post({"jsonrpc": "2.0", "id": 90, "method": "resources/templates/list"}, h)
        assert status == 200, body
        wait_for(lambda: STARTED in br.stderr(), "service start in the log")
        assert pages(100) == light
    finally:
        br.close()
