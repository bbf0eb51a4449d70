"""Transparent proxying end to end: @modelcontextprotocol/server-everything behind our binaries, the
Python `mcp` SDK in front, checking the parts of MCP a proxy most easily breaks: progress tokens,
server-to-client requests (sampling, elicitation, roots), resource subscriptions and updates,
prompts, error codes, and bad input.

Paths:
  bridge      streamable HTTP client -> mcp-bridge -> stdio server
  tools-run   stdio client launching `mcp-tools run <bridge mcp_url>` -> mcp-bridge -> stdio server
  tools-http  streamable HTTP client -> `mcp-tools http` -> mcp-bridge -> stdio server
  gateway     streamable HTTP client -> mcp-gateway (backend id "ev", names "ev_<name>") -> stdio server
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import shlex
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio
import pytest

import mcp.types as T
from mcp.shared.exceptions import MCPError

from harness import Server, bin_path, deps, start_gateway, text_of, wait_gone, write_config

WAIT = 20.0  # bound on every wait for an asynchronous event
ROOT_URI = "file:///tmp/mcpz-e2e-root"
SAMPLED = "sampled by the mcpz e2e client"


def everything_cmd() -> list[str]:
    return shlex.split(deps()["MCPZ_SERVER_EVERYTHING"])


@pytest.fixture(scope="module")
def bridge():
    b = Server([bin_path("mcp-bridge"), "--listen", "127.0.0.1:0", "--", *everything_cmd()])
    yield b
    b.close()


class Recorder:
    """The client side: callbacks answering server requests, and every notification received."""

    def __init__(self) -> None:
        self.sampling: list[T.CreateMessageRequestParams] = []
        self.elicitation: list[T.ElicitRequestParams] = []
        self.roots_asked = 0
        self.notifications: list[Any] = []
        self.changed = anyio.Event()

    async def on_sampling(self, ctx, params: T.CreateMessageRequestParams):
        self.sampling.append(params)
        return T.CreateMessageResult(
            role="assistant", content=T.TextContent(type="text", text=SAMPLED), model="e2e-model"
        )

    async def on_elicitation(self, ctx, params: T.ElicitRequestParams):
        self.elicitation.append(params)
        return T.ElicitResult(action="decline")

    async def on_roots(self, ctx):
        self.roots_asked += 1
        return T.ListRootsResult(roots=[T.Root(uri=ROOT_URI, name="e2e-root")])

    async def on_message(self, message: Any) -> None:
        self.notifications.append(message)
        self.changed.set()
        self.changed = anyio.Event()

    def kwargs(self) -> dict[str, Any]:
        return {
            "sampling_callback": self.on_sampling,
            "elicitation_callback": self.on_elicitation,
            "list_roots_callback": self.on_roots,
            "message_handler": self.on_message,
        }

    async def wait_for(self, pred, what: str) -> Any:
        """The first notification satisfying pred, waiting (bounded) for it to arrive."""
        try:
            with anyio.fail_after(WAIT):
                while True:
                    for n in self.notifications:
                        if pred(n):
                            return n
                    await self.changed.wait()
        except TimeoutError:
            raise AssertionError(f"no {what} within {WAIT}s") from None


@contextlib.asynccontextmanager
async def open_session(kind: str, url: str, rec: Recorder):
    from mcp import ClientSession

    if kind == "stdio":
        from mcp.client.stdio import StdioServerParameters, stdio_client

        params = StdioServerParameters(command=bin_path("mcp-tools"), args=["run", url])
        async with stdio_client(params) as (read, write):
            async with ClientSession(read, write, **rec.kwargs()) as s:
                await s.initialize()
                yield s
    else:
        from mcp.client.streamable_http import streamable_http_client

        async with streamable_http_client(url) as streams:
            async with ClientSession(streams[0], streams[1], **rec.kwargs()) as s:
                await s.initialize()
                yield s


@contextlib.contextmanager
def endpoint(kind: str, bridge: Server, tmp_path: Path):
    """(client transport, URL, name prefix) for one proxy path."""
    if kind == "bridge":
        yield "http", bridge.mcp_url, ""
    elif kind == "tools-run":
        yield "stdio", bridge.mcp_url, ""
    elif kind == "tools-http":
        t = Server([bin_path("mcp-tools"), "http", bridge.mcp_url, "--bind", "127.0.0.1:0"])
        try:
            yield "http", t.mcp_url, ""
        finally:
            t.close()
    elif kind == "gateway":
        cmd = everything_cmd()
        cfg = write_config(
            tmp_path,
            f"""
aggregator:
  connection:
    connect_timeout: 60s
    call_timeout: 30s
backends:
  - id: ev
    transport:
      type: stdio
      command: {json.dumps(cmd[0])}
      args: {json.dumps(cmd[1:])}
""",
        )
        gw = start_gateway(cfg)
        try:
            yield "http", gw.mcp_url, "ev_"
        finally:
            gw.close()
    else:
        raise ValueError(kind)


async def wait_for_tools(s, rec: Recorder, names: set[str]) -> set[str]:
    """server-everything registers its sampling/elicitation/roots tools once it has seen the
    client's capabilities, then sends tools/list_changed: list until they are there (bounded)."""
    with anyio.fail_after(WAIT):
        while True:
            changed = rec.changed
            have = {t.name for t in (await s.list_tools()).tools}
            if names <= have:
                return have
            await changed.wait()


PATHS = ["bridge", "tools-run", "tools-http", "gateway"]


@pytest.mark.filterwarnings("ignore:resources/(un)?subscribe is removed")
@pytest.mark.parametrize("kind", PATHS)
def test_everything_through_proxy(kind, bridge, tmp_path):
    async def main():
        rec = Recorder()
        with endpoint(kind, bridge, tmp_path) as (transport, url, p):
            async with open_session(transport, url, rec) as s:
                await wait_for_tools(
                    s,
                    rec,
                    {p + "trigger-sampling-request", p + "trigger-elicitation-request", p + "get-roots-list"},
                )

                # Progress with the SDK's own token (the request id) reaches the callback...
                seen: list[tuple[float, float | None]] = []

                async def on_progress(progress: float, total: float | None, message: str | None) -> None:
                    seen.append((progress, total))

                r = await s.call_tool(
                    p + "trigger-long-running-operation", {"duration": 0.3, "steps": 3}, progress_callback=on_progress
                )
                assert not r.is_error, text_of(r)
                assert [x[0] for x in seen] == [1, 2, 3] and all(x[1] == 3 for x in seen), seen

                # ...and a token of our choosing comes back unchanged on every notification.
                r = await s.call_tool(
                    p + "trigger-long-running-operation",
                    {"duration": 0.2, "steps": 2},
                    meta={"progress_token": "mcpz-token-7"},
                )
                assert not r.is_error, text_of(r)
                progress = [n for n in rec.notifications if isinstance(n, T.ProgressNotification)]
                mine = [n for n in progress if n.params.progress_token == "mcpz-token-7"]
                assert [n.params.progress for n in mine] == [1, 2], progress

                # Sampling: the server asks us, mid-call, and gets our answer.
                r = await s.call_tool(p + "trigger-sampling-request", {"prompt": "say hi", "maxTokens": 20})
                assert not r.is_error, text_of(r)
                assert len(rec.sampling) == 1, rec.sampling
                assert rec.sampling[0].messages[0].content.text.endswith("say hi"), rec.sampling
                assert SAMPLED in text_of(r), text_of(r)

                # Elicitation: we decline, the server says so.
                r = await s.call_tool(p + "trigger-elicitation-request", {})
                assert not r.is_error, text_of(r)
                assert len(rec.elicitation) == 1
                assert "declined" in text_of(r), text_of(r)

                # Roots: the server asks for them (it does so on its own after initialize, and
                # again from get-roots-list if it has none cached) and reports ours.
                r = await s.call_tool(p + "get-roots-list", {})
                assert not r.is_error, text_of(r)
                assert rec.roots_asked >= 1
                assert ROOT_URI in text_of(r), text_of(r)

                # Resources: list, read, subscribe, receive notifications/resources/updated.
                resources = (await s.list_resources()).resources
                assert resources
                uri = str(resources[0].uri)
                res = await s.read_resource(uri)
                assert res.contents and str(res.contents[0].uri) == uri
                templates = (await s.list_resource_templates()).resource_templates
                assert any("{resourceId}" in t.uri_template for t in templates), templates
                await s.subscribe_resource(uri)
                r = await s.call_tool(p + "toggle-subscriber-updates", {})  # sends one update at once
                assert not r.is_error, text_of(r)
                await rec.wait_for(
                    lambda n: isinstance(n, T.ResourceUpdatedNotification) and str(n.params.uri) == uri,
                    "notifications/resources/updated",
                )
                await s.call_tool(p + "toggle-subscriber-updates", {})  # off again
                await s.unsubscribe_resource(uri)

                # Prompts.
                names = {x.name for x in (await s.list_prompts()).prompts}
                assert {p + "simple-prompt", p + "args-prompt"} <= names, names
                got = await s.get_prompt(p + "args-prompt", {"city": "Lyon", "state": "Rhône"})
                assert "Lyon" in json.dumps([m.content.model_dump() for m in got.messages])
                got = await s.get_prompt(p + "simple-prompt")
                assert got.messages

                # Completion passes through.
                c = await s.complete(
                    T.PromptReference(type="ref/prompt", name=p + "completable-prompt"),
                    {"name": "department", "value": "Eng"},
                )
                assert "Engineering" in c.completion.values, c

    anyio.run(main)


async def error_codes(s, p: str) -> list[tuple[int, str]]:
    """(code, message) of errors raised by the server itself: a prompt without its required
    argument, an unknown resource, an unknown method."""
    out = []
    with pytest.raises(MCPError) as e:
        await s.get_prompt(p + "args-prompt", {})
    out.append((e.value.code, e.value.message))
    with pytest.raises(MCPError) as e:
        await s.read_resource("demo://resource/static/document/no-such-file.md")
    out.append((e.value.code, e.value.message))
    return out


@pytest.fixture(scope="module")
def direct_error_codes() -> list[tuple[int, str]]:
    """The reference: the same errors from server-everything with no proxy in between."""

    async def main():
        from mcp import ClientSession
        from mcp.client.stdio import StdioServerParameters, stdio_client

        cmd = everything_cmd()
        async with stdio_client(StdioServerParameters(command=cmd[0], args=cmd[1:])) as (read, write):
            async with ClientSession(read, write) as s:
                await s.initialize()
                return await error_codes(s, "")

    return anyio.run(main)


@pytest.mark.parametrize("kind", PATHS)
def test_error_codes_preserved(kind, bridge, tmp_path, direct_error_codes):
    async def main():
        with endpoint(kind, bridge, tmp_path) as (transport, url, p):
            async with open_session(transport, url, Recorder()) as s:
                return await error_codes(s, p)

    got = anyio.run(main)
    assert direct_error_codes[0][0] == -32602, direct_error_codes
    assert [c for c, _ in got] == [c for c, _ in direct_error_codes], (got, direct_error_codes)
    # The server's message comes through too.
    assert "city" in got[0][1], got


# --- Bad input against mcp-bridge over streamable HTTP, with raw HTTP ---------------------------

HEADERS = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}},
}


class Raw:
    """Raw HTTP to a streamable HTTP endpoint (stdlib only), one connection per request."""

    def __init__(self, url: str) -> None:
        u = urlsplit(url)
        self.host, self.port, self.path = u.hostname, u.port, u.path

    def open(self, method: str, body: bytes | None, headers: dict[str, str]) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=WAIT)
        conn.request(method, self.path, body=body, headers=headers)
        return conn, conn.getresponse()

    def post(self, body: bytes | dict, headers: dict[str, str], method: str = "POST") -> tuple[int, dict[str, str], str]:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        conn, r = self.open(method, data, headers)
        try:
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read().decode(errors="replace")
        finally:
            conn.close()


def sse_messages(body: str) -> list[dict]:
    return [json.loads(line[5:]) for line in body.splitlines() if line.startswith("data:") and line[5:].strip()]


def raw_session(raw: Raw) -> dict[str, str]:
    status, headers, body = raw.post(INIT, HEADERS)
    assert status == 200, body
    h = dict(HEADERS, **{"Mcp-Session-Id": headers["mcp-session-id"]})
    status, _, body = raw.post({"jsonrpc": "2.0", "method": "notifications/initialized"}, h)
    assert status == 202, body
    return h


def rpc(raw: Raw, h: dict[str, str], msg: dict) -> dict:
    status, headers, body = raw.post(msg, h)
    assert status == 200, body
    msgs = sse_messages(body) if "event-stream" in headers.get("content-type", "") else [json.loads(body)]
    return next(m for m in msgs if m.get("id") == msg["id"])


def test_bad_input_bridge(bridge):
    raw = Raw(bridge.mcp_url)
    h = raw_session(raw)

    # Malformed JSON is refused at the HTTP layer; the session is unharmed.
    status, _, body = raw.post(b'{"jsonrpc": "2.0", "id": 2, "method": ', h)
    assert 400 <= status < 500, (status, body)
    # Not JSON-RPC at all.
    status, _, body = raw.post(b'{"hello": "world"}', h)
    assert 400 <= status < 500, (status, body)

    # Unknown method: JSON-RPC -32601 from the server, through the bridge.
    m = rpc(raw, h, {"jsonrpc": "2.0", "id": 3, "method": "mcpz/no-such-method", "params": {}})
    assert m["error"]["code"] == -32601, m

    # A request before initialize (no session): refused, not served.
    status, _, body = raw.post({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, HEADERS)
    assert 400 <= status < 500, (status, body)

    # Oversize message (over the 16 MiB default limit): refused with 413.
    big = {"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"name": "echo", "arguments": {"message": "x" * (17 << 20)}}}
    status, _, body = raw.post(json.dumps(big).encode(), h)
    assert status == 413, (status, body[:200])

    # After all that, the same session answers.
    m = rpc(raw, h, {"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {"name": "echo", "arguments": {"message": "still here"}}})
    assert "still here" in json.dumps(m["result"]), m


def test_malformed_json_gets_parse_error(bridge):
    raw = Raw(bridge.mcp_url)
    h = raw_session(raw)
    for headers in (h, HEADERS):  # in a session, and before one
        status, _, body = raw.post(b"{not json", headers)
        assert status == 400, (status, body)
        err = json.loads(body)
        assert err["error"]["code"] == -32700 and err["id"] is None, err
    # The session is unharmed.
    m = rpc(raw, h, {"jsonrpc": "2.0", "id": 2, "method": "ping"})
    assert m.get("result") == {}, m


def test_client_vanishes_mid_call(bridge):
    """A client that drops its connection in the middle of a long call: the bridge keeps serving
    other clients, and the vanished client's session can still be ended, releasing its process."""
    raw = Raw(bridge.mcp_url)
    before = bridge.descendants()
    h = raw_session(raw)
    mine = bridge.descendants() - before
    assert mine, "the session has its own server process"
    call = {
        "jsonrpc": "2.0",
        "id": 9,
        "method": "tools/call",
        "params": {
            "name": "trigger-long-running-operation",
            "arguments": {"duration": 30, "steps": 30},
            "_meta": {"progressToken": "vanish"},
        },
    }
    conn, r = raw.open("POST", json.dumps(call).encode(), h)
    assert r.status == 200
    # Read until the first progress notification proves the call is running, then vanish.
    while True:
        line = r.readline()
        assert line, "stream ended before any progress"
        if line.startswith(b"data:") and b"notifications/progress" in line:
            break
    conn.sock.shutdown(socket.SHUT_RDWR)
    conn.close()

    # Another client is served normally.
    async def other():
        with anyio.fail_after(WAIT):
            async with open_session("http", bridge.mcp_url, Recorder()) as s:
                r = await s.call_tool("echo", {"message": "other client"})
                assert "other client" in text_of(r)

    anyio.run(other)
    # So is the vanished client's session, should it come back.
    m = rpc(raw, h, {"jsonrpc": "2.0", "id": 10, "method": "ping"})
    assert m.get("result") == {}, m

    # The session can be ended with DELETE; its server process goes.
    status, _, body = raw.post(b"", h, method="DELETE")
    assert status in (200, 202, 204), (status, body)
    assert not wait_gone(mine, 10), "the ended session's server process is still running"


@pytest.mark.parametrize("kind", ["bridge", "tools-http", "gateway"])
def test_sampling_rides_the_calls_stream(kind, bridge, tmp_path):
    """A streamable HTTP client that never opens the standalone GET stream still gets the
    server's sampling request: on the response stream of the tools/call it belongs to, as a
    server answering directly would send it."""
    with endpoint(kind, bridge, tmp_path) as (_, url, p):
        raw = Raw(url)
        init = dict(INIT, params=dict(INIT["params"], capabilities={"sampling": {}}))
        status, headers, body = raw.post(init, HEADERS)
        assert status == 200, body
        h = dict(HEADERS, **{"Mcp-Session-Id": headers["mcp-session-id"]})
        assert raw.post({"jsonrpc": "2.0", "method": "notifications/initialized"}, h)[0] == 202
        call = {
            "jsonrpc": "2.0",
            "id": 7,
            "method": "tools/call",
            "params": {"name": p + "trigger-sampling-request", "arguments": {"prompt": "hello"}},
        }
        conn, r = raw.open("POST", json.dumps(call).encode(), h)
        try:
            assert r.status == 200
            answered = None
            while True:
                line = r.readline()
                assert line, "the call's stream ended without its result"
                if not line.startswith(b"data:") or not line[5:].strip():
                    continue
                msg = json.loads(line[5:])
                if msg.get("method") == "sampling/createMessage":
                    answered = msg["id"]
                    reply = {
                        "jsonrpc": "2.0",
                        "id": msg["id"],
                        "result": {"role": "assistant", "content": {"type": "text", "text": SAMPLED}, "model": "m"},
                    }
                    status, _, body = raw.post(reply, h)
                    assert status == 202, (status, body)
                elif msg.get("id") == 7:
                    break
        finally:
            conn.close()
        assert answered is not None, "no sampling request on the call's stream"
        assert SAMPLED in json.dumps(msg["result"]), msg


@pytest.fixture(scope="module")
def conformance_bridge():
    server = Path(__file__).resolve().parents[1] / "servers" / "conformance_server.cjs"
    b = Server(
        [bin_path("mcp-bridge"), "--listen", "127.0.0.1:0", "--", deps()["MCPZ_NODE22"], str(server), "stdio"],
        env={"NODE_PATH": deps()["MCPZ_NODE_MODULES"]},
    )
    yield b
    b.close()


@pytest.mark.parametrize("kind", ["bridge", "tools-http"])
def test_backend_sees_the_clients_initialize(kind, conformance_bridge):
    """The server behind the proxy is initialized with the client's protocol version,
    capabilities and identity (what it may ask of the client depends on them)."""
    tools = None
    url = conformance_bridge.mcp_url
    if kind == "tools-http":
        tools = Server([bin_path("mcp-tools"), "http", url, "--bind", "127.0.0.1:0"])
        url = tools.mcp_url
    try:
        raw = Raw(url)
        init = dict(
            INIT,
            params={
                "protocolVersion": "2025-06-18",
                "capabilities": {"sampling": {}, "roots": {"listChanged": True}},
                "clientInfo": {"name": "raw-e2e", "version": "9.9"},
            },
        )
        status, headers, body = raw.post(init, HEADERS)
        assert status == 200, body
        h = dict(HEADERS, **{"Mcp-Session-Id": headers["mcp-session-id"], "Mcp-Protocol-Version": "2025-06-18"})
        assert raw.post({"jsonrpc": "2.0", "method": "notifications/initialized"}, h)[0] == 202
        m = rpc(raw, h, {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "debug_initialize", "arguments": {}}})
        seen = json.loads(m["result"]["content"][0]["text"])
        assert seen["protocolVersion"] == "2025-06-18", seen
        assert seen["clientInfo"]["name"] == "raw-e2e", seen
        assert set(seen["capabilities"]) == {"sampling", "roots"}, seen
        assert seen["capabilities"]["roots"] == {"listChanged": True}, seen
    finally:
        if tools:
            tools.close()


@pytest.mark.parametrize("kind", ["bridge", "tools-run", "tools-http", "gateway"])
def test_pagination(kind, tmp_path):
    """A server that lists 2 items per page: the transparent paths pass its pages and cursors
    through unchanged (an invalid cursor gets the server's own error); the gateway follows the
    cursors itself and lists everything, namespaced."""
    server = Path(__file__).resolve().parents[1] / "servers" / "conformance_server.cjs"
    cmd = [deps()["MCPZ_NODE22"], str(server), "stdio", "--page-size", "2"]
    env = {"NODE_PATH": deps()["MCPZ_NODE_MODULES"]}
    procs: list[Server] = []
    try:
        if kind == "gateway":
            cfg = write_config(
                tmp_path,
                f"backends:\n  - id: cf\n    transport:\n      type: stdio\n"
                f"      command: {json.dumps(cmd[0])}\n      args: {json.dumps(cmd[1:])}\n",
            )
            procs.append(Server([bin_path("mcp-gateway"), "run", str(cfg), "--listen", "127.0.0.1:0"], env=env))
            transport, url = "http", procs[0].mcp_url
        else:
            procs.append(Server([bin_path("mcp-bridge"), "--listen", "127.0.0.1:0", "--", *cmd], env=env))
            url = procs[0].mcp_url
            transport = "stdio" if kind == "tools-run" else "http"
            if kind == "tools-http":
                procs.append(Server([bin_path("mcp-tools"), "http", url, "--bind", "127.0.0.1:0"]))
                url = procs[1].mcp_url

        async def main():
            async with open_session(transport, url, Recorder()) as s:
                pages: list[list[str]] = []
                cursor = None
                with anyio.fail_after(WAIT):
                    while True:
                        r = await s.list_tools(params=T.PaginatedRequestParams(cursor=cursor) if cursor else None)
                        pages.append([t.name for t in r.tools])
                        cursor = r.next_cursor
                        if not cursor:
                            break
                names = [n for p in pages for n in p]
                assert len(names) == len(set(names)), pages
                if kind == "gateway":
                    assert len(pages) == 1, pages
                    assert {"cf_test_simple_text", "cf_test_sampling", "cf_debug_initialize"} <= set(names), names
                    return
                assert len(pages) > 2 and all(len(p) == 2 for p in pages[:-1]), pages
                assert {"test_simple_text", "test_sampling", "debug_initialize"} <= set(names), names
                resources = await s.list_resources()
                assert len(resources.resources) == 2 and resources.next_cursor == "2", resources
                with pytest.raises(MCPError) as e:
                    await s.list_prompts(params=T.PaginatedRequestParams(cursor="not-a-cursor"))
                assert e.value.code == -32602 and "invalid cursor" in e.value.message, e.value

        anyio.run(main)
    finally:
        for p in reversed(procs):
            p.close()


class StdioRaw:
    """`mcp-tools run URL` driven line by line over its stdin/stdout."""

    def __init__(self, url: str) -> None:
        import queue
        import subprocess
        import threading

        self.proc = subprocess.Popen(
            [bin_path("mcp-tools"), "run", url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self.lines: queue.Queue[bytes] = queue.Queue()

        def pump() -> None:
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                self.lines.put(line)
            self.lines.put(b"")

        threading.Thread(target=pump, daemon=True).start()

    def send(self, data: bytes | dict) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((data if isinstance(data, bytes) else json.dumps(data).encode()) + b"\n")
        self.proc.stdin.flush()

    def response(self, id_: int) -> dict:
        """The response with this id (other messages skipped), waiting at most WAIT seconds."""
        import time

        deadline = time.monotonic() + WAIT
        while True:
            line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            assert line, "mcp-tools run closed stdout"
            msg = json.loads(line)
            if msg.get("id") == id_ and "method" not in msg:
                return msg

    def close(self) -> int:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        return self.proc.wait(timeout=WAIT)


def test_bad_input_mcp_tools_run(bridge):
    # A request before initialize: a JSON-RPC error, not a crash.
    t = StdioRaw(bridge.mcp_url)
    try:
        t.send({"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
        assert "error" in t.response(1)
    finally:
        t.close()

    t = StdioRaw(bridge.mcp_url)
    try:
        t.send(INIT)
        assert t.response(1)["result"]["serverInfo"]["name"] == "mcp-servers/everything"
        t.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        # A line that is not JSON is skipped; the session goes on.
        t.send(b'{"jsonrpc": "2.0", "id": 2, "method": ')
        t.send({"jsonrpc": "2.0", "id": 3, "method": "mcpz/no-such-method", "params": {}})
        assert t.response(3)["error"]["code"] == -32601
        t.send({"jsonrpc": "2.0", "id": 4, "method": "prompts/get", "params": {"name": "args-prompt", "arguments": {}}})
        assert t.response(4)["error"]["code"] == -32602
        t.send({"jsonrpc": "2.0", "id": 5, "method": "ping"})
        assert t.response(5)["result"] == {}
    finally:
        # Closing stdin ends the session cleanly.
        assert t.close() == 0
