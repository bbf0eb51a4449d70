"""proxy.py (abhinavsingh/proxy.py, a real forward proxy) for the `allow_environment_proxy` tests.

Usage: proxy_server.py --port-file FILE [proxy.py options...]

One change to the proxy: names ending in `.test` resolve to 127.0.0.1 inside it. A backend named
`mcp-backend.test` is then reachable only through the proxy (the gateway cannot resolve the name
itself), which is what proves that a request went through it. Everything else (absolute-form
requests, CONNECT tunnels, Proxy-Authorization) is the proxy's own code.
"""

import multiprocessing
import socket

_resolve = socket.getaddrinfo


def _test_names_are_loopback(host, *args, **kwargs):
    if isinstance(host, (str, bytes)):
        name = host.decode() if isinstance(host, bytes) else host
        if name.endswith(".test"):
            host = "127.0.0.1"
    return _resolve(host, *args, **kwargs)


socket.getaddrinfo = _test_names_are_loopback

if __name__ == "__main__":
    # The acceptor processes must inherit the resolver above.
    multiprocessing.set_start_method("fork", force=True)
    from proxy.proxy import entry_point

    entry_point()
