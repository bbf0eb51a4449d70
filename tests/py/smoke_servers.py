"""Start every test MCP server named in test-deps.env and check it answers.

Run by `scripts/install-test-deps --verify`, or by hand:

    $MCPZ_PYTHON tests/py/smoke_servers.py --env ~/.cache/mcpz/test-deps.env

Each stdio server must answer initialize and tools/list within a bounded time;
the conformance CLI must print its help. Exit status 0 only if all pass.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import anyio
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

TIMEOUT = 30.0
HERE = Path(__file__).resolve().parent


def read_env(path: Path) -> dict[str, str]:
    env: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        env[key] = value.strip('"')
    return env


async def check_stdio(name: str, argv: list[str], extra_env: dict[str, str]) -> str:
    params = StdioServerParameters(
        command=argv[0], args=argv[1:], env={**os.environ, **extra_env}
    )
    with anyio.fail_after(TIMEOUT):
        # The servers' stderr chatter goes to ours (stderr), never stdout.
        async with stdio_client(params, errlog=sys.stderr) as (read, write):
            async with ClientSession(read, write) as session:
                init = await session.initialize()
                tools = await session.list_tools()
    info = init.server_info
    return f"{name}: {info.name} {info.version}, protocol {init.protocol_version}, {len(tools.tools)} tools"


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--env", required=True, type=Path, help="test-deps.env")
    args = ap.parse_args()
    env = read_env(args.env)

    failures = 0
    with tempfile.TemporaryDirectory(prefix="mcpz-smoke-") as tmp:
        servers = [
            ("server-everything", env["MCPZ_SERVER_EVERYTHING"].split(), {}),
            ("server-filesystem", env["MCPZ_SERVER_FILESYSTEM"].split() + [tmp], {}),
            (
                "server-memory",
                env["MCPZ_SERVER_MEMORY"].split(),
                {"MEMORY_FILE_PATH": os.path.join(tmp, "memory.jsonl")},
            ),
            ("stateful.py", [sys.executable, str(HERE.parent / "servers" / "stateful.py")], {}),
        ]
        for name, argv, extra in servers:
            try:
                print("ok   " + await check_stdio(name, argv, extra), flush=True)
            except BaseException as e:  # noqa: BLE001 - report every failure
                if isinstance(e, (KeyboardInterrupt, SystemExit)):
                    raise
                failures += 1
                print(f"FAIL {name}: {type(e).__name__}: {e}", flush=True)

    conf = env["MCPZ_CONFORMANCE"].split() + ["--help"]
    try:
        out = subprocess.run(conf, capture_output=True, text=True, timeout=TIMEOUT)
        if out.returncode == 0 and "server" in out.stdout:
            print(f"ok   conformance {env.get('MCPZ_CONFORMANCE_VERSION', '?')}: --help works", flush=True)
        else:
            failures += 1
            print(f"FAIL conformance: rc={out.returncode} {out.stderr.strip()[:500]}", flush=True)
    except (OSError, subprocess.TimeoutExpired) as e:
        failures += 1
        print(f"FAIL conformance: {e}", flush=True)

    print(f"{4 + 1 - failures} passed, {failures} failed", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(anyio.run(main))
