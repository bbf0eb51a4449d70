"""The orchestrator IPC against an orchestrator written in Python (grpcio) from upstream's own
gateway.proto: registration, state reports, heartbeats that count a real MCP session's calls,
ping, the shutdown request, and re-registration after the orchestrator restarts."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import anyio

from harness import (
    ROOT,
    Server,
    bin_path,
    children_of,
    mcp_client,
    start_gateway,
    text_of,
    wait_gone,
    write_config,
)

sys.path.insert(0, str(ROOT / "tests" / "py"))
from orchestrator import Orchestrator, modules  # noqa: E402


def gateway_config(tmp: Path, sock: Path, backend: list[str] | None = None, extra: str = "") -> Path:
    import json

    data = tmp / "data"
    data.mkdir(exist_ok=True)
    (data / "hello.txt").write_text("hello from mcpz\n")
    cmd = backend or [bin_path("mcp-filesystem"), str(data)]
    return write_config(
        tmp,
        f"""{extra}
orchestrator:
  socket_path: {json.dumps(str(sock))}
  heartbeat_interval: 200ms
  reconnect_interval: 200ms
backends:
  - id: local
    transport:
      type: stdio
      command: {json.dumps(cmd[0])}
      args: {json.dumps(cmd[1:])}
""",
    )


def gated(tmp: Path) -> tuple[list[str], Path]:
    """mcp-filesystem behind a gate: the backend starts only once the returned file exists, so
    that a test sees the gateway while it is still starting."""
    import shlex

    gate = tmp / "go"
    data = tmp / "data"
    script = f"while [ ! -e {shlex.quote(str(gate))} ]; do sleep 0.02; done; exec {shlex.quote(bin_path('mcp-filesystem'))} {shlex.quote(str(data))}"
    return ["/bin/sh", "-c", script], gate


def our_version() -> str:
    out = subprocess.run([bin_path("mcp-gateway"), "version"], capture_output=True, text=True, timeout=30)
    for line in out.stdout.splitlines():
        if line.startswith("version:"):
            return line.split(":", 1)[1].strip()
    raise AssertionError(out.stdout)


def wait_exit(gw: Server, timeout: float = 15.0) -> int:
    try:
        return gw.proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"gateway did not exit within {timeout}s; stderr:\n{gw.stderr()}")


def test_messages_match_the_rust_encoding():
    """The byte vectors src/core/orchestrator/proto.rs checks, produced here by protobuf from
    upstream's gateway.proto."""
    pb, _ = modules()
    G = pb.GatewayMessage
    assert G(register=pb.RegisterRequest(share_token="tok", pid=1234)).SerializeToString() == (
        b"\x0a\x08\x0a\x03tok\x10\xd2\x09"
    )
    hb = pb.HeartbeatRequest(share_token="t", active_connections=2, tool_invocations=300)
    assert G(heartbeat=hb).SerializeToString() == b"\x12\x08\x0a\x01t\x10\x02\x18\xac\x02"
    st = pb.StatusReport(share_token="t", state="failed", error="x")
    assert G(status=st).SerializeToString() == b"\x1a\x0e\x0a\x01t\x12\x06failed\x1a\x01x"
    assert G(pong=pb.PingResponse(version="v1")).SerializeToString() == b"\x22\x04\x0a\x02v1"
    assert G(shutdown_ack=pb.ShutdownAck(accepted=True)).SerializeToString() == b"\x2a\x02\x08\x01"
    assert G(heartbeat=pb.HeartbeatRequest()).SerializeToString() == b"\x12\x00"
    O = pb.OrchestratorMessage
    rr = pb.RegisterResponse(accepted=False, error="nope!")
    assert O(register_response=rr).SerializeToString() == b"\x0a\x07\x12\x05nope!"
    assert O(heartbeat_ack=pb.HeartbeatAck()).SerializeToString() == b"\x12\x00"
    assert O(ping=pb.PingRequest()).SerializeToString() == b"\x1a\x00"
    assert O(shutdown=pb.ShutdownRequest(reason="done")).SerializeToString() == b"\x22\x06\x0a\x04done"


def test_lifecycle_heartbeats_ping_restart_and_shutdown(tmp_path):
    sock = tmp_path / "orch.sock"
    orch = Orchestrator(sock)
    backend, gate = gated(tmp_path)
    cfg = gateway_config(tmp_path, sock, backend=backend)
    # The gateway prints its JSON line once started, which waits for the gate.
    started: list[Server] = []
    starter = threading.Thread(target=lambda: started.append(start_gateway(cfg)), daemon=True)
    starter.start()
    # "starting" while the backend starts, "running" once it serves.
    orch.first("status", where=lambda m: m.state == "starting")
    gate.touch()
    starter.join(60)
    assert started, "the gateway did not start"
    gw = started[0]
    try:
        orch.first("status", where=lambda m: m.state == "running")
        assert orch.states(0) == ["starting", "running"], orch.states(0)
        # Registration: the listen URL (no share token) and the gateway's pid.
        _, reg = orch.first("register")
        assert reg.msg.share_token == gw.mcp_url
        assert reg.msg.pid == gw.proc.pid
        assert all(r.msg.share_token == gw.mcp_url for r in orch.received if r.kind == "status")

        # Heartbeats count a real session's tool calls while it is open, then its end.
        calls = 3

        async def session():
            async with mcp_client(gw.mcp_url) as s:
                for _ in range(calls):
                    r = await s.call_tool("local_read_file", {"path": "hello.txt"})
                    assert "hello from mcpz" in text_of(r)
                mark = len(orch.received)
                await anyio.to_thread.run_sync(
                    lambda: orch.first(
                        "heartbeat",
                        where=lambda m: (m.active_connections, m.tool_invocations) == (1, calls),
                        after=mark,
                    )
                )

        anyio.run(session)
        orch.first(
            "heartbeat",
            where=lambda m: (m.active_connections, m.tool_invocations) == (0, calls),
        )
        beats = [r.msg for r in orch.received if r.kind == "heartbeat"]
        assert all(b.share_token == gw.mcp_url for b in beats)
        counts = [b.tool_invocations for b in beats]
        assert counts == sorted(counts), f"cumulative: {counts}"

        # Ping -> pong with our version.
        orch.ping(0)
        _, pong = orch.first("pong")
        assert pong.msg.version == our_version()

        # The orchestrator restarts on the same socket: the gateway registers again and reports
        # where it stands.
        orch.stop()
        orch = Orchestrator(sock)
        _, reg = orch.first("register")
        assert (reg.msg.share_token, reg.msg.pid) == (gw.mcp_url, gw.proc.pid)
        orch.first("status", where=lambda m: m.state == "running")
        assert "orchestrator closed the stream" in gw.stderr() or "orchestrator stream failed" in gw.stderr()

        # Shutdown during a session: acknowledged, "stopping" reported, exit 0 with every
        # backend process gone.
        def shutdown_now(kids: set[int]) -> None:
            orch.shutdown(0, "test says stop")
            i, ack = orch.first("shutdown_ack")
            assert ack.msg.accepted
            j, _ = orch.first("status", where=lambda m: m.state == "stopping")
            assert i < j, "the ack comes before the stopping report"
            assert wait_exit(gw) == 0, gw.stderr()
            assert not wait_gone(kids, 10), "backend processes left behind"

        done = []

        async def session_then_shutdown():
            try:
                async with mcp_client(gw.mcp_url) as s:
                    r = await s.call_tool("local_read_file", {"path": "hello.txt"})
                    assert "hello from mcpz" in text_of(r)
                    kids = gw.descendants()
                    assert kids, "the session's filesystem backend runs under the gateway"
                    await anyio.to_thread.run_sync(lambda: shutdown_now(kids))
                    done.append(True)
            except Exception:
                if not done:
                    raise
                # The gateway went away under the client: expected once it has shut down.
            assert done and gw.proc.poll() == 0, gw.stderr()

        anyio.run(session_then_shutdown)
        assert "test says stop" in gw.stderr()
        orch.wait_for("the stream to end", lambda: orch.streams[0].ended.is_set())
    finally:
        gw.close()
        orch.stop()


def test_socket_missing_at_start_then_registration_rejected(tmp_path):
    """A socket that is not there yet is waited for (a warning, no failure); the configured
    share_token is what a --listen gateway registers; a rejection is logged as an error."""
    sock = tmp_path / "orch.sock"
    gw = start_gateway(gateway_config(tmp_path, sock, extra='share_token: "tok-managed-1"'))
    orch = None
    try:
        deadline = time.monotonic() + 20
        while "orchestrator socket not found" not in gw.stderr():
            assert time.monotonic() < deadline, gw.stderr()
            assert gw.proc.poll() is None, gw.stderr()
            time.sleep(0.05)
        orch = Orchestrator(sock, reject="no such gateway here")
        _, reg = orch.first("register")
        assert reg.msg.share_token == "tok-managed-1"
        orch.first("status", where=lambda m: m.state == "running")
        deadline = time.monotonic() + 20
        while "registration rejected by the orchestrator: no such gateway here" not in gw.stderr():
            assert time.monotonic() < deadline, gw.stderr()
            time.sleep(0.05)
        assert "ERROR" in gw.stderr().split("registration rejected")[0].splitlines()[-1]
        # The token itself is never logged whole.
        assert "tok-managed-1" not in gw.stderr()
        assert gw.stop() == 0
        orch.first("status", where=lambda m: m.state == "stopping")
    finally:
        gw.close()
        if orch:
            orch.stop()


def test_failed_start_is_reported(tmp_path):
    sock = tmp_path / "orch.sock"
    orch = Orchestrator(sock)
    cfg = gateway_config(tmp_path, sock, backend=[str(tmp_path / "no-such-server")])
    proc = subprocess.run(
        [bin_path("mcp-gateway"), "run", str(cfg), "--listen", "127.0.0.1:0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    try:
        assert proc.returncode == 1, proc.stderr
        assert proc.stdout == ""
        _, reg = orch.first("register")
        assert reg.msg.share_token.startswith("http://127.0.0.1:"), reg.msg.share_token
        _, failed = orch.first("status", where=lambda m: m.state == "failed")
        assert "backend 'local'" in failed.msg.error, failed.msg.error
        assert "no-such-server" in failed.msg.error, failed.msg.error
        assert "running" not in orch.states(0)
    finally:
        orch.stop()


def test_sigterm_reports_stopping(tmp_path):
    sock = tmp_path / "orch.sock"
    orch = Orchestrator(sock)
    gw = start_gateway(gateway_config(tmp_path, sock))
    try:
        orch.first("status", where=lambda m: m.state == "running")
        assert gw.stop() == 0, gw.stderr()
        orch.first("status", where=lambda m: m.state == "stopping")
        assert orch.states(0)[-1] == "stopping"
    finally:
        gw.close()
        orch.stop()


def test_shutdown_request_during_the_start(tmp_path):
    """A shutdown request while the backends start abandons the start: acknowledged, "stopping",
    exit 0, the half-started backend gone; the gateway never serves."""
    sock = tmp_path / "orch.sock"
    orch = Orchestrator(sock)
    backend, _gate = gated(tmp_path)
    cfg = gateway_config(tmp_path, sock, backend=backend)
    proc = subprocess.Popen(
        [bin_path("mcp-gateway"), "run", str(cfg), "--listen", "127.0.0.1:0"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        orch.first("status", where=lambda m: m.state == "starting")
        kids = orch.wait_for("the backend to be spawned", lambda: children_of(proc.pid))
        orch.shutdown(0, "never mind")
        _, ack = orch.first("shutdown_ack")
        assert ack.msg.accepted
        orch.first("status", where=lambda m: m.state == "stopping")
        out, err = proc.communicate(timeout=15)
        assert proc.returncode == 0, err
        assert out == "", "nothing was served, so no JSON line"
        assert not wait_gone(kids, 10), "backend processes left behind"
        assert orch.states(0) == ["starting", "stopping"], orch.states(0)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        orch.stop()
