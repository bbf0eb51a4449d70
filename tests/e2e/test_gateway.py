"""mcp-gateway end to end: real MCP servers behind it, the Python `mcp` SDK in front of it."""

from __future__ import annotations

import shlex
import signal
import time
from pathlib import Path

import anyio
import pytest

from harness import (
    bin_path,
    is_error,
    deps,
    mcp_client,
    start_gateway,
    stateful_cmd,
    text_of,
    wait_gone,
    write_config,
)


def yaml_cmd(cmd: list[str]) -> str:
    import json

    return f"command: {json.dumps(cmd[0])}\n      args: {json.dumps(cmd[1:])}"


@pytest.fixture
def three_backends(tmp_path: Path):
    d = deps()
    data = tmp_path / "data"
    data.mkdir()
    (data / "hello.txt").write_text("hello from mcpz\n")
    fs = shlex.split(d["MCPZ_SERVER_FILESYSTEM"]) + [str(data)]
    everything = shlex.split(d["MCPZ_SERVER_EVERYTHING"])
    local = [bin_path("mcp-filesystem"), str(data)]
    cfg = write_config(
        tmp_path,
        f"""
aggregator:
  name: e2e-gateway
  connection:
    connect_timeout: 60s
    call_timeout: 30s
backends:
  - id: fs
    transport:
      type: stdio
      {yaml_cmd(fs)}
  - id: everything
    transport:
      type: stdio
      {yaml_cmd(everything)}
  - id: local
    transport:
      type: stdio
      {yaml_cmd(local)}
""",
    )
    gw = start_gateway(cfg)
    yield gw, data
    gw.close()


@pytest.mark.parametrize("kind", ["streamable", "sse"])
def test_three_real_servers(three_backends, kind):
    gw, data = three_backends
    url = gw.mcp_url if kind == "streamable" else gw.sse_url

    async def main():
        async with mcp_client(url, kind) as s:
            init_name = s  # keep a reference for debugging
            tools = (await s.list_tools()).tools
            names = {t.name for t in tools}
            for prefix in ("fs_", "everything_", "local_"):
                assert any(n.startswith(prefix) for n in names), (prefix, sorted(names))
            assert "local_read_file" in names
            # One call on each backend.
            r = await s.call_tool("local_read_file", {"path": "hello.txt"})
            assert not is_error(r) and "hello from mcpz" in text_of(r)
            r = await s.call_tool("fs_list_directory", {"path": str(data)})
            assert not is_error(r) and "hello.txt" in text_of(r), text_of(r)
            r = await s.call_tool("everything_echo", {"message": "ping through mcpz"})
            assert not is_error(r) and "ping through mcpz" in text_of(r)
            # A resource keeps its URI and routes to its backend.
            resources = (await s.list_resources()).resources
            assert resources, "everything server lists resources"
            res = await s.read_resource(resources[0].uri)
            assert res.contents and str(res.contents[0].uri) == str(resources[0].uri)
            # A prompt is namespaced.
            prompts = (await s.list_prompts()).prompts
            simple = [p for p in prompts if p.name.startswith("everything_") and not any(a.required for a in (p.arguments or []))]
            assert simple, [p.name for p in prompts]
            got = await s.get_prompt(simple[0].name, {})
            assert got.messages
            del init_name

    anyio.run(main)


def test_filters(tmp_path: Path):
    d = deps()
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.txt").write_text("A")
    local = [bin_path("mcp-filesystem"), str(data)]
    everything = shlex.split(d["MCPZ_SERVER_EVERYTHING"])
    cfg = write_config(
        tmp_path,
        f"""
backends:
  - id: ro
    transport:
      type: stdio
      {yaml_cmd(local)}
    tools:
      mode: allow
      list: ["read_*", "list_director?"]
  - id: ev
    transport:
      type: stdio
      {yaml_cmd(everything)}
    tools:
      mode: deny
      list: ["echo", "get-*"]
""",
    )
    gw = start_gateway(cfg)
    try:

        async def main():
            async with mcp_client(gw.mcp_url) as s:
                names = {t.name for t in (await s.list_tools()).tools}
                assert "ro_read_file" in names and "ro_list_directory" in names
                assert "ro_write_file" not in names
                assert "ev_echo" not in names
                assert not any(n.startswith("ev_get-") for n in names)
                assert any(n.startswith("ev_") for n in names)
                # Denied tools by exact name: "unknown tool", backend untouched.
                for denied in ("ro_write_file", "ev_echo"):
                    with pytest.raises(Exception) as e:
                        r = await s.call_tool(denied, {"path": "b.txt", "content": "x", "message": "m"})
                        if is_error(r):
                            raise RuntimeError(text_of(r))
                    assert "unknown tool" in str(e.value).lower(), str(e.value)
                assert not (data / "b.txt").exists()
                r = await s.call_tool("ro_read_file", {"path": "a.txt"})
                assert text_of(r) == "A"

        anyio.run(main)
    finally:
        gw.close()


@pytest.fixture
def stateful_gateway(tmp_path: Path):
    cfg = write_config(
        tmp_path,
        f"""
aggregator:
  connection:
    call_timeout: 3s
backends:
  - id: st
    transport:
      type: stdio
      {yaml_cmd(stateful_cmd())}
""",
    )
    gw = start_gateway(cfg)
    yield gw
    gw.close()


def test_sessions_are_isolated(stateful_gateway):
    gw = stateful_gateway

    async def main():
        async with mcp_client(gw.mcp_url) as a, mcp_client(gw.sse_url, "sse") as b:
            pa = int(text_of(await a.call_tool("st_pid", {})))
            pb = int(text_of(await b.call_tool("st_pid", {})))
            assert pa != pb, "each session has its own backend process"
            assert pa in gw.descendants() and pb in gw.descendants()
            r = await a.call_tool("st_set_value", {"key": "k", "value": "from-a"})
            assert not is_error(r)
            r = await b.call_tool("st_get_value", {"key": "k"})
            assert is_error(r), "b must not see a's state"
            r = await a.call_tool("st_get_value", {"key": "k"})
            assert text_of(r) == "from-a"

    anyio.run(main)


def test_call_timeout_cancels_backend(stateful_gateway):
    gw = stateful_gateway

    async def main():
        async with mcp_client(gw.mcp_url) as s:
            t0 = time.monotonic()
            with pytest.raises(Exception) as e:
                r = await s.call_tool("st_sleep", {"seconds": 30})
                if is_error(r):
                    raise RuntimeError(text_of(r))
            took = time.monotonic() - t0
            assert "call_timeout" in str(e.value), str(e.value)
            assert took < 15, took
            # The session still works afterwards.
            r = await s.call_tool("st_set_value", {"key": "x", "value": "y"})
            assert not is_error(r)

    anyio.run(main)
    # The backend was told: it logs the cancellation to stderr, which the gateway re-logs.
    deadline = time.monotonic() + 10
    while "sleep cancelled" not in gw.stderr() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "sleep cancelled" in gw.stderr()


def test_backend_killed_during_call(stateful_gateway):
    gw = stateful_gateway

    async def main():
        async with mcp_client(gw.mcp_url) as a, mcp_client(gw.mcp_url) as b:
            pa = int(text_of(await a.call_tool("st_pid", {})))
            result: dict = {}

            async def slow():
                t0 = time.monotonic()
                try:
                    r = await a.call_tool("st_sleep", {"seconds": 60})
                    result["r"] = r
                except Exception as e:  # noqa: BLE001
                    result["e"] = e
                result["took"] = time.monotonic() - t0

            async with anyio.create_task_group() as tg:
                tg.start_soon(slow)
                # Kill only once the call is running in the backend (it logs the start).
                deadline = time.monotonic() + 10
                while "sleep 60 started" not in gw.stderr() and time.monotonic() < deadline:
                    await anyio.sleep(0.02)
                assert "sleep 60 started" in gw.stderr()
                import os

                os.kill(pa, signal.SIGKILL)
            assert "e" in result or (result.get("r") is not None and is_error(result["r"])), result
            assert result["took"] < 3 + 2, result  # within call_timeout (3s) plus slack
            # The other session is unaffected.
            r = await b.call_tool("st_set_value", {"key": "still", "value": "ok"})
            assert not is_error(r)
            assert text_of(await b.call_tool("st_get_value", {"key": "still"})) == "ok"

    anyio.run(main)


def test_sigterm_leaves_no_children(stateful_gateway):
    gw = stateful_gateway

    async def main():
        async with mcp_client(gw.mcp_url) as a, mcp_client(gw.sse_url, "sse") as b:
            await a.call_tool("st_pid", {})
            await b.call_tool("st_pid", {})
            kids = gw.descendants()
            assert len(kids) >= 2, kids
            t0 = time.monotonic()
            code = gw.stop(signal.SIGTERM, timeout=10)
            assert code == 0, gw.stderr()
            assert time.monotonic() - t0 < 10
            left = wait_gone(kids, 2)
            assert not left, f"orphans after SIGTERM: {left}"

    anyio.run(main)


def procs_with_arg(marker: str) -> set[int]:
    import os

    out = set()
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                if marker.encode() in open(f"/proc/{d}/cmdline", "rb").read():
                    out.add(int(d))
            except OSError:
                pass
    return out


def test_failed_backend_fails_start_and_releases_others(tmp_path: Path):
    marker = f"good-{time.time_ns()}"
    cfg = write_config(
        tmp_path,
        f"""
backends:
  - id: good
    transport:
      type: stdio
      {yaml_cmd(stateful_cmd() + ["--name", marker])}
  - id: broken
    transport:
      type: stdio
      command: /nonexistent/mcp-server
""",
    )
    import subprocess

    p = subprocess.run(
        [bin_path("mcp-gateway"), "run", str(cfg), "--listen", "127.0.0.1:0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 1, p
    assert p.stdout == ""
    assert "backend 'broken'" in p.stderr and "/nonexistent/mcp-server" in p.stderr, p.stderr
    assert not wait_gone(procs_with_arg(marker), 7), "the good backend was not released"


def test_mcp_tools_http_gives_each_local_session_its_own_remote_session():
    """`mcp-tools http` (upstream v0.1.8): every local client session is a session of its own at
    the remote server, so the bridge behind it runs one backend process per local session."""
    from harness import Server

    br = Server([bin_path("mcp-bridge"), "--listen", "127.0.0.1:0", "--", *stateful_cmd()])
    t = Server([bin_path("mcp-tools"), "http", br.mcp_url, "--bind", "127.0.0.1:0"])
    try:

        async def main():
            async with mcp_client(t.mcp_url) as a, mcp_client(t.mcp_url) as b:
                pa = int(text_of(await a.call_tool("pid", {})))
                pb = int(text_of(await b.call_tool("pid", {})))
                assert pa != pb, "each local session has its own remote session (and process)"
                assert pa in br.descendants() and pb in br.descendants()
                await a.call_tool("set_value", {"key": "k", "value": "from-a"})
                assert is_error(await b.call_tool("get_value", {"key": "k"}))

        anyio.run(main)
    finally:
        t.close()
        br.close()
