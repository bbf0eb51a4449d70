"""A misbehaving stdio MCP server for mcpz's fault tests (stdlib only, newline-delimited JSON-RPC).

    python3 tests/servers/faulty.py MODE [DIR]

MODE:
  garbage       before every response, write lines that are not MCP: text, binary junk, a JSON
                value that is no JSON-RPC message, an empty line
  stderr-flood  write 50 MB to stderr at start (100,000 lines and one 10 MB line), then serve
  hang-init     read initialize and never answer it
  normal        behave

Tools (every mode that answers): echo {text}; huge (answers with one 50 MB line); die (exits
with status 7 in the middle of the call); sleep {seconds} (answers after that long, answering
nothing else meanwhile, pings included; with DIR, creates DIR/sleeping first); pid (answers with its process id).

With DIR: every start appends its pid to DIR/spawns.log, and a start that finds DIR/crash exits
at once with status 3 (a backend that no longer starts).
"""

import json
import os
import sys
import time

MODE = sys.argv[1] if len(sys.argv) > 1 else "normal"
out = sys.stdout.buffer

TOOLS = [
    {"name": "echo", "description": "echo text", "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}}},
    {"name": "huge", "description": "a 50 MB answer", "inputSchema": {"type": "object"}},
    {"name": "die", "description": "exit mid-call", "inputSchema": {"type": "object"}},
    {"name": "sleep", "description": "answer after {seconds}", "inputSchema": {"type": "object", "properties": {"seconds": {"type": "number"}}}},
    {"name": "pid", "description": "this process's id", "inputSchema": {"type": "object"}},
]


def send(msg) -> None:
    if MODE == "garbage":
        out.write(b"this is not json\n\x00\xff\xfe binary junk\n[1, 2, 3]\n\n")
    out.write(json.dumps(msg).encode() + b"\n")
    out.flush()


def answer(req) -> None:
    m, rid = req.get("method"), req.get("id")
    if rid is None:
        return
    if m == "initialize":
        if MODE == "hang-init":
            return
        send({"jsonrpc": "2.0", "id": rid, "result": {
            "protocolVersion": req["params"].get("protocolVersion", "2025-06-18"),
            "capabilities": {"tools": {}}, "serverInfo": {"name": "faulty", "version": "1"}}})
    elif m == "tools/list":
        send({"jsonrpc": "2.0", "id": rid, "result": {"tools": TOOLS}})
    elif m == "tools/call":
        name = req["params"]["name"]
        if name == "echo":
            text = req["params"].get("arguments", {}).get("text", "")
            send({"jsonrpc": "2.0", "id": rid, "result": {"content": [{"type": "text", "text": text}]}})
        elif name == "huge":
            blob = "x" * (50 << 20)
            send({"jsonrpc": "2.0", "id": rid, "result": {"content": [{"type": "text", "text": blob}]}})
        elif name == "die":
            os._exit(7)
        elif name == "sleep":
            if len(sys.argv) > 2:
                open(os.path.join(sys.argv[2], "sleeping"), "w").close()
            time.sleep(float(req["params"].get("arguments", {}).get("seconds", 1)))
            send({"jsonrpc": "2.0", "id": rid, "result": {"content": [{"type": "text", "text": "slept"}]}})
        elif name == "pid":
            send({"jsonrpc": "2.0", "id": rid, "result": {"content": [{"type": "text", "text": str(os.getpid())}]}})
    elif m == "ping":
        send({"jsonrpc": "2.0", "id": rid, "result": {}})
    else:
        send({"jsonrpc": "2.0", "id": rid, "error": {"code": -32601, "message": f"no method {m}"}})


def main() -> None:
    if len(sys.argv) > 2:
        d = sys.argv[2]
        with open(os.path.join(d, "spawns.log"), "a") as f:
            f.write(f"{os.getpid()}\n")
        if os.path.exists(os.path.join(d, "crash")):
            sys.exit(3)
    if MODE == "stderr-flood":
        err = sys.stderr.buffer
        for i in range(100_000):
            err.write(b"flood line %d %s\n" % (i, b"y" * 400))
        err.write(b"z" * (10 << 20) + b"\n")
        err.flush()
    for line in sys.stdin.buffer:
        line = line.strip()
        if not line:
            continue
        try:
            answer(json.loads(line))
        except (ValueError, KeyError):
            continue


main()
