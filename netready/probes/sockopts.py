"""Socket options for measurement: kernel RX timestamps, TTL and TOS, clock sync state.

Option numbers come from the `socket` module where it has them; Linux's numbers are used
only on Linux (macOS and Windows give the same names other numbers). An option this OS does
not have is None, and whatever needs it does without: no kernel timestamp, no TTL or TOS
seen. Where there is no recvmsg (Windows), datagrams are read with recvfrom and carry no
ancillary data, so their receive time is taken in user space.
"""

from __future__ import annotations

import ctypes
import socket
import struct
import sys
from dataclasses import dataclass


def option_number(name: str, linux_value: int) -> int | None:
    """The socket module's constant `name`, else Linux's number on Linux, else None."""
    value = getattr(socket, name, None)
    if isinstance(value, int):
        return value
    return linux_value if sys.platform.startswith("linux") else None


SO_TIMESTAMPNS = option_number("SO_TIMESTAMPNS", 35)  # cmsg (SOL_SOCKET, 35): struct timespec
IP_TOS = option_number("IP_TOS", 1)
IP_TTL = option_number("IP_TTL", 2)
IP_RECVTTL = option_number("IP_RECVTTL", 12)
IP_RECVTOS = option_number("IP_RECVTOS", 13)
IPV6_RECVHOPLIMIT = option_number("IPV6_RECVHOPLIMIT", 51)
IPV6_HOPLIMIT = option_number("IPV6_HOPLIMIT", 52)
IPV6_RECVTCLASS = option_number("IPV6_RECVTCLASS", 66)
IPV6_TCLASS = option_number("IPV6_TCLASS", 67)
IPV6_UNICAST_HOPS = option_number("IPV6_UNICAST_HOPS", 16)

_TIMESPEC = struct.Struct("@qq")
_INT = struct.Struct("@i")


def _ancillary_bufsize() -> int:
    """Room for a timestamp and two int cmsgs; 0 where the OS has no CMSG_SPACE (Windows)."""
    cmsg_space = getattr(socket, "CMSG_SPACE", None)
    if cmsg_space is None:
        return 0
    return int(cmsg_space(_TIMESPEC.size)) + 2 * int(cmsg_space(_INT.size))


ANCILLARY_BUFSIZE = _ancillary_bufsize()
HAS_RECVMSG = hasattr(socket.socket, "recvmsg") and ANCILLARY_BUFSIZE > 0

STA_UNSYNC = 0x0040  # struct timex status bit: clock not synchronised
TIME_ERROR = 5  # adjtimex() return value: clock not synchronised

AncillaryData = list[tuple[int, int, bytes]]


@dataclass(frozen=True)
class RxMeta:
    """What the kernel told us about one received datagram; None where it said nothing."""

    kernel_ns: int | None = None
    ttl: int | None = None
    tos: int | None = None


def _int_or_byte(data: bytes) -> int | None:
    if len(data) >= _INT.size:
        return int(_INT.unpack_from(data)[0]) & 0xFF
    return data[0] if len(data) == 1 else None


# The cmsg types that carry them: Linux sends IP_TTL / IP_TOS, macOS and the BSDs send
# IP_RECVTTL / IP_RECVTOS (the option's own number); IPv6 uses IPV6_HOPLIMIT / IPV6_TCLASS.
_TTL_CMSGS = {
    (socket.IPPROTO_IP, IP_TTL),
    (socket.IPPROTO_IP, IP_RECVTTL),
    (socket.IPPROTO_IPV6, IPV6_HOPLIMIT),
}
_TOS_CMSGS = {
    (socket.IPPROTO_IP, IP_TOS),
    (socket.IPPROTO_IP, IP_RECVTOS),
    (socket.IPPROTO_IPV6, IPV6_TCLASS),
}


def parse_ancillary(ancdata: AncillaryData) -> RxMeta:
    """Kernel timestamp, TTL / hop limit and TOS / traffic class from recvmsg ancillary data."""
    kernel_ns = ttl = tos = None
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= _TIMESPEC.size:
            seconds, nanos = _TIMESPEC.unpack_from(data)
            kernel_ns = seconds * 1_000_000_000 + nanos
        elif (level, kind) in _TTL_CMSGS:
            ttl = _int_or_byte(data)
        elif (level, kind) in _TOS_CMSGS:
            tos = _int_or_byte(data)
    return RxMeta(kernel_ns, ttl, tos)


def receive(sock: socket.socket, bufsize: int) -> tuple[bytes, AncillaryData]:
    """One datagram and its ancillary data (none where the OS has no recvmsg)."""
    if HAS_RECVMSG:
        data, anc, _flags, _addr = sock.recvmsg(bufsize, ANCILLARY_BUFSIZE)
        return data, anc
    return sock.recvfrom(bufsize)[0], []


def _try_setsockopt(sock: socket.socket, level: int, option: int | None, value: int) -> bool:
    if option is None:  # not on this OS
        return False
    try:
        sock.setsockopt(level, option, value)
    except OSError:
        return False
    return True


def enable_rx_metadata(sock: socket.socket) -> bool:
    """Ask for kernel RX timestamps, TTL and TOS on `sock`; True if kernel timestamps are on."""
    stamped = _try_setsockopt(sock, socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    if sock.family == socket.AF_INET6:
        _try_setsockopt(sock, socket.IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1)
        _try_setsockopt(sock, socket.IPPROTO_IPV6, IPV6_RECVTCLASS, 1)
    # An AF_INET6 socket also receives IPv4 (mapped) datagrams; their metadata comes as IP cmsgs.
    _try_setsockopt(sock, socket.IPPROTO_IP, IP_RECVTTL, 1)
    _try_setsockopt(sock, socket.IPPROTO_IP, IP_RECVTOS, 1)
    return stamped


def tx_dscp_unsupported_reason() -> str:
    """Why DSCP marks set here would not reach the wire; "" where they do.

    Windows accepts IP_TOS and sends unmarked packets (only a Group Policy QoS rule marks),
    so a path that keeps EF would look bleached.
    """
    if sys.platform == "win32":
        return (
            "Windows sends an application's packets unmarked (DSCP is set only by a QoS "
            "policy), so whether the path keeps the marking cannot be tested from this computer"
        )
    return ""


def set_tx_tos(sock: socket.socket, tos: int) -> bool:
    """Mark outgoing datagrams with `tos` (DSCP << 2 | ECN); True if the kernel accepted it."""
    if sock.family == socket.AF_INET6:
        return _try_setsockopt(sock, socket.IPPROTO_IPV6, IPV6_TCLASS, tos)
    return _try_setsockopt(sock, socket.IPPROTO_IP, IP_TOS, tos)


def set_tx_ttl(sock: socket.socket, ttl: int) -> bool:
    """Send with a known TTL / hop limit, so the far end can tell the hop count."""
    if sock.family == socket.AF_INET6:
        return _try_setsockopt(sock, socket.IPPROTO_IPV6, IPV6_UNICAST_HOPS, ttl)
    return _try_setsockopt(sock, socket.IPPROTO_IP, IP_TTL, ttl)


class _Timex(ctypes.Structure):
    # The leading fields of struct timex (<sys/timex.h>); the padding covers the rest.
    _fields_ = (
        ("modes", ctypes.c_uint),
        ("offset", ctypes.c_long),
        ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long),
        ("esterror", ctypes.c_long),
        ("status", ctypes.c_int),
        ("_rest", ctypes.c_byte * 256),
    )


def clock_is_synchronised() -> bool:
    """True if the kernel says the system clock is synchronised (adjtimex); False on any doubt."""
    if not sys.platform.startswith("linux"):  # adjtimex is Linux's
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        timex = _Timex()  # modes = 0: read only, needs no privilege
        state = int(libc.adjtimex(ctypes.byref(timex)))
    except (OSError, AttributeError, TypeError):
        return False
    return 0 <= state != TIME_ERROR and not timex.status & STA_UNSYNC
