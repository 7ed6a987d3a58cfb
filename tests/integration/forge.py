"""Forged UDP datagrams on loopback: the attacker's tool for the responder's attack tests.

A raw IPv4 socket (IPPROTO_RAW implies IP_HDRINCL) sends datagrams whose IP header we
write ourselves, so the source address and port are whatever the test says. Needs root
(tests call `tests.conftest.require_root` first). Every destination must be on
127.0.0.0/8: a forged packet never leaves the host. The UDP checksum is 0 (none), which
IPv4 allows.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from types import TracebackType

_IP_HEADER = struct.Struct("!BBHHHBBH4s4s")
_UDP_HEADER = struct.Struct("!HHHH")


def _checksum(header: bytes) -> int:
    total = sum(struct.unpack(f"!{len(header) // 2}H", header))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def udp_datagram(source: tuple[str, int], destination: tuple[str, int], payload: bytes) -> bytes:
    """IPv4 header + UDP header + payload, from `source` to `destination`."""
    udp_len = _UDP_HEADER.size + len(payload)
    src, dst = socket.inet_aton(source[0]), socket.inet_aton(destination[0])
    header = _IP_HEADER.pack(0x45, 0, 20 + udp_len, 0, 0x4000, 64, socket.IPPROTO_UDP, 0, src, dst)
    header = header[:10] + struct.pack("!H", _checksum(header)) + header[12:]
    return header + _UDP_HEADER.pack(source[1], destination[1], udp_len, 0) + payload


class Forger:
    """Sends UDP datagrams with any source to loopback destinations only."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
        self.sent = 0

    def send(self, source: tuple[str, int], destination: tuple[str, int], payload: bytes) -> None:
        """One forged datagram; refuses any destination outside 127.0.0.0/8."""
        if not ipaddress.ip_address(destination[0]).is_loopback:
            raise ValueError(f"forged packets go to loopback only, not {destination[0]}")
        self.sock.sendto(udp_datagram(source, destination, payload), (destination[0], 0))
        self.sent += 1

    def __enter__(self) -> Forger:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.sock.close()
