"""`mcpz tui` driven through tmux: the console shows a live gateway; a real MCP client's session
and calls appear; a tool can be tried from the Tools pane; `q` exits 0 with no child left."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import anyio
import pytest

from harness import bin_path, children_of, mcp_client, text_of, wait_gone

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (scripts/install-test-deps installs it)")


class Tmux:
    def __init__(self, tmp: Path, width: int = 160, height: int = 48):
        self.sock = str(tmp / "tmux.sock")
        self.tmp = tmp

    def run(self, *args: str) -> str:
        return subprocess.run(["tmux", "-S", self.sock, "-f", "/dev/null", *args], capture_output=True, text=True, timeout=20).stdout

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", "mcpz")

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", "mcpz", *keys)

    def wait_for(self, pattern: str, timeout: float = 30.0) -> re.Match:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            last = self.screen()
            m = re.search(pattern, last)
            if m:
                return m
            time.sleep(0.1)
        raise AssertionError(f"{pattern!r} not on screen within {timeout}s:\n{last}")

    def kill(self) -> None:
        subprocess.run(["tmux", "-S", self.sock, "kill-server"], capture_output=True, timeout=10)


def test_console_end_to_end(tmp_path: Path):
    work = tmp_path / "work"
    work.mkdir()
    (work / "notes.txt").write_text("console test\n")
    # The shipped demo config: mcp-filesystem (found next to mcpz) on the current directory.
    cfg = Path(__file__).resolve().parents[2] / "etc" / "demo.yml"
    exit_file = tmp_path / "exit"
    t = Tmux(tmp_path)
    cmd = f"cd {work} && MCPZ_CACHE={tmp_path} {bin_path('mcpz')} tui {cfg} --listen 127.0.0.1:0; echo $? > {exit_file}"
    t.run("new-session", "-d", "-s", "mcpz", "-x", "160", "-y", "48", cmd)
    try:
        t.wait_for(r"Backends")
        t.wait_for(r"ready")
        url = t.wait_for(r"http://127\.0\.0\.1:\d+/mcp").group(0)
        pane_pid = int(t.run("display-message", "-p", "-t", "mcpz", "#{pane_pid}").strip())

        async def client():
            async with mcp_client(url) as s:
                r = await s.call_tool("files_list_directory", {"path": "."})
                assert "notes.txt" in text_of(r)
                await s.call_tool("files_read_file", {"path": "notes.txt"})
                # The session and its calls appear while it is open.
                t.keys("2")
                t.wait_for(r"Sessions")
                t.wait_for(r"\bmcp\b|python", timeout=15)
                t.keys("5")
                t.wait_for(r"files_read_file", timeout=15)
                t.wait_for(r"files_list_directory", timeout=15)
                # The call stream is the audit stream: who called, and calls the gateway refused.
                t.wait_for(r"local\s+files_read_file", timeout=15)
                try:
                    await s.call_tool("nobody_tool", {})
                except Exception:  # noqa: BLE001 - unknown tool: a JSON-RPC error
                    pass
                t.wait_for(r"nobody_tool.*denied: unknown_tool", timeout=15)

        anyio.run(client)

        # Try a tool from the Tools pane: filter, open the editor, send the template.
        t.keys("3")
        t.wait_for(r"files_read_file")
        t.keys("/", "list_dir", "Enter")
        t.keys("t")
        t.wait_for(r"path")
        t.keys("C-s")
        t.wait_for(r"\"content\"", timeout=20)
        t.keys("Escape")

        kids = children_of(pane_pid)
        t.keys("q")
        deadline = time.monotonic() + 15
        while not exit_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert exit_file.exists(), t.screen()
        assert exit_file.read_text().strip() == "0"
        assert not wait_gone(kids, 7), "processes left behind after q"
    finally:
        t.kill()


def test_console_reload_key_applies_a_new_config_and_refuses_a_bad_one(tmp_path: Path):
    work = tmp_path / "work"
    work.mkdir()
    fs = bin_path("mcp-filesystem")

    def backend(bid: str) -> str:
        return f"  - id: {bid}\n    transport:\n      type: stdio\n      command: {fs}\n      args: [{work}]\n"

    cfg = tmp_path / "gw.yml"
    cfg.write_text("backends:\n" + backend("alpha"))
    exit_file = tmp_path / "exit"
    t = Tmux(tmp_path)
    cmd = f"MCPZ_CACHE={tmp_path} {bin_path('mcpz')} tui {cfg} --listen 127.0.0.1:0; echo $? > {exit_file}"
    t.run("new-session", "-d", "-s", "mcpz", "-x", "160", "-y", "48", cmd)
    try:
        t.wait_for(r"alpha\s+stdio\s+\S+ ready")
        cfg.write_text("backends:\n" + backend("alpha") + backend("beta"))
        t.keys("C-r")
        t.wait_for(r"Reload the configuration file\?")
        t.keys("y")
        t.wait_for(r"beta\s+stdio\s+\S+ ready")
        t.wait_for(r"config gen 1")
        # A bad file: refused, named in the header, both backends still there.
        cfg.write_text("backends:\n  - id: gamma\n    transprt: {}\n")
        t.keys("C-r")
        t.wait_for(r"Reload the configuration file\?")
        t.keys("y")
        t.wait_for(r"reload refused")
        screen = t.screen()
        assert re.search(r"alpha\s+stdio", screen) and re.search(r"beta\s+stdio", screen), screen
        t.keys("q")
        deadline = time.monotonic() + 15
        while not exit_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert exit_file.read_text().strip() == "0", t.screen()
    finally:
        t.kill()
