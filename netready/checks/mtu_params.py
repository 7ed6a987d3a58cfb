"""Parameters of the `path.mtu` check kind: DF probes of growing size through the responder."""

from __future__ import annotations

from dataclasses import dataclass, field

from netready.checks.base import PLANNER_ONLY


@dataclass(frozen=True)
class MtuParams:
    """Bisect the IP packet size between `min_ip_bytes` and `max_ip_bytes` with DF set.

    `required_payload_bytes`: the UDP payload that must pass unfragmented (SIP over UDP
    with an SDP body needs about 1300 bytes). `fragment_payload_bytes`: one payload sent
    without DF to see whether IP fragments pass (the responder needs --max-packet at least
    this large; 0 skips the probe). Each try waits `timeout_s`, at most `tries` per size.
    """

    min_ip_bytes: int = field(default=576, metadata={"min": 108, "max": 9000})
    max_ip_bytes: int = field(default=1500, metadata={"min": 108, "max": 9000})
    required_payload_bytes: int = field(default=1300, metadata={"min": 64, "max": 9000})
    fragment_payload_bytes: int = field(default=3000, metadata={"max": 65_000})
    timeout_s: float = 0.5
    tries: int = field(default=3, metadata={"min": 1, "max": 10})
    responder: str = field(default="", metadata={PLANNER_ONLY: True})  # "ADDR[:PORT]"
