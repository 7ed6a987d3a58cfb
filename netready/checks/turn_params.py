"""Parameters of the `turn` check kind: one planned check `turn.<rule>` per STUN/TURN rule."""

from __future__ import annotations

from dataclasses import dataclass, field

from netready.checks.base import PLANNER_ONLY
from netready.model import Rule

#: Where the long-term TURN credentials come from (never from a file, never into a report).
USERNAME_ENV = "NETREADY_TURN_USERNAME"
PASSWORD_ENV = "NETREADY_TURN_PASSWORD"


@dataclass(frozen=True)
class TurnParams:
    """TURN Allocate over the rule's transport, a permission and `packets` relayed round trips.

    `timeout_s` bounds each step (allocate, permission, each relayed packet). A rule with
    tls = true (transport "tcp") is TURN over TLS; the planner copies the certificate pins of
    `[checks."tls"]` (`expect_issuer`, `expect_sha256`) here, so one pin configuration covers
    every TLS port of the platform, the TURN server's too.
    """

    packets: int = field(default=5, metadata={"min": 1, "max": 100})
    timeout_s: float = field(default=2.0, metadata={"min": 0.1, "max": 30.0})
    rule: Rule | None = field(default=None, metadata={PLANNER_ONLY: True})
    address: str = field(default="", metadata={PLANNER_ONLY: True})
    expect_issuer: str = field(default="", metadata={PLANNER_ONLY: True})
    expect_sha256: tuple[str, ...] = field(default=(), metadata={PLANNER_ONLY: True})
