"""Parameters of the `qos.dscp` check kind: a short STAMP stream marked DSCP EF."""

from __future__ import annotations

from dataclasses import dataclass, field

from netready.checks.base import PLANNER_ONLY


@dataclass(frozen=True)
class QosParams:
    """A short stream (3 s at 50 packets/s, 172-byte payload) marked `dscp` (EF = 46).

    The responder reports the DSCP it received (upstream) and marks its replies with the
    DSCP asked for in the RFC 8972 Class of Service TLV (downstream).
    """

    duration_s: float = 3.0
    rate_pps: int = field(default=50, metadata={"min": 1, "max": 1000})
    payload_bytes: int = field(default=172, metadata={"min": 64, "max": 1472})
    dscp: int = field(default=46, metadata={"max": 63})
    reply_timeout_s: float = 1.0
    responder: str = field(default="", metadata={PLANNER_ONLY: True})  # "ADDR[:PORT]"
