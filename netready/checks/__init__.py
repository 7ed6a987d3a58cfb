"""Check implementations; importing this package registers every built-in check kind."""

from netready.checks import (
    dns,
    firewall,
    h323,
    ldaps,
    mtu,
    nat_lifetime,
    qos,
    sip,
    stun,
    tls,
    turn,
    voice,
)
from netready.checks.base import Check, RunContext, register, registry

__all__ = [
    "Check",
    "RunContext",
    "dns",
    "firewall",
    "h323",
    "ldaps",
    "mtu",
    "nat_lifetime",
    "qos",
    "register",
    "registry",
    "sip",
    "stun",
    "tls",
    "turn",
    "voice",
]
