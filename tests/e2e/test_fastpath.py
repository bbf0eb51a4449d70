"""The tools/call fast path (src/core/engine/fast.rs, docs/architecture.md) end to end, with server-everything behind it.

A client that offers neither sampling nor elicitation gets its tools/call forwarded as a raw
frame: over streamable HTTP the answer is then one application/json body (rmcp's own path always
answers with an SSE stream), or an SSE stream when progress comes first. These tests pin what the
client sees on that path: ids of either type come back unchanged, progress carries the client's
own token and arrives before the response, tool errors and JSON-RPC errors keep their shape,
errors the proxy answers itself (unknown tool) still come from the rmcp path, and a client that
offers sampling is kept off the fast path (its backend's requests need the call's stream).

Paths: mcp-bridge, mcp-gateway and `mcp-tools http` (in front of the bridge) over raw streamable
HTTP, and `mcp-tools run` over stdio.
"""

from __future__ import annotations

import json

import pytest

from harness import Server, bin_path, start_gateway, write_config
from test_proxy import HEADERS, INIT, Raw, StdioRaw, bridge, everything_cmd, raw_session, sse_messages  # noqa: F401


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    cmd = everything_cmd()
    cfg = write_config(
        tmp_path_factory.mktemp("fast"),
        f"""
backends:
  - id: ev
    transport:
      type: stdio
      command: {json.dumps(cmd[0])}
      args: {json.dumps(cmd[1:])}
    tools:
      mode: deny
      list: ["get-env"]
""",
    )
    gw = start_gateway(cfg)
    yield gw
    gw.close()


@pytest.fixture(scope="module")
def tools_http(bridge):
    """`mcp-tools http` in front of the bridge: its backend is streamable HTTP, so the fast path
    runs on both hops (the second one POSTs the raw frame in the bridge's session)."""
    t = Server([bin_path("mcp-tools"), "http", bridge.mcp_url, "--bind", "127.0.0.1:0"])
    yield t
    t.close()


def post(raw: Raw, h: dict[str, str], msg: dict) -> tuple[str, list[dict]]:
    """(content type, messages) of one POST."""
    status, headers, body = raw.post(msg, h)
    assert status == 200, (status, body)
    ctype = headers.get("content-type", "")
    msgs = sse_messages(body) if "event-stream" in ctype else [json.loads(body)]
    return ctype, msgs


def call(id_, name: str, args: dict, meta: dict | None = None) -> dict:
    params: dict = {"name": name, "arguments": args}
    if meta is not None:
        params["_meta"] = meta
    return {"jsonrpc": "2.0", "id": id_, "method": "tools/call", "params": params}


@pytest.mark.parametrize("kind", ["bridge", "gateway", "tools-http"])
def test_fast_path_over_streamable_http(kind, bridge, gateway, tools_http):
    server, p = {"bridge": (bridge, ""), "gateway": (gateway, "ev_"), "tools-http": (tools_http, "")}[kind]
    raw = Raw(server.mcp_url)
    h = raw_session(raw)

    # A plain call is one JSON body; numeric and string ids come back as sent.
    for id_ in (7, "seven", -1):
        ctype, msgs = post(raw, h, call(id_, p + "echo", {"message": f"hi {id_}"}))
        assert ctype.startswith("application/json"), ctype
        [m] = msgs
        assert m["id"] == id_ and m["jsonrpc"] == "2.0", m
        assert m["result"]["content"][0]["text"] == f"Echo: hi {id_}", m

    # Progress first: an SSE stream with the client's own token on every notification, in
    # order, then the response. Other _meta fields do not disturb it.
    ctype, msgs = post(
        raw,
        h,
        call(8, p + "trigger-long-running-operation", {"duration": 0.3, "steps": 3}, {"progressToken": "tok-8", "x": 1}),
    )
    assert "event-stream" in ctype, ctype
    prog = [m for m in msgs if m.get("method") == "notifications/progress"]
    assert [(m["params"]["progressToken"], m["params"]["progress"]) for m in prog] == [("tok-8", 1), ("tok-8", 2), ("tok-8", 3)], msgs
    assert msgs[-1]["id"] == 8 and "result" in msgs[-1], msgs
    assert msgs.index(prog[-1]) < len(msgs) - 1

    # A numeric progress token stays numeric.
    _, msgs = post(raw, h, call(9, p + "trigger-long-running-operation", {"duration": 0.1, "steps": 1}, {"progressToken": 99}))
    assert [m["params"]["progressToken"] for m in msgs if m.get("method")] == [99], msgs

    # The backend's JSON-RPC errors come back with their code (bad arguments for echo).
    _, [m] = post(raw, h, call(10, p + "echo", {"nope": 1}))
    assert m["id"] == 10 and ("error" in m or m["result"].get("isError")), m

    # Errors the proxy answers itself still come from the rmcp path.
    if kind == "gateway":
        for name in ("ev_get-env", "nobody_echo"):
            ctype, msgs = post(raw, h, call(11, name, {}))
            m = next(m for m in msgs if m.get("id") == 11)
            assert "unknown tool" in m["error"]["message"], m


@pytest.mark.parametrize("kind", ["bridge", "gateway"])
def test_client_with_sampling_stays_on_the_rmcp_path(kind, bridge, gateway):
    server, p = (bridge, "") if kind == "bridge" else (gateway, "ev_")
    raw = Raw(server.mcp_url)
    init = json.loads(json.dumps(INIT))
    init["params"]["capabilities"] = {"sampling": {}}
    status, headers, body = raw.post(init, HEADERS)
    assert status == 200, body
    h = dict(HEADERS, **{"Mcp-Session-Id": headers["mcp-session-id"]})
    assert raw.post({"jsonrpc": "2.0", "method": "notifications/initialized"}, h)[0] == 202
    ctype, msgs = post(raw, h, call(1, p + "echo", {"message": "slow path"}))
    assert "event-stream" in ctype, ctype
    assert msgs[-1]["result"]["content"][0]["text"] == "Echo: slow path", msgs


@pytest.mark.parametrize("backend", ["mcp", "sse"])
def test_fast_path_over_stdio(backend, bridge):
    """`mcp-tools run` in front of the bridge: over /mcp the bridge takes the fast path; over
    /sse both ends do (mcp-tools forwards raw frames over the SSE session too)."""
    t = StdioRaw(bridge.mcp_url if backend == "mcp" else bridge.sse_url)
    try:
        t.send(INIT)
        assert "result" in t.response(1)
        t.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        t.send(call("s-1", "echo", {"message": "over stdio"}))
        m = t.response("s-1")
        assert m["result"]["content"][0]["text"] == "Echo: over stdio", m
        t.send(call(2, "trigger-long-running-operation", {"duration": 0.2, "steps": 2}, {"progressToken": "st"}))
        seen = []
        import time

        deadline = time.monotonic() + 20
        while True:
            line = t.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            assert line, "mcp-tools run closed stdout"
            msg = json.loads(line)
            if msg.get("method") == "notifications/progress":
                seen.append((msg["params"]["progressToken"], msg["params"]["progress"]))
            elif msg.get("id") == 2:
                break
        assert seen == [("st", 1), ("st", 2)], seen
    finally:
        assert t.close() == 0


@pytest.mark.parametrize("front", ["bridge", "tools_http"])
def test_bodies_that_are_not_one_message_get_json_rpc_errors(front, bridge, tools_http):
    """A body nested 100,000 levels deep is -32700 and a batch is -32600, both HTTP 400 with a
    JSON-RPC error (never rmcp's 415 text), in a session and before one, on the bridge and on
    `mcp-tools http`."""
    raw = Raw((bridge if front == "bridge" else tools_http).mcp_url)
    h = raw_session(raw)
    deep = b"[" * 100_000 + b"]" * 100_000
    batch = json.dumps([{"jsonrpc": "2.0", "id": 2, "method": "ping"}]).encode()
    for headers in (h, HEADERS):
        for body, code in ((deep, -32700), (batch, -32600)):
            status, hdrs, text = raw.post(body, headers)
            assert status == 400, (status, text[:200])
            assert hdrs.get("content-type", "").startswith("application/json"), hdrs
            err = json.loads(text)
            assert err["error"]["code"] == code and err["id"] is None, err
