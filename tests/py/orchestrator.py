"""A test orchestrator: the server side of the Go gateway's `GatewayIPC` service (grpcio), built
at test time from upstream's own gateway.proto (taken from the archive of mcp-gateway v0.1.3 in
shared/peers and compiled with grpcio-tools), listening on a unix socket.

It records every message a gateway sends, answers registrations (accepting, or rejecting with a
message) and heartbeats as an orchestrator does, and sends pings and shutdown requests on demand.
"""

from __future__ import annotations

import importlib
import queue
import sys
import tarfile
import tempfile
import threading
import time
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[2]
PEERS = ROOT.parent / "shared" / "peers"
ARCHIVE = "mcp-gateway-v0.1.3.tar.gz"
PROTO = "mcp-gateway-v0.1.3/ipc/gatewayGrpc/gateway.proto"


def compile_proto(out: Path) -> tuple[Any, Any]:
    """Extract upstream's gateway.proto into `out`, compile it, and import the two modules."""
    archive = PEERS / ARCHIVE
    if not archive.exists():
        raise RuntimeError(f"{archive} is missing (upstream's source archive, in shared/peers)")
    with tarfile.open(archive) as tar:
        member = tar.getmember(PROTO)
        data = tar.extractfile(member)
        assert data is not None
        (out / "gateway.proto").write_bytes(data.read())
    from grpc_tools import protoc

    rc = protoc.main(
        ["protoc", f"-I{out}", f"--python_out={out}", f"--grpc_python_out={out}", str(out / "gateway.proto")]
    )
    if rc != 0:
        raise RuntimeError(f"protoc failed on upstream's gateway.proto ({rc})")
    sys.path.insert(0, str(out))
    try:
        return importlib.import_module("gateway_pb2"), importlib.import_module("gateway_pb2_grpc")
    finally:
        sys.path.remove(str(out))


_modules: tuple[Any, Any] | None = None


def modules() -> tuple[Any, Any]:
    """gateway_pb2 and gateway_pb2_grpc, compiled once per test process."""
    global _modules
    if _modules is None:
        _modules = compile_proto(Path(tempfile.mkdtemp(prefix="mcpz-proto-")))
    return _modules


@dataclass
class Received:
    stream: int
    kind: str  # the oneof member: register, heartbeat, status, pong, shutdown_ack
    msg: Any
    at: float = field(default_factory=time.monotonic)


class Stream:
    """One gateway's Connect stream: what to send it goes through `out`."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.out: queue.Queue[Any] = queue.Queue()
        self.ended = threading.Event()


class Orchestrator:
    def __init__(self, socket_path: Path, reject: str | None = None) -> None:
        import grpc

        self.pb, pb_grpc = modules()
        self.socket_path = socket_path
        self.reject = reject
        self.received: list[Received] = []
        self.streams: list[Stream] = []
        self.cond = threading.Condition()
        me = self

        class Servicer(pb_grpc.GatewayIPCServicer):
            def Connect(self, request_iterator, context):  # noqa: N802 (the proto's name)
                return me._connect(request_iterator, context)

        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        pb_grpc.add_GatewayIPCServicer_to_server(Servicer(), self.server)
        if self.server.add_insecure_port(f"unix:{socket_path}") == 0:
            raise RuntimeError(f"cannot listen on unix:{socket_path}")
        self.server.start()

    def _connect(self, requests, context):
        with self.cond:
            s = Stream(len(self.streams))
            self.streams.append(s)
            self.cond.notify_all()
        context.add_callback(lambda: s.out.put(None))

        def read() -> None:
            try:
                for msg in requests:
                    self._on(s, msg)
            except Exception:  # the stream was cancelled or broke: it ends below
                pass
            finally:
                s.out.put(None)

        threading.Thread(target=read, daemon=True).start()
        try:
            while True:
                item = s.out.get()
                if item is None:
                    return
                yield item
        finally:
            s.ended.set()
            with self.cond:
                self.cond.notify_all()

    def _on(self, s: Stream, msg: Any) -> None:
        kind = msg.WhichOneof("payload") or ""
        with self.cond:
            self.received.append(Received(s.n, kind, getattr(msg, kind) if kind else None))
            self.cond.notify_all()
        if kind == "register":
            r = self.pb.RegisterResponse(accepted=self.reject is None, error=self.reject or "")
            s.out.put(self.pb.OrchestratorMessage(register_response=r))
        elif kind == "heartbeat":
            s.out.put(self.pb.OrchestratorMessage(heartbeat_ack=self.pb.HeartbeatAck()))

    # ---- what a test does -------------------------------------------------------------------

    def send(self, stream: int, **payload: Any) -> None:
        self.streams[stream].out.put(self.pb.OrchestratorMessage(**payload))

    def ping(self, stream: int) -> None:
        self.send(stream, ping=self.pb.PingRequest())

    def shutdown(self, stream: int, reason: str) -> None:
        self.send(stream, shutdown=self.pb.ShutdownRequest(reason=reason))

    def wait_for(self, what: str, pred: Callable[[], Any], timeout: float = 20.0) -> Any:
        """Wait (bounded) until pred() is truthy under the lock; return its value."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                v = pred()
                if v:
                    return v
                left = deadline - time.monotonic()
                if left <= 0:
                    got = [(r.stream, r.kind, str(r.msg).replace("\n", " ")) for r in self.received]
                    raise AssertionError(f"timed out waiting for {what}; received: {got}")
                self.cond.wait(left)

    def first(self, kind: str, stream: int | None = None, where: Callable[[Any], bool] = lambda m: True,
              after: int = 0, timeout: float = 20.0) -> tuple[int, Received]:
        """The index and record of the first `kind` message (on `stream`, matching `where`, at
        or after index `after`), waiting for it (bounded)."""

        def find():
            for i, r in enumerate(self.received[after:], after):
                if r.kind == kind and (stream is None or r.stream == stream) and where(r.msg):
                    return (i, r)
            return None

        return self.wait_for(f"{kind} on stream {stream}", find, timeout)

    def states(self, stream: int) -> list[str]:
        with self.cond:
            return [r.msg.state for r in self.received if r.kind == "status" and r.stream == stream]

    def stop(self) -> None:
        for s in self.streams:
            s.out.put(None)
        self.server.stop(grace=None).wait(10)
