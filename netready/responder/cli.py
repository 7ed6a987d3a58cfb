"""Turns `netready responder` options (and optionally a profile's rules) into a config."""

from __future__ import annotations

import argparse
from collections.abc import Mapping

from netready.errors import UsageError
from netready.model import PortRange, Profile
from netready.responder.server import ResponderConfig, parse_port_list


def _ranges(text: str, option: str) -> tuple[PortRange, ...]:
    try:
        return parse_port_list(text) if text else ()
    except ValueError as exc:
        raise UsageError(f"{option}: {exc}") from None


def profile_ports(profile: Profile, transport: str) -> tuple[PortRange, ...]:
    """Every port range the profile's rules use for one transport."""
    return tuple(r for rule in profile.rules if rule.transport == transport for r in rule.ports)


def responder_config(args: argparse.Namespace, environ: Mapping[str, str]) -> ResponderConfig:
    """Validated config; refuses options whose feature is not built yet instead of faking it."""
    if args.tls_ports:
        raise UsageError("--tls-ports: TLS listeners are not available yet (firewall issue #4)")
    if args.key:
        raise UsageError("--key: authenticated STAMP is not available yet (voice-path issue #3)")
    if not 0 <= args.stamp_port <= 65535:
        raise UsageError("--stamp-port: give 0-65535")
    udp = _ranges(args.udp_ports, "--udp-ports")
    tcp = _ranges(args.tcp_ports, "--tcp-ports")
    if args.profile:
        from netready.profile import find_profile, load_profile
        from netready.report.keys import config_dir

        profile = load_profile(find_profile(args.profile, config_dir(environ) / "profiles"))
        udp += profile_ports(profile, "udp")
        tcp += profile_ports(profile, "tcp")
    return ResponderConfig(
        listen=args.listen, stamp_port=args.stamp_port, udp_ports=udp, tcp_ports=tcp
    )
