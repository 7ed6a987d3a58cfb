"""The `stun` check kind: STUN Binding to the platform's STUN server, one check per STUN rule.

Over UDP: `samples` Binding requests (round trip), the mapped public address and port, port
preservation, and the NAT's mapping and filtering behaviour. The behaviour is measured with
the RFC 5780 tests when the server names an OTHER-ADDRESS (coturn with two listening
addresses does); else with pystun3's classic RFC 3489 test when the server names a
CHANGED-ADDRESS; else it is not determined (`method` says which). Over TCP: connect time,
one Binding round trip and the mapped address. No answer at all fails the check.

A rule with tls = true (TURN over TLS, e.g. 5349) gets no plain STUN: its port expects a TLS
handshake, and servers other than coturn need not answer cleartext STUN there. Its
`stun.<rule>` is planned as skipped with that reason; `turn.<rule>` (an Allocate over TLS)
and `tls.<rule>` (handshake, certificate pins) cover the port.
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import statistics
from typing import Any

from netready.checks.base import Check, PlannedCheck, RunContext, register
from netready.checks.stun_params import StunParams
from netready.checktexts import text
from netready.model import CheckResult, Profile, Rule, Status, reached_key
from netready.probes import nat
from netready.probes.nat import Endpoint
from netready.probes.stun_client import (
    CHANGE_IP,
    CHANGE_PORT,
    StunAnswer,
    UdpStunClient,
    local_address_towards,
    tcp_binding,
)

KIND = "stun"


def rule_title(rule: Rule) -> str:
    """Human title of a rule's STUN check."""
    ports = ",".join(str(p) for p in rule.ports)
    return text(
        KIND, "title", transport=rule.transport, ports=ports, host=rule.host, function=rule.function
    )


def _ep(e: Endpoint | None) -> str:
    if e is None:
        return ""
    return f"[{e[0]}]:{e[1]}" if ":" in e[0] else f"{e[0]}:{e[1]}"


def _remediation(rule: Rule, address: str, port: int) -> str:
    return text(
        KIND,
        "remediation",
        transport=rule.transport,
        transport_upper=rule.transport.upper(),
        address=address,
        port=port,
    )


async def rfc5780(
    server: Endpoint, other: Endpoint, local_ip: str, p: StunParams, family: int
) -> dict[str, Any]:
    """Mapping (Tests I-III) and filtering (Tests II-III) behaviour against one server."""
    client = await UdpStunClient.open(family)
    try:
        ask = (p.timeout_s, p.attempts)
        t1 = await client.binding(server, 0, *ask)
        x1 = t1.mapped if t1 else None
        x2 = x3 = None
        local = (local_ip, client.local_port)
        if x1 is not None and not nat.same(local, x1):
            t2 = await client.binding((other[0], server[1]), 0, *ask)
            x2 = t2.mapped if t2 else None
            if x2 is not None and not nat.same(x1, x2):
                t3 = await client.binding(other, 0, *ask)
                x3 = t3.mapped if t3 else None
    finally:
        client.close()
    # Filtering on a fresh socket that has only talked to the primary address.
    client = await UdpStunClient.open(family)
    try:
        both = port_only = None
        if await client.binding(server, 0, *ask) is not None:
            both = await client.binding(server, CHANGE_IP | CHANGE_PORT, *ask) is not None
            if not both:
                port_only = await client.binding(server, CHANGE_PORT, *ask) is not None
    finally:
        client.close()
    mapping = nat.mapping_behaviour(local, x1, x2, x3)
    filtering = nat.filtering_behaviour(both, port_only)
    return {
        "method": "rfc5780",
        "other_address": _ep(other),
        "test_mapped": {"I": _ep(x1), "II": _ep(x2), "III": _ep(x3)},
        "answered_change_ip_port": both,
        "answered_change_port": port_only,
        "mapping": mapping,
        "filtering": filtering,
        "explanation": nat.explain(mapping, filtering),
    }


_CLASSIC = {  # pystun3's names -> (mapping, filtering) in RFC 4787 terms
    "Open Internet": (nat.NO_NAT, nat.ENDPOINT_INDEPENDENT),
    "Full Cone": (nat.ENDPOINT_INDEPENDENT, nat.ENDPOINT_INDEPENDENT),
    "Restric NAT": (nat.ENDPOINT_INDEPENDENT, nat.ADDRESS_DEPENDENT),
    "Restric Port NAT": (nat.ENDPOINT_INDEPENDENT, nat.ADDRESS_PORT_DEPENDENT),
    "Symmetric NAT": (nat.ADDRESS_PORT_DEPENDENT, nat.ADDRESS_PORT_DEPENDENT),
    "Symmetric UDP Firewall": (nat.NO_NAT, nat.ADDRESS_PORT_DEPENDENT),
}


async def rfc3489_classic(server: Endpoint) -> dict[str, Any]:
    """pystun3's classic test (RFC 3489 §10.1), for servers that give CHANGED-ADDRESS."""
    import stun as pystun3  # pystun3: only imported when a server supports the classic test

    nat_type, _ip, _port = await asyncio.to_thread(
        pystun3.get_ip_info, "0.0.0.0", 0, server[0], server[1]
    )
    mapping, filtering = _CLASSIC.get(str(nat_type), (nat.UNKNOWN, nat.UNKNOWN))
    return {
        "method": "rfc3489-classic (pystun3)",
        "classic_type": str(nat_type),
        "mapping": mapping,
        "filtering": filtering,
        "explanation": nat.explain(mapping, filtering),
    }


@register
class StunCheck(Check):
    """STUN Binding round trip, mapped address and NAT behaviour for one STUN rule."""

    kind = KIND
    Params = StunParams
    title = "STUN"

    def timeout_s(self, params: Any, ctx: RunContext) -> float:
        p: StunParams = params
        return 20.0 + p.timeout_s * p.attempts * (p.samples + 8)

    async def run(self, check_id: str, params: Any, ctx: RunContext) -> CheckResult:
        p: StunParams = params
        assert p.rule is not None, "the planner sets the rule"
        port = p.rule.ports[0].first
        if p.rule.tls:  # the planner skips these; never send cleartext STUN to a TLS port
            skipped = CheckResult(id=check_id, title=rule_title(p.rule), status=Status.SKIPPED)
            skipped.reason = tls_skip_reason(p.rule)
            return skipped
        result = CheckResult(id=check_id, title=rule_title(p.rule), status=Status.FAIL)
        result.evidence = {"server": _ep((p.address, port)), "transport": p.rule.transport}
        if p.rule.transport == "tcp":
            await self._tcp(result, p, port)
        else:
            await self._udp(result, p, port, ctx)
        if result.status == Status.FAIL:
            result.remediation = _remediation(p.rule, p.address, port)
        else:
            result.evidence["reached"] = [reached_key(p.rule.transport, p.address, port)]
        return result

    async def _tcp(self, result: CheckResult, p: StunParams, port: int) -> None:
        result.method = "stun-binding-tcp"
        r = await tcp_binding(p.address, port, p.timeout_s * p.attempts)
        result.evidence.update(connected=r.connected, error=r.error, local=_ep(r.local))
        if r.connect_ms is not None:
            result.metrics["connect_ms"] = r.connect_ms
        if r.answer is None:
            result.reason = f"STUN Binding over TCP to {_ep((p.address, port))}: {r.error}"
            return
        self._mapped(result, r.local, r.answer)
        result.metrics["rtt_ms"] = r.answer.rtt_ms
        result.status = Status.PASS

    async def _udp(self, result: CheckResult, p: StunParams, port: int, ctx: RunContext) -> None:
        result.method = "stun-binding-udp"
        family = socket.AF_INET6 if ":" in p.address else socket.AF_INET
        server = (p.address, port)
        client = await UdpStunClient.open(family)
        answers: list[StunAnswer] = []
        try:
            for i in range(p.samples):
                ctx.progress(i / (p.samples + 1), f"STUN Binding {i + 1} of {p.samples}")
                a = await client.binding(server, 0, p.timeout_s, p.attempts)
                if a is not None:
                    answers.append(a)
            local = (local_address_towards(p.address, port), client.local_port)
        finally:
            client.close()
        result.metrics["requests"] = float(p.samples)
        result.metrics["answered"] = float(len(answers))
        if not answers:
            result.reason = (
                f"no STUN answer from {_ep(server)} over UDP after {p.samples} requests "
                f"({p.attempts} sends each): UDP {port} blocked or the server is down"
            )
            return
        rtts = [a.rtt_ms for a in answers]
        result.metrics.update(
            rtt_min_ms=min(rtts), rtt_median_ms=statistics.median(rtts), rtt_max_ms=max(rtts)
        )
        first = answers[0]
        self._mapped(result, local, first)
        result.evidence["mapped_addresses"] = sorted({_ep(a.mapped) for a in answers if a.mapped})
        result.evidence["software"] = first.software
        behaviour: dict[str, Any] = {"method": "none", "mapping": nat.UNKNOWN}
        if not p.nat_behaviour:
            behaviour["why"] = "nat_behaviour = false"
        elif first.other is not None:
            ctx.progress(0.8, "RFC 5780 mapping and filtering tests")
            behaviour = await rfc5780(server, first.other, local[0], p, family)
        elif first.changed is not None and family == socket.AF_INET:
            ctx.progress(0.8, "RFC 3489 classic test (pystun3)")
            behaviour = await rfc3489_classic(server)
        else:
            behaviour["why"] = (
                "the server names no alternate address (no OTHER-ADDRESS, no CHANGED-ADDRESS): "
                "NAT mapping and filtering behaviour not determined"
            )
        result.evidence["nat"] = behaviour
        result.method += f" + {behaviour['method']}" if behaviour["method"] != "none" else ""
        result.reason = behaviour.get("explanation", behaviour.get("why", ""))
        if nat.needs_relay(str(behaviour["mapping"])):
            result.evidence["calls_need_turn"] = True
        result.status = Status.PASS

    @staticmethod
    def _mapped(result: CheckResult, local: Endpoint | None, answer: StunAnswer) -> None:
        preserved = nat.port_preserved(local, answer.mapped)
        result.evidence.update(
            local=_ep(local),
            mapped=_ep(answer.mapped),
            behind_nat=None if answer.mapped is None else not nat.same(local, answer.mapped),
            port_preserved=preserved,
        )
        if preserved is not None:
            result.metrics["port_preserved"] = 1.0 if preserved else 0.0


def tls_skip_reason(rule: Rule) -> str:
    """Why `stun.<rule>` does not run for a rule with tls = true."""
    return (
        f"rule '{rule.name}' is TURN over TLS (tls = true): plain STUN is not sent to a TLS "
        f"port; STUN over TLS is covered by turn.{rule.name}/tls.{rule.name}"
    )


def plan_stun(profile: Profile) -> list[PlannedCheck]:
    """One `stun.<rule>` per rule with verify = "stun" whose host has an address; skipped
    for a rule with tls = true (see `tls_skip_reason`)."""
    from netready.checks.nat_lifetime import plan_nat_lifetime  # registers `nat.lifetime`

    defaults = StunParams(**profile.checks.get(KIND, {}))
    plan = [
        PlannedCheck(
            f"{KIND}.{rule.name}",
            rule_title(rule),
            StunCheck(),
            dataclasses.replace(defaults, rule=rule, address=profile.hosts[rule.host]),
            skip_reason=tls_skip_reason(rule) if rule.tls else "",
        )
        for rule in profile.rules
        if rule.verify == "stun" and profile.hosts.get(rule.host, "")
    ]
    return plan + plan_nat_lifetime(profile)
