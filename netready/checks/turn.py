"""The `turn` check kind: an authenticated TURN allocation and a relayed exchange per rule.

Credentials come only from the environment (`NETREADY_TURN_USERNAME`,
`NETREADY_TURN_PASSWORD`); without them the check is `not_tested` and says which variables to
set. The password never enters the result: evidence holds the user name's presence only.

* the allocation is rejected (401/431): fail, "authentication rejected";
* no answer or another error before the relay: fail, with the step that failed;
* no relayed packet came back: fail; otherwise pass with the allocate time and relayed RTTs.
"""

from __future__ import annotations

import dataclasses
import os
import statistics
from typing import Any

from netready.checks.base import Check, RunContext, register
from netready.checks.turn_params import PASSWORD_ENV, USERNAME_ENV, TurnParams
from netready.checktexts import text
from netready.engine.runner import PlannedCheck
from netready.model import CheckResult, Profile, Rule, Status
from netready.probes.turn import Endpoint, TurnProbeResult, probe_turn

KIND = "turn"


def rule_title(rule: Rule) -> str:
    """Human title of a rule's TURN check."""
    ports = ",".join(str(p) for p in rule.ports)
    return text(
        KIND, "title", transport=rule.transport, ports=ports, host=rule.host, function=rule.function
    )


def _ep(e: Endpoint | None) -> str:
    return "" if e is None else f"{e[0]}:{e[1]}"


def credentials() -> tuple[str, str] | None:
    """(user, password) from the environment, or None when either is missing."""
    user, password = os.environ.get(USERNAME_ENV, ""), os.environ.get(PASSWORD_ENV, "")
    return (user, password) if user and password else None


@register
class TurnCheck(Check):
    """TURN Allocate, CreatePermission and relayed round trips over one rule's transport."""

    kind = KIND
    Params = TurnParams
    title = "TURN"

    def timeout_s(self, params: Any, ctx: RunContext) -> float:
        p: TurnParams = params
        return 20.0 + p.timeout_s * (24 + 2 * p.packets)

    async def run(self, check_id: str, params: Any, ctx: RunContext) -> CheckResult:
        p: TurnParams = params
        assert p.rule is not None, "the planner sets the rule"
        port = p.rule.ports[0].first
        result = CheckResult(id=check_id, title=rule_title(p.rule), status=Status.NOT_TESTED)
        result.method = f"turn-allocate-{p.rule.transport} + create-permission + send-indication"
        result.evidence = {"server": f"{p.address}:{port}", "transport": p.rule.transport}
        creds = credentials()
        if creds is None:
            result.reason = (
                f"no TURN credentials: set {USERNAME_ENV} and {PASSWORD_ENV} in the environment "
                "(they are never written to the report)"
            )
            return result
        ctx.progress(0.1, f"TURN Allocate over {p.rule.transport}")
        r = await probe_turn(
            (p.address, port), creds[0], creds[1], p.rule.transport, p.packets, p.timeout_s
        )
        return _judge(result, p, port, r)


def _judge(result: CheckResult, p: TurnParams, port: int, r: TurnProbeResult) -> CheckResult:
    assert p.rule is not None
    result.evidence.update(
        stage=r.stage,
        error=r.error,
        relayed=_ep(r.relayed),
        mapped=_ep(r.mapped),
        peer_relayed=_ep(r.peer_relayed),
        packets_sent=r.sent,
        packets_back=len(r.rtts_ms),
        rtts_ms=[round(x, 3) for x in r.rtts_ms],
    )
    if r.allocate_ms is not None:
        result.metrics["allocate_ms"] = r.allocate_ms
    result.metrics["relay_loss_pct"] = (
        100.0 * (r.sent - len(r.rtts_ms)) / r.sent if r.sent else 100.0
    )
    if r.rtts_ms:
        result.metrics["relay_rtt_median_ms"] = statistics.median(r.rtts_ms)
        result.metrics["relay_rtt_max_ms"] = max(r.rtts_ms)
    fields: dict[str, Any] = {
        "transport": p.rule.transport,
        "transport_upper": p.rule.transport.upper(),
        "address": p.address,
        "port": port,
    }
    server = f"{p.address}:{port}/{p.rule.transport}"
    result.status = Status.FAIL
    if r.auth_rejected:
        result.reason = f"authentication rejected by the TURN server {server} ({r.error})"
        result.remediation = text(KIND, "remediation_auth")
    elif r.stage != "done":
        result.reason = f"TURN {r.stage} failed on {server}: {r.error}"
        result.remediation = text(KIND, "remediation", **fields)
    elif not r.rtts_ms:
        result.reason = (
            f"TURN allocation on {server} works (relayed {_ep(r.relayed)}), but none of "
            f"{r.sent} relayed packets came back"
        )
        result.remediation = text(KIND, "remediation", **fields)
    else:
        result.status = Status.PASS
        result.reason = (
            f"relayed address {_ep(r.relayed)}; {len(r.rtts_ms)} of {r.sent} packets relayed "
            "there and back"
        )
    return result


def plan_turn(profile: Profile) -> list[PlannedCheck]:
    """One `turn.<rule>` per rule with verify = "stun" whose host has an address."""
    defaults = TurnParams(**profile.checks.get(KIND, {}))
    return [
        PlannedCheck(
            f"{KIND}.{rule.name}",
            rule_title(rule),
            TurnCheck(),
            dataclasses.replace(defaults, rule=rule, address=profile.hosts[rule.host]),
        )
        for rule in profile.rules
        if rule.verify == "stun" and profile.hosts.get(rule.host, "")
    ]
