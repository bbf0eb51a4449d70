"""Drives an MCP legacy-SSE server with the Python `mcp` SDK's SSE client.

Usage: sse_client.py URL [--sessions N] [--hold]
Per session: initialize, tools/list, tools/call add(2,3) and echo. Prints one JSON line per
session: {"session": i, "server": name, "tools": [...], "add": text, "echo": text}.
With --hold, prints "HOLDING" after the calls and waits for a line on stdin before leaving
(so the test can observe a live session, then the disconnect).
"""

import argparse
import asyncio
import json
import sys

from mcp import ClientSession
from mcp.client.sse import sse_client


async def one(url: str, idx: int, hold: asyncio.Event | None) -> dict:
    async with sse_client(url, timeout=10, sse_read_timeout=30) as (read, write):
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            tools = await session.list_tools()
            add = await session.call_tool("add", {"a": 2, "b": 3 + idx})
            echo = await session.call_tool("echo", {"text": f"hello {idx}"})
            out = {
                "session": idx,
                "server": init.server_info.name,
                "tools": sorted(t.name for t in tools.tools),
                "add": add.content[0].text,
                "add_is_error": bool(add.is_error),
                "echo": echo.content[0].text,
            }
            print(json.dumps(out), flush=True)
            if hold is not None:
                await hold.wait()
            return out


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("--sessions", type=int, default=1)
    ap.add_argument("--hold", action="store_true")
    args = ap.parse_args()
    hold = asyncio.Event() if args.hold else None
    tasks = [asyncio.create_task(one(args.url, i, hold)) for i in range(args.sessions)]
    if hold is not None:
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        hold.set()
    await asyncio.gather(*tasks)
    print("DONE", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
