"""Explicit HTTP proxy: which one the site uses, and TCP reachability through HTTP CONNECT.

Which proxy (`select_proxy`): the profile's `proxy = "http://host:port"` in
`[checks.firewall]` / `[checks.tls]` wins; otherwise the environment, as curl reads it:
`HTTPS_PROXY`, `https_proxy`, `ALL_PROXY`, `all_proxy` (first one set), unless the target
matches `NO_PROXY` / `no_proxy` (comma-separated: `*`, a host name, a domain suffix with
or without the leading dot, an IP literal or a CIDR block). Only `http://` proxies are
spoken to (CONNECT over plain TCP to the proxy); a URL without a port means 1080, as in curl.

Through the proxy a TCP port is verified by `CONNECT host:port HTTP/1.1` and the status line
of the answer: 2xx = the proxy opened the tunnel (`open`); 403 / 407 = refused by the proxy
(`blocked`, the proxy's policy); any other status (502, 503, 504 ...) = the proxy could not
reach the port (`blocked`, the path beyond the proxy). No answer or no HTTP from the proxy
is `error`: the port was not tested. The status line is kept as evidence either way.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
import ssl
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from netready.probes.errors import error_words

# The TLS probe's own steps, reused so a tunnelled handshake captures exactly the same.
from netready.probes.tls import (
    TlsProbeResult,
    host_header,
    http_status_line,
    presented_chain,
    unverified_context,
)

OPEN = "open"
BLOCKED = "blocked"
ERROR = "error"
#: Environment variables naming the proxy for HTTPS/TCP, in the order they are read.
PROXY_VARS = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")
NO_PROXY_VARS = ("NO_PROXY", "no_proxy")
#: curl's default proxy port when the URL names none.
DEFAULT_PORT = 1080
#: Bytes read at most while waiting for the end of the CONNECT answer's header.
MAX_HEADER_BYTES = 8192


@dataclass(frozen=True)
class Proxy:
    """An HTTP proxy and where the setting came from ("profile" or the variable's name)."""

    host: str
    port: int
    source: str

    @property
    def label(self) -> str:
        """`host:port` as the report shows it."""
        return f"{authority(self.host, self.port)}"


@dataclass(frozen=True)
class ConnectResult:
    """What CONNECT did for one port: state open | blocked | error, the status line, words."""

    port: int
    state: str
    status_line: str
    detail: str
    rtt_ms: float | None = None


def authority(host: str, port: int) -> str:
    """`host:port`, with brackets around an IPv6 literal."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def parse_proxy(url: str, source: str = "profile") -> Proxy:
    """`http://host:port` as a Proxy; ValueError for another scheme or no host."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    if parts.scheme != "http":
        raise ValueError(f"proxy {url!r}: only http:// proxies are supported (CONNECT)")
    if not parts.hostname:
        raise ValueError(f"proxy {url!r} names no host")
    return Proxy(parts.hostname, parts.port or DEFAULT_PORT, source)


def _bypass_entry(entry: str, host: str) -> bool:
    entry = entry.strip().lower()
    if not entry:
        return False
    if entry == "*":
        return True
    try:
        net = ipaddress.ip_network(entry.strip("[]"), strict=False)
        return ipaddress.ip_address(host.strip("[]")) in net
    except ValueError:
        pass
    name = host.lower().rstrip(".")
    domain = entry.lstrip(".").rstrip(".")
    return name == domain or name.endswith("." + domain)


def bypassed(host: str, no_proxy: str) -> bool:
    """True when `host` matches one entry of a NO_PROXY list."""
    return any(_bypass_entry(e, host) for e in no_proxy.split(","))


def select_proxy(setting: str, host: str, env: Mapping[str, str] | None = None) -> Proxy | None:
    """The proxy to reach `host` through, or None for a direct connection (see module doc)."""
    if setting:
        return parse_proxy(setting)
    env = os.environ if env is None else env
    name = next((v for v in PROXY_VARS if env.get(v)), "")
    if not name:
        return None
    no_proxy = next((env[v] for v in NO_PROXY_VARS if env.get(v)), "")
    if bypassed(host, no_proxy):
        return None
    return parse_proxy(env[name], name)


def classify_status(status_line: str) -> tuple[str, str]:
    """(state, detail) for the status line of a CONNECT answer."""
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        return ERROR, f"the proxy did not answer with HTTP: {status_line[:80]!r}"
    code = int(parts[1])
    if 200 <= code < 300:
        return OPEN, "the proxy opened the tunnel"
    if code in (403, 407):
        return BLOCKED, f"refused by the proxy ({status_line})"
    return BLOCKED, f"the proxy could not reach the port ({status_line})"


def connect_request(host: str, port: int) -> bytes:
    """The CONNECT request for host:port."""
    target = authority(host, port)
    return f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode("ascii")


def _status_from_header(header: bytes) -> str:
    return header.split(b"\r\n", 1)[0].decode("latin-1").strip()


def tunnel_blocking(
    proxy: Proxy, host: str, port: int, timeout_s: float
) -> tuple[socket.socket | None, ConnectResult]:
    """Open a CONNECT tunnel with blocking sockets; the socket only when the state is open.

    The caller owns (and closes) the returned socket: it is the TCP stream to host:port."""
    started = time.perf_counter()
    try:
        sock = socket.create_connection((proxy.host, proxy.port), timeout=timeout_s)
    except OSError as exc:
        return None, ConnectResult(port, ERROR, "", f"cannot reach proxy {proxy.label}: {exc}")
    try:
        sock.sendall(connect_request(host, port))
        header = b""
        while b"\r\n\r\n" not in header and len(header) < MAX_HEADER_BYTES:
            chunk = sock.recv(1)  # byte by byte: nothing of the tunnel may be consumed
            if not chunk:
                break
            header += chunk
    except OSError as exc:
        sock.close()
        return None, ConnectResult(port, ERROR, "", f"proxy {proxy.label}: {exc}")
    rtt_ms = round((time.perf_counter() - started) * 1000, 3)
    status = _status_from_header(header)
    state, detail = classify_status(status) if header else (ERROR, "the proxy closed at once")
    if state != OPEN:
        sock.close()
        return None, ConnectResult(port, state, status, detail, rtt_ms)
    return sock, ConnectResult(port, state, status, detail, rtt_ms)


async def connect_via_proxy(
    proxy: Proxy, host: str, port: int, timeout_s: float = 5.0
) -> ConnectResult:
    """CONNECT host:port through the proxy and classify the answer; the tunnel is closed."""
    started = time.perf_counter()
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(proxy.host, proxy.port), timeout_s
        )
    except (OSError, TimeoutError) as exc:
        words = str(exc) or "no answer"
        return ConnectResult(port, ERROR, "", f"cannot reach proxy {proxy.label}: {words}")
    try:
        writer.write(connect_request(host, port))
        await writer.drain()
        header = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout_s)
    except asyncio.IncompleteReadError as exc:
        header = exc.partial
    except (OSError, TimeoutError, asyncio.LimitOverrunError) as exc:
        words = str(exc) or "no answer to CONNECT"
        return ConnectResult(port, ERROR, "", f"proxy {proxy.label}: {words}")
    finally:
        writer.close()
    rtt_ms = round((time.perf_counter() - started) * 1000, 3)
    if not header:
        return ConnectResult(port, ERROR, "", "the proxy closed without an answer", rtt_ms)
    status = _status_from_header(header)
    state, detail = classify_status(status)
    return ConnectResult(port, state, status, detail, rtt_ms)


async def connect_ports_via_proxy(
    proxy: Proxy, host: str, ports: Iterable[int], timeout_s: float = 5.0, concurrency: int = 16
) -> list[ConnectResult]:
    """connect_via_proxy for many ports, at most `concurrency` at once; input order."""
    gate = asyncio.Semaphore(concurrency)

    async def one(port: int) -> ConnectResult:
        async with gate:
            return await connect_via_proxy(proxy, host, port, timeout_s)

    return list(await asyncio.gather(*(one(p) for p in ports)))


def probe_tls_via_proxy_blocking(
    proxy: Proxy,
    address: str,
    port: int,
    server_name: str | None = None,
    timeout_s: float = 5.0,
    http_request: bool = False,
) -> TlsProbeResult:
    """`netready.probes.tls.probe_tls_blocking` through a CONNECT tunnel: the handshake (and
    the GET /) run inside the tunnel; the verifying handshake uses a second tunnel.

    A CONNECT the proxy refuses is `connected=False` with the status line in `error`."""
    base: dict[str, Any] = {"address": address, "port": port}
    raw, connect = tunnel_blocking(proxy, address, port, timeout_s)
    if raw is None:
        words = connect.status_line or connect.detail
        return TlsProbeResult(**base, error=f"CONNECT via proxy {proxy.label}: {words}")
    started = time.perf_counter()
    with raw:
        try:
            tls = unverified_context(http_request).wrap_socket(raw, server_hostname=server_name)
        except (OSError, ssl.SSLError) as exc:
            return TlsProbeResult(**base, connected=True, error=error_words(exc))
        with tls:
            cipher = tls.cipher()
            chain, source = presented_chain(tls)
            handshake_ms = round((time.perf_counter() - started) * 1000, 3)
            status, http_error = "", ""
            if http_request:
                host = host_header(address, port, server_name)
                status, http_error = http_status_line(tls, host, timeout_s)
            version, alpn = tls.version() or "", tls.selected_alpn_protocol() or ""
    verified, verify_error = _verify_via_proxy(proxy, address, port, server_name, timeout_s)
    return TlsProbeResult(
        **base,
        connected=True,
        handshake_ok=True,
        version=version,
        cipher=cipher[0] if cipher else "",
        alpn=alpn,
        chain=chain,
        chain_source=source,
        http_status=status,
        http_error=http_error,
        handshake_ms=handshake_ms,
        verified=verified,
        verify_error=verify_error,
    )


def _verify_via_proxy(
    proxy: Proxy, address: str, port: int, server_name: str | None, timeout_s: float
) -> tuple[bool, str]:
    raw, connect = tunnel_blocking(proxy, address, port, timeout_s)
    if raw is None:
        return False, connect.status_line or connect.detail
    ctx = ssl.create_default_context()
    ctx.check_hostname = bool(server_name)
    try:
        with raw, ctx.wrap_socket(raw, server_hostname=server_name):
            return True, ""
    except (OSError, ssl.SSLError) as exc:
        return False, error_words(exc)


async def probe_tls_via_proxy(
    proxy: Proxy,
    address: str,
    port: int,
    server_name: str | None = None,
    timeout_s: float = 5.0,
    http_request: bool = False,
) -> TlsProbeResult:
    """`probe_tls` through the proxy (see `probe_tls_via_proxy_blocking`), in a thread."""
    return await asyncio.to_thread(
        probe_tls_via_proxy_blocking, proxy, address, port, server_name, timeout_s, http_request
    )
