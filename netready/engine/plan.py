"""Turns a validated profile into the list of checks to run, each with typed params."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from netready.checks import registry
from netready.checks.base import PlannedCheck
from netready.checks.dns import plan_dns
from netready.checks.firewall import rule_title
from netready.checks.firewall_params import FirewallParams
from netready.checks.firewall_udp import preflight_ports
from netready.checks.h323 import plan_h323
from netready.checks.ldaps import plan_ldaps
from netready.checks.mtu import plan_mtu
from netready.checks.qos import plan_qos
from netready.checks.sip import plan_sip
from netready.checks.stun import plan_stun
from netready.checks.tls import KIND as TLS
from netready.checks.tls import rule_title as tls_title
from netready.checks.tls_params import TlsParams
from netready.checks.turn import plan_turn
from netready.checks.voice import KIND as VOICE
from netready.checks.voice_params import VoiceParams
from netready.errors import ProfileError, UsageError
from netready.model import Profile
from netready.probes.stamp_keys import load_hmac_keys


def _params(profile: Profile, kind: str, params_type: type[Any]) -> Any:
    return params_type(**profile.checks.get(kind, {}))


def _voice_error(profile: Profile, key: str, reason: str) -> ProfileError:
    return ProfileError(profile.path, f'checks."{VOICE}".{key}', reason)


def voice_params(profile: Profile) -> VoiceParams:
    """The voice stream's params with the media port range and the STUN server resolved."""
    base: VoiceParams = _params(profile, VOICE, VoiceParams)
    media = (0, 0)
    if base.media_rule:
        rule = next((r for r in profile.rules if r.name == base.media_rule), None)
        if rule is None or rule.transport != "udp":
            udp = [r.name for r in profile.rules if r.transport == "udp"]
            raise _voice_error(
                profile,
                "media_rule",
                f"no UDP rule {base.media_rule!r} "
                f'(UDP rules: {", ".join(udp) or "none"}; "" = STAMP port)',
            )
        media = (rule.ports[0].first, rule.ports[0].last)
    try:
        first, _, last = base.source_ports.partition("-")
        low, high = int(first), int(last or first)
        if not 0 < low <= high < 65536:
            raise ValueError
    except ValueError:
        raise _voice_error(
            profile, "source_ports", f"{base.source_ports!r} is not a port range like 16384-32767"
        ) from None
    if base.clock_synchronised not in ("auto", "yes", "no"):
        raise _voice_error(profile, "clock_synchronised", "must be auto, yes or no")
    if base.hmac_key_file:
        load_hmac_keys(base.hmac_key_file)  # a bad key file stops the run before any packet
    if base.stun_host and base.stun_host not in profile.hosts:
        raise _voice_error(profile, "stun_host", f"no host {base.stun_host!r} in [hosts]")
    return dataclasses.replace(
        base,
        responder=profile.responder,
        targets=profile.targets,
        media_ports=media,
        stun_address=profile.hosts.get(base.stun_host, "") if base.stun_host else "",
    )


def build_plan(profile: Profile, only: Iterable[str] = ()) -> list[PlannedCheck]:
    """Voice path first (quiet line), one firewall check per rule, then the services."""
    kinds = registry()
    plan: list[PlannedCheck] = []
    voice = voice_params(profile)
    plan.append(PlannedCheck(VOICE, kinds[VOICE].title, kinds[VOICE](), voice))
    fw_defaults: FirewallParams = _params(profile, "firewall", FirewallParams)
    for rule in profile.rules:
        address = profile.hosts.get(rule.host, "")
        skip = ""
        if not address:
            skip = rule.condition or f"host '{rule.host}' has no address"
        params = dataclasses.replace(
            fw_defaults,
            rule=rule,
            address=address,
            responder=profile.responder,
            stands_in=rule.host in profile.responder_stands_in,
            host_probe_ports=echo_probe_ports(profile, rule.host),
        )
        plan.append(
            PlannedCheck(
                f"firewall.{rule.name}",
                rule_title(rule),
                kinds["firewall"](),
                params,
                skip_reason=skip,
            )
        )
    plan += tls_plan(profile)
    plan += plan_dns(profile) + plan_stun(profile) + plan_turn(profile)
    plan += plan_ldaps(profile) + plan_sip(profile) + plan_qos(profile) + plan_mtu(profile)
    plan += plan_h323(profile)
    return _select(plan, list(only))


def echo_probe_ports(profile: Profile, host: str) -> tuple[int, ...]:
    """The preflight ports of every UDP echo rule of `host`: does anything echo there?"""
    ports = {
        port
        for rule in profile.rules
        if rule.host == host and rule.transport == "udp" and rule.verify == "echo"
        for port in preflight_ports(rule)
    }
    return tuple(sorted(ports))


def tls_plan(profile: Profile) -> list[PlannedCheck]:
    """One `tls.<rule>` check per rule with tls = true whose host has an address."""
    defaults: TlsParams = _params(profile, TLS, TlsParams)
    check = registry()[TLS]
    return [
        PlannedCheck(
            f"{TLS}.{rule.name}",
            tls_title(rule),
            check(),
            dataclasses.replace(defaults, rule=rule, address=profile.hosts[rule.host]),
        )
        for rule in profile.rules
        if rule.tls and profile.hosts.get(rule.host, "")
    ]


def _select(plan: list[PlannedCheck], only: list[str]) -> list[PlannedCheck]:
    """--only ID[,ID]: exact ids, or a prefix ending in a dot (e.g. `firewall.`)."""
    if not only:
        return plan
    ids = [p.id for p in plan]
    unknown = [
        o for o in only if not any(i == o or (o.endswith(".") and i.startswith(o)) for i in ids)
    ]
    if unknown:
        raise UsageError(
            f"--only: no check {', '.join(repr(u) for u in unknown)} in this "
            f"profile (checks: {', '.join(ids)})"
        )
    return [
        p for p in plan if any(p.id == o or (o.endswith(".") and p.id.startswith(o)) for o in only)
    ]
