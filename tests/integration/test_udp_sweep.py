"""The UDP sweep client against real loopback sockets: genuine echoes only, window, retries."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import random
import selectors
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from netready.model import PortRange
from netready.probes import udp_sweep
from netready.probes.udp_probe import unpack_probe
from netready.probes.udp_sweep import compact_ranges, sweep_udp
from netready.responder.server import BindError, Responder, ResponderConfig

LOW, HIGH = 2000, 16300  # below the media set 16384-32767 and the ephemeral range


@pytest.mark.parametrize(
    ("ports", "text"),
    [
        ([], ""),
        ([5], "5"),
        ([1, 2, 3, 5], "1-3,5"),
        ([5, 3, 2, 1, 3], "1-3,5"),
        ([60000, 50000, 50001, 16384], "16384,50000-50001,60000"),
        (range(16384, 32768), "16384-32767"),
    ],
)
def test_compact_ranges(ports: list[int], text: str) -> None:
    assert compact_ranges(ports) == text


def free_udp_ports(count: int) -> list[int]:
    """`count` consecutive UDP ports free on 127.0.0.1 (held briefly to check)."""
    for _ in range(50):
        base = random.randint(LOW, HIGH - count)
        socks: list[socket.socket] = []
        try:
            for port in range(base, base + count):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(s)
                s.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
        return list(range(base, base + count))
    raise RuntimeError("no free UDP ports")


Behaviour = Callable[[socket.socket, bytes, tuple[str, int], int], None]


@contextlib.contextmanager
def udp_servers(count: int, behaviour: Behaviour) -> Iterator[list[int]]:
    """`count` UDP sockets on 127.0.0.1; a thread calls behaviour(sock, data, peer, n)."""
    socks: list[socket.socket] = []
    for port in free_udp_ports(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", port))
        s.setblocking(False)
        socks.append(s)
    stop = threading.Event()
    seen: dict[int, int] = {}

    def serve() -> None:
        with selectors.DefaultSelector() as sel:
            for s in socks:
                sel.register(s, selectors.EVENT_READ)
            while not stop.is_set():
                for key, _ in sel.select(0.05):
                    sock: Any = key.fileobj
                    with contextlib.suppress(BlockingIOError):
                        data, peer = sock.recvfrom(100)
                        port = sock.getsockname()[1]
                        seen[port] = seen.get(port, 0) + 1
                        behaviour(sock, data, peer, seen[port])

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield [s.getsockname()[1] for s in socks]
    finally:
        stop.set()
        thread.join()
        for s in socks:
            s.close()


def honest(sock: socket.socket, data: bytes, peer: tuple[str, int], n: int) -> None:
    sock.sendto(data, peer)


def test_honest_echo_servers_are_open() -> None:
    with udp_servers(5, honest) as ports:
        result = asyncio.run(sweep_udp("127.0.0.1", ports, timeout_s=0.3))
    assert (result.open, result.blocked, result.not_tested) == (ports, [], [])
    assert (result.sent, result.retried) == (5, 0)


def test_forged_echoes_do_not_count() -> None:
    """Wrong nonce, wrong port field, or the right bytes from another port: all blocked."""
    other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    other.bind(("127.0.0.1", 0))
    free = free_udp_ports(1)[0]

    def liar(sock: socket.socket, data: bytes, peer: tuple[str, int], n: int) -> None:
        nonce, _port = unpack_probe(data)
        bad_nonce = data[:4] + bytes(b ^ 1 for b in nonce) + data[20:]
        sock.sendto(bad_nonce, peer)
        sock.sendto(data[:20] + free.to_bytes(2, "big"), peer)  # claims another probed port
        sock.sendto(data + b"x", peer)  # longer than a probe
        other.sendto(data, peer)  # genuine bytes, wrong source port

    with udp_servers(3, liar) as ports, other:
        result = asyncio.run(sweep_udp("127.0.0.1", [*ports, free], timeout_s=0.2, retries=1))
    assert result.open == []
    assert result.blocked == sorted([*ports, free])


def test_retries_recover_a_lost_probe() -> None:
    def shy(sock: socket.socket, data: bytes, peer: tuple[str, int], n: int) -> None:
        if n > 1:  # ignore each port's first probe
            sock.sendto(data, peer)

    with udp_servers(4, shy) as ports:
        result = asyncio.run(sweep_udp("127.0.0.1", ports, timeout_s=0.15, retries=1))
        assert result.open == ports
        assert (result.sent, result.retried) == (8, 4)
    with udp_servers(4, shy) as ports:
        result = asyncio.run(sweep_udp("127.0.0.1", ports, timeout_s=0.15, retries=0))
        assert (result.open, result.blocked) == ([], ports)


def test_late_echo_of_an_earlier_attempt_counts() -> None:
    def slow(sock: socket.socket, data: bytes, peer: tuple[str, int], n: int) -> None:
        if n == 1:
            threading.Timer(0.25, sock.sendto, (data, peer)).start()

    with udp_servers(2, slow) as ports:
        result = asyncio.run(sweep_udp("127.0.0.1", ports, timeout_s=0.15, retries=1))
    assert result.open == ports


def test_window_bounds_outstanding_probes() -> None:
    received: list[float] = []

    def silent(sock: socket.socket, data: bytes, peer: tuple[str, int], n: int) -> None:
        received.append(time.monotonic())

    async def run(ports: list[int]) -> udp_sweep.SweepResult:
        task = asyncio.create_task(
            sweep_udp("127.0.0.1", ports, timeout_s=0.3, retries=0, window=8)
        )
        await asyncio.sleep(0.15)
        in_first_window = len(received)
        result = await task
        assert in_first_window == 8
        return result

    with udp_servers(24, silent) as ports:
        started = time.monotonic()
        result = asyncio.run(run(ports))
    assert len(received) == 24 and result.blocked == ports
    assert time.monotonic() - started >= 0.9  # three rounds of 8, each waiting 0.3 s


def test_progress_reports_end_at_one() -> None:
    reports: list[tuple[float, str]] = []
    with udp_servers(3, honest) as ports:
        free = free_udp_ports(3)
        asyncio.run(
            sweep_udp(
                "127.0.0.1",
                ports + free,
                timeout_s=0.25,
                retries=0,
                progress=lambda f, m: reports.append((f, m)),
            )
        )
    fractions = [f for f, _ in reports]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and len(reports) >= 2
    assert reports[-1][1] == "UDP sweep 127.0.0.1: 6/6 ports decided, 3 open, 3 blocked"


def test_local_send_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    """No route -> not_tested; a local firewall refusing the send (EPERM) -> blocked."""

    class FailingSocket(socket.socket):
        def sendto(self, data: Any, *args: Any) -> int:
            port = args[-1][1]
            if port % 3 == 0:
                raise OSError(errno.ENETUNREACH, "Network is unreachable")
            if port % 3 == 1:
                raise PermissionError(errno.EPERM, "Operation not permitted")
            return super().sendto(data, *args)

    def client(family: socket.AddressFamily) -> socket.socket:
        sock = FailingSocket(family, socket.SOCK_DGRAM)
        sock.setblocking(False)
        return sock

    monkeypatch.setattr(udp_sweep, "_client_socket", client)
    with udp_servers(6, honest) as ports:
        result = asyncio.run(sweep_udp("127.0.0.1", ports, timeout_s=0.2, retries=2))
    assert result.not_tested == [p for p in ports if p % 3 == 0]
    assert result.blocked == [p for p in ports if p % 3 == 1]
    assert result.open == [p for p in ports if p % 3 == 2]
    assert result.send_errors == {"ENETUNREACH": 6, "EPERM": 6}
    assert result.sent == 2


def test_inputs() -> None:
    empty = asyncio.run(sweep_udp("127.0.0.1", []))
    assert (empty.open, empty.blocked, empty.not_tested, empty.sent) == ([], [], [], 0)
    with udp_servers(1, honest) as ports:
        result = asyncio.run(sweep_udp("127.0.0.1", ports * 3))
    assert (result.open, result.sent) == (ports, 1)
    for kwargs, message in (
        ({"ports": [0]}, "UDP port must be 1-65535, got 0"),
        ({"ports": [1], "window": 0}, "window must be at least 1"),
        ({"ports": [1], "timeout_s": 0}, "timeout_s must be positive"),
        ({"ports": [1], "retries": -1}, "retries must be 0 or more"),
    ):
        with pytest.raises(ValueError, match=message):
            asyncio.run(sweep_udp("127.0.0.1", **kwargs))


def test_sweep_through_the_responder_mixed_with_closed_ports() -> None:
    class Drop:
        def reflect(self, *args: Any, **kwargs: Any) -> None:
            return None

    for _ in range(20):
        ports = free_udp_ports(130)
        bound = ports[:100]
        config = ResponderConfig(stamp_port=0, udp_ports=(PortRange(bound[0], bound[-1]),))
        r = Responder(config, log=lambda _line: None, reflector=Drop())
        try:
            r.start()
        except BindError:
            continue
        try:
            result = asyncio.run(sweep_udp("127.0.0.1", ports, timeout_s=0.2, retries=1, window=16))
        finally:
            r.stop()
        assert (result.open, result.blocked) == (bound, ports[100:])
        assert compact_ranges(result.blocked) == f"{ports[100]}-{ports[-1]}"
        return
    pytest.skip("no free block of loopback ports")


def test_rtt_estimator_bounds_the_waits() -> None:
    rtt = udp_sweep.RttEstimator()
    assert (rtt.rto(1.0), rtt.final(1.0)) == (1.0, 1.0)  # nothing measured: the full timeout
    for _ in range(20):
        rtt.add(0.0005)
    assert rtt.rto(1.0) == udp_sweep.MIN_RTO_S
    assert rtt.final(1.0) == udp_sweep.FINAL_MIN_S
    assert rtt.final(0.3) == 0.3  # never beyond the caller's timeout
    rtt.add(0.4)
    assert 0.4 < rtt.rto(5.0) < 5.0 and rtt.final(5.0) == min(5.0, 4 * rtt.rto(5.0))


def test_shared_estimator_shortens_a_fully_blocked_range() -> None:
    """The second sweep starts from the first one's round trips: silent ports wait one RTO
    per retry and FINAL_MIN_S at last, not the full timeout every time."""
    rtt = udp_sweep.RttEstimator()
    with udp_servers(3, honest) as ports:
        asyncio.run(sweep_udp("127.0.0.1", ports, timeout_s=2.0, rtt=rtt))
    assert rtt.samples == 3
    free = free_udp_ports(2)
    started = time.monotonic()
    result = asyncio.run(sweep_udp("127.0.0.1", free, timeout_s=2.0, retries=2, rtt=rtt))
    elapsed = time.monotonic() - started
    assert result.blocked == free and result.sent == 6
    assert elapsed < 2 * udp_sweep.MIN_RTO_S + udp_sweep.FINAL_MIN_S + 0.3
    assert result.rtt_ms["final"] == udp_sweep.FINAL_MIN_S * 1000


def test_quick_sample_takes_first_last_and_random_ports() -> None:
    import random

    from netready.checks.firewall import quick_sample
    from netready.model import PortRange, Rule

    rule = Rule(
        name="r",
        protocol="RTP",
        transport="udp",
        ports=(PortRange(16384, 32767), PortRange(3478, 3478), PortRange(5000, 5002)),
        host="pbx",
        function="voice",
        verify="echo",
    )
    picked = quick_sample(rule, 4, random.Random(1))
    assert {16384, 32767, 3478, 5000, 5001, 5002} <= set(picked)
    inner = [p for p in picked if 16384 < p < 32767]
    assert len(inner) == 2 and len(picked) == 8 and picked == sorted(picked)
