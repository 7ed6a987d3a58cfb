"""Parameters of the `stun` check kind (`stun.<rule>`) and the `nat.lifetime` check."""

from __future__ import annotations

from dataclasses import dataclass, field

from netready.checks.base import PLANNER_ONLY
from netready.model import Rule


@dataclass(frozen=True)
class StunParams:
    """STUN Binding to the platform's STUN server over one rule's transport.

    `samples` Binding requests measure the round trip; `timeout_s` is the wait before a
    retransmission (`attempts` sends per request). `nat_behaviour` runs the RFC 5780 mapping
    and filtering tests (UDP only) when the server gives an OTHER-ADDRESS, else pystun3's
    classic RFC 3489 test when it gives a CHANGED-ADDRESS.
    """

    samples: int = field(default=5, metadata={"min": 1, "max": 100})
    timeout_s: float = field(default=0.5, metadata={"min": 0.05, "max": 10.0})
    attempts: int = field(default=3, metadata={"min": 1, "max": 7})
    nat_behaviour: bool = True
    rule: Rule | None = field(default=None, metadata={PLANNER_ONLY: True})
    address: str = field(default="", metadata={PLANNER_ONLY: True})


@dataclass(frozen=True)
class NatLifetimeParams:
    """How long an idle UDP mapping survives: Binding requests after growing idle gaps.

    The gaps (seconds) run side by side, one mapping each; a gap longer than `budget_s` is
    left out. The result is compared with `keepalive_s`, the interval at which phones
    refresh their NAT mapping.
    """

    gaps_s: tuple[float, ...] = (10.0, 20.0, 35.0, 60.0, 90.0)
    budget_s: float = field(default=90.0, metadata={"min": 0.0, "max": 600.0})
    keepalive_s: float = field(default=30.0, metadata={"min": 0.0, "max": 3600.0})
    timeout_s: float = field(default=0.5, metadata={"min": 0.05, "max": 10.0})
    attempts: int = field(default=3, metadata={"min": 1, "max": 7})
    address: str = field(default="", metadata={PLANNER_ONLY: True})
    port: int = field(default=3478, metadata={PLANNER_ONLY: True})
