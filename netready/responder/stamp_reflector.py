"""Stateful STAMP Session-Reflector core (RFC 8762 §4.3, RFC 8972 CoS TLV), sans-IO."""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

from netready.probes.sockopts import clock_is_synchronised
from netready.probes.stamp import (
    BASE_SIZE,
    COS_VALUE_SIZE,
    TLV_CLASS_OF_SERVICE,
    TLV_EXTRA_PADDING,
    TLV_FLAG_M,
    TLV_FLAG_U,
    TLV_HEADER_SIZE,
    ClassOfService,
    ErrorEstimate,
    pack_cos,
    pack_reflection,
    unpack_cos,
)

__all__ = ["SessionKey", "StampReflector", "clock_is_synchronised"]

SessionKey = tuple[str, int, int]  # peer address, peer port, SSID
_UNDERSTOOD = frozenset({TLV_EXTRA_PADDING, TLV_CLASS_OF_SERVICE})


@dataclass
class _Session:
    next_seq: int = 0
    last_seen_ns: int = 0


def _reflect_tlvs(data: bytes, rx_tos: int | None) -> tuple[bytes, int | None]:
    """The TLV area of the reply and the TOS the reply should carry (None: leave it).

    Understood TLVs get U cleared, others are echoed with U set; at the first malformed TLV the
    M flag is set and the rest is copied unchanged (RFC 8972 §4).
    """
    out, offset, tos = bytearray(data), 0, None
    while offset < len(data):
        if len(data) - offset < TLV_HEADER_SIZE:
            out[offset] |= TLV_FLAG_M
            break
        flags, kind, length = struct.unpack_from("!BBH", data, offset)
        value_at = offset + TLV_HEADER_SIZE
        end = value_at + length
        if end > len(data) or (kind == TLV_CLASS_OF_SERVICE and length != COS_VALUE_SIZE):
            out[offset] = flags | TLV_FLAG_M
            break
        out[offset] = 0 if kind in _UNDERSTOOD else TLV_FLAG_U
        if kind == TLV_CLASS_OF_SERVICE:
            asked = unpack_cos(data[value_at:end]).dscp1
            received = (rx_tos or 0) & 0xFF
            out[value_at:end] = pack_cos(ClassOfService(asked, received >> 2, received & 3, 0))
            tos = asked << 2 if tos is None else tos
        offset = end
    return bytes(out), tos


class StampReflector:
    """Answers STAMP test packets; one sequence counter per (peer, SSID) session."""

    def __init__(
        self,
        clock_synchronised: bool = False,
        error_estimate_ns: int = 1_000_000,
        session_idle_s: float = 30.0,
        max_sessions: int = 4096,
    ) -> None:
        self.error_estimate = ErrorEstimate.for_error(error_estimate_ns, clock_synchronised)
        self.session_idle_ns = int(session_idle_s * 1e9)
        self.max_sessions = max_sessions
        self._sessions: dict[SessionKey, _Session] = {}

    def reflect(
        self,
        data: bytes,
        peer: tuple[str, int],
        rx_ns: int,
        rx_ttl: int | None,
        rx_tos: int | None,
        now_ns: Callable[[], int],
    ) -> tuple[bytes, int | None] | None:
        """(reply, TOS for the reply or None) for a test packet, or None to drop it silently."""
        if len(data) < BASE_SIZE:
            return None  # never answer with more bytes than we got (no padding to 44)
        try:
            tlvs, tos = _reflect_tlvs(data[BASE_SIZE:], rx_tos)
            session = self._session((str(peer[0]), int(peer[1]), data[14] << 8 | data[15]), rx_ns)
            if session is None:
                return None
            reply = pack_reflection(
                data,
                seq=session.next_seq,
                timestamp_ns=now_ns(),
                error_estimate=self.error_estimate,
                receive_timestamp_ns=rx_ns,
                sender_ttl=(rx_ttl or 0) & 0xFF,
                tlvs=tlvs,
            )
            session.next_seq = (session.next_seq + 1) % 2**32
        except (ValueError, TypeError, IndexError, struct.error):
            return None
        return reply, tos

    def _session(self, key: SessionKey, rx_ns: int) -> _Session | None:
        session = self._sessions.get(key)
        if session is None:
            if len(self._sessions) >= self.max_sessions and not self.expire(rx_ns):
                return None
            session = self._sessions[key] = _Session()
        session.last_seen_ns = rx_ns
        return session

    def sessions(self) -> int:
        """How many sessions are being tracked."""
        return len(self._sessions)

    def expire(self, now_ns: int) -> list[SessionKey]:
        """Forget sessions idle for longer than `session_idle_s`; returns their keys."""
        idle = [
            k for k, s in self._sessions.items() if now_ns - s.last_seen_ns > self.session_idle_ns
        ]
        for key in idle:
            del self._sessions[key]
        return idle
