"""TPKT (RFC 1006) framing and Q.931 messages as H.225.0 call signalling uses them (sans-IO).

H.225.0 sends each Q.931 message in one TPKT frame (version 3, a reserved octet, a 16-bit
length that includes the 4-octet header). Its Q.931 differs from ISDN's in one way that
matters to a parser: the User-user information element (0x7E) has a 2-octet length.
Parsers raise only ValueError.
"""

from __future__ import annotations

from dataclasses import dataclass

TPKT_VERSION = 3
TPKT_HEADER = 4
MAX_TPKT = 65535
Q931_PD = 0x08
MSG_SETUP = 0x05
MSG_RELEASE_COMPLETE = 0x5A
IE_BEARER = 0x04
IE_CAUSE = 0x08
IE_DISPLAY = 0x28
IE_USER_USER = 0x7E


@dataclass(frozen=True)
class Q931Message:
    """A Q.931 message: call reference value, message type, information elements."""

    call_reference: bytes
    message_type: int
    elements: tuple[tuple[int, bytes], ...]

    def element(self, ie: int) -> bytes | None:
        """The contents of the first element with this identifier, None if absent."""
        return next((v for i, v in self.elements if i == ie), None)


def q931_message(
    call_reference: bytes, message_type: int, elements: list[tuple[int, bytes]]
) -> bytes:
    out = bytearray([Q931_PD, len(call_reference)]) + call_reference + bytes([message_type])
    for ie, value in elements:
        if ie == IE_USER_USER:
            out += bytes([ie]) + len(value).to_bytes(2, "big") + value
        else:
            if len(value) > 255:
                raise ValueError("information element too long")
            out += bytes([ie, len(value)]) + value
    return bytes(out)


def tpkt(payload: bytes) -> bytes:
    """Frame `payload` in TPKT (version 3, reserved 0, 16-bit length including the header)."""
    if len(payload) + TPKT_HEADER > MAX_TPKT:
        raise ValueError("TPKT payload too long")
    return bytes([TPKT_VERSION, 0]) + (len(payload) + TPKT_HEADER).to_bytes(2, "big") + payload


def split_tpkt(data: bytes) -> tuple[bytes, bytes] | None:
    """(payload, rest) of the first TPKT frame; None while incomplete; ValueError if not TPKT."""
    if len(data) >= 2 and (data[0] != TPKT_VERSION or data[1] != 0):
        raise ValueError("not a TPKT frame")
    if len(data) < TPKT_HEADER:
        return None
    length = int.from_bytes(data[2:4], "big")
    if length < TPKT_HEADER + 1:
        raise ValueError(f"TPKT length {length} is too small")
    if len(data) < length:
        return None
    return data[TPKT_HEADER:length], data[length:]


def parse_q931(payload: bytes) -> Q931Message:
    """A Q.931 message with H.225's framing (User-user has a 2-octet length)."""
    if len(payload) < 3 or payload[0] != Q931_PD:
        raise ValueError("not a Q.931 message")
    crv_len = payload[1] & 0x0F
    pos = 2 + crv_len
    if pos >= len(payload):
        raise ValueError("Q.931 message ends early")
    crv, message_type = payload[2:pos], payload[pos]
    pos += 1
    elements: list[tuple[int, bytes]] = []
    while pos < len(payload):
        ie = payload[pos]
        if ie & 0x80:  # single-octet element
            elements.append((ie, b""))
            pos += 1
            continue
        if ie == IE_USER_USER:
            if pos + 3 > len(payload):
                raise ValueError("User-user element ends early")
            size, pos = int.from_bytes(payload[pos + 1 : pos + 3], "big"), pos + 3
        else:
            if pos + 2 > len(payload):
                raise ValueError("information element ends early")
            size, pos = payload[pos + 1], pos + 2
        if pos + size > len(payload):
            raise ValueError(f"information element 0x{ie:02x} ends early")
        elements.append((ie, payload[pos : pos + size]))
        pos += size
    return Q931Message(crv, message_type, tuple(elements))
