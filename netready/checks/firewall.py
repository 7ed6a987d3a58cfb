"""The `firewall` check kind: is every port of one profile rule reachable from this site?"""

from __future__ import annotations

from typing import Any

from netready.checks.base import Check, RunContext, register
from netready.checks.firewall_params import FirewallParams
from netready.checktexts import text
from netready.model import CheckResult, Rule, Status
from netready.probes.tcp import probe_tcp_ports
from netready.probes.udp_sweep import compact_ranges, sweep_udp


def rule_title(rule: Rule) -> str:
    """Human title of a rule's check."""
    return text(
        "firewall",
        "title",
        protocol=rule.protocol,
        transport=rule.transport.upper(),
        ports=",".join(str(p) for p in rule.ports),
        host=rule.host,
        function=rule.function,
    )


def remediation(rule: Rule, address: str, blocked: str, lang: str = "en") -> str:
    """What the customer's IT has to allow, as a sentence and a rule line."""
    return text(
        "firewall",
        "remediation",
        lang,
        transport=rule.transport,
        transport_upper=rule.transport.upper(),
        address=address,
        ports=blocked,
        function=rule.function,
    )


def _ports(rule: Rule) -> list[int]:
    return [p for r in rule.ports for p in r.ports()]


@register
class FirewallCheck(Check):
    """Probes each port of a rule: TCP handshakes, or UDP echoes through the responder."""

    kind = "firewall"
    Params = FirewallParams
    title = "Firewall rule"

    def timeout_s(self, params: Any, ctx: RunContext) -> float:
        p: FirewallParams = params
        ports = p.rule.port_count() if p.rule else 0
        return 30.0 + ports * 0.01 + p.timeout_s * (p.retries + 2) * 2

    async def run(self, check_id: str, params: Any, ctx: RunContext) -> CheckResult:
        p: FirewallParams = params
        assert p.rule is not None, "the planner sets the rule"
        result = CheckResult(id=check_id, title=rule_title(p.rule), status=Status.NOT_TESTED)
        if p.rule.transport == "tcp":
            open_, blocked, detail = await _tcp(p)
            result.method = "tcp-connect"
        elif not p.responder:
            result.method = "udp-echo"
            result.evidence["ports"] = _port_sets([], [], _ports(p.rule))
            result.reason = (
                "UDP reachability needs `netready responder` at the far end "
                "(give --responder ADDR[:PORT]); nothing was probed"
            )
            return result
        else:
            open_, blocked, detail = await _udp(p, ctx)
            result.method = "udp-echo via netready responder"
        untested = sorted(set(_ports(p.rule)) - set(open_) - set(blocked))
        result.evidence["ports"] = _port_sets(open_, blocked, untested)
        result.evidence.update(detail)
        result.metrics = {
            "ports_open": float(len(open_)),
            "ports_blocked": float(len(blocked)),
            "ports_not_tested": float(len(untested)),
        }
        return _judge(result, p, blocked, untested)


def _judge(
    result: CheckResult, p: FirewallParams, blocked: list[int], untested: list[int]
) -> CheckResult:
    assert p.rule is not None
    if blocked:
        ranges = compact_ranges(blocked)
        result.status = Status.FAIL
        result.reason = (
            f"{len(blocked)} of {p.rule.port_count()} {p.rule.transport.upper()} "
            f"port(s) to {p.address} did not answer: {ranges}"
        )
        result.remediation = remediation(p.rule, p.address, ranges)
    elif untested:
        result.reason = f"{len(untested)} port(s) could not be probed: {compact_ranges(untested)}"
    else:
        result.status = Status.PASS
    return result


def _port_sets(open_: list[int], blocked: list[int], untested: list[int]) -> dict[str, str]:
    return {
        "open": compact_ranges(open_),
        "blocked": compact_ranges(blocked),
        "not_tested": compact_ranges(untested),
    }


async def _tcp(p: FirewallParams) -> tuple[list[int], list[int], dict[str, Any]]:
    assert p.rule is not None
    results = await probe_tcp_ports(
        p.address, _ports(p.rule), timeout_s=p.timeout_s, retries=p.retries
    )
    open_ = sorted(r.port for r in results if r.state == "open")
    blocked = sorted(r.port for r in results if r.state != "open")
    states = {r.port: r.state for r in results if r.state != "open"}
    detail: dict[str, Any] = {"address": p.address}
    if states:
        detail["not_open_states"] = {str(port): st for port, st in sorted(states.items())}
    rtts = [r.rtt_ms for r in results if r.rtt_ms is not None]
    if rtts:
        detail["connect_ms_max"] = max(rtts)
    return open_, blocked, detail


async def _udp(p: FirewallParams, ctx: RunContext) -> tuple[list[int], list[int], dict[str, Any]]:
    assert p.rule is not None
    sweep = await sweep_udp(
        p.address,
        _ports(p.rule),
        timeout_s=p.timeout_s,
        retries=p.retries,
        window=p.udp_window,
        progress=ctx.progress,
    )
    detail: dict[str, Any] = {
        "address": p.address,
        "probes_sent": sweep.sent,
        "probes_retried": sweep.retried,
        "sweep_s": round(sweep.duration_s, 3),
    }
    return sorted(sweep.open), sorted(sweep.blocked), detail
