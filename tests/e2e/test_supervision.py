"""Backend health and auto-restart (aggregator.health, aggregator.restart): a session's backend
process that dies is respawned for that session, requests in flight on it fail at once, other
backends and sessions carry on; a backend that keeps failing is given up after max_attempts; a
hung backend fails its health ping and is replaced. Real processes (tests/servers/faulty.py),
real clients (the Python MCP SDK), both call paths."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import anyio
import pytest

from harness import ROOT, Server, bin_path, is_error, mcp_client, text_of, wait_gone, write_config

FAULTY = ROOT / "tests" / "servers" / "faulty.py"
WAIT = 30.0


def gateway(tmp: Path, health: str = "0s", attempts: int = 5, max_backoff: str = "2s") -> Server:
    for b in "fg":
        (tmp / b).mkdir(exist_ok=True)
    backends = "".join(
        f"""
  - id: {b}
    transport:
      type: stdio
      command: {json.dumps(sys.executable)}
      args: [{json.dumps(str(FAULTY))}, normal, {json.dumps(str(tmp / b))}]
"""
        for b in "fg"
    )
    cfg = write_config(
        tmp,
        f"""
aggregator:
  connection:
    call_timeout: 40s
  health:
    interval: {health}
    timeout: 500ms
  restart:
    max_attempts: {attempts}
    backoff: 100ms
    max_backoff: {max_backoff}
backends:{backends}""",
    )
    return Server([bin_path("mcp-gateway"), "run", str(cfg), "--listen", "127.0.0.1:0"], timeout=60)


def spawns(tmp: Path, b: str) -> list[int]:
    p = tmp / b / "spawns.log"
    return [int(x) for x in p.read_text().split()] if p.exists() else []


async def pid_of(s, backend: str) -> int:
    r = await s.call_tool(f"{backend}_pid", {})
    assert not is_error(r), text_of(r)
    return int(text_of(r))


async def wait_new_pid(s, backend: str, old: int) -> int:
    """The backend's pid once a call answers from a process other than `old` (bounded): calls in
    between may fail while the backend is restarted."""
    with anyio.fail_after(WAIT):
        while True:
            try:
                pid = await pid_of(s, backend)
                if pid != old:
                    return pid
            except Exception:  # noqa: BLE001 - "unavailable ... restarting" until it is back
                pass
            await anyio.sleep(0.1)


def wait_log(gw: Server, text: str) -> str:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        log = gw.stderr()
        if text in log:
            return log
        time.sleep(0.05)
    raise AssertionError(f"no '{text}' in the gateway log within {WAIT}s:\n{gw.stderr()[-3000:]}")


def sampling_kwargs() -> dict:
    """A client that offers sampling: its calls take the rmcp path, not the fast path."""
    import mcp.types as T

    async def sample(ctx, params):
        return T.CreateMessageResult(role="assistant", content=T.TextContent(type="text", text="x"), model="m")

    return {"sampling_callback": sample}


@pytest.mark.parametrize("path", ["fast", "rmcp"])
def test_a_killed_backend_is_respawned_for_its_session_and_nothing_else_notices(tmp_path, path):
    gw = gateway(tmp_path)
    kwargs = sampling_kwargs() if path == "rmcp" else {}

    async def run() -> None:
        async with mcp_client(gw.mcp_url, **kwargs) as s, mcp_client(gw.mcp_url) as other:
            fpid, gpid = await pid_of(s, "f"), await pid_of(s, "g")
            other_f = await pid_of(other, "f")
            outcome: dict = {}

            async def slow() -> None:
                t0 = time.monotonic()
                try:
                    r = await s.call_tool("f_sleep", {"seconds": 60})
                    outcome["result"] = (is_error(r), text_of(r))
                except Exception as e:  # noqa: BLE001 - a JSON-RPC error
                    outcome["error"] = repr(e)
                outcome["took"] = time.monotonic() - t0

            async with anyio.create_task_group() as tg:
                tg.start_soon(slow)
                with anyio.fail_after(WAIT):
                    while not (tmp_path / "f" / "sleeping").exists():
                        await anyio.sleep(0.02)
                os.kill(fpid, signal.SIGKILL)
            # The call in flight failed at once (not after call_timeout, 40s), naming the backend.
            assert outcome["took"] < 10, outcome
            err = outcome.get("error") or outcome["result"][1]
            assert "backend 'f'" in err and "closed" in err, outcome
            # The other backend of the session, and the other session, never noticed.
            assert await pid_of(s, "g") == gpid
            assert await pid_of(other, "f") == other_f
            # The dead one is back, in a new process, for this session.
            new = await wait_new_pid(s, "f", fpid)
            assert new != fpid and new in spawns(tmp_path, "f")
            r = await s.call_tool("f_echo", {"text": "again"})
            assert (is_error(r), text_of(r)) == (False, "again")

    try:
        anyio.run(run)
        log = wait_log(gw, "backend restarted")
        assert "connection closed (the process exited); restarting in 100ms (attempt 1 of 5)" in log, log[-3000:]
        kids = gw.descendants()
        assert gw.stop() == 0, gw.stderr()
        assert not wait_gone(kids, 10)
    finally:
        gw.close()


def test_a_backend_that_keeps_failing_is_given_up_after_max_attempts(tmp_path):
    gw = gateway(tmp_path, attempts=3, max_backoff="400ms")

    async def run() -> None:
        async with mcp_client(gw.mcp_url) as s:
            fpid = await pid_of(s, "f")
            # From now on the backend dies at start: every restart attempt fails.
            (tmp_path / "f" / "crash").touch()
            before = len(spawns(tmp_path, "f"))
            os.kill(fpid, signal.SIGKILL)
            await anyio.to_thread.run_sync(wait_log, gw, "backend failed for this session after 3 restart attempts")
            # Exactly three attempts were made, then none.
            assert len(spawns(tmp_path, "f")) == before + 3
            try:
                r = await s.call_tool("f_echo", {"text": "x"})
                msg = text_of(r)
                assert is_error(r), msg
            except Exception as e:  # noqa: BLE001 - a JSON-RPC error
                msg = repr(e)
            assert "backend 'f' is unavailable in this session: failed, no more restarts" in msg, msg
            # The other backend still serves the session.
            r = await s.call_tool("g_echo", {"text": "fine"})
            assert (is_error(r), text_of(r)) == (False, "fine")

    try:
        anyio.run(run)
        assert gw.stop() == 0, gw.stderr()
    finally:
        gw.close()


def test_a_hung_backend_fails_its_health_check_and_is_replaced(tmp_path):
    gw = gateway(tmp_path, health="300ms")

    async def run() -> int:
        async with mcp_client(gw.mcp_url) as s:
            fpid = await pid_of(s, "f")
            os.kill(fpid, signal.SIGSTOP)
            # Only an idle connection is pinged (a call in flight is bounded by call_timeout
            # instead): wait without calling.
            await anyio.to_thread.run_sync(wait_log, gw, "backend restarted")
            new = await wait_new_pid(s, "f", fpid)
            assert new != fpid
            return fpid

    try:
        old = anyio.run(run)
        log = gw.stderr()
        assert "no answer to a health ping within 500ms (aggregator.health.timeout); ending the connection" in log, log[-3000:]
        # The hung process was killed, not left stopped.
        assert not wait_gone({old}, 10)
        assert gw.stop() == 0, gw.stderr()
    finally:
        gw.close()
