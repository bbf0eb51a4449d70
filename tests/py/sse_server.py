"""A Python `mcp` SDK server (MCPServer, formerly FastMCP) for our client tests.

Usage: sse_server.py [--transport sse|streamable-http] [--json-response] [--any-host]
                     [--tls CERT KEY]
Binds 127.0.0.1 on a free port, prints "PORT <n>", serves until killed (over TLS with --tls).
Tools: add(a, b), echo(text), notify(text) (sends a log message and a progress notification
before answering).
"""

import argparse
import asyncio
import socket
import warnings

import uvicorn
from mcp.server.mcpserver import Context, MCPServer

# ctx.log uses the logging capability the SDK marks deprecated (SEP-2577); keep stderr quiet.
warnings.simplefilter("ignore")

mcp = MCPServer("py-test-server")


@mcp.tool()
def add(a: int, b: int) -> str:
    """Add two integers."""
    return str(a + b)


@mcp.tool()
def echo(text: str) -> str:
    """Echo the text back."""
    return text


@mcp.tool()
async def notify(text: str, ctx: Context) -> str:
    """Send a log message and a progress notification, then answer."""
    await ctx.log("info", f"log: {text}")
    await ctx.report_progress(1, 2, message=f"progress: {text}")
    return f"notified {text}"


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--transport", default="sse", choices=["sse", "streamable-http"])
    ap.add_argument("--json-response", action="store_true")
    ap.add_argument(
        "--any-host",
        action="store_true",
        help="turn off the SDK's localhost Host-header check (clients dialing through a tunnel "
        "send Host: mcp-backend)",
    )
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"), help="serve https with this PEM pair")
    args = ap.parse_args()
    # The SDK enables its DNS-rebinding Host check only when told it serves on localhost.
    host = "0.0.0.0" if args.any_host else "127.0.0.1"
    if args.transport == "sse":
        app = mcp.sse_app(host=host)
    else:
        app = mcp.streamable_http_app(json_response=args.json_response, host=host)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    print(f"PORT {sock.getsockname()[1]}", flush=True)
    tls = {"ssl_certfile": args.tls[0], "ssl_keyfile": args.tls[1]} if args.tls else {}
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", **tls))
    await server.serve(sockets=[sock])


if __name__ == "__main__":
    asyncio.run(main())
