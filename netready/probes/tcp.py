"""TCP reachability probe: connect, then classify what the path did (no thresholds).

States:

* ``open``: the handshake completed, and the first read within READ_WINDOW_S
  got data, a clean close (EOF) or nothing at all;
* ``closed``: a RST answered the SYN: the host is reachable, nothing listens
  (an ICMP port-unreachable looks the same to the kernel);
* ``filtered``: silence until the timeout (a firewall dropping the SYN);
* ``reset_after_connect``: the handshake completed but the connection was reset
  on the first read (or so soon that connect() itself reports ECONNRESET),
  typical of a middlebox that lets the SYN through and then kills the flow;
* ``unreachable``: an ICMP error (host/network unreachable, administratively
  prohibited) or a local firewall refused the connect.

Only ``filtered`` and ``unreachable`` are retried: they can be transient,
whereas a RST or a completed handshake is an answer.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass

#: How long the first read after a completed handshake waits for data or a reset.
READ_WINDOW_S = 0.2
#: What `netready responder` sends on its TCP ports.
RESPONDER_BANNER = b"NETREADY\r\n"

OPEN = "open"
CLOSED = "closed"
FILTERED = "filtered"
RESET_AFTER_CONNECT = "reset_after_connect"
UNREACHABLE = "unreachable"
RETRY_STATES = frozenset({FILTERED, UNREACHABLE})
#: A port that did not open, in words that fit its state (reasons of the firewall check).
STATE_WORDS = {
    FILTERED: "no answer: a firewall drops it",
    CLOSED: "refused (reset): nothing listens there, or a firewall rejects it",
    RESET_AFTER_CONNECT: "connected, then reset: a middlebox killed the flow",
}

_UNREACHABLE_ERRNOS = {
    errno.EHOSTUNREACH: "host unreachable (ICMP)",
    errno.ENETUNREACH: "network unreachable",
    errno.EHOSTDOWN: "host down",
    errno.ENETDOWN: "network down",
    errno.EACCES: "refused by a local firewall or policy",
    errno.EPERM: "refused by a local firewall or policy",
}


@dataclass(frozen=True)
class TcpProbeResult:
    """What one TCP port did. rtt_ms is the connect (or refusal) time, None on silence."""

    port: int
    state: str  # "open" | "closed" | "filtered" | "reset_after_connect" | "unreachable"
    rtt_ms: float | None
    detail: str


async def resolve(address: str, kind: socket.SocketKind) -> tuple[socket.AddressFamily, str]:
    """(family, literal address) for an IP literal or a host name (first answer)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(address, None, type=kind)
        family, _type, _proto, _name, sockaddr = infos[0]
        return family, str(sockaddr[0])
    return (socket.AF_INET6 if ip.version == 6 else socket.AF_INET), address


def classify_connect_error(exc: OSError) -> tuple[str, str]:
    """(state, detail) for an exception raised by connect()."""
    name = errno.errorcode.get(exc.errno or 0, str(exc.errno))
    if isinstance(exc, ConnectionRefusedError):
        return CLOSED, "connection refused (RST or ICMP port unreachable)"
    if isinstance(exc, ConnectionResetError):
        # A RST to the SYN gives ECONNREFUSED; ECONNRESET means the handshake completed
        # and the reset came before we looked at the connection.
        return RESET_AFTER_CONNECT, "handshake completed, then ECONNRESET at once"
    if exc.errno == errno.ETIMEDOUT:
        return FILTERED, "the kernel gave up waiting for an answer (ETIMEDOUT)"
    reason = _UNREACHABLE_ERRNOS.get(exc.errno or 0, exc.strerror or "connect failed")
    return UNREACHABLE, f"{reason} ({name})"


async def _first_read(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> tuple[str, str]:
    """Classify what follows a completed handshake."""
    started = time.perf_counter()
    try:
        data = await asyncio.wait_for(loop.sock_recv(sock, 64), READ_WINDOW_S)
    except TimeoutError:
        return OPEN, f"connected; no data within {READ_WINDOW_S * 1000:.0f} ms"
    except OSError as exc:
        after_ms = (time.perf_counter() - started) * 1000
        name = errno.errorcode.get(exc.errno or 0, str(exc.errno))
        return RESET_AFTER_CONNECT, f"handshake completed, then {name} after {after_ms:.1f} ms"
    if not data:
        return OPEN, "connected; the server closed cleanly"
    if data.startswith(RESPONDER_BANNER):
        return OPEN, "connected; netready responder banner received"
    return OPEN, f"connected; the server sent {len(data)} bytes"


async def _probe_once(
    family: socket.AddressFamily, host: str, port: int, timeout_s: float
) -> TcpProbeResult:
    loop = asyncio.get_running_loop()
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setblocking(False)
        started = time.perf_counter()
        try:
            await asyncio.wait_for(loop.sock_connect(sock, (host, port)), timeout_s)
        except TimeoutError:
            return TcpProbeResult(port, FILTERED, None, f"no answer within {timeout_s:g} s")
        except OSError as exc:
            rtt_ms = (time.perf_counter() - started) * 1000
            state, detail = classify_connect_error(exc)
            return TcpProbeResult(port, state, None if state == FILTERED else rtt_ms, detail)
        rtt_ms = (time.perf_counter() - started) * 1000
        state, detail = await _first_read(loop, sock)
        return TcpProbeResult(port, state, rtt_ms, detail)


async def _probe_resolved(
    family: socket.AddressFamily, host: str, port: int, timeout_s: float, retries: int
) -> TcpProbeResult:
    result = await _probe_once(family, host, port, timeout_s)
    attempts = 1
    while result.state in RETRY_STATES and attempts <= retries:
        result = await _probe_once(family, host, port, timeout_s)
        attempts += 1
    if attempts > 1:
        result = TcpProbeResult(
            port, result.state, result.rtt_ms, f"{result.detail} (attempt {attempts})"
        )
    return result


def _check(port: int, timeout_s: float, retries: int) -> None:
    if not 1 <= port <= 65535:
        raise ValueError(f"TCP port must be 1-65535, got {port}")
    if timeout_s <= 0:
        raise ValueError(f"timeout_s must be positive, got {timeout_s}")
    if retries < 0:
        raise ValueError(f"retries must be 0 or more, got {retries}")


async def probe_tcp(
    address: str, port: int, timeout_s: float = 1.0, retries: int = 1
) -> TcpProbeResult:
    """Connect to address:port and classify; retries filtered/unreachable `retries` times."""
    _check(port, timeout_s, retries)
    family, host = await resolve(address, socket.SOCK_STREAM)
    return await _probe_resolved(family, host, port, timeout_s, retries)


async def probe_tcp_ports(
    address: str,
    ports: Iterable[int],
    timeout_s: float = 1.0,
    retries: int = 1,
    concurrency: int = 64,
) -> list[TcpProbeResult]:
    """probe_tcp for many ports, at most `concurrency` at a time; results in input order."""
    port_list = list(ports)
    for port in port_list:
        _check(port, timeout_s, retries)
    if concurrency < 1:
        raise ValueError(f"concurrency must be at least 1, got {concurrency}")
    family, host = await resolve(address, socket.SOCK_STREAM)
    gate = asyncio.Semaphore(concurrency)

    async def one(port: int) -> TcpProbeResult:
        async with gate:
            return await _probe_resolved(family, host, port, timeout_s, retries)

    return list(await asyncio.gather(*(one(p) for p in port_list)))
