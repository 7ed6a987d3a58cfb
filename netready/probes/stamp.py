"""STAMP codec (RFC 8762 unauthenticated mode, RFC 8972 SSID and TLVs): pure bytes in and out."""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

DEFAULT_PORT = 862
BASE_SIZE = 44  # both unauthenticated packets; TLVs start here (RFC 8972 §4)
NS_PER_S = 1_000_000_000
NTP_UNIX_OFFSET_S = 2_208_988_800  # 1900-01-01 to 1970-01-01 (RFC 5905 §6)
TAI_UTC_OFFSET_S = 37  # PTP timestamps count TAI seconds (RFC 8186 §2.3); TAI - UTC since 2017

EE_SYNCHRONISED = 0x8000  # S bit of the Error Estimate (RFC 4656 §4.1.2)
EE_PTP = 0x4000  # Z bit: 1 = PTPv2 truncated timestamp, 0 = NTP 64-bit

TLV_HEADER_SIZE = 4
TLV_FLAG_U = 0x80  # unrecognised
TLV_FLAG_M = 0x40  # malformed
TLV_FLAG_I = 0x20  # integrity check failed
TLV_EXTRA_PADDING = 1
TLV_CLASS_OF_SERVICE = 4
COS_VALUE_SIZE = 4

_SENDER = struct.Struct("!IQHH28x")  # seq, T1, error estimate, SSID, MBZ
_REFLECTOR = struct.Struct("!IQHHQIQH2xB3x")  # seq, T3, EE, SSID, T2, sender seq/T1/EE, TTL
_TLV_HEADER = struct.Struct("!BBH")


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
        if not (0 <= self.scale < 64 and 0 <= self.multiplier < 256):
            raise ValueError(
                f"error estimate scale {self.scale} / multiplier {self.multiplier} do not fit"
            )
        flags = (EE_SYNCHRONISED if self.synchronised else 0) | (EE_PTP if self.ptp else 0)
        return flags | self.scale << 8 | self.multiplier

    @classmethod
    def from_int(cls, value: int) -> ErrorEstimate:
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
        return self.multiplier * 2.0 ** (self.scale - 32) * NS_PER_S

    def encode_time(self, unix_ns: int) -> int:
        return unix_ns_to_ptp(unix_ns) if self.ptp else unix_ns_to_ntp(unix_ns)

    def decode_time(self, raw: int) -> int:
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


def _need_base(data: bytes, what: str) -> None:
    if len(data) < BASE_SIZE:
        raise ValueError(
            f"STAMP {what} packet is {len(data)} bytes; the base packet needs {BASE_SIZE}"
        )


def _pack(layout: struct.Struct, *fields: int) -> bytes:
    try:
        return layout.pack(*fields)
    except struct.error as exc:
        raise ValueError(f"a STAMP field is out of range: {exc}") from None


def pack_sender(packet: SenderPacket) -> bytes:
    ee = packet.error_estimate
    ts = ee.encode_time(packet.timestamp_ns)
    return _pack(_SENDER, packet.seq, ts, ee.to_int(), packet.ssid) + packet.tlvs


def unpack_sender(data: bytes) -> SenderPacket:
    _need_base(data, "sender")
    seq, ts, ee_raw, ssid = _SENDER.unpack_from(data)
    ee = ErrorEstimate.from_int(ee_raw)
    return SenderPacket(seq, ee.decode_time(ts), ee, ssid, bytes(data[BASE_SIZE:]))


def pack_reflector(packet: ReflectorPacket) -> bytes:
    ee, sender_ee = packet.error_estimate, packet.sender_error_estimate
    return (
        _pack(
            _REFLECTOR,
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
        + packet.tlvs
    )


def unpack_reflector(data: bytes) -> ReflectorPacket:
    _need_base(data, "reflector")
    seq, t3, ee_raw, ssid, t2, s_seq, t1, s_ee_raw, ttl = _REFLECTOR.unpack_from(data)
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
        bytes(data[BASE_SIZE:]),
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
) -> bytes:
    """Reply to a sender packet, copying its sequence, T1, Error Estimate and SSID bit for bit."""
    _need_base(request, "sender")
    ee = error_estimate.encode_time
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


@dataclass(frozen=True)
class Tlv:
    """One RFC 8972 TLV: flags (U/M/I), type and value (the length is len(value))."""

    type: int
    value: bytes
    flags: int = 0


def pack_tlv(tlv: Tlv) -> bytes:
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


def sender_tlvs(payload_bytes: int, dscp: int, fill: bytes | None = None) -> bytes:
    """TLVs for a test packet of `payload_bytes`: CoS TLV asking for `dscp` back, then padding."""
    cos = pack_tlv(Tlv(TLV_CLASS_OF_SERVICE, pack_cos(ClassOfService(dscp)), TLV_FLAG_U))
    room = payload_bytes - BASE_SIZE - len(cos)
    if room == 0:
        return cos
    if room < TLV_HEADER_SIZE:
        raise ValueError(
            f"payload of {payload_bytes} bytes leaves {room} bytes, too few for padding"
        )
    return cos + padding_tlv(room, fill)
