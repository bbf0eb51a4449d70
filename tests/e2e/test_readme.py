"""The agent configuration snippet in the README works when launched exactly as an agent would:
`command` found on PATH, `args` as written (only the example URL replaced by a live one)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import anyio

from harness import ROOT, Server, bin_path, text_of


def readme_snippet() -> dict:
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```json\n(.*?)```", text, flags=re.S)
    snippets = [json.loads(b) for b in blocks if "mcpServers" in b]
    assert snippets, "README has an mcpServers snippet"
    servers = snippets[0]["mcpServers"]
    assert len(servers) == 1
    return next(iter(servers.values()))


def test_agent_snippet_launches_mcp_tools(tmp_path: Path):
    entry = readme_snippet()
    assert entry["command"] == "mcp-tools"
    (tmp_path / "readme.txt").write_text("from the README snippet\n")
    bridge = Server([bin_path("mcp-bridge"), "--listen", "127.0.0.1:0", "--", bin_path("mcp-filesystem"), str(tmp_path)])
    try:
        args = [bridge.mcp_url if a.startswith("http://") else a for a in entry["args"]]
        assert args[0] == "run"

        async def main():
            from mcp import ClientSession
            from mcp.client.stdio import StdioServerParameters, stdio_client

            env = dict(os.environ)
            env["PATH"] = str(Path(bin_path("mcp-tools")).parent) + os.pathsep + env.get("PATH", "")
            params = StdioServerParameters(command=entry["command"], args=args, env=env)
            async with stdio_client(params) as (read, write):
                async with ClientSession(read, write) as s:
                    await s.initialize()
                    names = {t.name for t in (await s.list_tools()).tools}
                    assert "read_file" in names
                    r = await s.call_tool("read_file", {"path": "readme.txt"})
                    assert "from the README snippet" in text_of(r)

        anyio.run(main)
    finally:
        bridge.close()
