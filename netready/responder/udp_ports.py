"""The responder's UDP side: binding with clear errors, the probe echo ports, the STAMP port.

Every port of the configured UDP ranges gets its own non-blocking socket. A
datagram that is a well-formed netready probe (see `netready.probes.udp_probe`)
is echoed byte-for-byte from the socket it arrived on; anything else is dropped
silently and counted. The port field inside the probe is not compared with the
socket's port: the client checks it, and a provider may forward ports through
a NAT that renumbers them.

When bound to a wildcard address (0.0.0.0 or ::) the sockets ask for the
packet's destination address (IP_PKTINFO / IPV6_PKTINFO) and reply from it,
so a multi-homed host answers from the address the client probed; the client
only accepts replies from that address.

The STAMP port reads each datagram with its kernel receive timestamp, TTL and
TOS (IPv4 and IPv6 ancillary data), hands it to the reflector, and sends the
reply with the TOS the reflector asks for.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import socket
import struct
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Protocol

from netready.errors import NetreadyError
from netready.model import PortRange
from netready.probes.sockopts import (
    IP_TOS,
    IPV6_TCLASS,
    AncillaryData,
    enable_rx_metadata,
    parse_ancillary,
)
from netready.probes.udp_probe import PROBE_LEN, is_probe

#: At most this many datagrams are handled per readiness event, so one busy
#: socket cannot starve the others.
BURST = 64

# Linux ancillary-data numbers Python 3.11 does not name (more in netready.probes.sockopts).
IP_PKTINFO = 8
IPV6_RECVPKTINFO = 49
IPV6_PKTINFO = 50

#: Largest STAMP datagram read whole; longer ones are dropped as truncated.
STAMP_MAX = 9216
_ANC_SIZE = 256
_IFINDEX = struct.Struct("i")


#: A peer silent this long starts a new session when it comes back.
SESSION_IDLE_S = 30.0
#: Sessions remembered at most (hostile floods from many ports cannot grow memory).
SESSION_CAP = 4096


class ResponderError(NetreadyError):
    """The responder cannot start or run; the message says why in one line."""


class BindError(ResponderError):
    """A port could not be bound; the message names the transport, port and address."""

    def __init__(
        self, transport: str, port: int, address: str, err: OSError, role: str = ""
    ) -> None:
        self.transport = transport
        self.port = port
        self.address = address
        self.errno = err.errno
        what = f"{transport.upper()} port {port}" + (f" ({role})" if role else "")
        hint = ""
        if err.errno == errno.EADDRINUSE:
            hint = "; another program already uses it"
        elif err.errno == errno.EACCES:
            hint = "; ports below 1024 need root or CAP_NET_BIND_SERVICE"
        elif err.errno == errno.EADDRNOTAVAIL:
            hint = "; that address is not configured on this host"
        reason = err.strerror or str(err)
        super().__init__(f"cannot bind {what} on {address}: {reason}{hint}")


def address_family(host: str) -> socket.AddressFamily:
    """AF_INET or AF_INET6 for a literal address (or a name that resolves locally)."""
    try:
        return socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    except ValueError:
        pass
    try:
        info = socket.getaddrinfo(host, None, type=socket.SOCK_DGRAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ResponderError(f"cannot listen on {host!r}: {exc.strerror}") from exc
    return info[0][0]


def bind_socket(
    family: socket.AddressFamily, kind: socket.SocketKind, host: str, port: int, role: str = ""
) -> socket.socket:
    """A non-blocking socket bound to (host, port); BindError names the port on failure."""
    transport = "tcp" if kind == socket.SOCK_STREAM else "udp"
    sock = socket.socket(family, kind)
    try:
        sock.setblocking(False)
        if kind == socket.SOCK_STREAM:
            # TCP only: lets a restarted responder bind while old connections sit in
            # TIME_WAIT. Never on UDP, where it would let two programs share a port.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise BindError(transport, port, host, exc, role) from exc
    return sock


def is_wildcard(host: str) -> bool:
    """True for 0.0.0.0 and :: (bound to every address of the host)."""
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False


def enable_pktinfo(sock: socket.socket) -> None:
    """Ask for each datagram's destination address (for wildcard-bound sockets)."""
    try:
        sock.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
    except OSError:
        if sock.family == socket.AF_INET:
            raise
    if sock.family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVPKTINFO, 1)


def reply_pktinfo(anc: AncillaryData) -> AncillaryData:
    """AncillaryData data that makes a reply leave from the received datagram's destination."""
    for level, kind, blob in anc:
        if level == socket.IPPROTO_IPV6 and kind == IPV6_PKTINFO and len(blob) >= 20:
            return [(level, kind, blob[:20])]
    for level, kind, blob in anc:
        if level == socket.IPPROTO_IP and kind == IP_PKTINFO and len(blob) >= 12:
            # struct in_pktinfo {ifindex, spec_dst, addr}: source := addr, any interface.
            return [(level, kind, _IFINDEX.pack(0) + blob[8:12] + blob[8:12])]
    return []


def iter_ports(ranges: Iterable[PortRange]) -> Iterable[int]:
    """Every port of `ranges`, in order."""
    for r in ranges:
        yield from r.ports()


class UdpEchoPorts:
    """The UDP probe ports: binds one socket per port and echoes valid probes."""

    def __init__(self) -> None:
        self.sockets: list[socket.socket] = []
        self.echoed = 0
        self.dropped = 0
        self.on_readable: Callable[[socket.socket], None] = self._on_readable

    def bind(self, family: socket.AddressFamily, host: str, ranges: Iterable[PortRange]) -> None:
        """Bind every port of `ranges`; on failure close what was bound and raise BindError."""
        wildcard = is_wildcard(host)
        if wildcard:
            self.on_readable = self._on_readable_pktinfo
        try:
            for port in iter_ports(ranges):
                sock = bind_socket(family, socket.SOCK_DGRAM, host, port)
                self.sockets.append(sock)
                if wildcard:
                    enable_pktinfo(sock)
        except BaseException:
            self.close()
            raise

    def _on_readable(self, sock: socket.socket) -> None:
        """Handle up to BURST datagrams waiting on `sock`; never raises for bad input."""
        for _ in range(BURST):
            try:
                # One byte more than a probe, so an oversized datagram shows as such.
                data, peer = sock.recvfrom(PROBE_LEN + 1)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                self.dropped += 1
                continue
            if not is_probe(data):
                self.dropped += 1
                continue
            try:
                sock.sendto(data, peer)
            except OSError:
                self.dropped += 1
            else:
                self.echoed += 1

    def _on_readable_pktinfo(self, sock: socket.socket) -> None:
        """As _on_readable, replying from the address the probe was sent to."""
        for _ in range(BURST):
            try:
                data, anc, _flags, peer = sock.recvmsg(PROBE_LEN + 1, _ANC_SIZE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                self.dropped += 1
                continue
            if not is_probe(data):
                self.dropped += 1
                continue
            try:
                sock.sendmsg([data], reply_pktinfo(anc), 0, peer)
            except OSError:
                self.dropped += 1
            else:
                self.echoed += 1

    def close(self) -> None:
        """Close every socket."""
        for sock in self.sockets:
            sock.close()
        self.sockets.clear()


class StampReflectorLike(Protocol):
    """What the STAMP port needs from a reflector (netready.responder.stamp_reflector)."""

    def reflect(
        self,
        data: bytes,
        peer: tuple[str, int],
        rx_ns: int,
        rx_ttl: int | None,
        rx_tos: int | None,
        now_ns: Callable[[], int],
    ) -> tuple[bytes, int | None] | None:
        """The reply and the TOS to send it with (None = default), or None to drop."""
        ...


class SessionLog:
    """Remembers recent STAMP peers so the log has one line per session start."""

    def __init__(self, log: Callable[[str], None]) -> None:
        self._log = log
        self._last: OrderedDict[tuple[str, int], float] = OrderedDict()
        self.started = 0

    def seen(self, peer: tuple[str, int], now: float) -> None:
        """Note a reflected packet from `peer`; logs when it starts a session."""
        last = self._last.pop(peer, None)
        if last is None or now - last > SESSION_IDLE_S:
            self.started += 1
            host, port = peer
            self._log(f"STAMP session from {f'[{host}]' if ':' in host else host}:{port}")
        self._last[peer] = now
        while self._last:
            oldest, when = next(iter(self._last.items()))
            if len(self._last) <= SESSION_CAP and now - when <= SESSION_IDLE_S:
                break
            del self._last[oldest]


class StampPort:
    """The STAMP reflector socket: reads with timestamps, reflects, counts."""

    def __init__(
        self, sock: socket.socket, reflector: StampReflectorLike, log: Callable[[str], None]
    ) -> None:
        if not enable_rx_metadata(sock):
            raise ResponderError("the kernel refused receive timestamps (SO_TIMESTAMPNS)")
        self.pktinfo = is_wildcard(str(sock.getsockname()[0]))
        if self.pktinfo:
            enable_pktinfo(sock)
        self.sock = sock
        self.reflector = reflector
        self.sessions = SessionLog(log)
        self.reflected = 0
        self.dropped = 0
        self._buf = bytearray(STAMP_MAX)

    def on_readable(self, sock: socket.socket) -> None:
        """Handle up to BURST datagrams; every failure is a counted drop."""
        for _ in range(BURST):
            try:
                size, anc, flags, addr = sock.recvmsg_into([self._buf], _ANC_SIZE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                self.dropped += 1
                continue
            if flags & socket.MSG_TRUNC:
                self.dropped += 1
                continue
            try:
                self._reflect(bytes(self._buf[:size]), anc, addr)
            except Exception:  # hostile input must never stop the loop
                self.dropped += 1

    def _reflect(
        self, data: bytes, anc: list[tuple[int, int, bytes]], addr: tuple[str, int]
    ) -> None:
        meta = parse_ancillary(anc)
        peer = (str(addr[0]), int(addr[1]))
        rx_ns = meta.kernel_ns or time.time_ns()
        answer = self.reflector.reflect(data, peer, rx_ns, meta.ttl, meta.tos, now_ns=time.time_ns)
        if answer is None:
            self.dropped += 1
            return
        reply, reply_tos = answer
        src = reply_pktinfo(anc) if self.pktinfo else []
        if reply_tos is None:
            self.sock.sendmsg([reply], src, 0, addr)
        else:
            self._send_with_tos(reply, src, addr, reply_tos)
        self.reflected += 1
        self.sessions.seen(peer, time.monotonic())

    def _send_with_tos(
        self, reply: bytes, src: AncillaryData, addr: tuple[str, int], tos: int
    ) -> None:
        v6 = self.sock.family == socket.AF_INET6
        levels = [(socket.IPPROTO_IP, IP_TOS)]
        if v6:
            levels.append((socket.IPPROTO_IPV6, IPV6_TCLASS))
        for level, opt in levels:
            with contextlib.suppress(OSError):
                self.sock.setsockopt(level, opt, tos & 0xFF)
        try:
            self.sock.sendmsg([reply], src, 0, addr)
        finally:
            for level, opt in levels:
                with contextlib.suppress(OSError):
                    self.sock.setsockopt(level, opt, 0)
