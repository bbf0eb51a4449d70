"""Checks of tests/servers/stateful.py over raw stdio JSON-RPC.

    $MCPZ_PYTHON -m pytest tests/py/test_stateful.py
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

SERVER = Path(__file__).resolve().parent.parent / "servers" / "stateful.py"
LIMIT = 20.0


class Stdio:
    def __init__(self, proc: asyncio.subprocess.Process):
        self.proc = proc
        self.next_id = 1

    async def send(self, msg: dict) -> None:
        assert self.proc.stdin
        self.proc.stdin.write((json.dumps(msg) + "\n").encode())
        await self.proc.stdin.drain()

    async def request(self, method: str, params: dict | None = None) -> int:
        rid = self.next_id
        self.next_id += 1
        await self.send({"jsonrpc": "2.0", "id": rid, "method": method, "params": params or {}})
        return rid

    async def response(self, rid: int) -> dict:
        assert self.proc.stdout
        while True:
            line = await asyncio.wait_for(self.proc.stdout.readline(), LIMIT)
            if not line:
                raise EOFError("server closed stdout")
            msg = json.loads(line)
            if msg.get("id") == rid and ("result" in msg or "error" in msg):
                return msg

    async def call(self, tool: str, args: dict | None = None) -> dict:
        rid = await self.request("tools/call", {"name": tool, "arguments": args or {}})
        return (await self.response(rid))["result"]

    async def stderr_until(self, needle: str) -> None:
        assert self.proc.stderr
        while True:
            line = await asyncio.wait_for(self.proc.stderr.readline(), LIMIT)
            if not line:
                raise EOFError(f"stderr closed before {needle!r}")
            if needle in line.decode(errors="replace"):
                return


async def start() -> Stdio:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(SERVER),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    s = Stdio(proc)
    rid = await s.request(
        "initialize",
        {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "test", "version": "0"},
        },
    )
    init = await s.response(rid)
    assert init["result"]["serverInfo"]["name"] == "stateful"
    await s.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
    return s


async def stop(s: Stdio) -> None:
    if s.proc.returncode is None:
        s.proc.kill()
    await asyncio.wait_for(s.proc.wait(), LIMIT)


def text(result: dict) -> str:
    return "".join(c.get("text", "") for c in result["content"])


def test_state_is_per_process() -> None:
    async def go() -> None:
        a, b = await start(), await start()
        try:
            assert not (await a.call("set_value", {"key": "k", "value": "v1"})).get("isError")
            assert text(await a.call("get_value", {"key": "k"})) == "v1"
            missing = await b.call("get_value", {"key": "k"})
            assert missing["isError"] and "no value for key 'k'" in text(missing)
            assert int(text(await a.call("pid"))) == a.proc.pid
            assert int(text(await b.call("pid"))) == b.proc.pid
        finally:
            await stop(a)
            await stop(b)

    asyncio.run(go())


def test_sleep_answers_and_honours_cancellation() -> None:
    async def go() -> None:
        s = await start()
        try:
            assert text(await s.call("sleep", {"seconds": 0.01})) == "slept 0.01"
            rid = await s.request("tools/call", {"name": "sleep", "arguments": {"seconds": 600}})
            await s.stderr_until("sleep 600 started")
            await s.send(
                {
                    "jsonrpc": "2.0",
                    "method": "notifications/cancelled",
                    "params": {"requestId": rid, "reason": "test"},
                }
            )
            await s.stderr_until("sleep cancelled")
            # Still serving afterwards.
            assert int(text(await s.call("pid"))) == s.proc.pid
            bad = await s.call("sleep", {"seconds": -1})
            assert bad["isError"]
        finally:
            await stop(s)

    asyncio.run(go())


def test_crash_exits_mid_call() -> None:
    async def go() -> None:
        s = await start()
        try:
            rid = await s.request("tools/call", {"name": "crash", "arguments": {}})
            with pytest.raises(EOFError):
                await s.response(rid)
            assert await asyncio.wait_for(s.proc.wait(), LIMIT) == 3
        finally:
            await stop(s)

    asyncio.run(go())
