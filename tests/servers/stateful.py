"""A stdio MCP test server that keeps state inside its own process.

Used by mcpz's isolation, timeout and killed-backend tests:

    $MCPZ_PYTHON tests/servers/stateful.py [--name NAME]

Tools:
  set_value {key, value}  store value under key (in this process only)
  get_value {key}         the stored value; a tool error if there is none
  pid                     this process's id
  sleep {seconds}         sleep, then answer "slept <seconds>"; on
                          notifications/cancelled it stops at once and logs
                          "stateful: sleep cancelled" to stderr
  crash                   exit the process (status 3) in the middle of the call

Logs go to stderr; stdout carries only MCP messages.
"""

from __future__ import annotations

import argparse
import os
import sys

import anyio
from mcp.server.mcpserver import MCPServer  # mcp 2.x (FastMCP in 1.x)
from mcp.server.mcpserver.exceptions import ToolError

MAX_SLEEP = 3600.0


def log(msg: str) -> None:
    print(f"stateful: {msg}", file=sys.stderr, flush=True)


def build(name: str) -> MCPServer:
    mcp = MCPServer(name, version="1.0.0", log_level="WARNING")
    values: dict[str, str] = {}

    @mcp.tool()
    def set_value(key: str, value: str) -> str:
        """Store value under key in this server process."""
        values[key] = value
        return f"set {key}"

    @mcp.tool()
    def get_value(key: str) -> str:
        """Return the value stored under key in this server process."""
        if key not in values:
            raise ToolError(f"no value for key {key!r}")
        return values[key]

    @mcp.tool()
    def pid() -> int:
        """Return this server's process id."""
        return os.getpid()

    @mcp.tool()
    async def sleep(seconds: float) -> str:
        """Sleep for the given number of seconds (0 to 3600); honours cancellation."""
        if not 0 <= seconds <= MAX_SLEEP:
            raise ToolError(f"seconds must be between 0 and {MAX_SLEEP:g}")
        log(f"sleep {seconds:g} started")
        try:
            await anyio.sleep(seconds)
        except anyio.get_cancelled_exc_class():
            log("sleep cancelled")
            raise
        log(f"sleep {seconds:g} done")
        return f"slept {seconds:g}"

    @mcp.tool()
    def crash() -> str:
        """Exit this server process in the middle of the call."""
        log("crashing on request")
        sys.stderr.flush()
        os._exit(3)

    return mcp


def main() -> None:
    ap = argparse.ArgumentParser(description="stateful stdio MCP test server")
    ap.add_argument("--name", default="stateful", help="server name in initialize")
    args = ap.parse_args()
    log(f"starting, pid {os.getpid()}")
    build(args.name).run("stdio")


if __name__ == "__main__":
    main()
