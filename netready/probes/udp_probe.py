"""Wire format of the UDP port probe that `netready responder` echoes (pure, no sockets).

A probe is exactly 22 bytes::

    0      4                     20     22
    +------+---------------------+------+
    | NRP1 | nonce (16 bytes)    | port |
    +------+---------------------+------+

`port` is the destination port the client sent the probe to, big-endian. The
responder echoes a valid probe from the socket it arrived on, byte for byte except
the magic, which becomes `NRE1` (`pack_echo`): an echo is never taken for a probe,
so a probe forged with one responder port as its source cannot make two echo ports
(or two responders) answer each other for ever. The client accepts `NRE1` echoes
and, from responders older than that rule, `NRP1` copies (`unpack_echo`); it counts
an echo only if both the nonce and the port match what it sent, so stray or forged
datagrams cannot make a port look open.
"""

from __future__ import annotations

import struct

MAGIC = b"NRP1"
ECHO_MAGIC = b"NRE1"  # the responder's echo of a probe: never answered again
NONCE_LEN = 16
PROBE_LEN = len(MAGIC) + NONCE_LEN + 2  # 22

_PORT = struct.Struct("!H")


def pack_probe(nonce: bytes, port: int) -> bytes:
    """Build the 22-byte probe for `port` carrying `nonce` (16 bytes)."""
    if len(nonce) != NONCE_LEN:
        raise ValueError(f"probe nonce must be {NONCE_LEN} bytes, got {len(nonce)}")
    if not 0 <= port <= 0xFFFF:
        raise ValueError(f"probe port must be 0-65535, got {port}")
    return MAGIC + bytes(nonce) + _PORT.pack(port)


def unpack_probe(data: bytes | bytearray | memoryview) -> tuple[bytes, int]:
    """Parse a probe into (nonce, port); raise ValueError saying what is wrong."""
    if len(data) != PROBE_LEN:
        raise ValueError(f"probe must be exactly {PROBE_LEN} bytes, got {len(data)}")
    if data[:4] != MAGIC:
        raise ValueError(f"probe must start with {MAGIC!r}, got {bytes(data[:4])!r}")
    nonce = bytes(data[4 : 4 + NONCE_LEN])
    (port,) = _PORT.unpack_from(data, 4 + NONCE_LEN)
    return nonce, port


def is_probe(data: bytes | bytearray | memoryview) -> bool:
    """True when `data` is a well-formed probe (the responder's fast path)."""
    return len(data) == PROBE_LEN and data[:4] == MAGIC


def pack_echo(probe: bytes | bytearray | memoryview) -> bytes:
    """The responder's echo of a well-formed probe: the same bytes under ECHO_MAGIC."""
    return ECHO_MAGIC + bytes(probe[len(MAGIC) : PROBE_LEN])


def unpack_echo(data: bytes | bytearray | memoryview) -> tuple[bytes, int]:
    """Parse an echo into (nonce, port): `NRE1`, or an older responder's `NRP1` copy."""
    if len(data) == PROBE_LEN and data[:4] == ECHO_MAGIC:
        data = MAGIC + bytes(data[4:])
    return unpack_probe(data)
