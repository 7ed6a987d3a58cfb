"""Stateful STAMP Session-Reflector core (RFC 8762 §4.3, RFC 8972 CoS and HMAC TLVs), sans-IO.

`StampReflector.reflect` takes one datagram with its receive metadata and returns the
reply (never longer than the request) or None. Checks run cheapest first, and nothing
about a packet is used before it passed them:

1. size: larger than `max_packet` or shorter than the base packet (44 bytes, 112 in
   authenticated mode) is dropped; short packets are never padded (RFC 8762 §4.6 would,
   but that reply would be larger than the request);
2. format: a packet in the Session-Reflector format is never reflected (a forged one
   would otherwise make two reflectors answer each other for ever). The two formats
   differ where the sender's packet is all MBZ (must be zero): octets 16-23 (32-39
   authenticated) carry the reflector's Receive Timestamp, which is never zero;
3. authenticated mode (a key set is given): the HMAC over the first 96 octets with the
   key of the packet's SSID (or the default key, SSID 0), compared in constant time,
   then replay protection (`netready.responder.replay`): the sender's timestamp within
   `replay_window_s` of our clock, the HMAC tag not answered before (from any source);
4. the per-source packet rate (all sessions of one address together). In
   authenticated mode only authenticated packets are charged, so junk forged with a
   real client's address cannot use up that client's rate;
5. the session: younger than `max_session_s`, and keeping to its average interval
   (`min_interval_ms`); authenticated sessions refuse a sequence number seen before.
   At most `max_sessions` are tracked (and a few per source and per /24, /64); a new
   one takes the place of a one-packet session first, else of the least recently
   active one if that one has been quiet for a few seconds
   (`netready.responder.sessions`), else the newcomer is dropped (`table-full`);
   `sessions_evicted` counts evicted sessions (of two packets or more) that were not
   idle, `unconfirmed_evicted` one-packet sessions.

Every drop is counted by reason in `drops`. TLVs: Extra Padding and Class of Service
are understood (CoS reports the DSCP/ECN received and asks for DSCP1 on the reply);
in authenticated mode the HMAC TLV is verified before any TLV is used (I flag on all
of them if it fails) and recomputed on the reply.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping

from netready.probes.sockopts import clock_is_synchronised
from netready.probes.stamp import (
    AUTH_BASE_SIZE,
    BASE_SIZE,
    COS_VALUE_SIZE,
    HMAC_SIZE,
    TLV_CLASS_OF_SERVICE,
    TLV_EXTRA_PADDING,
    TLV_FLAG_I,
    TLV_FLAG_M,
    TLV_FLAG_U,
    TLV_HEADER_SIZE,
    TLV_HMAC,
    ClassOfService,
    ErrorEstimate,
    pack_cos,
    pack_reflection,
    tlv_integrity_ok,
    unpack_cos,
    verify_packet_hmac,
)
from netready.responder.limits import ReflectorLimits, SourceLimiter
from netready.responder.replay import ReplayCache
from netready.responder.sessions import SessionKey, SessionTable

__all__ = ["MIN_KEY_BYTES", "SessionKey", "StampReflector", "clock_is_synchronised"]

MIN_KEY_BYTES = 16
_UNDERSTOOD = frozenset({TLV_EXTRA_PADDING, TLV_CLASS_OF_SERVICE})
_UNDERSTOOD_AUTH = _UNDERSTOOD | {TLV_HMAC}
_TLV_HEADER = struct.Struct("!BBH")
#: Where the reflector format has its Receive Timestamp and the sender format is MBZ.
_RX_TIMESTAMP = slice(16, 24)
_RX_TIMESTAMP_AUTH = slice(32, 40)
_ZERO_TIMESTAMP = bytes(8)
_SENDER_AUTH_HEAD = struct.Struct("!I12xQH")  # seq, T1, error estimate (RFC 8762 §4.2.2)
_HMAC_TAG = slice(AUTH_BASE_SIZE - HMAC_SIZE, AUTH_BASE_SIZE)
Reply = tuple[bytes, int | None]


def _mark_integrity_failed(data: bytes) -> bytes:
    """The TLVs copied with the I flag on each (RFC 8972 §4.8); M where the framing breaks."""
    out, offset = bytearray(data), 0
    while offset < len(data):
        if len(data) - offset < TLV_HEADER_SIZE:
            out[offset] |= TLV_FLAG_M | TLV_FLAG_I
            break
        _flags, _kind, length = _TLV_HEADER.unpack_from(data, offset)
        out[offset] |= TLV_FLAG_I
        end = offset + TLV_HEADER_SIZE + length
        if end > len(data):
            out[offset] |= TLV_FLAG_M
            break
        offset = end
    return bytes(out)


def _reflect_tlvs(
    data: bytes, rx_tos: int | None, key: bytes | None, seq: bytes
) -> tuple[bytes, int | None, int | None]:
    """The reply's TLV area, the TOS the reply should carry (None: leave it) and the offset
    of the HMAC TLV to recompute (authenticated mode).

    Understood TLVs get U cleared, others are echoed with U set; at the first malformed TLV
    the M flag is set and the rest is copied unchanged (RFC 8972 §4).
    """
    if key is not None and data and not tlv_integrity_ok(key, seq, data):
        return _mark_integrity_failed(data), None, None
    understood = _UNDERSTOOD if key is None else _UNDERSTOOD_AUTH
    out, offset, tos, hmac_at = bytearray(data), 0, None, None
    while offset < len(data):
        if len(data) - offset < TLV_HEADER_SIZE:
            out[offset] |= TLV_FLAG_M
            break
        flags, kind, length = _TLV_HEADER.unpack_from(data, offset)
        value_at = offset + TLV_HEADER_SIZE
        end = value_at + length
        if (
            end > len(data)
            or (kind == TLV_CLASS_OF_SERVICE and length != COS_VALUE_SIZE)
            or (kind == TLV_HMAC and key is not None and length != HMAC_SIZE)
        ):
            out[offset] = flags | TLV_FLAG_M
            break
        out[offset] = 0 if kind in understood else TLV_FLAG_U
        if kind == TLV_CLASS_OF_SERVICE:
            asked = unpack_cos(data[value_at:end]).dscp1
            received = (rx_tos or 0) & 0xFF
            out[value_at:end] = pack_cos(ClassOfService(asked, received >> 2, received & 3, 0))
            tos = asked << 2 if tos is None else tos
        elif kind == TLV_HMAC and key is not None and hmac_at is None:
            hmac_at = offset
        offset = end
    return bytes(out), tos, hmac_at


def _check_keys(keys: Mapping[int, bytes]) -> dict[int, bytes]:
    if not keys:
        raise ValueError("the HMAC key set is empty")
    for ssid, key in keys.items():
        if not 0 <= ssid <= 0xFFFF:
            raise ValueError(f"SSID {ssid} is outside 0-65535")
        if len(key) < MIN_KEY_BYTES:
            raise ValueError(
                f"the HMAC key for SSID {ssid} has {len(key)} bytes; at least "
                f"{MIN_KEY_BYTES} are needed"
            )
    return {int(ssid): bytes(key) for ssid, key in keys.items()}


class StampReflector:
    """Answers STAMP test packets; one sequence counter per (peer, SSID) session.

    `keys` (SSID -> key, 0 = the default key) switches on authenticated mode: then only
    authenticated packets are answered. `log` receives one line per session start and end.
    """

    def __init__(
        self,
        clock_synchronised: bool = False,
        error_estimate_ns: int = 1_000_000,
        session_idle_s: float = 30.0,
        max_sessions: int = 4096,
        *,
        keys: Mapping[int, bytes] | None = None,
        limits: ReflectorLimits | None = None,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.limits = limits or ReflectorLimits()
        self.limits.check()
        self._error_ns = error_estimate_ns
        self.error_estimate = ErrorEstimate.for_error(error_estimate_ns, clock_synchronised)
        self._keys = None if keys is None else _check_keys(keys)
        self._default_key = None if self._keys is None else self._keys.get(0)
        self.base_size = BASE_SIZE if self._keys is None else AUTH_BASE_SIZE
        if self.limits.max_packet < self.base_size:
            raise ValueError(f"max packet {self.limits.max_packet} is below the base packet")
        interval = self.limits.min_interval_ms
        rate = 1000.0 / interval if interval > 0 else 0.0
        self._table = SessionTable(max_sessions, session_idle_s, rate, log)
        self._sources = SourceLimiter(self.limits.max_pps_per_source)
        self._replays = ReplayCache(self.limits.replay_window_s)
        self._rx_timestamp = _RX_TIMESTAMP if self._keys is None else _RX_TIMESTAMP_AUTH
        self._max_session_ns = int(self.limits.max_session_s * 1e9)
        self.reflected = 0
        self.drops: dict[str, int] = {}

    @property
    def authenticated(self) -> bool:
        """True in authenticated mode (a key set was given)."""
        return self._keys is not None

    @property
    def max_sessions(self) -> int:
        """Sessions tracked at most."""
        return self._table.max_sessions

    @property
    def sessions_evicted(self) -> int:
        """Sessions of two packets or more forgotten for new ones before their idle time."""
        return self._table.evicted

    @property
    def unconfirmed_evicted(self) -> int:
        """One-packet sessions forgotten for new ones before their idle time."""
        return self._table.unconfirmed_evicted

    @property
    def sessions_started(self) -> int:
        """Sessions started since the reflector was made."""
        return self._table.started

    def set_clock_synchronised(self, synchronised: bool) -> None:
        """Update the S bit of the Error Estimate (the host clock's sync state changed)."""
        self.error_estimate = ErrorEstimate.for_error(self._error_ns, synchronised)

    def reflect(
        self,
        data: bytes,
        peer: tuple[str, int],
        rx_ns: int,
        rx_ttl: int | None,
        rx_tos: int | None,
        now_ns: Callable[[], int],
    ) -> Reply | None:
        """(reply, TOS for the reply or None) for a test packet, or None to drop it (counted)."""
        try:
            return self._reflect(data, peer, rx_ns, rx_ttl, rx_tos, now_ns)
        except (ValueError, TypeError, IndexError, struct.error):
            return self._drop("malformed")
        except Exception:  # a bug must not let hostile input through or stop the responder
            return self._drop("error")

    def _drop(self, reason: str) -> Reply | None:
        """Count a drop by reason; returns None (the drop) for `return self._drop(...)`."""
        self.drops[reason] = self.drops.get(reason, 0) + 1
        return None

    def _reflect(
        self,
        data: bytes,
        peer: tuple[str, int],
        rx_ns: int,
        rx_ttl: int | None,
        rx_tos: int | None,
        now_ns: Callable[[], int],
    ) -> Reply | None:
        if len(data) > self.limits.max_packet:
            return self._drop("too-large")
        if len(data) < self.base_size:
            return self._drop("too-short")
        if data[self._rx_timestamp] != _ZERO_TIMESTAMP:
            return self._drop("reflected-packet")
        host = str(peer[0])
        key = None
        if self._keys is None:
            ssid = data[14] << 8 | data[15]
        else:
            ssid = data[26] << 8 | data[27]  # only picks the key; verified before any use
            key = self._keys.get(ssid, self._default_key)
            if key is None or not verify_packet_hmac(key, data):
                return self._drop("bad-hmac")
            _seq, sent_raw, ee_raw = _SENDER_AUTH_HEAD.unpack_from(data)
            if not self._replays.fresh(ErrorEstimate.from_int(ee_raw).decode_time(sent_raw), rx_ns):
                return self._drop("stale")
            if not self._replays.first_time(data[_HMAC_TAG], rx_ns):
                return self._drop("replayed")
        if not self._sources.admit(host, rx_ns):
            return self._drop("source-rate")
        session = self._table.get((host, int(peer[1]), ssid), rx_ns, key is not None)
        if isinstance(session, str):
            return self._drop(session)
        if session.window is not None and not session.window.accept(
            int.from_bytes(data[:4], "big")
        ):
            session.replay_drops += 1
            return self._drop("replayed")
        admitted = session.admit(rx_ns, self._table.rate, self._table.burst)
        session.last_seen_ns = max(session.last_seen_ns, rx_ns)
        if self._max_session_ns and rx_ns - session.started_ns > self._max_session_ns:
            session.time_drops += 1
            if session.time_drops == 1:
                self._table.log(
                    f"STAMP session {session.number} reached the maximum session time "
                    f"({self.limits.max_session_s:g} s); its packets are no longer answered",
                    rx_ns,
                )
            return self._drop("session-time")
        if not admitted:
            session.rate_drops += 1
            return self._drop("session-rate")
        tlvs, tos, hmac_at = _reflect_tlvs(data[self.base_size :], rx_tos, key, data[:4])
        reply = pack_reflection(
            data,
            seq=session.next_seq,
            timestamp_ns=now_ns(),
            error_estimate=self.error_estimate,
            receive_timestamp_ns=rx_ns,
            sender_ttl=(rx_ttl or 0) & 0xFF,
            tlvs=tlvs,
            key=key,
            hmac_tlv_at=hmac_at,
        )
        session.next_seq = (session.next_seq + 1) % 2**32
        session.reflected += 1
        self.reflected += 1
        return reply, tos

    def sessions(self) -> int:
        """How many sessions are being tracked."""
        return len(self._table)

    def expire(self, now_ns: int) -> list[SessionKey]:
        """End sessions idle for longer than `session_idle_s` (logged); returns their keys."""
        return self._table.expire(now_ns)

    def tick(self, now_ns: int) -> None:
        """Housekeeping, about once a second: end idle sessions, forget idle sources."""
        self._table.expire(now_ns)
        self._sources.prune(now_ns)

    def close(self, now_ns: int) -> None:
        """End every session with a summary line (the responder is stopping)."""
        self._table.close(now_ns)
