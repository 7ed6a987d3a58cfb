"""Parameters of the `dns` check kind: one check `dns` for every host name of the profile."""

from __future__ import annotations

from dataclasses import dataclass, field

from netready.checks.base import PLANNER_ONLY


@dataclass(frozen=True)
class DnsParams:
    """Which resolvers to ask and how long to wait for each answer.

    `resolvers`: "ADDR" or "ADDR:PORT" ("[V6]:PORT"); empty = the system's resolvers from
    /etc/resolv.conf. Every resolver is asked separately. The planner fills in the names:
    `names` (host key, name), `sip_names` (names that also get SRV/NAPTR lookups) and
    `literals` (host key, address given as an IP: nothing to resolve).
    """

    resolvers: tuple[str, ...] = ()
    timeout_s: float = 2.0
    names: tuple[tuple[str, str], ...] = field(default=(), metadata={PLANNER_ONLY: True})
    sip_names: tuple[str, ...] = field(default=(), metadata={PLANNER_ONLY: True})
    literals: tuple[tuple[str, str], ...] = field(default=(), metadata={PLANNER_ONLY: True})
