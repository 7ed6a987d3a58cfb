"""UDP port sweep through `netready responder`: which ports of a range come back as echoes.

One client socket sends one probe (see `netready.probes.udp_probe`) per port,
keeping at most `window` probes outstanding (measured on loopback: 64-256 is
lossless, 1024 overflows the client's receive buffer). An echo counts only if
it carries the nonce sent to that port, names that port, and comes from the
target address and that port. A silent port is probed again, `retries` times,
and then called blocked. How long each attempt waits adapts to the path, like
TCP's retransmission timer (RFC 6298): every echo gives a round-trip sample (each
attempt has its own nonce, so there is no retransmission ambiguity), and
RTO = srtt + 4 rttvar, at least MIN_RTO_S, at most `timeout_s`. Attempts before
the last wait one RTO; the last waits max(FINAL_MIN_S, 4 RTO), at most
`timeout_s`; before any echo was seen every attempt waits `timeout_s`. A late echo
of any earlier attempt still proves the port open, so a short RTO only costs an
extra probe, never a wrong verdict. `RttEstimator` can be handed from one sweep to
the next (same target), so a range that is blocked entirely still benefits from
the round-trip times the earlier ranges measured. Ports whose every send failed
locally (no route, ...) are `not_tested`; a local firewall refusing the send
(EPERM/EACCES) counts as blocked. ICMP errors are not read: a port that
answers with port-unreachable is simply blocked.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import heapq
import ipaddress
import os
import socket
from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from netready.probes.tcp import resolve
from netready.probes.udp_probe import NONCE_LEN, PROBE_LEN, pack_probe, unpack_echo

#: Client receive buffer asked for (the kernel caps it at net.core.rmem_max).
RCVBUF_BYTES = 4 * 1024 * 1024
#: Timeouts this close together are handled in one wake-up.
TICK_S = 0.005
#: How often `progress` is called at most.
PROGRESS_EVERY_S = 0.1
#: Datagrams read per readiness callback.
READ_BURST = 256
#: Lower bound of the per-attempt timeout once round trips were measured (seconds).
MIN_RTO_S = 0.1
#: Lower bound of the last attempt's wait once round trips were measured (seconds).
FINAL_MIN_S = 0.5
#: Retries of a silent UDP port by default: at 2 % round-trip loss (1 % each way) an open
#: port stays silent through 5 attempts with p = 0.02**5 = 3.2e-9, i.e. 5e-5 false "blocked"
#: ports in a 16,586-port sweep.
DEFAULT_RETRIES = 4
#: Send errors meaning "a local policy refused it": the port is blocked, not untested.
_POLICY_ERRNOS = frozenset({errno.EPERM, errno.EACCES})


class RttEstimator:
    """Smoothed round-trip time and its variation (RFC 6298), fed by echoes."""

    def __init__(self) -> None:
        self.srtt: float | None = None
        self.rttvar = 0.0
        self.samples = 0
        self.max_rtt = 0.0

    def add(self, rtt: float) -> None:
        """One round-trip sample in seconds."""
        self.samples += 1
        self.max_rtt = max(self.max_rtt, rtt)
        if self.srtt is None:
            self.srtt, self.rttvar = rtt, rtt / 2
            return
        self.rttvar = 0.75 * self.rttvar + 0.25 * abs(self.srtt - rtt)
        self.srtt = 0.875 * self.srtt + 0.125 * rtt

    def rto(self, timeout_s: float) -> float:
        """Wait of an attempt that is not the last; `timeout_s` before any sample."""
        if self.srtt is None:
            return timeout_s
        return min(timeout_s, max(MIN_RTO_S, self.srtt + 4 * self.rttvar))

    def final(self, timeout_s: float) -> float:
        """Wait of a port's last attempt; `timeout_s` before any sample."""
        if self.srtt is None:
            return timeout_s
        return min(timeout_s, max(FINAL_MIN_S, 4 * self.rto(timeout_s)))


@dataclass
class SweepResult:
    """Ports by outcome (sorted), probe counts and wall time of one sweep."""

    open: list[int]
    blocked: list[int]
    not_tested: list[int]
    sent: int
    retried: int
    duration_s: float
    send_errors: dict[str, int] = field(default_factory=dict)  # errno name -> count
    rtt_ms: dict[str, float] = field(default_factory=dict)  # srtt, rttvar, max, rto, final


def compact_ranges(ports: Iterable[int]) -> str:
    """[1, 2, 3, 5] -> "1-3,5"; [] -> "" (duplicates and order do not matter)."""
    parts: list[str] = []
    ordered = sorted(set(ports))
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        parts.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(parts)


class _Sweep:
    """The state of one sweep, driven by socket readiness and the caller's timer loop."""

    def __init__(
        self,
        sock: socket.socket,
        host: str,
        ports: list[int],
        timeout_s: float,
        retries: int,
        window: int,
        rtt: RttEstimator,
    ) -> None:
        self.loop = asyncio.get_running_loop()
        self.rtt = rtt
        self.sock, self.host, self.total = sock, host, len(ports)
        self.target = ipaddress.ip_address(host.split("%", 1)[0])
        self.timeout_s, self.retries, self.window = timeout_s, retries, window
        self.queue: deque[int] = deque(ports)
        self.inflight: dict[int, float] = {}  # port -> deadline of its outstanding attempt
        self.deadlines: list[tuple[float, int]] = []  # heap; stale entries are skipped
        self.nonce_port: dict[bytes, tuple[int, float]] = {}  # nonce -> (port, sent at)
        self.attempts: Counter[int] = Counter()
        self.failed: Counter[int] = Counter()  # sends that failed locally
        self.open: set[int] = set()
        self.blocked: set[int] = set()
        self.not_tested: set[int] = set()
        self.sent = self.retried = 0
        self.send_errors: Counter[str] = Counter()
        self.finished: asyncio.Future[None] = self.loop.create_future()

    @property
    def decided(self) -> int:
        return len(self.open) + len(self.blocked) + len(self.not_tested)

    def fill(self) -> None:
        """Send probes until `window` are outstanding or the queue is empty."""
        now = self.loop.time()
        rto, final = self.rtt.rto(self.timeout_s), self.rtt.final(self.timeout_s)
        while self.queue and len(self.inflight) < self.window:
            port = self.queue[0]
            if port in self.open:
                self.queue.popleft()
                continue
            nonce = os.urandom(NONCE_LEN)
            try:
                self.sock.sendto(pack_probe(nonce, port), (self.host, port))
            except (BlockingIOError, InterruptedError):
                break  # send buffer full: the timer loop calls fill() again shortly
            except OSError as exc:
                self.queue.popleft()
                self._send_failed(port, exc)
                continue
            self.queue.popleft()
            self.attempts[port] += 1
            self.sent += 1
            self.retried += self.attempts[port] > 1
            self.nonce_port[nonce] = (port, now)
            deadline = now + (final if self.attempts[port] > self.retries else rto)
            self.inflight[port] = deadline
            heapq.heappush(self.deadlines, (deadline, port))
        self._check_done()

    def _send_failed(self, port: int, exc: OSError) -> None:
        self.send_errors[errno.errorcode.get(exc.errno or 0, str(exc.errno))] += 1
        self.attempts[port] += 1
        if exc.errno not in _POLICY_ERRNOS:
            self.failed[port] += 1
        self._retry_or_give_up(port)

    def _retry_or_give_up(self, port: int) -> None:
        if self.attempts[port] <= self.retries:
            self.queue.append(port)
        elif self.failed[port] == self.attempts[port]:
            self.not_tested.add(port)
        else:
            self.blocked.add(port)

    def expire(self) -> None:
        """Retry or give up on probes whose timeout passed, then refill the window."""
        now = self.loop.time()
        while self.deadlines and self.deadlines[0][0] <= now:
            deadline, port = heapq.heappop(self.deadlines)
            if self.inflight.get(port) != deadline:
                continue  # answered, or an older attempt's entry
            del self.inflight[port]
            self._retry_or_give_up(port)
        self.fill()

    def next_deadline(self) -> float | None:
        """When the next outstanding probe times out."""
        while self.deadlines and self.inflight.get(self.deadlines[0][1]) != self.deadlines[0][0]:
            heapq.heappop(self.deadlines)
        return self.deadlines[0][0] if self.deadlines else None

    def on_readable(self) -> None:
        """Read waiting echoes (reader callback)."""
        for _ in range(READ_BURST):
            try:
                data, addr = self.sock.recvfrom(PROBE_LEN + 1)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                continue
            self._on_datagram(data, addr)
        self.fill()

    def _on_datagram(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            nonce, port = unpack_echo(data)
        except ValueError:
            return
        sent = self.nonce_port.get(nonce)
        if sent is None or sent[0] != port or addr[1] != port or not self._from_target(addr[0]):
            return
        self.rtt.add(self.loop.time() - sent[1])
        self.inflight.pop(port, None)
        self.blocked.discard(port)  # a late echo still proves the port open
        self.open.add(port)

    def _from_target(self, host: str) -> bool:
        if host == self.host:
            return True
        try:
            return ipaddress.ip_address(host.split("%", 1)[0]) == self.target
        except ValueError:
            return False

    def _check_done(self) -> None:
        if not self.queue and not self.inflight and not self.finished.done():
            self.finished.set_result(None)

    def result(self, duration_s: float) -> SweepResult:
        """The outcome; ports never decided (cancelled run) are not_tested."""
        undecided = set(self.attempts) | set(self.queue) | set(self.inflight)
        undecided -= self.open | self.blocked | self.not_tested
        return SweepResult(
            open=sorted(self.open),
            blocked=sorted(self.blocked),
            not_tested=sorted(self.not_tested | undecided),
            sent=self.sent,
            retried=self.retried,
            duration_s=duration_s,
            send_errors=dict(self.send_errors),
            rtt_ms=self._rtt_ms(),
        )

    def _rtt_ms(self) -> dict[str, float]:
        if self.rtt.srtt is None:
            return {}
        return {
            "srtt": round(self.rtt.srtt * 1000, 3),
            "rttvar": round(self.rtt.rttvar * 1000, 3),
            "max": round(self.rtt.max_rtt * 1000, 3),
            "rto": round(self.rtt.rto(self.timeout_s) * 1000, 3),
            "final": round(self.rtt.final(self.timeout_s) * 1000, 3),
        }


def _validate(ports: Sequence[int], timeout_s: float, retries: int, window: int) -> list[int]:
    for port in ports:
        if not 1 <= port <= 65535:
            raise ValueError(f"UDP port must be 1-65535, got {port}")
    if timeout_s <= 0:
        raise ValueError(f"timeout_s must be positive, got {timeout_s}")
    if retries < 0:
        raise ValueError(f"retries must be 0 or more, got {retries}")
    if window < 1:
        raise ValueError(f"window must be at least 1, got {window}")
    return list(dict.fromkeys(ports))


def _client_socket(family: socket.AddressFamily) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.setblocking(False)
    with contextlib.suppress(OSError):  # the default buffer still works with a small window
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF_BYTES)
    return sock


async def sweep_udp(
    address: str,
    ports: Sequence[int],
    *,
    timeout_s: float = 1.0,
    retries: int = DEFAULT_RETRIES,
    window: int = 128,
    progress: Callable[[float, str], None] | None = None,
    rtt: RttEstimator | None = None,
) -> SweepResult:
    """Probe every port of `ports` on `address` (where `netready responder` echoes).

    `rtt`: the estimator of an earlier sweep to the same address, to start from its
    round-trip times (it is updated in place); a fresh one when None."""
    unique = _validate(ports, timeout_s, retries, window)
    loop = asyncio.get_running_loop()
    started = loop.time()
    if not unique:
        return SweepResult([], [], [], 0, 0, 0.0)
    family, host = await resolve(address, socket.SOCK_DGRAM)
    sock = _client_socket(family)
    sweep = _Sweep(sock, host, unique, timeout_s, retries, window, rtt or RttEstimator())
    loop.add_reader(sock.fileno(), sweep.on_readable)
    try:
        await _drive(sweep, address, progress)
    finally:
        loop.remove_reader(sock.fileno())
        sock.close()
    return sweep.result(loop.time() - started)


async def _drive(
    sweep: _Sweep, address: str, progress: Callable[[float, str], None] | None
) -> None:
    """Run timeouts and progress reports until every port is decided."""
    loop = sweep.loop
    last_report = loop.time()
    sweep.fill()
    while not sweep.finished.done():
        deadline = sweep.next_deadline()
        wait = TICK_S if deadline is None else max(deadline - loop.time(), 0.0) + TICK_S
        if progress is not None:
            wait = min(wait, PROGRESS_EVERY_S)
        await asyncio.wait([sweep.finished], timeout=wait)
        sweep.expire()
        if progress is not None and loop.time() - last_report >= PROGRESS_EVERY_S:
            last_report = loop.time()
            progress(sweep.decided / sweep.total, _progress_text(sweep, address))
    if progress is not None:
        progress(1.0, _progress_text(sweep, address))


def _progress_text(sweep: _Sweep, address: str) -> str:
    return (
        f"UDP sweep {address}: {sweep.decided}/{sweep.total} ports decided, "
        f"{len(sweep.open)} open, {len(sweep.blocked)} blocked"
    )
