"""HTTP backends' opt-ins (upstream v0.1.8's keys), end to end with the Python `mcp` SDK's server:

- `allow_redirects: true`: the backend's endpoint answers 307 twice (to another host name, then to
  the server); calls go through; the configured headers reach the endpoint's own host only.
  Without the opt-in the start fails naming the redirect.
- `allow_environment_proxy: true`: HTTP_PROXY / HTTPS_PROXY point at proxy.py (a real forward
  proxy with basic auth); the backend is named `mcp-backend.test`, a name only the proxy resolves,
  so a working session proves the proxy carried it (absolute form for http://, CONNECT + TLS for
  https://). Without the opt-in, with NO_PROXY naming the backend, or with the wrong proxy
  password, the start fails with an error saying why.
"""

from __future__ import annotations

import datetime
import http.server
import json
import subprocess
import threading
import time
from pathlib import Path

import anyio
import pytest

from harness import ROOT, Server, bin_path, mcp_client, python, text_of, write_config

PY = ROOT / "tests" / "py"
START = 60.0


class PyServer:
    """tests/py/sse_server.py (the SDK's MCPServer) on a free loopback port."""

    def __init__(self, transport: str, tls: tuple[Path, Path] | None = None):
        argv = [python(), str(PY / "sse_server.py"), "--transport", transport, "--any-host"]
        if tls:
            argv += ["--tls", str(tls[0]), str(tls[1])]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line: list[str] = []
        t = threading.Thread(target=lambda: line.append(self.proc.stdout.readline()), daemon=True)
        t.start()
        t.join(START)
        if not line or not line[0].startswith("PORT "):
            self.close()
            raise RuntimeError(f"sse_server.py did not start: {line}")
        self.port = int(line[0].split()[1])

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


class Redirector(http.server.ThreadingHTTPServer):
    """Answers every request with 307 to `target` + the request's path; records what it saw."""

    daemon_threads = True

    def __init__(self, target: str):
        self.target = target
        self.seen: list[tuple[str, str, dict[str, str]]] = []
        super().__init__(("127.0.0.1", 0), _Redirect)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def port(self) -> int:
        return self.server_address[1]

    def close(self) -> None:
        self.shutdown()
        self.server_close()


class _Redirect(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _answer(self) -> None:
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)
        srv: Redirector = self.server  # type: ignore[assignment]
        srv.seen.append((self.command, self.path, {k.lower(): v for k, v in self.headers.items()}))
        self.send_response(307)
        self.send_header("Location", srv.target + self.path)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = do_DELETE = _answer

    def log_message(self, *args) -> None:
        pass


def gateway(tmp: Path, transport: str, env: dict[str, str] | None = None) -> Server:
    cfg = write_config(tmp, f"aggregator:\n  connection:\n    connect_timeout: 20s\nbackends:\n  - id: b\n    transport:\n{transport}")
    return Server([bin_path("mcp-gateway"), "run", str(cfg), "--listen", "127.0.0.1:0"], env=env, timeout=START)


def last_line(e: str) -> str:
    return e.strip().splitlines()[-1]


def start_fails(tmp: Path, transport: str, env: dict[str, str] | None = None) -> str:
    with pytest.raises(RuntimeError) as e:
        gateway(tmp, transport, env).close()
    return str(e.value)


def echo_through(gw: Server) -> None:
    anyio.run(_echo_through, gw)


async def _echo_through(gw: Server) -> None:
    async with mcp_client(gw.mcp_url) as s:
        names = {t.name for t in (await s.list_tools()).tools}
        assert {"b_add", "b_echo", "b_notify"} <= names, names
        r = await s.call_tool("b_echo", {"text": "through"})
        assert text_of(r) == "through"


# ---------------------------------------------------------------------------------------------
# allow_redirects


@pytest.mark.parametrize("protocol", ["streamable", "sse"])
def test_redirects_are_followed_and_credentials_stay_on_the_endpoint_host(tmp_path, protocol):
    backend = PyServer("streamable-http" if protocol == "streamable" else "sse")
    # 127.0.0.1 (the endpoint's host) -> localhost (another host) -> the server.
    second = Redirector(f"http://localhost:{backend.port}")
    first = Redirector(f"http://localhost:{second.port}")
    path = "/mcp" if protocol == "streamable" else "/sse"
    transport = (
        f"      type: http\n      endpoint: http://127.0.0.1:{first.port}{path}\n      protocol: {protocol}\n"
        "      allow_insecure: true\n      allow_redirects: true\n"
        "      headers:\n        Authorization: Bearer e2e-redirect-secret\n        X-Api-Key: key-e2e\n"
    )
    gw = gateway(tmp_path, transport)
    try:
        echo_through(gw)
        assert first.seen and second.seen
        # Every request went 127.0.0.1 -> localhost: the configured headers only to the first.
        for method, p, h in first.seen:
            assert h.get("authorization") == "Bearer e2e-redirect-secret", (method, p)
            assert h.get("x-api-key") == "key-e2e", (method, p)
        for method, p, h in second.seen:
            assert "authorization" not in h and "x-api-key" not in h, (method, p, h)
        # POSTs stay POSTs through 307 (the MCP messages went through both).
        methods = {m for m, _, _ in second.seen}
        assert "POST" in methods, second.seen
        if protocol == "sse":
            assert "GET" in methods, second.seen
        assert "e2e-redirect-secret" not in gw.stderr()
    finally:
        gw.close()
        first.close()
        second.close()
        backend.close()


def test_a_redirect_is_refused_without_the_opt_in(tmp_path):
    backend = PyServer("streamable-http")
    r = Redirector(f"http://127.0.0.1:{backend.port}")
    try:
        e = start_fails(
            tmp_path,
            f"      type: http\n      endpoint: http://127.0.0.1:{r.port}/mcp\n      protocol: streamable\n      allow_insecure: true\n",
        )
        assert "307" in e and "follow redirects only with 'allow_redirects: true'" in e, e
    finally:
        r.close()
        backend.close()


# ---------------------------------------------------------------------------------------------
# allow_environment_proxy


def make_certs(d: Path) -> tuple[Path, Path, Path]:
    """A test CA and a leaf for mcp-backend.test: (ca.pem, leaf.pem, leaf.key)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mcpz e2e CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mcp-backend.test")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("mcp-backend.test")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    paths = d / "ca.pem", d / "leaf.pem", d / "leaf.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return paths


class Proxy:
    """proxy.py with basic auth `mcpz:proxy-pw` on a free loopback port."""

    def __init__(self, tmp: Path):
        port_file = tmp / "proxy.port"
        self.log = tmp / "proxy.log"
        self.proc = subprocess.Popen(
            [python(), str(PY / "proxy_server.py"), "--hostname", "127.0.0.1", "--port", "0",
             "--port-file", str(port_file), "--threaded", "--num-acceptors", "1",
             "--basic-auth", "mcpz:proxy-pw"],
            stdout=subprocess.DEVNULL,
            stderr=self.log.open("w"),
        )
        # proxy.py writes the port file once it listens; bounded wait for it.
        deadline = time.monotonic() + START
        while not (port_file.exists() and port_file.read_text().strip()):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError(f"proxy.py did not start:\n{self.log.read_text()}")
            time.sleep(0.05)
        self.port = int(port_file.read_text())

    def url(self, password: str = "proxy-pw") -> str:
        return f"http://mcpz:{password}@127.0.0.1:{self.port}"

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def proxy(tmp_path):
    p = Proxy(tmp_path)
    yield p
    p.close()


def proxied(scheme: str, port: int, ca: Path | None, opt_in: bool = True) -> str:
    t = f"      type: {scheme}\n      endpoint: {scheme}://mcp-backend.test:{port}/mcp\n      protocol: streamable\n"
    if scheme == "http":
        t += "      allow_insecure: true\n"
    else:
        t += f"      tls:\n        ca_cert_file: {json.dumps(str(ca))}\n"
    if opt_in:
        t += "      allow_environment_proxy: true\n"
    return t


def proxy_env(scheme: str, url: str, no_proxy: str = "") -> dict[str, str]:
    env = {k: "" for k in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy")}
    env["HTTPS_PROXY" if scheme == "https" else "HTTP_PROXY"] = url
    env["NO_PROXY"] = no_proxy
    return env


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_environment_proxy_carries_the_session_only_when_opted_in(tmp_path, proxy, scheme):
    tls = make_certs(tmp_path) if scheme == "https" else None
    backend = PyServer("streamable-http", tls=(tls[1], tls[2]) if tls else None)
    ca = tls[0] if tls else None
    try:
        gw = gateway(tmp_path, proxied(scheme, backend.port, ca), proxy_env(scheme, proxy.url()))
        try:
            echo_through(gw)
            assert "proxy-pw" not in gw.stderr()
        finally:
            gw.close()
        log = proxy.log.read_text()
        verb = "CONNECT" if scheme == "https" else "POST"
        assert f"{verb} mcp-backend.test:{backend.port}" in log, log

        # The same variables without the opt-in: the gateway resolves the name itself and fails.
        lookup = "failed to lookup address information"
        e = last_line(start_fails(tmp_path, proxied(scheme, backend.port, ca, opt_in=False), proxy_env(scheme, proxy.url())))
        assert "backend 'b': initialize failed" in e and lookup in e and "proxy" not in e, e
        assert "Transport [" not in e, e
        # NO_PROXY names the backend's domain: not proxied either.
        e = last_line(start_fails(tmp_path, proxied(scheme, backend.port, ca), proxy_env(scheme, proxy.url(), ".test")))
        assert lookup in e and "proxy" not in e, e
        # The wrong proxy password: the proxy's 407 is named, the password is not.
        e = last_line(start_fails(tmp_path, proxied(scheme, backend.port, ca), proxy_env(scheme, proxy.url("wrong"))))
        if scheme == "https":
            assert f"CONNECT through proxy http://127.0.0.1:{proxy.port} failed: the proxy answered 407" in e, e
        else:
            assert "HTTP 407 Proxy Authentication Required" in e, e
        assert "wrong" not in e and "proxy-pw" not in e, e
    finally:
        backend.close()
