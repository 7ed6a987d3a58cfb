"""Parameters of the `media.voice` check (a paced, call-like UDP stream through the responder)."""

from __future__ import annotations

from dataclasses import dataclass, field

from netready.checks.base import PLANNER_ONLY
from netready.model import Target


@dataclass(frozen=True)
class VoiceParams:
    """G.711-like stream: 50 packets/s each way, 172-byte payload, DSCP EF.

    The stream goes like RTP would: from a local port in `source_ports` to a port of the
    profile rule `media_rule` (the platform's RTP range), where the responder reflects it.
    Without a reachable responder it falls back to a STUN round-trip stream to `stun_host`.
    """

    duration_s: float = 60.0
    quick_duration_s: float = 15.0
    rate_pps: int = field(default=50, metadata={"min": 1, "max": 1000})
    payload_bytes: int = field(default=172, metadata={"min": 44, "max": 1472})
    dscp: int = field(default=46, metadata={"max": 63})
    codec: str = "g711"
    reply_timeout_s: float = 3.0  # a reply later than this counts as lost (RFC 7680 Tmax)
    media_rule: str = "rtp"  # rule whose ports the stream goes to ("" = the STAMP port)
    source_ports: str = "16384-32767"  # local port range to send from, like a phone's RTP
    stun_host: str = ""  # profile host for the STUN fallback ("" = no fallback)
    stun_port: int = field(default=3478, metadata={"min": 1, "max": 65535})
    # One-way delay is reported only when both clocks are synchronised; "yes"/"no" override
    # this host's own clock state (e.g. both ends on one host or one PTP grandmaster).
    clock_synchronised: str = "auto"
    hmac_key_file: str = ""  # authenticated STAMP (RFC 8762 §4.4): "SSID HEXKEY" lines or a key
    responder: str = field(default="", metadata={PLANNER_ONLY: True})  # "ADDR[:PORT]"
    media_ports: tuple[int, int] = field(default=(0, 0), metadata={PLANNER_ONLY: True})
    stun_address: str = field(default="", metadata={PLANNER_ONLY: True})
    targets: tuple[Target, ...] = field(default=(), metadata={PLANNER_ONLY: True})
