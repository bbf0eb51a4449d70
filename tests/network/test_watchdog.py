"""The share-listener watchdog (`resilience:`, upstream v0.1.8) on a real share.

The deaf gateway for real: the persistent share a gateway serves is deleted and created again
under the same name. The gateway's OpenZiti listener keeps re-binding the service that no longer
exists, so its terminators stay gone; only a fresh listener (a new service look-up and bind
session) serves the new share. The watchdog builds one after `zero_established_grace`, and new
clients get through again. When the share stays gone, a gateway without `orchestrator` exits
(exit 1) after `max_rebuild_failures`; with one it keeps trying.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import anyio

from harness import text_of
from netharness import fs_backends, ShareServer, grant, home, ours, share_tokens, stdio_session, wait_until


def tools(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([ours("mcp-tools"), *args], env={**os.environ, **home("alice")}, capture_output=True, text=True, timeout=60)


def config(tmp_path: Path, data: Path, name: str, resilience: str, extra: str = "") -> Path:
    cfg = tmp_path / "gw.yml"
    cfg.write_text(
        f"""
share_token: {name}
{fs_backends(data)}resilience:
{resilience}
{extra}"""
    )
    return cfg


async def list_and_call(name: str, data: Path) -> None:
    async with stdio_session([ours("mcp-tools"), "run", name], home("bob")) as s:
        assert "fs_read_file" in {t.name for t in (await s.list_tools()).tools}
        r = await s.call_tool("fs_read_file", {"path": str(data / "hello.txt")})
        assert "hello over zrok" in text_of(r), text_of(r)


def recreate(name: str) -> None:
    """Delete the share and create it again under the same name (a new OpenZiti service)."""
    r = tools("delete", name)
    assert r.returncode == 0, r.stderr
    r = tools("create", name, *grant("bob"))
    assert r.returncode == 0, r.stderr


def log_lines(gw: ShareServer, message: str) -> list[str]:
    return [l for l in gw.stderr().splitlines() if message in l]


def test_a_deaf_share_listener_is_rebuilt_and_serves_new_clients(data, tmp_path):
    name = f"mcpz-w{int(time.time() * 1000) % 10**9}"
    assert tools("create", name, *grant("bob")).returncode == 0
    try:
        cfg = config(tmp_path, data, name, "  poll_interval: 200ms\n  zero_established_grace: 3s\n  heartbeat_interval: 1s\n")
        gw = ShareServer([ours("mcp-gateway"), "run", str(cfg)], home("alice"))
        try:
            anyio.run(list_and_call, name, data)
            # Alive lines with the sessions, terminators and time since the last accept.
            wait_until(lambda: log_lines(gw, "gateway alive"), timeout=30, what="a 'gateway alive' line")
            alive = log_lines(gw, "gateway alive")[0]
            for field in ("active_sessions=", "seconds_since_last_accept=", "established_terminators=1", "generation=0"):
                assert field in alive, alive
            recreate(name)
            wait_until(lambda: log_lines(gw, "share listener rebuilt"), timeout=60, what="the listener to be rebuilt")
            lost = log_lines(gw, "share listener lost, rebuilding")
            assert lost and 'reason="zero_established"' in lost[0] and "established_terminators=0" in lost[0], gw.stderr()
            rebuilt = log_lines(gw, "share listener rebuilt")[0]
            assert "old_generation=0 generation=1" in rebuilt, rebuilt
            # A new client gets through the share again.
            anyio.run(list_and_call, name, data)
            wait_until(
                lambda: any("generation=1" in l and "established_terminators=1" in l for l in log_lines(gw, "gateway alive")),
                timeout=30,
                what="an alive line of the rebuilt listener",
            )
            assert not log_lines(gw, "unrecoverable"), gw.stderr()
        finally:
            assert gw.stop() == 0, gw.stderr()
            gw.kill()
    finally:
        tools("delete", name)
    assert name not in share_tokens("alice")


def escalation(data: Path, tmp_path: Path, extra: str) -> ShareServer:
    """A gateway on a share that is then deleted for good, with a short grace and 2 attempts."""
    name = f"mcpz-x{int(time.time() * 1000) % 10**9}"
    assert tools("create", name).returncode == 0
    cfg = config(tmp_path, data, name, "  poll_interval: 200ms\n  zero_established_grace: 2s\n  max_rebuild_failures: 2\n", extra)
    gw = ShareServer([ours("mcp-gateway"), "run", str(cfg)], home("alice"))
    r = tools("delete", name)
    assert r.returncode == 0, r.stderr
    return gw


def test_a_standalone_gateway_exits_when_its_listener_cannot_be_rebuilt(data, tmp_path):
    gw = escalation(data, tmp_path, "")
    try:
        code = gw.proc.wait(timeout=90)
        err = gw.stderr()
        assert code == 1, err
        assert len(log_lines(gw, "share listener rebuild failed")) >= 1, err
        assert log_lines(gw, "share listener unrecoverable, shutting down for restart"), err
        assert re.search(r"^error: share listener recovery failed after 2 attempts: .*", err, re.M), err
    finally:
        gw.kill()


def test_a_managed_gateway_keeps_trying(data, tmp_path):
    gw = escalation(data, tmp_path, f"orchestrator:\n  socket_path: {tmp_path / 'orchestrator.sock'}\n")
    try:
        wait_until(lambda: log_lines(gw, "awaiting orchestrator restart"), timeout=90, what="the escalation line")
        # Still trying: another failed rebuild after the escalation.
        n = len(log_lines(gw, "share listener rebuild failed"))
        wait_until(lambda: len(log_lines(gw, "share listener rebuild failed")) > n, timeout=30, what="another rebuild attempt")
        assert gw.proc.poll() is None, gw.stderr()
        assert gw.stop() == 0, gw.stderr()
    finally:
        gw.kill()
