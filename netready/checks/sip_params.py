"""Parameters of the `sip` check kind: `sip.options.<rule>` and `sip.alg.<transport>`."""

from __future__ import annotations

from dataclasses import dataclass, field

from netready.checks.base import PLANNER_ONLY
from netready.model import Rule


@dataclass(frozen=True)
class SipParams:
    """How long to wait for a SIP answer, and where the responder's SIP echo listens.

    `echo_port`: the port of the responder's SIP echo (`netready responder
    --sip-echo-ports`); 0 = the SIP rule's own port (5060), where SIP ALGs act.
    The rest is filled in by the planner: `mode` is "options" (OPTIONS to the SIP
    provider) or "alg" (ALG detection through the responder's echo).
    """

    timeout_s: float = 3.0
    echo_port: int = 0
    mode: str = field(default="options", metadata={PLANNER_ONLY: True})
    transport: str = field(default="udp", metadata={PLANNER_ONLY: True})  # udp | tcp | tls
    address: str = field(default="", metadata={PLANNER_ONLY: True})
    port: int = field(default=5060, metadata={PLANNER_ONLY: True})
    rule: Rule | None = field(default=None, metadata={PLANNER_ONLY: True})
