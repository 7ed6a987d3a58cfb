"""Shared machinery of paced UDP probe streams: socket, absolute-schedule pacer, progress gate.

A stream sends packet i at `start + i * interval` on perf_counter_ns (an absolute schedule, so
one late wake-up never shifts the ones after it). Between slots the pacer waits in select(),
reading whatever replies are queued, until a margin before the slot, then spins. The margin
follows the measured wake-up overshoot. Replies are read with recvmsg so the kernel receive
timestamp (SO_TIMESTAMPNS, see netready.probes.sockopts) comes with each datagram.
"""

from __future__ import annotations

import select
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from netready.probes.sockopts import (
    RxMeta,
    parse_ancillary,
    receive,
    set_tx_tos,
    set_tx_ttl,
)

SPIN_MIN_NS = 300_000  # wait in the kernel until at least this long before a slot, then spin
SPIN_MAX_NS = 1_500_000
OVERSHOOT_CAP_NS = 1_000_000  # one late wake-up (VM preemption) must not inflate the margin
START_LEAD_NS = 20_000_000  # first slot this long after the stream is set up
STRAGGLER_POLL_S = 0.05
PROGRESS_EVERY_NS = 200_000_000
PROGRESS_MIN_SLACK_NS = 2_000_000  # only report progress with this much time left to a slot
RECV_BUFSIZE = 2048

ProgressFn = Callable[[float, str], None]
Handler = Callable[[bytes, RxMeta, int], None]  # datagram, kernel metadata, time.time_ns()
ErrorHandler = Callable[[OSError], None]


def open_udp(
    address: str, port: int, *, source_port: int = 0, tos: int = 0, ttl: int | None = None
) -> socket.socket:
    """A non-blocking UDP socket connected to address:port (first getaddrinfo answer).

    Connected, so the kernel drops datagrams from any other source and reports ICMP errors
    (ConnectionRefusedError) on the next send or receive. Raises OSError if it cannot be set up.
    """
    family, kind, proto, _name, sockaddr = socket.getaddrinfo(
        address, port, type=socket.SOCK_DGRAM
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        if source_port:
            sock.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", source_port))
        sock.connect(sockaddr)
        if tos:
            set_tx_tos(sock, tos)
        if ttl is not None:
            set_tx_ttl(sock, ttl)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def drain(sock: socket.socket, handle: Handler) -> OSError | None:
    """Pass every datagram already queued on `sock` to `handle`, without blocking.

    Returns the socket error that stopped the reading (e.g. ConnectionRefusedError for an ICMP
    port unreachable on a connected socket), or None once the queue is empty.
    """
    while True:
        try:
            data, anc = receive(sock, RECV_BUFSIZE)
        except (BlockingIOError, InterruptedError):
            return None
        except OSError as exc:
            return exc
        handle(data, parse_ancillary(anc), time.time_ns())


@dataclass
class Pacer:
    """Waits for absolute deadlines: in select() (reading replies) until a margin before the
    slot, then spins. The margin follows the measured wake-up overshoot (2 x its average +
    0.2 ms, kept within 0.3-1.5 ms), so sends are on time without spinning more than needed.
    Replies go to `handle`; socket errors met while reading go to `on_error`.
    """

    sock: socket.socket
    handle: Handler
    on_error: ErrorHandler | None = None
    overshoot_ns: float = SPIN_MIN_NS / 2
    use_select: bool = True

    def margin_ns(self) -> int:
        """How long before a slot the pacer stops sleeping and starts spinning."""
        return int(min(SPIN_MAX_NS, max(SPIN_MIN_NS, 2 * self.overshoot_ns + 200_000)))

    def block(self, seconds: float) -> bool:
        """Sleep up to `seconds`; True if a datagram is waiting."""
        if self.use_select:
            try:
                return bool(select.select([self.sock], [], [], seconds)[0])
            except ValueError:  # descriptor above FD_SETSIZE
                self.use_select = False
        time.sleep(seconds)
        return False

    def drain(self) -> None:
        """Read every queued datagram now."""
        error = drain(self.sock, self.handle)
        if error is not None and self.on_error is not None:
            self.on_error(error)

    def wait(self, deadline: int) -> int:
        """Return once perf_counter_ns() >= deadline, with that reading."""
        while deadline - (now := time.perf_counter_ns()) > (margin := self.margin_ns()):
            target = deadline - margin
            if self.block((target - now) / 1e9):
                self.drain()
                continue
            overshoot = min(OVERSHOOT_CAP_NS, time.perf_counter_ns() - target)
            self.overshoot_ns += (overshoot - self.overshoot_ns) / 8
        while (now := time.perf_counter_ns()) < deadline:
            pass
        return now

    def stragglers(
        self, timeout_ns: int, outstanding: Callable[[], bool], cancel: threading.Event | None
    ) -> bool:
        """Keep reading for up to `timeout_ns` while `outstanding()`; True if cancelled."""
        end = time.perf_counter_ns() + timeout_ns
        while outstanding() and (left := end - time.perf_counter_ns()) > 0:
            if cancel is not None and cancel.is_set():
                return True
            if self.block(min(STRAGGLER_POLL_S, left / 1e9)):
                self.drain()
        return False


@dataclass
class ProgressGate:
    """Lets a progress callback run at most every PROGRESS_EVERY_NS, and only when the next
    send slot is more than PROGRESS_MIN_SLACK_NS away, so the callback cannot delay a send.
    """

    last_ns: int

    def due(self, next_deadline_ns: int) -> bool:
        """True (and restart the period) if progress may be reported now."""
        now = time.perf_counter_ns()
        if (
            now - self.last_ns < PROGRESS_EVERY_NS
            or next_deadline_ns - now <= PROGRESS_MIN_SLACK_NS
        ):
            return False
        self.last_ns = now
        return True
