"""Both generations of the Go original against mcpz, both ways, over real zrok private shares.

v0.1.3 (legacy SSE) is covered in test_overlay.py with the Go binaries themselves. The newer
generation speaks streamable HTTP at `/` (`http://mcp-backend`, the MCP Go SDK's client and
server); tests/go/streamable_peer behaves that way (docs/testnet.md).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import anyio
import pytest

from harness import text_of
from netharness import fs_backends, ShareServer, grant, grant_yaml, home, ours, stdio_session, testnet as net_env, wait_until


def peer() -> str:
    p = net_env().get("STREAMABLE_PEER_BIN", "")
    if not (p and os.access(p, os.X_OK)):
        pytest.fail(
            f"STREAMABLE_PEER_BIN={p!r} in testnet.env is not an executable: `scripts/testnet install` builds "
            "tests/go/streamable_peer",
            pytrace=False,
        )
    return p


def run_peer(*args: str, who: str = "bob", timeout: float = 90) -> dict:
    r = subprocess.run([peer(), *args], env={**os.environ, **home(who)}, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_newest_upstream_client_uses_our_bridge_and_gateway(data, tmp_path):
    """The go-sdk streamable client POSTing to http://mcp-backend (path /) reaches our servers."""
    cfg = tmp_path / "gw.yml"
    cfg.write_text(
        f"""
{fs_backends(data)}{grant_yaml("bob")}"""
    )
    br = ShareServer([ours("mcp-bridge"), *grant("bob"), "--", ours("mcp-filesystem"), str(data)], home("alice"))
    gw = ShareServer([ours("mcp-gateway"), "run", str(cfg)], home("alice"))
    try:
        for token, tool in ((br.token, "read_file"), (gw.token, "fs_read_file")):
            out = run_peer("-call", tool, "-args", json.dumps({"path": str(data / "hello.txt")}), token)
            assert out["transport"] == "streamable", out
            assert out["endpoint"].rstrip("/") == "http://mcp-backend", out
            assert tool in out["tools"], out
            assert "hello over zrok" in json.dumps(out["call"]["result"]), out
        opened = [l for l in br.stderr().splitlines() if "session opened" in l]
        assert opened and all("transport=streamable" in l for l in opened), br.stderr()
    finally:
        for s in (br, gw):
            assert s.stop() == 0, s.stderr()
            s.kill()


class PeerShare:
    """`streamable_peer serve` (a go-sdk streamable server at /) behind `zrok2 share private`."""

    def __init__(self, who: str = "alice"):
        t = net_env()
        env = {**os.environ, **home(who), "ZROK2_API_ENDPOINT": t.get("ZROK_API_ENDPOINT", "")}
        self.server = subprocess.Popen([peer(), "serve"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert self.server.stdout is not None
        line = self.server.stdout.readline().split()
        assert line[:1] == ["PORT"], line
        port = int(line[1])
        self.token = f"mcpzup{int(time.time() * 1000) % 10**9}"
        r = subprocess.run([t["ZROK2_BIN"], "create", "share", "-s", self.token, "--open"], env=env, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        self.share = subprocess.Popen(
            [t["ZROK2_BIN"], "share", "private", "--headless", "--force-local", "-s", self.token, f"http://127.0.0.1:{port}"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.env = env
        self.bin = t["ZROK2_BIN"]

    def close(self) -> None:
        for p in (self.share, self.server):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        subprocess.run([self.bin, "delete", "share", self.token], env=self.env, capture_output=True, timeout=60)


def test_our_gateway_and_tools_use_a_newest_upstream_server(tmp_path):
    """Our zrok backends and mcp-tools reach a go-sdk streamable server serving at / on a share."""
    ps = PeerShare()
    try:
        # The share answers once its terminator is up: the Go client itself is the probe.
        def ready() -> bool:
            try:
                run_peer("-no-call", ps.token, timeout=30)
                return True
            except AssertionError:
                return False

        wait_until(ready, timeout=60, what="the peer's share to answer")
        anyio.run(list_and_call_add, [ours("mcp-tools"), "run", ps.token], "bob", "add")
        cfg = tmp_path / "gw.yml"
        cfg.write_text(
            f"""
backends:
  - id: up
    transport:
      type: zrok
      share_token: {ps.token}
"""
        )
        gw = ShareServer([ours("mcp-gateway"), "run", str(cfg)], home("bob"))
        try:
            anyio.run(list_and_call_add, [ours("mcp-tools"), "run", gw.token], "bob", "up_add")
        finally:
            assert gw.stop() == 0, gw.stderr()
            gw.kill()
    finally:
        ps.close()


async def list_and_call_add(argv: list[str], who: str, tool: str) -> None:
    async with stdio_session(argv, home(who)) as s:
        names = {t.name for t in (await s.list_tools()).tools}
        assert tool in names, names
        r = await s.call_tool(tool, {"a": 40, "b": 2})
        assert "42" in text_of(r), text_of(r)



def test_discovery_follows_pagination_over_zrok(tmp_path):
    """A gateway's zrok backend follows every page: a server that lists 2 items a page, behind our
    bridge on a share (which passes pages through), and the gateway lists them all."""
    from harness import deps

    server = Path(__file__).resolve().parents[1] / "servers" / "conformance_server.cjs"
    cmd = [deps()["MCPZ_NODE22"], str(server), "stdio", "--page-size", "2"]
    env = {**home("alice"), "NODE_PATH": deps()["MCPZ_NODE_MODULES"]}
    br = ShareServer([ours("mcp-bridge"), *grant("bob"), "--", *cmd], env)
    cfg = tmp_path / "gw.yml"
    cfg.write_text(f"backends:\n  - id: ev\n    transport:\n      type: zrok\n      share_token: {br.token}\n")
    try:
        async def counts() -> tuple[int, int, str | None]:
            # Direct to the bridge: the first page and whether there are more.
            async with stdio_session([ours("mcp-tools"), "run", br.token], home("bob")) as s:
                first = await s.list_resources()
            # Through a gateway with a zrok backend (discovery and the session's lists).
            gw = ShareServer([ours("mcp-gateway"), "run", str(cfg)], home("bob"))
            try:
                async with stdio_session([ours("mcp-tools"), "run", gw.token], home("bob")) as s:
                    allr = await s.list_resources()
            finally:
                assert gw.stop() == 0, gw.stderr()
                gw.kill()
            return len(first.resources), len(allr.resources), first.next_cursor

        n_first, n_all, cursor = anyio.run(counts)
        assert cursor and n_first == 2, f"{n_first} on the first page, {n_all} in all"
        assert n_all > n_first, (n_first, n_all)
    finally:
        assert br.stop() == 0, br.stderr()
        br.kill()
