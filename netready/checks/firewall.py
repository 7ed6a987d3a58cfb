"""The `firewall` check kind: is every port of one profile rule reachable from this site?

One check `firewall.<rule>` per profile rule. TCP rules: a handshake to every port
(`netready.probes.tcp`); every port that did not complete one is blocked, and its
state (`filtered`: silence, a firewall drops the SYN; `closed`: a TCP reset, a
firewall rejects it or nothing listens; `reset_after_connect`; `unreachable`) is
in evidence `port_states` with the probe's detail. UDP rules: an echo through
`netready responder` for every port of every range (`netready.probes.udp_sweep`);
a silent port is probed at least 1 + UDP_MIN_RETRIES times, with a timer that
adapts to the round-trip times measured so far (shared by the rules to one
address), before it is called blocked.

Evidence `ports` = {open, blocked, not_tested} as compact ranges. A failed rule
gets a remediation sentence with the firewall rule line naming the exact ports
and destination: English in `remediation`, German in evidence `remediation_de`.

Quick mode (`--quick`): each range of more than `quick_samples` ports is sampled:
its first and last port and `quick_samples - 2` random ones between. The status is
pass or fail on the sampled ports (so a quick run can still PASS), evidence
`sampled` is true, `sampled_ports` lists them, and every port left out is in
`ports.not_tested`; the reason says how many ports were probed. A quick pass
proves the rule is configured, not that no single port inside a range is blocked:
only a full run can say that.

Through an explicit HTTP proxy, TCP rules are verified by CONNECT; without a responder, UDP
rules get TTL-limited probes (egress only, never a pass): both in `firewall_paths`.
"""

from __future__ import annotations

import random
from typing import Any

from netready.checks.base import Check, RunContext, register
from netready.checks.firewall_params import FirewallParams
from netready.checks.firewall_paths import proxy_verdict, tcp_via_proxy, udp_firewalk
from netready.checktexts import text
from netready.model import CheckResult, Rule, Status
from netready.probes.proxy import select_proxy
from netready.probes.tcp import CLOSED, FILTERED, RESET_AFTER_CONNECT, probe_tcp_ports
from netready.probes.udp_sweep import DEFAULT_RETRIES, RttEstimator, compact_ranges, sweep_udp

#: A silent UDP port is probed at least this many times again (a datagram has no handshake,
#: so loss on the path looks like a block); `retries` of the check applies when higher.
UDP_MIN_RETRIES = DEFAULT_RETRIES
#: What each TCP state means for the customer's IT.
TCP_MEANING = {
    FILTERED: "no answer to the SYN: a firewall on the path drops it",
    CLOSED: "refused with a TCP reset: a firewall rejects it, or nothing listens on the server",
    RESET_AFTER_CONNECT: (
        "connected, then reset: a middlebox let the SYN through, then killed the flow"
    ),
}
#: Round-trip estimators per address, shared by the UDP rules of one run.
_RTT: dict[str, RttEstimator] = {}


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


def quick_sample(rule: Rule, samples: int, rng: random.Random | None = None) -> list[int]:
    """Ports probed in quick mode: per range its first, last and `samples - 2` random
    ports between (a range of at most `samples` ports is probed whole); sorted."""
    rng = rng or random.Random()
    chosen: set[int] = set()
    for r in rule.ports:
        ports = r.ports()
        if len(ports) <= max(samples, 2):
            chosen.update(ports)
            continue
        chosen.update((r.first, r.last))
        chosen.update(rng.sample(range(r.first + 1, r.last), max(samples - 2, 0)))
    return sorted(chosen)


@register
class FirewallCheck(Check):
    """Probes each port of a rule: TCP handshakes, or UDP echoes through the responder."""

    kind = "firewall"
    Params = FirewallParams
    title = "Firewall rule"

    def timeout_s(self, params: Any, ctx: RunContext) -> float:
        p: FirewallParams = params
        ports = p.rule.port_count() if p.rule else 0
        retries = max(p.retries, UDP_MIN_RETRIES)
        if p.rule and p.rule.transport == "udp" and not p.responder:
            probed = p.firewalk_samples * len(p.rule.ports) if p.firewalk_samples else ports
            return 30.0 + p.max_ttl * p.timeout_s * 2 + probed * p.timeout_s
        return 30.0 + ports * 0.01 + p.timeout_s * (retries + 2) * 2

    async def run(self, check_id: str, params: Any, ctx: RunContext) -> CheckResult:
        p: FirewallParams = params
        assert p.rule is not None, "the planner sets the rule"
        result = CheckResult(id=check_id, title=rule_title(p.rule), status=Status.NOT_TESTED)
        every = _ports(p.rule)
        probed = quick_sample(p.rule, p.quick_samples) if ctx.quick else every
        sampled = len(probed) < len(every)
        proxy = select_proxy(p.proxy, p.address) if p.rule.transport == "tcp" else None
        if proxy is not None:
            open_, blocked, detail = await tcp_via_proxy(p, proxy, probed)
            result.method = "http-connect via proxy"
        elif p.rule.transport == "tcp":
            open_, blocked, detail = await _tcp(p, probed)
            result.method = "tcp-connect"
        elif not p.responder:
            walked = quick_sample(p.rule, p.firewalk_samples) if p.firewalk_samples else every
            return await udp_firewalk(result, p, every, walked)
        else:
            open_, blocked, detail = await _udp(p, ctx, probed)
            result.method = "udp-echo via netready responder"
        untested = sorted(set(every) - set(open_) - set(blocked))
        result.evidence["ports"] = _port_sets(open_, blocked, untested)
        if sampled:
            result.evidence["sampled"] = True
            result.evidence["sampled_ports"] = compact_ranges(probed)
        result.evidence.update(detail)
        result.metrics = {
            "ports_open": float(len(open_)),
            "ports_blocked": float(len(blocked)),
            "ports_not_tested": float(len(untested)),
        }
        failed_probes = sorted(set(probed) - set(open_) - set(blocked))
        _judge(result, p, blocked, failed_probes, len(probed) if sampled else None)
        if proxy is not None:
            proxy_verdict(result, p.rule, proxy, p.address)
        return result


def _judge(
    result: CheckResult,
    p: FirewallParams,
    blocked: list[int],
    untested: list[int],
    sampled: int | None,
) -> CheckResult:
    """fail if a probed port is blocked, not_tested if a probe could not run, else pass."""
    assert p.rule is not None
    quick = (
        f"quick mode: {sampled} of {p.rule.port_count()} ports probed (first, last and "
        "random ports of each range), the rest not tested; run without --quick for every port"
        if sampled is not None
        else ""
    )
    if blocked:
        ranges = compact_ranges(blocked)
        result.status = Status.FAIL
        result.reason = (
            f"{len(blocked)} of {p.rule.port_count()} {p.rule.transport.upper()} "
            f"port(s) to {p.address} did not answer: {ranges}"
        ) + (f" ({quick})" if quick else "")
        result.remediation = remediation(p.rule, p.address, ranges)
        result.evidence["remediation_de"] = remediation(p.rule, p.address, ranges, "de")
    elif untested:
        result.reason = f"{len(untested)} port(s) could not be probed: {compact_ranges(untested)}"
    else:
        result.status = Status.PASS
        result.reason = quick
    return result


def _port_sets(open_: list[int], blocked: list[int], untested: list[int]) -> dict[str, str]:
    return {
        "open": compact_ranges(open_),
        "blocked": compact_ranges(blocked),
        "not_tested": compact_ranges(untested),
    }


async def _tcp(p: FirewallParams, ports: list[int]) -> tuple[list[int], list[int], dict[str, Any]]:
    results = await probe_tcp_ports(p.address, ports, timeout_s=p.timeout_s, retries=p.retries)
    open_ = sorted(r.port for r in results if r.state == "open")
    blocked = sorted(r.port for r in results if r.state != "open")
    not_open = sorted((r for r in results if r.state != "open"), key=lambda r: r.port)
    detail: dict[str, Any] = {"address": p.address}
    if not_open:
        detail["not_open_states"] = {str(r.port): r.state for r in not_open}
        detail["port_states"] = {
            str(r.port): {
                "state": r.state,
                "detail": r.detail,
                "meaning": TCP_MEANING.get(r.state, "an ICMP error or a local policy refused it"),
            }
            for r in not_open
        }
    rtts = [r.rtt_ms for r in results if r.rtt_ms is not None]
    if rtts:
        detail["connect_ms_max"] = max(rtts)
    return open_, blocked, detail


async def _udp(
    p: FirewallParams, ctx: RunContext, ports: list[int]
) -> tuple[list[int], list[int], dict[str, Any]]:
    retries = max(p.retries, UDP_MIN_RETRIES)
    sweep = await sweep_udp(
        p.address,
        ports,
        timeout_s=p.timeout_s,
        retries=retries,
        window=p.udp_window,
        progress=ctx.progress,
        rtt=_RTT.setdefault(p.address, RttEstimator()),
    )
    detail: dict[str, Any] = {
        "address": p.address,
        "probes_sent": sweep.sent,
        "probes_retried": sweep.retried,
        "attempts_per_silent_port": retries + 1,
        "sweep_s": round(sweep.duration_s, 3),
    }
    if sweep.rtt_ms:
        detail["rtt_ms"] = sweep.rtt_ms
    return sorted(sweep.open), sorted(sweep.blocked), detail
