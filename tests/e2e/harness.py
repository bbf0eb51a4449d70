"""Shared helpers for mcpz's end-to-end tests: start our binaries, read their JSON line, connect
real MCP clients (the Python `mcp` SDK), and check that no process is left behind."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("MCPZ_CACHE", str(Path.home() / ".cache" / "mcpz")))


def bin_path(name: str) -> str:
    d = Path(os.environ.get("MCPZ_BIN_DIR", str(ROOT / "target" / "debug")))
    p = d / name
    if not p.exists():
        raise RuntimeError(f"{p} is missing: run `cargo build` first (or set MCPZ_BIN_DIR)")
    return str(p)


def deps() -> dict[str, str]:
    """The test dependencies described by scripts/install-test-deps."""
    env_file = CACHE / "test-deps.env"
    if not env_file.exists():
        raise RuntimeError(f"{env_file} is missing: run scripts/install-test-deps")
    out: dict[str, str] = {}
    for line in env_file.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        k, v = line.split("=", 1)
        out[k] = v.strip().strip('"')
    return out


def python() -> str:
    return deps().get("MCPZ_PYTHON", sys.executable)


def stateful_cmd() -> list[str]:
    return [python(), str(ROOT / "tests" / "servers" / "stateful.py")]


def children_of(pid: int) -> set[int]:
    """All live descendants of pid (by walking /proc)."""
    parents: dict[int, int] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            parents[int(d)] = ppid
        except (OSError, ValueError, IndexError):
            continue
    out: set[int] = set()
    frontier = [pid]
    while frontier:
        p = frontier.pop()
        for c, pp in parents.items():
            if pp == p and c not in out:
                out.add(c)
                frontier.append(c)
    return out


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except OSError:
        return False


def wait_gone(pids: set[int], timeout: float) -> set[int]:
    deadline = time.monotonic() + timeout
    left = {p for p in pids if alive(p)}
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = {p for p in left if alive(p)}
    return left


class Server:
    """A running mcpz server process that printed one JSON line on stdout."""

    def __init__(self, argv: list[str], env: dict[str, str] | None = None, timeout: float = 60.0):
        self.argv = argv
        self.stderr_file = tempfile.NamedTemporaryFile(prefix="mcpz-e2e-", suffix=".log", delete=False)
        full_env = dict(os.environ)
        full_env.update(env or {})
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self.stderr_file,
            env=full_env,
            text=True,
        )
        self.info: dict[str, Any] = {}
        line: list[str] = []

        def read() -> None:
            assert self.proc.stdout is not None
            line.append(self.proc.stdout.readline())

        t = threading.Thread(target=read, daemon=True)
        t.start()
        t.join(timeout)
        if not line or not line[0].strip():
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError(f"{argv[0]} printed no JSON line within {timeout}s; stderr:\n{self.stderr()}")
        self.info = json.loads(line[0])
        self.extra_stdout = self.proc.stdout

    @property
    def mcp_url(self) -> str:
        return self.info["mcp_url"]

    @property
    def sse_url(self) -> str:
        return self.info["sse_url"]

    def stderr(self) -> str:
        return Path(self.stderr_file.name).read_text(errors="replace")

    def descendants(self) -> set[int]:
        return children_of(self.proc.pid)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int:
        """Signal the server and wait (bounded) for it to exit; returns its exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"{self.argv[0]} did not exit within {timeout}s after signal {sig}")

    def close(self) -> None:
        if self.proc.poll() is None:
            kids = self.descendants()
            self.proc.kill()
            self.proc.wait()
            for k in kids:
                with contextlib.suppress(OSError):
                    os.kill(k, signal.SIGKILL)
        with contextlib.suppress(OSError):
            os.unlink(self.stderr_file.name)


def write_config(tmp: Path, text: str, name: str = "gateway.yml") -> Path:
    p = tmp / name
    p.write_text(text)
    return p


def start_gateway(config: Path, *extra: str) -> Server:
    return Server([bin_path("mcp-gateway"), "run", str(config), "--listen", "127.0.0.1:0", *extra])


@contextlib.asynccontextmanager
async def mcp_client(url: str, kind: str = "streamable", **session_kwargs: Any):
    """An initialized Python `mcp` SDK ClientSession over streamable HTTP or legacy SSE."""
    from mcp import ClientSession

    if kind == "streamable":
        from mcp.client import streamable_http

        if hasattr(streamable_http, "streamable_http_client"):  # mcp >= 2
            cm = streamable_http.streamable_http_client(url)
        else:  # mcp 1.x
            cm = streamable_http.streamablehttp_client(url)
        async with cm as streams:
            read, write = streams[0], streams[1]
            async with ClientSession(read, write, **session_kwargs) as s:
                await s.initialize()
                yield s
    elif kind == "sse":
        from mcp.client.sse import sse_client

        async with sse_client(url) as (read, write):
            async with ClientSession(read, write, **session_kwargs) as s:
                await s.initialize()
                yield s
    else:
        raise ValueError(kind)


def text_of(result: Any) -> str:
    return "".join(getattr(c, "text", "") for c in result.content)


def is_error(result: Any) -> bool:
    """`isError` in mcp 1.x, `is_error` in 2.x."""
    v = getattr(result, "is_error", None)
    if v is None:
        v = getattr(result, "isError", None)
    return bool(v)
