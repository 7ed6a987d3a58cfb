"""STAMP TLVs (RFC 8972 §4) and HMACs: framing, CoS, Extra Padding, HMAC TLV, base HMAC.

Pure bytes in and out; `netready.probes.stamp` re-exports every public name here.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
from dataclasses import dataclass

BASE_SIZE = 44  # both unauthenticated packets; TLVs start here (RFC 8972 §4)
AUTH_BASE_SIZE = 112  # both authenticated packets (RFC 8762 §4.2.2, §4.3.2)
HMAC_OFFSET = 96  # the base HMAC covers the octets before it (RFC 8762 §4.4)
HMAC_SIZE = 16  # HMAC-SHA-256 truncated to 128 bits

TLV_HEADER_SIZE = 4
TLV_FLAG_U = 0x80  # unrecognised
TLV_FLAG_M = 0x40  # malformed
TLV_FLAG_I = 0x20  # integrity check failed
TLV_EXTRA_PADDING = 1
TLV_CLASS_OF_SERVICE = 4
TLV_HMAC = 8
COS_VALUE_SIZE = 4

_TLV_HEADER = struct.Struct("!BBH")


@dataclass(frozen=True)
class Tlv:
    """One RFC 8972 TLV: flags (U/M/I), type and value (the length is len(value))."""

    type: int
    value: bytes
    flags: int = 0


def pack_tlv(tlv: Tlv) -> bytes:
    """Encode one TLV (header and value)."""
    if len(tlv.value) > 0xFFFF:
        raise ValueError(f"TLV value of {len(tlv.value)} bytes does not fit a 16-bit length")
    return _TLV_HEADER.pack(tlv.flags, tlv.type, len(tlv.value)) + tlv.value


def parse_tlvs(data: bytes) -> list[Tlv]:
    """All TLVs in `data` (the bytes after the base packet); ValueError if any is malformed."""
    tlvs, offset = [], 0
    while offset < len(data):
        if len(data) - offset < TLV_HEADER_SIZE:
            raise ValueError(
                f"TLV header at offset {offset} is cut off after {len(data) - offset} bytes"
            )
        flags, kind, length = _TLV_HEADER.unpack_from(data, offset)
        end = offset + TLV_HEADER_SIZE + length
        if end > len(data):
            raise ValueError(
                f"TLV type {kind} at offset {offset} claims {length} bytes;"
                f" only {len(data) - offset - TLV_HEADER_SIZE} follow"
            )
        if kind == TLV_CLASS_OF_SERVICE and length != COS_VALUE_SIZE:
            raise ValueError(
                f"Class of Service TLV has length {length}; it must be {COS_VALUE_SIZE}"
            )
        if kind == TLV_HMAC and length != HMAC_SIZE:
            raise ValueError(f"HMAC TLV has length {length}; it must be {HMAC_SIZE}")
        tlvs.append(Tlv(kind, bytes(data[offset + TLV_HEADER_SIZE : end]), flags))
        offset = end
    return tlvs


@dataclass(frozen=True)
class ClassOfService:
    """Class of Service TLV value (RFC 8972 §4.4 with erratum 8199): DSCP1, DSCP2, ECN, RP."""

    dscp1: int
    dscp2: int = 0
    ecn: int = 0
    rp: int = 0


def pack_cos(cos: ClassOfService) -> bytes:
    """Encode a 4-byte Class of Service value (reserved bits zero)."""
    if not (0 <= cos.dscp1 < 64 and 0 <= cos.dscp2 < 64 and 0 <= cos.ecn < 4 and 0 <= cos.rp < 4):
        raise ValueError(f"Class of Service fields out of range: {cos}")
    return bytes(
        (cos.dscp1 << 2 | cos.dscp2 >> 4, (cos.dscp2 & 0xF) << 4 | cos.ecn << 2 | cos.rp, 0, 0)
    )


def unpack_cos(value: bytes) -> ClassOfService:
    """Decode a 4-byte CoS value; the reserved 16 bits are ignored."""
    if len(value) != COS_VALUE_SIZE:
        raise ValueError(
            f"Class of Service value is {len(value)} bytes; it must be {COS_VALUE_SIZE}"
        )
    b0, b1 = value[0], value[1]
    return ClassOfService(b0 >> 2, (b0 & 0x3) << 4 | b1 >> 4, b1 >> 2 & 0x3, b1 & 0x3)


def padding_tlv(total_size: int, fill: bytes | None = None) -> bytes:
    """An Extra Padding TLV of exactly `total_size` bytes (header included), random by default."""
    if total_size < TLV_HEADER_SIZE:
        raise ValueError(
            f"an Extra Padding TLV needs at least {TLV_HEADER_SIZE} bytes, not {total_size}"
        )
    size = total_size - TLV_HEADER_SIZE
    value = os.urandom(size) if fill is None else (fill * size)[:size]
    return pack_tlv(Tlv(TLV_EXTRA_PADDING, value, TLV_FLAG_U))


def sender_tlvs(
    payload_bytes: int, dscp: int, fill: bytes | None = None, authenticated: bool = False
) -> bytes:
    """TLVs for a test packet of `payload_bytes`: CoS TLV asking for `dscp` back, then padding.

    Authenticated packets end with an HMAC TLV (RFC 8972 §4.8), left zero here: `seal` fills
    it in; their base is 112 bytes, so they need `payload_bytes` >= 140.
    """
    base = AUTH_BASE_SIZE if authenticated else BASE_SIZE
    cos = pack_tlv(Tlv(TLV_CLASS_OF_SERVICE, pack_cos(ClassOfService(dscp)), TLV_FLAG_U))
    tail = pack_tlv(Tlv(TLV_HMAC, bytes(HMAC_SIZE), TLV_FLAG_U)) if authenticated else b""
    room = payload_bytes - base - len(cos) - len(tail)
    if room == 0:
        return cos + tail
    if room < TLV_HEADER_SIZE:
        raise ValueError(
            f"payload of {payload_bytes} bytes leaves {room} bytes, too few for padding"
            + (f" (at least {base + len(cos) + len(tail)} are needed)" if room < 0 else "")
        )
    return cos + padding_tlv(room, fill) + tail


def tlv_hmac(key: bytes, seq: bytes | bytearray, tlvs_before: bytes | bytearray) -> bytes:
    """HMAC TLV value (RFC 8972 §4.8): over the Sequence Number and the TLVs before it."""
    return hmac.digest(key, bytes(seq) + bytes(tlvs_before), hashlib.sha256)[:HMAC_SIZE]


def hmac_tlv_offset(area: bytes | bytearray) -> int | None:
    """Offset of the HMAC TLV in a well-framed TLV area where only Extra Padding follows it."""
    found, offset = None, 0
    while offset + TLV_HEADER_SIZE <= len(area):
        _flags, kind, length = _TLV_HEADER.unpack_from(area, offset)
        if found is not None and kind != TLV_EXTRA_PADDING:
            return None
        if kind == TLV_HMAC and found is None:
            if length != HMAC_SIZE:
                return None
            found = offset
        offset += TLV_HEADER_SIZE + length
    return found if offset == len(area) else None


def tlv_integrity_ok(key: bytes, seq: bytes | bytearray, area: bytes | bytearray) -> bool:
    """RFC 8972 §4.8 check of an authenticated packet's TLVs: a valid HMAC TLV placed last
    (Extra Padding may follow), or no TLVs but Extra Padding at all."""
    if not area:
        return True
    at = hmac_tlv_offset(area)
    if at is None:
        try:
            return all(t.type == TLV_EXTRA_PADDING for t in parse_tlvs(bytes(area)))
        except ValueError:
            return False
    value = bytes(area[at + TLV_HEADER_SIZE : at + TLV_HEADER_SIZE + HMAC_SIZE])
    return hmac.compare_digest(tlv_hmac(key, seq, area[:at]), value)


def packet_hmac(key: bytes, data: bytes | bytearray) -> bytes:
    """HMAC-SHA-256/128 over the first 96 octets (RFC 8762 §4.4)."""
    return hmac.digest(key, bytes(data[:HMAC_OFFSET]), hashlib.sha256)[:HMAC_SIZE]


def verify_packet_hmac(key: bytes, data: bytes | bytearray) -> bool:
    """True if an authenticated packet's HMAC field matches (constant-time compare)."""
    if len(data) < AUTH_BASE_SIZE:
        return False
    return hmac.compare_digest(packet_hmac(key, data), bytes(data[HMAC_OFFSET:AUTH_BASE_SIZE]))


def seal(packet: bytearray, key: bytes, hmac_tlv_at: int | None = None) -> None:
    """Fill in an authenticated packet's HMAC TLV (if any; offset within the TLV area,
    found when not given) and then its base HMAC, in place."""
    area = packet[AUTH_BASE_SIZE:]
    at = hmac_tlv_offset(area) if hmac_tlv_at is None else hmac_tlv_at
    if at is not None:
        value_at = AUTH_BASE_SIZE + at + TLV_HEADER_SIZE
        packet[value_at : value_at + HMAC_SIZE] = tlv_hmac(key, packet[:4], area[:at])
    packet[HMAC_OFFSET:AUTH_BASE_SIZE] = packet_hmac(key, packet)
