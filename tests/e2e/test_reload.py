"""Hot reload: the gateway re-reads its configuration on SIGHUP. An open session keeps working,
is told `notifications/tools/list_changed`, and sees added and removed backends; the process of
an unchanged backend is the same one; a new session sees the new set at once. A bad file (YAML,
unknown keys, a backend that cannot start) is refused with every error named and the running
configuration kept. Real processes, the Python MCP SDK as the client."""

from __future__ import annotations

import json
import re
import signal
import sys
import time
from pathlib import Path
from typing import Any

import anyio

from harness import ROOT, Server, bin_path, is_error, mcp_client, text_of, write_config

FAULTY = ROOT / "tests" / "servers" / "faulty.py"
WAIT = 30.0


def fs(bid: str, d: Path, extra: str = "") -> str:
    return f"""
  - id: {bid}
    transport:
      type: stdio
      command: {json.dumps(bin_path("mcp-filesystem"))}
      args: [{json.dumps(str(d))}]{extra}
"""


def faulty(bid: str, d: Path) -> str:
    d.mkdir(exist_ok=True)
    return f"""
  - id: {bid}
    transport:
      type: stdio
      command: {json.dumps(sys.executable)}
      args: [{json.dumps(str(FAULTY))}, normal, {json.dumps(str(d))}]
"""


def config(*backends: str, top: str = "") -> str:
    return f"{top}aggregator:\n  name: reload-e2e\nbackends:{''.join(backends)}"


class Notes:
    """Notifications a client session received."""

    def __init__(self) -> None:
        self.items: list[Any] = []

    async def on_message(self, m: Any) -> None:
        self.items.append(m)

    def tools_changed(self) -> int:
        import mcp.types as T

        return sum(isinstance(n, T.ToolListChangedNotification) for n in self.items)


async def wait_until(pred, what: str) -> None:
    with anyio.fail_after(WAIT):
        while not pred():
            await anyio.sleep(0.02)


def wait_log(gw: Server, text: str, after: int = 0) -> str:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        log = gw.stderr()
        if text in log[after:]:
            return log[after:]
        time.sleep(0.05)
    raise AssertionError(f"no '{text}' in the gateway log within {WAIT}s:\n{gw.stderr()[after:][-3000:]}")


async def names(s) -> set[str]:
    return {t.name for t in (await s.list_tools()).tools}


async def read(s, tool: str, path: Path) -> str:
    r = await s.call_tool(tool, {"path": str(path)})
    assert not is_error(r), text_of(r)
    return text_of(r)


def test_sighup_reloads_with_a_session_open_and_refuses_bad_files(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    for d, text in ((one, "from one"), (two, "from two")):
        d.mkdir()
        (d / "note.txt").write_text(text)
    cfg = write_config(tmp_path, config(fs("a", one), faulty("keep", tmp_path / "keep")))
    gw = Server([bin_path("mcp-gateway"), "run", str(cfg), "--listen", "127.0.0.1:0"], timeout=60)
    notes = Notes()

    # Each backend's discovery is logged once at start: id, server, what it offers.
    start_log = gw.stderr()
    assert start_log.count("backend discovered") == 2, start_log
    assert re.search(r"backend discovered in .* backend=a server=\"mcp-filesystem [^\"]+\" tools=\d+", start_log), start_log

    async def run() -> None:
        async with mcp_client(gw.mcp_url, message_handler=notes.on_message) as s:
            before = await names(s)
            assert "a_read_file" in before and "keep_echo" in before, before
            assert await read(s, "a_read_file", one / "note.txt") == "from one"
            keep_pid = text_of(await s.call_tool("keep_pid", {}))

            # v2: 'a' removed, 'b' added (with a deny filter), 'keep' unchanged.
            cfg.write_text(config(faulty("keep", tmp_path / "keep"), fs("b", two, "\n    tools: {mode: deny, list: [write_file]}")))
            mark = len(gw.stderr())
            gw.proc.send_signal(signal.SIGHUP)
            await wait_until(lambda: notes.tools_changed() >= 1, "tools/list_changed")
            log = await anyio.to_thread.run_sync(wait_log, gw, "configuration reloaded", mark)
            assert "added b; removed a; changed none; 1 unchanged" in log, log
            # Only the added backend is discovered by the reload.
            assert re.findall(r"backend discovered in .* backend=(\w+)", log) == ["b"], log
            after = await names(s)
            assert "b_read_file" in after and "b_write_file" not in after, after
            assert not any(n.startswith("a_") for n in after), after
            assert await read(s, "b_read_file", two / "note.txt") == "from two"
            # The unchanged backend is the same process, still serving this session.
            assert text_of(await s.call_tool("keep_pid", {})) == keep_pid
            # The removed backend's tools are gone for this session too.
            r = None
            try:
                r = await s.call_tool("a_read_file", {"path": str(one / "note.txt")})
                assert is_error(r)
                msg = text_of(r)
            except Exception as e:  # noqa: BLE001 - a JSON-RPC error
                msg = repr(e)
            assert "unknown tool: a_read_file" in msg, msg

            # A new session sees the new set at once.
            async with mcp_client(gw.mcp_url) as fresh:
                assert await names(fresh) == after

            # A bad file is refused, every error named with its line; v2 stays.
            cfg.write_text(config(faulty("keep", tmp_path / "keep"), fs("b", two)) + "  - id: c\n    transprt: {}\n")
            mark = len(gw.stderr())
            gw.proc.send_signal(signal.SIGHUP)
            log = await anyio.to_thread.run_sync(wait_log, gw, "configuration reload refused", mark)
            assert "gateway.yml:" in log and "transprt" in log and "did you mean 'transport'" in log, log
            assert await names(s) == after
            assert await read(s, "b_read_file", two / "note.txt") == "from two"

            # A backend that cannot start refuses the reload too, naming it.
            bad = "\n  - id: ghost\n    transport:\n      type: stdio\n      command: /nonexistent/mcp-ghost\n"
            cfg.write_text(config(faulty("keep", tmp_path / "keep"), fs("b", two), bad))
            mark = len(gw.stderr())
            gw.proc.send_signal(signal.SIGHUP)
            log = await anyio.to_thread.run_sync(wait_log, gw, "configuration reload refused", mark)
            assert "backend 'ghost': cannot start '/nonexistent/mcp-ghost'" in log, log
            assert await names(s) == after

    try:
        anyio.run(run)
        assert gw.proc.poll() is None, "the gateway exited"
        assert gw.stop() == 0, gw.stderr()
    finally:
        gw.close()


def test_settings_outside_the_engine_are_named_as_needing_a_restart(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    cfg = write_config(tmp_path, config(fs("a", d)))
    gw = Server([bin_path("mcp-gateway"), "run", str(cfg), "--listen", "127.0.0.1:0"], timeout=60)
    try:
        cfg.write_text(config(fs("a", d)).replace("name: reload-e2e", "name: renamed\n  separator: '-'"))
        gw.proc.send_signal(signal.SIGHUP)
        log = wait_log(gw, "configuration reloaded")
        assert "changed but applied only after a restart: aggregator.name, aggregator.separator" in log, log
        assert gw.stop() == 0, gw.stderr()
    finally:
        gw.close()


def test_watch_reloads_when_the_file_changes(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    (d / "note.txt").write_text("watched")
    cfg = write_config(tmp_path, config(fs("a", d)))
    gw = Server([bin_path("mcp-gateway"), "run", str(cfg), "--listen", "127.0.0.1:0", "--watch"], timeout=60)
    notes = Notes()

    async def run() -> None:
        async with mcp_client(gw.mcp_url, message_handler=notes.on_message) as s:
            assert not any(n.startswith("b_") for n in await names(s))
            cfg.write_text(config(fs("a", d), fs("b", d)))
            await wait_until(lambda: notes.tools_changed() >= 1, "tools/list_changed")
            assert await read(s, "b_read_file", d / "note.txt") == "watched"

    try:
        anyio.run(run)
        assert "configuration file changed: reloading" in gw.stderr()
        assert gw.stop() == 0, gw.stderr()
    finally:
        gw.close()
