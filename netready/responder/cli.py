"""Turns `netready responder` options (and optionally a profile's rules) into a config."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from typing import Any

from netready.errors import UsageError
from netready.model import PortRange, Profile
from netready.responder.config import ResponderConfig, parse_port_list
from netready.responder.limits import parse_allow
from netready.responder.udp_ports import ResponderError

#: Option name -> ResponderConfig field for the limits (None on the command line: default).
LIMIT_OPTIONS = {
    "--max-session-s": "max_session_s",
    "--min-interval-ms": "min_interval_ms",
    "--max-packet": "max_packet",
    "--max-pps-per-source": "max_pps_per_source",
    "--max-sessions": "max_sessions",
    "--replay-window-s": "replay_window_s",
    "--max-reply-bytes-per-s": "max_reply_bytes_per_s",
}


def _ranges(text: str, option: str) -> tuple[PortRange, ...]:
    try:
        return parse_port_list(text) if text else ()
    except ValueError as exc:
        raise UsageError(f"{option}: {exc}") from None


def profile_ports(profile: Profile, transport: str) -> tuple[PortRange, ...]:
    """Every port range the profile's rules use for one transport."""
    return tuple(r for rule in profile.rules if rule.transport == transport for r in rule.ports)


def _limits(args: argparse.Namespace) -> dict[str, Any]:
    """The limit options given on the command line, checked one by one."""
    given: dict[str, Any] = {}
    for option, name in LIMIT_OPTIONS.items():
        value = getattr(args, name, None)
        if value is None:
            continue
        if value < 0 or (name in ("max_sessions", "max_packet") and value < 1):
            raise UsageError(f"{option}: {value} is out of range")
        given[name] = value
    return given


def _profile_h323_echo(profile: Profile) -> tuple[PortRange, ...]:
    """The H.323 echo port the client's `h323.alg` check will use, if the profile has H.323."""
    from netready.checks.h323 import is_h323_rule
    from netready.checks.h323_params import H323Params

    if not any(is_h323_rule(r) for r in profile.rules):
        return ()
    port = H323Params(**profile.checks.get("h323", {})).echo_port
    return (PortRange(port, port),)


def _profile_sip_echo(profile: Profile) -> tuple[PortRange, ...]:
    """The SIP echo ports the client's `sip.alg.*` checks will use (as `plan_sip` picks
    them: the `sip` check's `echo_port`, else the first port of the first non-TLS SIP
    rule of each transport); none when the profile has no SIP rules."""
    from netready.checks.sip import plan_sip

    ports = [
        planned.params.port
        for planned in plan_sip(profile)
        if planned.id.startswith("sip.alg.") and planned.params.port
    ]
    return tuple(PortRange(port, port) for port in sorted(set(ports)))


def responder_config(args: argparse.Namespace, environ: Mapping[str, str]) -> ResponderConfig:
    """Validated config; refuses options whose feature is not built yet instead of faking it."""
    if not sys.platform.startswith("linux"):
        raise UsageError(
            f"netready responder runs on Linux only (kernel receive timestamps and packet "
            f"destinations); this system is {sys.platform}"
        )
    tls_cert, tls_key = getattr(args, "tls_cert", ""), getattr(args, "tls_key", "")
    if bool(tls_cert) != bool(tls_key):
        raise UsageError("--tls-cert and --tls-key go together (or neither: self-signed)")
    if not 0 <= args.stamp_port <= 65535:
        raise UsageError("--stamp-port: give 0-65535")
    udp = _ranges(args.udp_ports, "--udp-ports")
    tcp = _ranges(args.tcp_ports, "--tcp-ports")
    tls = _ranges(args.tls_ports, "--tls-ports")
    sip_echo = _ranges(getattr(args, "sip_echo_ports", ""), "--sip-echo-ports")
    h323_echo = _ranges(getattr(args, "h323_echo_ports", ""), "--h323-echo-ports")
    try:
        allow = parse_allow(getattr(args, "allow", None) or [])
    except ValueError as exc:
        raise UsageError(f"--allow: {exc}") from None
    keys = None
    if args.key:
        from netready.probes.stamp_keys import load_hmac_keys

        keys = load_hmac_keys(args.key)
    if args.profile:
        from netready.profile import find_profile, load_profile
        from netready.resources import config_dir

        profile = load_profile(find_profile(args.profile, config_dir(environ) / "profiles"))
        udp += profile_ports(profile, "udp")
        tcp += profile_ports(profile, "tcp")
        tls += tuple(r for rule in profile.rules if rule.tls for r in rule.ports)
        if not h323_echo:
            h323_echo = _profile_h323_echo(profile)
        if not sip_echo:
            sip_echo = _profile_sip_echo(profile)
    config = ResponderConfig(
        listen=args.listen,
        stamp_port=args.stamp_port,
        udp_ports=udp,
        tcp_ports=tcp,
        tls_ports=tls,
        sip_echo_ports=sip_echo,
        h323_echo_ports=h323_echo,
        tls_cert=tls_cert,
        tls_key=tls_key,
        allow=allow,
        keys=keys,
        clock_synchronised={"auto": None, "yes": True, "no": False}[args.clock_synchronised],
        **_limits(args),
    )
    try:
        config.check()
    except ResponderError as exc:
        raise UsageError(str(exc)) from None
    return config
