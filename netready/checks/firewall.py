"""The `firewall` check kind: is every port of one profile rule reachable from this site?

One check `firewall.<rule>` per profile rule, decided by the strongest evidence available;
`method` names how, evidence `destination` the address actually tested (ARCHITECTURE.md 8).
TCP rules: a handshake to every port of the rule's host (`netready.probes.tcp`); every port
that did not complete one is blocked, and its state is in evidence `port_states` with the
probe's detail; the reason words each state as it is (`filtered`: "no answer: a firewall
drops it"; `closed`: "refused (reset): nothing listens there, or a firewall rejects it";
`reset_after_connect`; `unreachable`: the ICMP error or local policy, with a remediation
about the route). UDP rules: the ladder of `firewall_udp` (the service's own protocol,
the responder at the host, the responder standing in for the host, egress only); a silent
port is probed at least 1 + UDP_MIN_RETRIES times, with a timer that adapts to the
round-trip times measured so far in the run, before it is called blocked.

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

from typing import Any

from netready.checks.base import BURST, Check, RunContext, register
from netready.checks.firewall_params import FirewallParams
from netready.checks.firewall_paths import (
    proxy_verdict,
    quick_sample,
    tcp_via_proxy,
    udp_firewalk,
)
from netready.checks.firewall_udp import decide_udp
from netready.checktexts import text
from netready.model import CheckResult, Rule, Status
from netready.probes.errors import NETWORK_ERRNO_WORDS
from netready.probes.proxy import select_proxy
from netready.probes.tcp import (
    CLOSED,
    FILTERED,
    RESET_AFTER_CONNECT,
    STATE_WORDS,
    UNREACHABLE,
    probe_tcp_ports,
)
from netready.probes.udp_sweep import DEFAULT_RETRIES, compact_ranges

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
    """Decides each port of a rule by the strongest evidence available (`firewall_udp`)."""

    kind = "firewall"
    Params = FirewallParams
    load = BURST
    title = "Firewall rule"

    def timeout_s(self, params: Any, ctx: RunContext) -> float:
        p: FirewallParams = params
        ports = p.rule.port_count() if p.rule else 0
        retries = max(p.retries, UDP_MIN_RETRIES)
        walk = 0.0
        if p.rule and p.rule.transport == "udp":
            probed = p.firewalk_samples * len(p.rule.ports) if p.firewalk_samples else ports
            walk = p.max_ttl * p.timeout_s * 2 + probed * p.timeout_s
        return 40.0 + walk + ports * 0.01 + p.timeout_s * (retries + 2) * 2

    def expected_s(self, params: Any, ctx: RunContext) -> float:
        p: FirewallParams = params
        ports = p.rule.port_count() if p.rule else 0
        return 1.0 + (0.0 if ctx.quick else ports / 8000)  # a sweep does ~10k ports/s

    async def run(self, check_id: str, params: Any, ctx: RunContext) -> CheckResult:
        p: FirewallParams = params
        assert p.rule is not None, "the planner sets the rule"
        result = CheckResult(id=check_id, title=rule_title(p.rule), status=Status.NOT_TESTED)
        result.evidence.update(
            host=p.rule.host,
            host_address=p.address,
            transport=p.rule.transport,
            function=p.rule.function,
        )
        every = _ports(p.rule)
        probed = quick_sample(p.rule, p.quick_samples) if ctx.quick else every
        sampled = len(probed) < len(every)
        proxy = select_proxy(p.proxy, p.address) if p.rule.transport == "tcp" else None
        destination = p.address
        note = ""
        if proxy is not None:
            open_, blocked, detail = await tcp_via_proxy(p, proxy, probed)
            result.method = "http-connect via proxy"
        elif p.rule.transport == "tcp":
            open_, blocked, detail = await _tcp(p, probed)
            result.method = "tcp-connect"
        else:
            decision = await decide_udp(p, ctx, probed)
            if decision is None:
                walked = quick_sample(p.rule, p.firewalk_samples) if p.firewalk_samples else every
                result.evidence["destination"] = p.address
                return await udp_firewalk(result, p, every, walked)
            result.method = decision.method
            destination, note = decision.destination, decision.note
            open_, blocked, detail = decision.open, decision.blocked, decision.evidence
            if decision.untested_reason:
                result.evidence.update(destination=destination, **detail)
                result.evidence["ports"] = _port_sets([], [], every)
                result.reason = decision.untested_reason
                if "network_error" in detail:
                    result.remediation = text(
                        "firewall", "remediation_unreachable", address=p.address,
                        why=detail["network_error"],
                    )  # fmt: skip
                return result
        result.evidence["destination"] = destination
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
        if note:
            result.reason = "; ".join(part for part in (result.reason, note) if part)
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
        result.reason = _blocked_reason(result, p, blocked) + (f" ({quick})" if quick else "")
        result.remediation = _remediation_for(result, p, ranges)
        result.evidence["remediation_de"] = _remediation_for(result, p, ranges, "de")
    elif untested:
        why = _send_error_words(result.evidence.get("send_errors", {}))
        result.reason = f"{len(untested)} port(s) could not be probed: {compact_ranges(untested)}"
        if why:
            result.reason += f" ({why})"
            result.remediation = text(
                "firewall", "remediation_unreachable", address=p.address, why=why
            )
    else:
        result.status = Status.PASS
        result.reason = quick
    return result


def _blocked_reason(result: CheckResult, p: FirewallParams, blocked: list[int]) -> str:
    """What happened to the blocked ports, in the words that fit each TCP state."""
    assert p.rule is not None
    head = f"{len(blocked)} of {p.rule.port_count()} {p.rule.transport.upper()} port(s) to "
    head += result.evidence.get("destination", p.address)
    states: dict[str, dict[str, str]] = result.evidence.get("port_states", {})
    if p.rule.transport != "tcp" or not states:
        return f"{head} did not answer: {compact_ranges(blocked)}"
    by_state: dict[str, list[int]] = {}
    for port in blocked:
        state = states.get(str(port), {}).get("state", FILTERED)
        by_state.setdefault(state, []).append(port)
    parts = []
    for state, ports in sorted(by_state.items()):
        words = STATE_WORDS.get(state) or states[str(ports[0])].get("detail", state)
        parts.append(f"{compact_ranges(ports)} {words}")
    return f"{head} not reachable: " + "; ".join(parts)


def _remediation_for(result: CheckResult, p: FirewallParams, ranges: str, lang: str = "en") -> str:
    """The fix for the blocked ports: a reset asks for the service or a reject rule."""
    assert p.rule is not None
    states: dict[str, dict[str, str]] = result.evidence.get("port_states", {})
    kinds = {v.get("state") for v in states.values()}
    if p.rule.transport == "tcp" and kinds == {CLOSED}:
        return text(
            "firewall", "remediation_reset", lang, address=p.address, ports=ranges,
            function=p.rule.function,
        )  # fmt: skip
    if p.rule.transport == "tcp" and kinds == {UNREACHABLE}:
        why = next(iter(states.values())).get("detail", "unreachable")
        return text("firewall", "remediation_unreachable", lang, address=p.address, why=why)
    return remediation(p.rule, p.address, ranges, lang)


def _send_error_words(errors: dict[str, int]) -> str:
    """'network unreachable' etc. for the errno names a sweep counted, '' if none."""
    words = [NETWORK_ERRNO_WORDS.get(name, name) for name in sorted(errors)]
    return ", ".join(words)


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
