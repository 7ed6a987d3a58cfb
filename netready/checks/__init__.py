"""Check implementations; importing this package registers every built-in check kind."""

from netready.checks import firewall, tls, voice
from netready.checks.base import Check, RunContext, register, registry

__all__ = ["Check", "RunContext", "firewall", "register", "registry", "tls", "voice"]
