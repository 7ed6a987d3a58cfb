"""The responder's UDP plumbing: binding with clear errors, addresses, reply source.

When bound to a wildcard address (0.0.0.0 or ::) the sockets ask for the
packet's destination address (IP_PKTINFO / IPV6_PKTINFO) and reply from it,
so a multi-homed host answers from the address the client probed; the client
only accepts replies from that address.

The sockets themselves are served by `netready.responder.stamp_io` (the STAMP
port) and `netready.responder.media_ports` (every port of the media ranges).
"""

from __future__ import annotations

import errno
import ipaddress
import socket
import struct
import sys
from collections.abc import Callable, Iterable
from typing import Protocol

from netready.errors import NetreadyError
from netready.model import PortRange
from netready.probes.sockopts import AncillaryData, option_number

#: At most this many datagrams are handled per readiness event, so one busy
#: socket cannot starve the others.
BURST = 64

# Ancillary-data numbers (Linux's where Python 3.11 does not name them; more in
# netready.probes.sockopts); None on a system without them.
IP_PKTINFO = option_number("IP_PKTINFO", 8)
IPV6_RECVPKTINFO = option_number("IPV6_RECVPKTINFO", 49)
IPV6_PKTINFO = option_number("IPV6_PKTINFO", 50)

#: Ancillary buffer: timestamp, TTL, TOS and the destination address (PKTINFO).
ANC_SIZE = 256
_IFINDEX = struct.Struct("i")


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
    sock = socket.socket(family, kind | socket.SOCK_NONBLOCK)  # one system call less
    try:
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
    if IP_PKTINFO is None or IPV6_RECVPKTINFO is None:
        raise ResponderError(f"this system ({sys.platform}) has no IP_PKTINFO")
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
