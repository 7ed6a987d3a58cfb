"""Turns a validated profile into the list of checks to run, each with typed params."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from netready.checks import registry
from netready.checks.firewall import rule_title
from netready.checks.firewall_params import FirewallParams
from netready.checks.voice import KIND as VOICE
from netready.checks.voice_params import VoiceParams
from netready.engine.runner import PlannedCheck
from netready.errors import UsageError
from netready.model import Profile


def _params(profile: Profile, kind: str, params_type: type[Any]) -> Any:
    return params_type(**profile.checks.get(kind, {}))


def build_plan(profile: Profile, only: Iterable[str] = ()) -> list[PlannedCheck]:
    """Voice path first (quiet line), then one firewall check per rule, in profile order."""
    kinds = registry()
    plan: list[PlannedCheck] = []
    voice: VoiceParams = dataclasses.replace(
        _params(profile, VOICE, VoiceParams), responder=profile.responder, targets=profile.targets
    )
    plan.append(PlannedCheck(VOICE, kinds[VOICE].title, kinds[VOICE](), voice))
    fw_defaults: FirewallParams = _params(profile, "firewall", FirewallParams)
    for rule in profile.rules:
        address = profile.hosts.get(rule.host, "")
        skip = ""
        if not address:
            skip = rule.condition or f"host '{rule.host}' has no address"
        params = dataclasses.replace(
            fw_defaults, rule=rule, address=address, responder=profile.responder
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
    return _select(plan, list(only))


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
