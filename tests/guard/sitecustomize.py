"""Test guard: no socket of a test process may reach the platform's real servers.

Loaded in the test process by tests/conftest.py, and in every Python child a test starts
(the CLI, the responder, the lab's processes) through PYTHONPATH, as `sitecustomize`.
It refuses, before anything is sent, a connect or sendto to

* 46.189.64.0/24, the real addresses of the stimme profile, on any port;
* the system's own resolvers (nameserver lines of /etc/resolv.conf) on port 53:
  tests query only name servers they start themselves.

It raises RuntimeError, not OSError, so that no probe can take it for a blocked port:
a test that tried would end in an error, never in a pass.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

FORBIDDEN_NETWORKS = (ipaddress.ip_network("46.189.64.0/24"),)


def _system_resolvers() -> set[str]:
    try:
        with open("/etc/resolv.conf", encoding="utf-8") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return set()
    return {
        parts[1]
        for parts in (line.split() for line in lines)
        if len(parts) >= 2 and parts[0] == "nameserver"
    }


RESOLVERS = _system_resolvers()


def forbidden(address: Any) -> str:
    """Why `address` (a socket address) must not be reached by a test; '' when it may."""
    if not isinstance(address, tuple) or len(address) < 2 or not isinstance(address[0], str):
        return ""
    host, port = address[0].split("%", 1)[0], address[1]
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return ""
    if any(ip in net for net in FORBIDDEN_NETWORKS):
        return f"{host} is a real address of the platform"
    if port == 53 and host in RESOLVERS:
        return f"{host}:53 is a system resolver"
    return ""


def _guarded(name: str) -> Any:
    original = getattr(socket.socket, name)

    def method(self: socket.socket, *args: Any) -> Any:
        address = args[-1] if name == "sendto" else args[0]
        why = forbidden(address)
        if why:
            raise RuntimeError(f"netready test guard: refused {name} to {address!r}: {why}")
        return original(self, *args)

    method.__name__ = name
    return method


if not getattr(socket.socket, "_netready_guard", False):
    for _name in ("connect", "connect_ex", "sendto"):
        setattr(socket.socket, _name, _guarded(_name))
    socket.socket._netready_guard = True  # type: ignore[attr-defined]


def _chain_next_sitecustomize() -> None:
    """Run the sitecustomize this file shadows on PYTHONPATH (e.g. Debian's), if any."""
    import importlib.machinery
    import importlib.util
    import os
    import sys

    here = os.path.dirname(os.path.abspath(__file__))
    rest = [p for p in sys.path if os.path.abspath(p or ".") != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    if spec is not None and spec.loader is not None and spec.origin != __file__:
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)


if __name__ == "sitecustomize":
    _chain_next_sitecustomize()
