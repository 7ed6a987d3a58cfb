"""Check implementations; importing this package registers every built-in check kind."""

from netready.checks import dns, firewall, ldaps, nat_lifetime, sip, stun, tls, turn, voice
from netready.checks.base import Check, RunContext, register, registry

__all__ = [
    "Check",
    "RunContext",
    "dns",
    "firewall",
    "ldaps",
    "nat_lifetime",
    "register",
    "registry",
    "sip",
    "stun",
    "tls",
    "turn",
    "voice",
]
