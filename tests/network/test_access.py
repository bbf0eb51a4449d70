"""Caller identity and per-caller `access:` rules over a real zrok private share.

The caller is the OpenZiti identity that dials, as the dial's CallerId names it (a zrok
environment's identity is named `<account email>-<token>-<description>`); both our native client
and the Go SDK name themselves. See README "Caller identity" for what that is worth.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import anyio
import pytest

from netharness import ShareServer, go_bin, home, ours, stdio_session
from netharness import testnet as net_env


@pytest.fixture
def data(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    d.mkdir()
    (d / "hello.txt").write_text("hello over zrok\n")
    return d


async def tools_of(argv: list[str], who: str) -> list[str]:
    async with stdio_session(argv, home(who)) as s:
        return sorted(t.name for t in (await s.list_tools()).tools)


async def refused(argv: list[str], who: str, tool: str, args: dict) -> str:
    async with stdio_session(argv, home(who)) as s:
        try:
            r = await s.call_tool(tool, args)
        except Exception as e:  # the SDK raises McpError for a JSON-RPC error
            return str(e)
        raise AssertionError(f"{tool} was answered: {r}")


def test_each_caller_sees_and_calls_only_its_tools(data, tmp_path):
    cfg = tmp_path / "gw.yml"
    cfg.write_text(
        f"""
backends:
  - id: fs
    transport:
      type: stdio
      command: {ours("mcp-filesystem")}
      args: ["{data}"]
access:
  - caller: "bob@*"
    tools: {{mode: allow, list: [fs_read_file]}}
"""
    )
    gw = ShareServer([ours("mcp-gateway"), "run", str(cfg)], home("alice"))
    try:
        tools = [ours("mcp-tools"), "run", gw.token]
        everything = ["fs_list_directory", "fs_read_file", "fs_write_file"]
        assert anyio.run(tools_of, tools, "alice") == everything
        assert anyio.run(tools_of, tools, "bob") == ["fs_read_file"]
        # The Go original's mcp-tools (legacy SSE, the Go SDK) is identified the same way.
        assert anyio.run(tools_of, [go_bin("mcp-tools"), "run", gw.token], "bob") == ["fs_read_file"]
        # A hidden tool is unknown to bob, and never reaches the backend.
        target = data / "bob.txt"
        msg = anyio.run(refused, tools, "bob", "fs_write_file", {"path": str(target), "content": "x"})
        assert "unknown tool: fs_write_file" in msg, msg
        assert not target.exists()
        # The newest-generation Go client too (streamable HTTP at /).
        peer = net_env().get("STREAMABLE_PEER_BIN", "")
        r = subprocess.run([peer, "-no-call", gw.token], env={**os.environ, **home("bob")}, capture_output=True, text=True, timeout=90)
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["tools"] == ["fs_read_file"]
        # Sessions and their callers are logged by name.
        callers = {l.split("caller=")[1].split()[0] for l in gw.stderr().splitlines() if "session caller" in l}
        assert any(c.startswith("bob@") for c in callers) and any(c.startswith("alice@") for c in callers), callers
    finally:
        assert gw.stop() == 0, gw.stderr()
        gw.kill()
