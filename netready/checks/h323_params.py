"""Parameters of the `h323` check kind: `h323.alg`, H.323 ALG detection through the responder."""

from __future__ import annotations

from dataclasses import dataclass, field

from netready.checks.base import PLANNER_ONLY
from netready.model import Rule


@dataclass(frozen=True)
class H323Params:
    """How long to wait for the echo, and where the responder's H.323 echo listens.

    `echo_port`: the TCP port of the responder's H.323 echo (`netready responder
    --h323-echo-ports`); 1720 is H.225 call signalling, the port H.323 ALGs act on.
    The planner fills in the responder's address and the profile's H.323 rule.
    """

    timeout_s: float = 3.0
    echo_port: int = field(default=1720, metadata={"min": 1, "max": 65535})
    address: str = field(default="", metadata={PLANNER_ONLY: True})
    rule: Rule | None = field(default=None, metadata={PLANNER_ONLY: True})
