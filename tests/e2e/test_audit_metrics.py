"""The audit log and the Prometheus metrics (src/core/ops, docs/audit.md) end to end.

One gateway in front of two mcp-filesystem backends, with an access rule, a tool filter and a
path policy, is driven by the Python MCP SDK: a client without sampling (its tools/call takes
the fast path), a client with sampling (kept on the rmcp path), and calls the gateway refuses
itself. Then the audit file must hold exactly one line per call with the right fields, and
/metrics, read with prometheus_client's own text parser, the same counts.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
import urllib.request
from pathlib import Path

import anyio
import pytest

from harness import bin_path, is_error, mcp_client, start_gateway, text_of, write_config

WAIT = 20.0
SECRET = "s3cr3t-value-never-logged"


def yaml_list(items: list[str]) -> str:
    return json.dumps(items)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ops")
    data = tmp / "data"
    (data / "pub").mkdir(parents=True)
    (data / "pub" / "a.txt").write_text("A")
    fs = bin_path("mcp-filesystem")
    audit = tmp / "audit" / "audit.jsonl"
    cfg = write_config(
        tmp,
        f"""
backends:
  - id: fs
    transport:
      type: stdio
      command: {json.dumps(fs)}
      args: {yaml_list([str(data)])}
    policy:
      paths:
        - tool: read_file
          argument: path
          roots: {yaml_list([str(data / "pub")])}
  - id: ro
    transport:
      type: stdio
      command: {json.dumps(fs)}
      args: {yaml_list([str(data)])}
    tools:
      mode: allow
      list: ["list_directory"]
access:
  - caller: local
    tools: {{mode: deny, list: ["fs_write_file"]}}
audit:
  file: {json.dumps(str(audit))}
metrics:
  listen: "127.0.0.1:0"
""",
    )
    gw = start_gateway(cfg)
    yield gw, audit, data
    gw.close()


async def refused(s, name: str, args: dict) -> str:
    """The JSON-RPC error a refused call gets (the SDK raises it)."""
    with pytest.raises(Exception) as e:
        r = await s.call_tool(name, args)
        raise AssertionError(f"not refused: {r}")
    assert not isinstance(e.value, AssertionError), e.value
    return str(e.value).lower()


async def sampling(ctx, params):  # never asked: the client only has to offer sampling
    raise AssertionError("unexpected sampling request")


def audit_lines(audit: Path, n: int) -> list[dict]:
    """The audit file's lines, once there are `n` of them (bounded wait: the writer is a
    background thread)."""
    deadline = time.monotonic() + WAIT
    while True:
        text = audit.read_text() if audit.exists() else ""
        lines = text.splitlines()
        if len(lines) >= n or time.monotonic() > deadline:
            assert text.endswith("\n") or not text, text
            return [json.loads(line) for line in lines]
        time.sleep(0.05)


def scrape(url: str) -> dict[tuple[str, frozenset], float]:
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(url, timeout=10) as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4"), r.headers
        text = r.read().decode()
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            key = (s.name, frozenset(s.labels.items()))
            assert key not in out, f"duplicate sample {key}"
            out[key] = s.value
    return out


def calls(m: dict, backend: str, tool: str, outcome: str, path: str) -> float:
    labels = {"backend": backend, "tool": tool, "outcome": outcome, "path": path}
    return m.get(("mcpz_tool_calls_total", frozenset(labels.items())), 0.0)


def test_every_call_is_audited_and_counted(setup):
    gw, audit, data = setup

    async def main():
        async with mcp_client(gw.mcp_url) as s:
            for _ in range(3):
                r = await s.call_tool("fs_list_directory", {"path": "pub"})
                assert not is_error(r), r
            r = await s.call_tool("fs_list_directory", {"path": "missing"})
            assert is_error(r), r
            # Refused by the gateway itself: the client learns only "unknown tool".
            assert "unknown tool" in await refused(s, "fs_write_file", {"path": "x", "content": SECRET})
            assert "unknown tool" in await refused(s, "ro_write_file", {"path": "x", "content": SECRET})
            assert "unknown tool" in await refused(s, "nope_tool", {"token": SECRET})
            # The path policy answers with a tool error; its tool is kept off the fast path.
            r = await s.call_tool("fs_read_file", {"path": f"/etc/{SECRET}"})
            assert is_error(r) and "policy" in text_of(r), r
            r = await s.call_tool("fs_read_file", {"path": str(data / "pub" / "a.txt")})
            assert text_of(r) == "A", r
        async with mcp_client(gw.mcp_url, sampling_callback=sampling) as s:
            for _ in range(2):
                r = await s.call_tool("fs_list_directory", {"path": "pub"})
                assert not is_error(r), r

    anyio.run(main)

    lines = audit_lines(audit, 11)
    assert len(lines) == 11, lines
    sessions = {l["session"] for l in lines}
    assert len(sessions) == 2, sessions
    for l in lines:
        assert l["v"] == 1 and l["caller"] == "local" and l["method"] == "tools/call", l
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", l["time"]), l
        assert isinstance(l["duration_us"], int) and l["duration_us"] >= 0, l
        assert "arguments" not in l, l
    got = [
        (l["path"], l["backend"], l["tool"], l["backend_tool"], l["outcome"], l.get("denied_by"), l["argument_keys"])
        for l in lines
    ]
    ld = ("fs", "fs_list_directory", "list_directory")
    assert got == [
        ("fast", *ld, "ok", None, ["path"]),
        ("fast", *ld, "ok", None, ["path"]),
        ("fast", *ld, "ok", None, ["path"]),
        ("fast", *ld, "tool_error", None, ["path"]),
        ("rmcp", "fs", "fs_write_file", "write_file", "denied", "access[0]", ["content", "path"]),
        ("rmcp", "ro", "ro_write_file", "write_file", "denied", "backends[1].tools", ["content", "path"]),
        ("rmcp", None, "nope_tool", None, "denied", "unknown_tool", ["token"]),
        ("rmcp", "fs", "fs_read_file", "read_file", "denied", "backends[0].policy.paths", ["path"]),
        ("rmcp", "fs", "fs_read_file", "read_file", "ok", None, ["path"]),
        ("rmcp", *ld, "ok", None, ["path"]),
        ("rmcp", *ld, "ok", None, ["path"]),
    ], got
    # The second client's calls are its own session's.
    assert lines[-1]["session"] != lines[0]["session"]
    # Argument values never reach the file (the audit log keeps keys by default).
    link = audit.parent / "audit.jsonl"
    assert link.is_symlink(), "with rotation the configured name links to the newest file"
    assert SECRET not in link.read_text()

    m = scrape(gw.info["metrics_url"])
    assert calls(m, "fs", "fs_list_directory", "ok", "fast") == 3
    assert calls(m, "fs", "fs_list_directory", "tool_error", "fast") == 1
    assert calls(m, "fs", "fs_list_directory", "ok", "rmcp") == 2
    assert calls(m, "fs", "fs_write_file", "denied", "rmcp") == 1
    assert calls(m, "ro", "ro_write_file", "denied", "rmcp") == 1
    assert calls(m, "(none)", "(other)", "denied", "rmcp") == 1
    assert calls(m, "fs", "fs_read_file", "denied", "rmcp") == 1
    assert calls(m, "fs", "fs_read_file", "ok", "rmcp") == 1
    total = sum(v for (n, _), v in m.items() if n == "mcpz_tool_calls_total")
    assert total == len(lines), m
    # Latency of the calls that reached a backend (the policy denial did not).
    assert m[("mcpz_tool_call_duration_seconds_count", frozenset({("backend", "fs")}))] == 7
    assert m[("mcpz_tool_call_duration_seconds_count", frozenset({("backend", "ro")}))] == 0
    inf = ("mcpz_tool_call_duration_seconds_bucket", frozenset({("backend", "fs"), ("le", "+Inf")}))
    assert m[inf] == 7
    assert m[("mcpz_sessions_total", frozenset())] == 2
    assert m[("mcpz_sessions_active", frozenset())] <= 2
    for b in ("fs", "ro"):
        assert m[("mcpz_backend_up", frozenset({("backend", b)}))] == 1
        assert m[("mcpz_backend_restarts_total", frozenset({("backend", b)}))] == 0
        st = frozenset({("backend", b), ("status", "ready")})
        assert m[("mcpz_backend_status", st)] == 1
    assert m[("mcpz_serving", frozenset({("mode", "loopback")}))] == 1
    assert m[("mcpz_serving", frozenset({("mode", "zrok")}))] == 0
    assert m[("mcpz_audit_lines_dropped_total", frozenset())] == 0


def test_metrics_endpoint_checks_host_and_path(setup):
    gw, _, _ = setup
    url = gw.info["metrics_url"]
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/metrics", url), url
    req = urllib.request.Request(url, headers={"Host": "evil.example:80"})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=10)
    assert e.value.code == 403
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(url.replace("/metrics", "/other"), timeout=10)
    assert e.value.code == 404


def run_refused(argv: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


def fs_config(tmp: Path, extra: str = "") -> Path:
    """A gateway config with one mcp-filesystem backend `fs` on `tmp`, then `extra`."""
    fs = json.dumps(bin_path("mcp-filesystem"))
    backend = f"backends:\n  - id: fs\n    transport: {{type: stdio, command: {fs}, args: {yaml_list([str(tmp)])}}}\n"
    return write_config(tmp, backend + extra)


def test_non_loopback_metrics_need_the_opt_in(tmp_path: Path):
    cfg = fs_config(tmp_path)
    gw = [bin_path("mcp-gateway"), "run", str(cfg), "--listen", "127.0.0.1:0"]
    for argv in (
        gw + ["--metrics", "0.0.0.0:0"],
        [bin_path("mcp-bridge"), "--listen", "127.0.0.1:0", "--metrics", "0.0.0.0:0", "--", "true"],
    ):
        p = run_refused(argv)
        assert p.returncode == 2, (p.returncode, p.stderr)
        assert "error: --metrics 0.0.0.0:0: not a loopback address" in p.stderr, p.stderr
        assert "--metrics-allow-remote" in p.stderr, p.stderr
        assert p.stdout == "", p.stdout
    # In the config: refused when loaded, naming the file and line.
    cfg.write_text(cfg.read_text() + "metrics:\n  listen: \"0.0.0.0:9464\"\n")
    p = run_refused(gw)
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert "metrics.listen: 0.0.0.0:9464 is not a loopback address" in p.stderr, p.stderr
    assert f"({cfg}:" in p.stderr and "metrics.allow_remote: true" in p.stderr, p.stderr


def test_lines_pending_at_shutdown_are_written(tmp_path: Path):
    """Lines are handed to the writer every 100 ms; those of the last calls before SIGTERM are
    written at shutdown."""
    audit = tmp_path / "a.jsonl"
    cfg = fs_config(tmp_path, f"audit:\n  file: {json.dumps(str(audit))}\n  rotation: never\n")
    gw = start_gateway(cfg)
    try:

        async def main():
            async with mcp_client(gw.mcp_url) as s:
                for _ in range(5):
                    await s.call_tool("fs_list_directory", {"path": "."})

        anyio.run(main)
        assert gw.stop() == 0, gw.stderr()
    finally:
        gw.close()
    lines = [json.loads(l) for l in audit.read_text().splitlines()]
    assert [l["outcome"] for l in lines] == ["ok"] * 5, lines
