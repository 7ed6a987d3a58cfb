"""STAMP codec (RFC 8762 both modes, RFC 8972 SSID and TLVs): pure bytes in and out.

Every pack/unpack function takes `key`: None for unauthenticated mode (44-byte base),
bytes for authenticated mode (112-byte base ending in HMAC-SHA-256/128 over the first
96 octets, RFC 8762 §4.4). Unpacking in authenticated mode verifies the HMAC before
any field is read and raises ValueError when it does not match.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from netready.probes.stamp_tlv import (
    AUTH_BASE_SIZE,
    BASE_SIZE,
    COS_VALUE_SIZE,
    HMAC_OFFSET,
    HMAC_SIZE,
    TLV_CLASS_OF_SERVICE,
    TLV_EXTRA_PADDING,
    TLV_FLAG_I,
    TLV_FLAG_M,
    TLV_FLAG_U,
    TLV_HEADER_SIZE,
    TLV_HMAC,
    ClassOfService,
    Tlv,
    hmac_tlv_offset,
    pack_cos,
    pack_tlv,
    packet_hmac,
    padding_tlv,
    parse_tlvs,
    seal,
    sender_tlvs,
    tlv_hmac,
    tlv_integrity_ok,
    unpack_cos,
    verify_packet_hmac,
)

__all__ = [
    "AUTH_BASE_SIZE",
    "BASE_SIZE",
    "COS_VALUE_SIZE",
    "DEFAULT_PORT",
    "HMAC_OFFSET",
    "HMAC_SIZE",
    "TLV_CLASS_OF_SERVICE",
    "TLV_EXTRA_PADDING",
    "TLV_FLAG_I",
    "TLV_FLAG_M",
    "TLV_FLAG_U",
    "TLV_HEADER_SIZE",
    "TLV_HMAC",
    "ClassOfService",
    "ErrorEstimate",
    "ReflectorPacket",
    "SenderPacket",
    "Tlv",
    "hmac_tlv_offset",
    "ntp_to_unix_ns",
    "pack_cos",
    "pack_reflection",
    "pack_reflector",
    "pack_sender",
    "pack_tlv",
    "packet_hmac",
    "padding_tlv",
    "parse_tlvs",
    "ptp_to_unix_ns",
    "seal",
    "sender_tlvs",
    "tlv_hmac",
    "tlv_integrity_ok",
    "unix_ns_to_ntp",
    "unix_ns_to_ptp",
    "unpack_cos",
    "unpack_reflector",
    "unpack_sender",
    "verify_packet_hmac",
]

DEFAULT_PORT = 862
NS_PER_S = 1_000_000_000
NTP_UNIX_OFFSET_S = 2_208_988_800  # 1900-01-01 to 1970-01-01 (RFC 5905 §6)
TAI_UTC_OFFSET_S = 37  # PTP timestamps count TAI seconds (RFC 8186 §2.3); TAI - UTC since 2017

EE_SYNCHRONISED = 0x8000  # S bit of the Error Estimate (RFC 4656 §4.1.2)
EE_PTP = 0x4000  # Z bit: 1 = PTPv2 truncated timestamp, 0 = NTP 64-bit

_SENDER = struct.Struct("!IQHH28x")  # seq, T1, error estimate, SSID, MBZ
_REFLECTOR = struct.Struct("!IQHHQIQH2xB3x")  # seq, T3, EE, SSID, T2, sender seq/T1/EE, TTL
_SENDER_AUTH = struct.Struct("!I12xQHH68x")  # seq, T1, EE, SSID (RFC 8762 §4.2.2)
# seq, T3, EE, SSID, T2, sender seq, sender T1 (raw), sender EE (raw), TTL (RFC 8762 §4.3.2)
_REFLECTOR_AUTH = struct.Struct("!I12xQHH4xQ8xI12xQH6xB15x")


def unix_ns_to_ntp(unix_ns: int) -> int:
    """NTP 64-bit timestamp (era 0, or era 1 from 2036) for Unix nanoseconds, exact integers."""
    ntp_ns = unix_ns + NTP_UNIX_OFFSET_S * NS_PER_S
    if not 2**31 * NS_PER_S <= ntp_ns < (2**32 + 2**31) * NS_PER_S:
        raise ValueError(f"time {unix_ns} ns is outside the NTP range this codec maps (1968-2104)")
    return ((ntp_ns * 2**32) // NS_PER_S) % 2**64


def ntp_to_unix_ns(ntp: int) -> int:
    """Unix nanoseconds (rounded to nearest) for an NTP 64-bit timestamp; RFC 4330 §3 era rule."""
    if not ntp & 2**63:
        ntp += 2**64  # seconds MSB clear: era 1, i.e. 2036-02-07 or later
    return (ntp * NS_PER_S + 2**31) // 2**32 - NTP_UNIX_OFFSET_S * NS_PER_S


def unix_ns_to_ptp(unix_ns: int) -> int:
    """PTPv2 truncated timestamp (32-bit TAI seconds, 32-bit nanoseconds) for Unix nanoseconds."""
    seconds, nanos = divmod(unix_ns + TAI_UTC_OFFSET_S * NS_PER_S, NS_PER_S)
    if not 0 <= seconds < 2**32:
        raise ValueError(f"time {unix_ns} ns is outside the PTP timestamp range")
    return seconds << 32 | nanos


def ptp_to_unix_ns(ptp: int) -> int:
    """Unix nanoseconds for a PTPv2 truncated timestamp."""
    seconds, nanos = divmod(ptp, 2**32)
    if nanos >= NS_PER_S:
        raise ValueError(
            f"PTP timestamp has {nanos} in its nanoseconds field; the maximum is 999999999"
        )
    return seconds * NS_PER_S + nanos - TAI_UTC_OFFSET_S * NS_PER_S


@dataclass(frozen=True)
class ErrorEstimate:
    """Error Estimate: S (synchronised), Z (PTP format); error = multiplier * 2^(scale-32) s."""

    synchronised: bool = False
    ptp: bool = False
    scale: int = 0
    multiplier: int = 1

    def to_int(self) -> int:
        """The 16-bit wire value."""
        if not (0 <= self.scale < 64 and 0 <= self.multiplier < 256):
            raise ValueError(
                f"error estimate scale {self.scale} / multiplier {self.multiplier} do not fit"
            )
        flags = (EE_SYNCHRONISED if self.synchronised else 0) | (EE_PTP if self.ptp else 0)
        return flags | self.scale << 8 | self.multiplier

    @classmethod
    def from_int(cls, value: int) -> ErrorEstimate:
        """Decode the 16-bit wire value."""
        return cls(
            bool(value & EE_SYNCHRONISED), bool(value & EE_PTP), value >> 8 & 0x3F, value & 0xFF
        )

    @classmethod
    def for_error(cls, error_ns: int, synchronised: bool, ptp: bool = False) -> ErrorEstimate:
        """The smallest encodable estimate that is not below `error_ns` (at least 1 unit)."""
        for scale in range(64):
            multiplier = -(-max(error_ns, 1) * 2 ** (32 - scale) // NS_PER_S)
            if multiplier <= 255:
                return cls(synchronised, ptp, scale, max(multiplier, 1))
        raise ValueError(f"error estimate of {error_ns} ns is too large to encode")

    @property
    def error_ns(self) -> float:
        """The estimated error in nanoseconds."""
        return self.multiplier * 2.0 ** (self.scale - 32) * NS_PER_S

    def encode_time(self, unix_ns: int) -> int:
        """A timestamp in this estimate's format (NTP or PTP) for Unix nanoseconds."""
        return unix_ns_to_ptp(unix_ns) if self.ptp else unix_ns_to_ntp(unix_ns)

    def decode_time(self, raw: int) -> int:
        """Unix nanoseconds for a timestamp in this estimate's format."""
        return ptp_to_unix_ns(raw) if self.ptp else ntp_to_unix_ns(raw)


@dataclass(frozen=True)
class SenderPacket:
    """Session-Sender test packet (RFC 8762 §4.2.1, RFC 8972 SSID); `tlvs` follow byte 44."""

    seq: int
    timestamp_ns: int
    error_estimate: ErrorEstimate
    ssid: int = 0
    tlvs: bytes = b""


@dataclass(frozen=True)
class ReflectorPacket:
    """Session-Reflector test packet (RFC 8762 §4.3.1): T3, T2 and the copied sender fields."""

    seq: int
    timestamp_ns: int
    error_estimate: ErrorEstimate
    ssid: int
    receive_timestamp_ns: int
    sender_seq: int
    sender_timestamp_ns: int
    sender_error_estimate: ErrorEstimate
    sender_ttl: int
    tlvs: bytes = b""


def _need_base(data: bytes | bytearray, what: str, key: bytes | None = None) -> None:
    size = BASE_SIZE if key is None else AUTH_BASE_SIZE
    if len(data) < size:
        raise ValueError(f"STAMP {what} packet is {len(data)} bytes; the base packet needs {size}")
    if key is not None and not verify_packet_hmac(key, data):
        raise ValueError(f"STAMP {what} packet: the HMAC does not verify")


def _pack(layout: struct.Struct, *fields: int) -> bytes:
    try:
        return layout.pack(*fields)
    except struct.error as exc:
        raise ValueError(f"a STAMP field is out of range: {exc}") from None


def pack_sender(packet: SenderPacket, key: bytes | None = None) -> bytes:
    """Session-Sender packet; with `key` the authenticated layout, HMACs filled in."""
    ee = packet.error_estimate
    ts = ee.encode_time(packet.timestamp_ns)
    if key is None:
        return _pack(_SENDER, packet.seq, ts, ee.to_int(), packet.ssid) + packet.tlvs
    out = bytearray(_pack(_SENDER_AUTH, packet.seq, ts, ee.to_int(), packet.ssid))
    out += bytes(HMAC_SIZE) + packet.tlvs
    seal(out, key)
    return bytes(out)


def unpack_sender(data: bytes, key: bytes | None = None) -> SenderPacket:
    """Parse a Session-Sender packet; with `key`, only after its HMAC verified."""
    _need_base(data, "sender", key)
    layout, base = (_SENDER, BASE_SIZE) if key is None else (_SENDER_AUTH, AUTH_BASE_SIZE)
    seq, ts, ee_raw, ssid = layout.unpack_from(data)
    ee = ErrorEstimate.from_int(ee_raw)
    return SenderPacket(seq, ee.decode_time(ts), ee, ssid, bytes(data[base:]))


def pack_reflector(packet: ReflectorPacket, key: bytes | None = None) -> bytes:
    """Session-Reflector packet; with `key` the authenticated layout, HMACs filled in."""
    ee, sender_ee = packet.error_estimate, packet.sender_error_estimate
    fields = (
        packet.seq,
        ee.encode_time(packet.timestamp_ns),
        ee.to_int(),
        packet.ssid,
        ee.encode_time(packet.receive_timestamp_ns),
        packet.sender_seq,
        sender_ee.encode_time(packet.sender_timestamp_ns),
        sender_ee.to_int(),
        packet.sender_ttl,
    )
    if key is None:
        return _pack(_REFLECTOR, *fields) + packet.tlvs
    out = bytearray(_pack(_REFLECTOR_AUTH, *fields)) + bytes(HMAC_SIZE) + packet.tlvs
    seal(out, key)
    return bytes(out)


def unpack_reflector(data: bytes, key: bytes | None = None) -> ReflectorPacket:
    """Parse a Session-Reflector packet; with `key`, only after its HMAC verified."""
    _need_base(data, "reflector", key)
    layout, base = (_REFLECTOR, BASE_SIZE) if key is None else (_REFLECTOR_AUTH, AUTH_BASE_SIZE)
    seq, t3, ee_raw, ssid, t2, s_seq, t1, s_ee_raw, ttl = layout.unpack_from(data)
    ee, sender_ee = ErrorEstimate.from_int(ee_raw), ErrorEstimate.from_int(s_ee_raw)
    return ReflectorPacket(
        seq,
        ee.decode_time(t3),
        ee,
        ssid,
        ee.decode_time(t2),
        s_seq,
        sender_ee.decode_time(t1),
        sender_ee,
        ttl,
        bytes(data[base:]),
    )


def pack_reflection(
    request: bytes,
    *,
    seq: int,
    timestamp_ns: int,
    error_estimate: ErrorEstimate,
    receive_timestamp_ns: int,
    sender_ttl: int,
    tlvs: bytes,
    key: bytes | None = None,
    hmac_tlv_at: int | None = None,
) -> bytes:
    """Reply to a sender packet, copying its sequence, T1, Error Estimate and SSID bit for bit.

    With `key` (authenticated mode; the request's HMAC must already be verified) the reply
    is sealed: its HMAC TLV at `hmac_tlv_at` in `tlvs` (if any) and its base HMAC.
    """
    ee = error_estimate.encode_time
    if key is None:
        _need_base(request, "sender")
        return b"".join(
            (
                struct.pack("!IQH", seq, ee(timestamp_ns), error_estimate.to_int()),
                request[14:16],  # SSID
                struct.pack("!Q", ee(receive_timestamp_ns)),
                request[0:4],  # sender sequence number
                request[4:14],  # sender timestamp and error estimate
                struct.pack("!2xB3x", sender_ttl),
                tlvs,
            )
        )
    if len(request) < AUTH_BASE_SIZE:
        raise ValueError(f"authenticated STAMP packet is {len(request)} bytes, not 112+")
    s_seq, s_ts, s_ee, ssid = _SENDER_AUTH.unpack_from(request)
    out = bytearray(
        _pack(
            _REFLECTOR_AUTH,
            seq,
            ee(timestamp_ns),
            error_estimate.to_int(),
            ssid,
            ee(receive_timestamp_ns),
            s_seq,
            s_ts,
            s_ee,
            sender_ttl,
        )
    )
    out += bytes(HMAC_SIZE) + tlvs
    if hmac_tlv_at is not None:
        seal(out, key, hmac_tlv_at)
    else:
        out[HMAC_OFFSET:AUTH_BASE_SIZE] = packet_hmac(key, out)
    return bytes(out)
