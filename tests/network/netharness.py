"""Helpers for tests that need the real local OpenZiti + zrok2 network (scripts/testnet)."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
from harness import bin_path  # noqa: E402


def testnet() -> dict[str, str]:
    p = os.environ.get("MCPZ_TESTNET_ENV")
    if not p:
        pytest.fail("MCPZ_TESTNET_ENV is not set: tests/network needs the real network; run scripts/test-network", pytrace=False)
    out = {}
    for line in Path(p).read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            k, v = line.split("=", 1)
            out[k.strip()] = v.strip()
    return out


def home(who: str) -> dict[str, str]:
    t = testnet()
    return {"HOME": t[f"ZROK_HOME_{who.upper()}"]}


def go_bin(name: str) -> str:
    """A Go mcp-gateway tool (interop peer). A missing peer fails the test: it is never a skip."""
    d = testnet().get("GO_MCP_GATEWAY_BIN_DIR", "")
    if not d:
        pytest.fail(
            "GO_MCP_GATEWAY_BIN_DIR is empty in testnet.env: the Go mcp-gateway peers are not installed; "
            "`scripts/testnet install` builds them (from ../shared/peers/mcp-gateway-*.tar.gz or MCPZ_MCP_GATEWAY_SRC)",
            pytrace=False,
        )
    p = Path(d, name)
    if not (p.is_file() and os.access(p, os.X_OK)):
        pytest.fail(f"Go peer {p} is missing or not executable: rerun `scripts/testnet install`", pytrace=False)
    return str(p)


class ShareServer:
    """A server that prints `{"share_token": ...}` somewhere on stdout (ours: one line; the Go
    original: pretty-printed among its JSON logs)."""

    def __init__(self, argv: list[str], env: dict[str, str], timeout: float = 90.0):
        self.argv = argv
        self.log = tempfile.NamedTemporaryFile(prefix="mcpz-net-", suffix=".log", delete=False)
        full = dict(os.environ)
        full.update(env)
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self.log, env=full, text=True)
        self.stdout_lines: list[str] = []
        self.token: str | None = None
        found = threading.Event()

        def read() -> None:
            assert self.proc.stdout is not None
            buf = ""
            for line in self.proc.stdout:
                self.stdout_lines.append(line)
                buf += line
                for cand in (line, buf):
                    with contextlib.suppress(ValueError):
                        obj = json.loads(cand)
                        if isinstance(obj, dict) and "share_token" in obj:
                            self.token = obj["share_token"]
                            found.set()
                if line.strip() in ("{",):
                    buf = line
                elif line.strip() == "}":
                    buf = ""

        threading.Thread(target=read, daemon=True).start()
        if not found.wait(timeout):
            self.kill()
            raise RuntimeError(f"{argv[0]} printed no share token within {timeout}s:\n{self.stderr()}")

    def stderr(self) -> str:
        return Path(self.log.name).read_text(errors="replace")

    def stop(self, sig: int = 15, timeout: float = 15.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def overview(who: str) -> dict[str, Any]:
    t = testnet()
    r = subprocess.run([t["ZROK2_BIN"], "overview", "--json"], env={**os.environ, **home(who)}, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def share_tokens(who: str) -> set[str]:
    o = overview(who)
    out = set()
    for e in o.get("environments") or []:
        for s in e.get("shares") or []:
            out.add(s["shareToken"])
    return out


def frontends(who: str) -> set[str]:
    o = overview(who)
    out = set()
    for e in o.get("environments") or []:
        for f in e.get("frontends") or []:
            out.add(f["frontendToken"])
    return out


def wait_until(cond, timeout: float = 15.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@contextlib.asynccontextmanager
async def stdio_session(argv: list[str], env: dict[str, str]):
    """A Python `mcp` SDK client session over stdio to `argv` (e.g. mcp-tools run TOKEN)."""
    from mcp import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    params = StdioServerParameters(command=argv[0], args=argv[1:], env={**os.environ, **env})
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as s:
            await s.initialize()
            yield s


def email(who: str) -> str:
    """The zrok account (email) of `who` (alice, bob)."""
    return testnet()[f"ZROK_{who.upper()}_EMAIL"]


def grant(who: str) -> list[str]:
    """Flags for our mcp-bridge: the (closed) share admits `who`'s account too."""
    return ["--access-grant", email(who)]


def grant_yaml(who: str) -> str:
    """Config lines for our mcp-gateway: the (closed) share admits `who`'s account too."""
    return f"zrok:\n  share:\n    access_grants: [{email(who)}]\n"


def fs_backends(data) -> str:
    """A config's `backends:` with one backend `fs`: our mcp-filesystem serving `data`."""
    return f'backends:\n  - id: fs\n    transport:\n      type: stdio\n      command: {ours("mcp-filesystem")}\n      args: ["{data}"]\n'


def ours(name: str) -> str:
    return bin_path(name)
