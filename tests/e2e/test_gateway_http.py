"""Gateway HTTP edges with a raw HTTP client: protocol revisions, Host/Origin checks, idle
timeout, logging to a file."""

from __future__ import annotations

import http.client
import json
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest

from harness import bin_path, start_gateway, stateful_cmd, write_config


def post(url: str, body: dict, headers: dict | None = None, host: str | None = None):
    u = urlparse(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    h = {
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
    }
    h.update(headers or {})
    if host is not None:
        c.putrequest("POST", u.path, skip_host=True)
        c.putheader("Host", host)
        for k, v in h.items():
            c.putheader(k, v)
        data = json.dumps(body).encode()
        c.putheader("Content-Length", str(len(data)))
        c.endheaders()
        c.send(data)
    else:
        c.request("POST", u.path, json.dumps(body), h)
    r = c.getresponse()
    raw = r.read().decode()
    return r, raw


def rpc_result(raw: str) -> dict:
    """The JSON-RPC response in a JSON body or the last `data:` of an SSE body."""
    raw = raw.strip()
    if raw.startswith("{"):
        return json.loads(raw)
    msgs = [json.loads(line[5:].strip()) for line in raw.splitlines() if line.startswith("data:") and line[5:].strip()]
    return [m for m in msgs if "id" in m][-1]


@pytest.fixture
def gw(tmp_path: Path):
    cfg = write_config(
        tmp_path,
        f"""
aggregator:
  session:
    idle_timeout: 2s
backends:
  - id: fs
    transport:
      type: stdio
      command: {json.dumps(bin_path("mcp-filesystem"))}
      args: [{json.dumps(str(tmp_path))}]
""",
    )
    g = start_gateway(cfg)
    yield g
    g.close()


@pytest.mark.parametrize("version", ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"])
def test_each_protocol_revision(gw, version):
    init = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}},
    }
    r, raw = post(gw.mcp_url, init)
    assert r.status == 200, raw
    res = rpc_result(raw)["result"]
    assert res["protocolVersion"] == version
    assert res["serverInfo"]["name"] == "mcp-gateway"
    sid = r.getheader("Mcp-Session-Id")
    assert sid
    h = {"Mcp-Session-Id": sid, "MCP-Protocol-Version": version}
    r, raw = post(gw.mcp_url, {"jsonrpc": "2.0", "method": "notifications/initialized"}, h)
    assert r.status in (200, 202), raw
    r, raw = post(gw.mcp_url, {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, h)
    names = [t["name"] for t in rpc_result(raw)["result"]["tools"]]
    assert "fs_read_file" in names


@pytest.mark.parametrize(
    "host,origin,ok",
    [
        (None, None, True),
        ("localhost:{port}", None, True),
        ("evil.example:{port}", None, False),
        (None, "http://evil.example", False),
        (None, "http://127.0.0.1:{port}", True),
    ],
)
def test_host_and_origin_checked(gw, host, origin, ok):
    port = urlparse(gw.mcp_url).port
    init = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}},
    }
    headers = {"Origin": origin.format(port=port)} if origin else {}
    r, raw = post(gw.mcp_url, init, headers, host=host.format(port=port) if host else None)
    if ok:
        assert r.status == 200, raw
    else:
        assert r.status == 403, raw


def raw_session(gw) -> dict[str, str]:
    """initialize + initialized on `/mcp`; the headers for the session's next requests."""
    init = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}},
    }
    r, raw = post(gw.mcp_url, init)
    sid = r.getheader("Mcp-Session-Id")
    h = {"Mcp-Session-Id": sid, "MCP-Protocol-Version": "2025-06-18"}
    post(gw.mcp_url, {"jsonrpc": "2.0", "method": "notifications/initialized"}, h)
    return h


def test_idle_session_ends_and_releases_its_backend(gw):
    h = raw_session(gw)
    # The discovery connection is gone; the session's own backend is the only child.
    deadline = time.monotonic() + 10
    while len(gw.descendants()) != 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(gw.descendants()) == 1
    # idle_timeout is 2s: the session and its backend process go away by themselves.
    deadline = time.monotonic() + 15
    while gw.descendants() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not gw.descendants(), "idle session kept its backend"
    r, raw = post(gw.mcp_url, {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, h)
    assert r.status == 404, (r.status, raw)


def test_fast_path_checks_host_and_origin(gw, tmp_path: Path):
    """A tools/call that would take the fast path (answered in front of the router) is refused
    like any request when Host or Origin names another site; the same call is answered otherwise."""
    h = raw_session(gw)
    port = urlparse(gw.mcp_url).port
    call = {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "fs_list_directory", "arguments": {"path": str(tmp_path)}}}
    r, raw = post(gw.mcp_url, call, h, host=f"evil.example:{port}")
    assert r.status == 403, raw
    r, raw = post(gw.mcp_url, call, dict(h, Origin="http://evil.example"))
    assert r.status == 403, raw
    r, raw = post(gw.mcp_url, call, h, host=f"localhost:{port}")
    assert r.status == 200, raw
    assert "gateway.yml" in json.dumps(rpc_result(raw)["result"]), raw


def test_fast_path_calls_keep_a_session_alive(gw, tmp_path: Path):
    """tools/call on the fast path bypasses rmcp's session worker, so the idle sweep must see it:
    calls spread over twice the 2 s idle_timeout keep the session (and its backend) alive."""
    h = raw_session(gw)
    call = {"jsonrpc": "2.0", "method": "tools/call", "params": {"name": "fs_list_directory", "arguments": {"path": str(tmp_path)}}}
    end = time.monotonic() + 4.0
    n = 0
    while time.monotonic() < end:
        n += 1
        r, raw = post(gw.mcp_url, dict(call, id=100 + n), h)
        assert r.status == 200, (n, r.status, raw)
        assert r.getheader("Content-Type", "").startswith("application/json"), r.getheader("Content-Type")
        assert "gateway.yml" in json.dumps(rpc_result(raw)["result"]), raw
        time.sleep(0.5)  # pacing: one call every half second, well inside the idle timeout
    assert n >= 6
    # Idle from here on: the sweep ends it.
    deadline = time.monotonic() + 15
    while gw.descendants() and time.monotonic() < deadline:
        time.sleep(0.1)
    r, raw = post(gw.mcp_url, dict(call, id=1), h)
    assert r.status == 404, (r.status, raw)


def test_log_file_gets_json_lines(tmp_path: Path):
    log = tmp_path / "gw.log"
    cfg = write_config(
        tmp_path,
        f"""
log_file: {json.dumps(str(log))}
backends:
  - id: st
    transport:
      type: stdio
      command: {json.dumps(stateful_cmd()[0])}
      args: {json.dumps(stateful_cmd()[1:])}
""",
    )
    g = start_gateway(cfg)
    try:
        assert g.stop() == 0
        stderr = g.stderr()
    finally:
        g.close()
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    assert any("serving" in json.dumps(x) for x in lines), lines[:5]
    # Logs went to the file, not to stderr.
    assert "serving" not in stderr


def test_2026_07_28_without_initialize(gw):
    """A 2026-07-28 client sends no initialize: each request carries its lifecycle in `_meta`.
    The gateway serves it from a backend that negotiated an older revision, and releases the
    per-request backend afterwards."""
    meta = {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    h = {"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/list"}
    for i in range(3):
        r, raw = post(gw.mcp_url, {"jsonrpc": "2.0", "id": i, "method": "tools/list", "params": {"_meta": meta}}, h)
        assert r.status == 200, raw
        names = [t["name"] for t in rpc_result(raw)["result"]["tools"]]
        assert "fs_list_directory" in names
    deadline = time.monotonic() + 10
    while gw.descendants() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not gw.descendants(), "per-request backends were not released"


def test_error_answers_are_not_warnings_at_the_default_level(tmp_path: Path):
    """An unknown tool or method is the client's business: the gateway logs its own INFO line for
    a refused call, and rmcp's WARN for every error answer is left out below -v."""
    from harness import Server
    from test_proxy import HEADERS, INIT, Raw, rpc

    d = tmp_path / "files"
    d.mkdir()
    cfg = write_config(
        tmp_path,
        f"""
backends:
  - id: fs
    transport:
      type: stdio
      command: {json.dumps(bin_path("mcp-filesystem"))}
      args: [{json.dumps(str(d))}]
""",
    )
    gw = Server([bin_path("mcp-gateway"), "run", str(cfg), "--listen", "127.0.0.1:0"])
    try:
        raw = Raw(gw.mcp_url)
        status, headers, body = raw.post(INIT, HEADERS)
        assert status == 200, body
        h = dict(HEADERS, **{"Mcp-Session-Id": headers["mcp-session-id"]})
        raw.post({"jsonrpc": "2.0", "method": "notifications/initialized"}, h)
        r = rpc(raw, h, {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "nobody_tool", "arguments": {}}})
        assert "error" in r, r
        r = rpc(raw, h, {"jsonrpc": "2.0", "id": 3, "method": "prompts/get", "params": {"name": "no_such_prompt"}})
        assert "error" in r, r
        assert gw.stop() == 0
        log = gw.stderr()
        assert "call to an unknown or filtered tool refused" in log, log
        ours = [line for line in log.splitlines() if " INFO backend: " not in line]
        assert not [line for line in ours if " WARN " in line], log
    finally:
        gw.close()
