"""TCP probe classification against real loopback listeners that behave in each way.

`filtered` is made on loopback with a listener whose accept queue is full: Linux
then drops further SYNs silently, exactly what a dropping firewall looks like.
`unreachable` needs ICMP errors from a router, which loopback cannot produce; it is
covered by the errno classification here and by the nftables tests in tests/netns.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from netready.probes.tcp import (
    READ_WINDOW_S,
    TcpProbeResult,
    classify_connect_error,
    probe_tcp,
    probe_tcp_ports,
)

Greeter = Callable[[socket.socket], None]

REFUSED = "connection refused (RST or ICMP port unreachable)"
GAVE_UP = "the kernel gave up waiting for an answer (ETIMEDOUT)"
POLICY = "refused by a local firewall or policy (EPERM)"
RESET_AT_ONCE = "handshake completed, then ECONNRESET at once"


@contextlib.contextmanager
def listener(greet: Greeter, host: str = "127.0.0.1") -> Iterator[int]:
    """A TCP listener on a free port; each accepted connection is handed to `greet`."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    srv = socket.socket(family, socket.SOCK_STREAM)
    srv.bind((host, 0))
    srv.listen(16)
    srv.settimeout(0.05)
    stop = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except TimeoutError:
                continue
            held.append(conn)
            greet(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield srv.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        srv.close()
        for conn in held:
            conn.close()


def free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def probe(port: int, **kwargs: float) -> TcpProbeResult:
    return asyncio.run(probe_tcp("127.0.0.1", port, **kwargs))  # type: ignore[arg-type]


def test_open_with_responder_banner() -> None:
    def banner(conn: socket.socket) -> None:
        conn.sendall(b"NETREADY\r\n")
        conn.close()

    with listener(banner) as port:
        result = probe(port)
    assert result.state == "open"
    assert result.detail == "connected; netready responder banner received"
    assert result.rtt_ms is not None and 0 < result.rtt_ms < 100


def test_open_with_clean_close() -> None:
    with listener(lambda conn: conn.close()) as port:
        result = probe(port)
    assert (result.state, result.detail) == ("open", "connected; the server closed cleanly")


def test_open_and_silent() -> None:
    with listener(lambda conn: None) as port:
        started = time.monotonic()
        result = probe(port)
    assert result.state == "open"
    assert result.detail == "connected; no data within 200 ms"
    assert time.monotonic() - started >= READ_WINDOW_S


def test_open_with_other_service() -> None:
    with listener(lambda conn: conn.sendall(b"SSH-2.0-x\r\n")) as port:
        result = probe(port)
    assert (result.state, result.detail) == ("open", "connected; the server sent 11 bytes")


def test_reset_after_connect() -> None:
    def reset(conn: socket.socket) -> None:
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()  # linger 0: RST instead of FIN

    with listener(reset) as port:
        result = probe(port)
    assert result.state == "reset_after_connect"
    # the RST may even arrive before asyncio saw the connect complete ("at once")
    assert result.detail.startswith("handshake completed, then ECONNRESET ")
    assert result.rtt_ms is not None


def test_closed_port_answers_rst_and_is_not_retried() -> None:
    port = free_tcp_port()
    started = time.monotonic()
    result = probe(port, timeout_s=1.0, retries=3)
    assert result.state == "closed"
    assert result.detail == REFUSED
    assert result.rtt_ms is not None and time.monotonic() - started < 0.5


def test_filtered_via_a_full_accept_queue_is_retried() -> None:
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(0)  # the queue holds one connection that nobody accepts
        port = srv.getsockname()[1]
        filler = socket.create_connection(("127.0.0.1", port), timeout=1.0)
        try:
            started = time.monotonic()
            result = probe(port, timeout_s=0.3, retries=1)
            took = time.monotonic() - started
        finally:
            filler.close()
    assert result.state == "filtered"
    assert result.rtt_ms is None
    assert result.detail == "no answer within 0.3 s (attempt 2)"
    assert 0.6 <= took < 1.5


@pytest.mark.parametrize(
    ("exc", "state", "detail"),
    [
        (OSError(errno.EHOSTUNREACH, "x"), "unreachable", "host unreachable (ICMP) (EHOSTUNREACH)"),
        (OSError(errno.ENETUNREACH, "x"), "unreachable", "network unreachable (ENETUNREACH)"),
        (PermissionError(errno.EPERM, "x"), "unreachable", POLICY),
        (ConnectionRefusedError(errno.ECONNREFUSED, "x"), "closed", REFUSED),
        (ConnectionResetError(errno.ECONNRESET, "x"), "reset_after_connect", RESET_AT_ONCE),
        (TimeoutError(errno.ETIMEDOUT, "x"), "filtered", GAVE_UP),
        (OSError(errno.EADDRNOTAVAIL, "No addr"), "unreachable", "No addr (EADDRNOTAVAIL)"),
    ],
)
def test_classify_connect_error(exc: OSError, state: str, detail: str) -> None:
    assert classify_connect_error(exc) == (state, detail)


def test_many_ports_keep_input_order() -> None:
    closed = [free_tcp_port() for _ in range(3)]
    with listener(lambda conn: conn.close()) as a, listener(lambda conn: conn.close()) as b:
        ports = [closed[0], a, closed[1], b, closed[2]]
        results = asyncio.run(probe_tcp_ports("127.0.0.1", ports, timeout_s=0.5, concurrency=2))
    assert [r.port for r in results] == ports
    assert [r.state for r in results] == ["closed", "open", "closed", "open", "closed"]


def test_ipv6_loopback() -> None:
    try:
        cm = listener(lambda conn: conn.close(), host="::1")
        port = cm.__enter__()
    except OSError:
        pytest.skip("no IPv6 loopback")
    try:
        result = asyncio.run(probe_tcp("::1", port))
    finally:
        cm.__exit__(None, None, None)
    assert result.state == "open"


def test_bad_arguments() -> None:
    for kwargs, message in (
        ({"port": 0}, "TCP port must be 1-65535, got 0"),
        ({"port": 80, "timeout_s": 0}, "timeout_s must be positive"),
        ({"port": 80, "retries": -1}, "retries must be 0 or more"),
    ):
        with pytest.raises(ValueError, match=message):
            asyncio.run(probe_tcp("127.0.0.1", **kwargs))
    with pytest.raises(ValueError, match="concurrency must be at least 1"):
        asyncio.run(probe_tcp_ports("127.0.0.1", [80], concurrency=0))
