"""Parameters of the `media.voice` check (a paced, call-like UDP stream through the responder)."""

from __future__ import annotations

from dataclasses import dataclass, field

from netready.checks.base import PLANNER_ONLY
from netready.model import Target


@dataclass(frozen=True)
class VoiceParams:
    """G.711-like stream: 50 packets/s each way, 172-byte payload, DSCP EF."""

    duration_s: float = 60.0
    quick_duration_s: float = 15.0
    rate_pps: int = 50
    payload_bytes: int = 172
    dscp: int = 46
    codec: str = "g711"
    reply_timeout_s: float = 3.0  # a reply later than this counts as lost (RFC 7680 Tmax)
    responder: str = field(default="", metadata={PLANNER_ONLY: True})  # "ADDR[:PORT]"
    targets: tuple[Target, ...] = field(default=(), metadata={PLANNER_ONLY: True})
