"""Parameters of the `firewall` check kind: one planned check `firewall.<rule>` per profile rule."""

from __future__ import annotations

from dataclasses import dataclass, field

from netready.checks.base import PLANNER_ONLY
from netready.model import Rule


@dataclass(frozen=True)
class FirewallParams:
    """How to probe one rule; the rule and the resolved address come from the planner."""

    timeout_s: float = 1.0
    retries: int = 1
    udp_window: int = 128  # UDP probes outstanding at once (rate control)
    quick_samples: int = 3  # ports probed per range in quick mode (first, last, random)
    # explicit HTTP proxy for TCP rules ("http://host:port"); "" = HTTPS_PROXY/ALL_PROXY/NO_PROXY
    proxy: str = ""
    # UDP without a responder (TTL-limited probes, netready.probes.firewalk):
    firewalk_samples: int = 6  # ports probed per range (first, last, random); 0 = every port
    edge_hop: int = 0  # hop count of the site's firewall; 0 = find it from the probes
    max_ttl: int = 8  # deepest TTL the hop search tries
    rule: Rule | None = field(default=None, metadata={PLANNER_ONLY: True})
    address: str = field(default="", metadata={PLANNER_ONLY: True})
    responder: str = field(default="", metadata={PLANNER_ONLY: True})
    # the responder serves this rule's host's UDP ports on its own address (profile
    # `responder_stands_in_for`), and the ports that tell whether anything echoes at the host
    stands_in: bool = field(default=False, metadata={PLANNER_ONLY: True})
    host_probe_ports: tuple[int, ...] = field(default=(), metadata={PLANNER_ONLY: True})
