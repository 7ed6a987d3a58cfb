"""STAMP on the responder's sockets: read with kernel metadata, reflect, send with the TOS.

`StampService` is shared by the STAMP port and every media port: one receive buffer
(`max_packet` + 1 bytes, so a longer datagram shows as truncated), one reflector, one
set of counters. Each datagram is read with its kernel receive timestamp, TTL and
TOS; the reply leaves with the TOS the reflector asks for (set on the socket only when
it changes) and, for wildcard-bound sockets, from the address the request was sent to.

A reply is never longer than its request: the service checks that too, whatever
reflector it is given. Before the reflector sees a datagram, `UdpGuard` refuses
sources that are the responder's own sockets or privileged ports (a forged packet
would otherwise make two reflectors, or our STAMP and media ports, reflect to each
other); every reply is charged to the global reply budget.
"""

from __future__ import annotations

import contextlib
import socket
import time

from netready.probes.sockopts import (
    IP_TOS,
    IPV6_TCLASS,
    AncillaryData,
    enable_rx_metadata,
    parse_ancillary,
)
from netready.responder.limits import AllowList
from netready.responder.udp_guard import UdpGuard
from netready.responder.udp_ports import (
    ANC_SIZE,
    BURST,
    ResponderError,
    StampReflectorLike,
    enable_pktinfo,
    is_wildcard,
    reply_pktinfo,
)

Address = tuple[str, int] | tuple[str, int, int, int]


class StampService:
    """Reflects STAMP datagrams read by any responder socket and sends the replies."""

    def __init__(
        self,
        reflector: StampReflectorLike,
        max_packet: int,
        allow: AllowList,
        guard: UdpGuard | None = None,
    ) -> None:
        self.reflector = reflector
        self.allow = allow
        self.guard = guard or UdpGuard("0.0.0.0")
        self.max_packet = max_packet
        self.buf = bytearray(max_packet + 1)
        self.view = memoryview(self.buf)
        self.reflected = 0
        self.dropped = 0
        self.drops: dict[str, int] = {}  # drops decided here (the reflector counts its own)
        self._tos: dict[int, int] = {}  # socket fd -> TOS currently set on it

    def drop(self, reason: str) -> None:
        """Count a datagram that was not answered, by reason."""
        self.dropped += 1
        self.drops[reason] = self.drops.get(reason, 0) + 1

    def handle(
        self,
        sock: socket.socket,
        size: int,
        anc: AncillaryData,
        flags: int,
        addr: Address,
        pktinfo: bool,
    ) -> None:
        """Reflect the datagram now in `buf[:size]`, received on `sock` from `addr`."""
        if flags & socket.MSG_TRUNC or size > self.max_packet:
            self.drop("too-large")
            return
        host = str(addr[0])
        if not self.allow.permits(host):
            self.drop("not-allowed")
            return
        refused = self.guard.refuse_source(host, int(addr[1]), anc)
        if refused is not None:
            self.drop(refused)
            return
        meta = parse_ancillary(anc)
        rx_ns = meta.kernel_ns or time.time_ns()
        data = bytes(self.view[:size])
        try:
            answer = self.reflector.reflect(
                data, (host, int(addr[1])), rx_ns, meta.ttl, meta.tos, time.time_ns
            )
        except Exception:  # a reflector bug must not stop the loop
            self.drop("error")
            return
        if answer is None:
            self.dropped += 1  # the reflector counts why
            return
        reply, tos = answer
        if len(reply) > size:
            self.drop("would-amplify")
            return
        over_budget = self.guard.admit_reply(len(reply), time.monotonic_ns())
        if over_budget is not None:
            self.drop(over_budget)
            return
        self.set_tos(sock, 0 if tos is None else tos & 0xFF)
        try:
            sock.sendmsg([reply], reply_pktinfo(anc) if pktinfo else [], 0, addr)
        except OSError:
            self.drop("send-error")
            return
        self.reflected += 1

    def set_tos(self, sock: socket.socket, tos: int) -> None:
        """Make `sock` send with `tos` (DSCP << 2 | ECN); no system call if already set."""
        fd = sock.fileno()
        if self._tos.get(fd, 0) == tos:
            return
        if IP_TOS is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_IP, IP_TOS, tos)
        if sock.family == socket.AF_INET6 and IPV6_TCLASS is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_IPV6, IPV6_TCLASS, tos)
        self._tos[fd] = tos

    def forget_sockets(self) -> None:
        """The sockets were closed: their descriptors may be reused with TOS 0."""
        self._tos.clear()


class StampPort:
    """The STAMP reflector socket (default port 862)."""

    def __init__(self, sock: socket.socket, service: StampService) -> None:
        if not enable_rx_metadata(sock):
            raise ResponderError("the kernel refused receive timestamps (SO_TIMESTAMPNS)")
        self.pktinfo = is_wildcard(str(sock.getsockname()[0]))
        if self.pktinfo:
            enable_pktinfo(sock)
        self.sock = sock
        self.service = service
        service.guard.add_socket(sock)

    def on_readable(self, sock: socket.socket) -> None:
        """Handle up to BURST datagrams; every failure is a counted drop."""
        service = self.service
        for _ in range(BURST):
            try:
                size, anc, flags, addr = sock.recvmsg_into([service.buf], ANC_SIZE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                service.drop("socket-error")
                continue
            service.handle(sock, size, anc, flags, addr, self.pktinfo)
