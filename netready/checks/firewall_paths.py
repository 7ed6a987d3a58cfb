"""The firewall check's two other paths: TCP through an explicit HTTP proxy, and UDP without
a responder (TTL-limited probes). The plain paths and the verdict are in `firewall.py`.

Proxy (`netready.probes.proxy`): when the site reaches the platform through an HTTP proxy
(profile `proxy`, or HTTPS_PROXY / ALL_PROXY unless NO_PROXY matches), every TCP port is
verified by CONNECT: the method is "http-connect via proxy", evidence `proxy` names it, and
each port that did not open has its CONNECT status line in `port_states`. 403/407 is
"blocked by the proxy"; the remediation then addresses the proxy's policy.

Firewalk (`netready.probes.firewalk`): without `netready responder`, UDP rules get
TTL-limited probes, which show only what the site's own edge lets out. The rule therefore
never passes on them: `not_tested` with evidence `egress_only` {open, blocked,
undetermined, sampled} and a reason saying what was shown; `fail` only when the edge
demonstrably stops a port (see the probe module's doc for why consistent silence counts).
"""

from __future__ import annotations

import random
from typing import Any

from netready.checks.firewall_params import FirewallParams
from netready.checktexts import text
from netready.model import CheckResult, Rule, Status
from netready.probes.firewalk import FirewalkResult, firewalk, have_raw_socket
from netready.probes.proxy import BLOCKED, OPEN, Proxy, connect_ports_via_proxy
from netready.probes.udp_sweep import compact_ranges


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


FIREWALK_METHOD = "udp-ttl-limited (firewalk, egress only)"
#: A silent port is sent at least this many times again at TTL edge + 1.
FIREWALK_MIN_RETRIES = 2


async def tcp_via_proxy(
    p: FirewallParams, proxy: Proxy, ports: list[int]
) -> tuple[list[int], list[int], dict[str, Any]]:
    """(open, blocked, evidence) for TCP ports verified by CONNECT through the proxy."""
    results = await connect_ports_via_proxy(proxy, p.address, ports, timeout_s=p.timeout_s * 5)
    open_ = sorted(r.port for r in results if r.state == OPEN)
    blocked = sorted(r.port for r in results if r.state == BLOCKED)
    detail: dict[str, Any] = {
        "address": p.address,
        "proxy": proxy.label,
        "proxy_source": proxy.source,
    }
    not_open = sorted((r for r in results if r.state != OPEN), key=lambda r: r.port)
    if not_open:
        detail["port_states"] = {
            str(r.port): {"state": r.state, "status_line": r.status_line, "detail": r.detail}
            for r in not_open
        }
    if open_:
        detail["connect_status"] = next(r.status_line for r in results if r.state == OPEN)
    return open_, blocked, detail


def proxy_verdict(result: CheckResult, rule: Rule, proxy: Proxy, address: str) -> None:
    """Name the proxy in a failed rule's reason and remediation (after the common verdict)."""
    states: dict[str, dict[str, str]] = result.evidence.get("port_states", {})
    blocked = [(int(k), v) for k, v in states.items() if v["state"] == BLOCKED]
    if result.status != Status.FAIL or not blocked:
        return
    lines = "; ".join(f"{port}: {v['status_line'] or v['detail']}" for port, v in blocked)
    ranges = compact_ranges([port for port, _ in blocked])
    result.reason = (
        f"{len(blocked)} of {rule.port_count()} TCP port(s) to {address} blocked by the "
        f"proxy {proxy.label} (CONNECT answered {lines})"
    )
    fields = {"proxy": proxy.label, "address": address, "ports": ranges}
    result.remediation = text("firewall", "remediation_proxy", function=rule.function, **fields)
    result.evidence["remediation_de"] = text(
        "firewall", "remediation_proxy", "de", function=rule.function, **fields
    )


async def walk_to_host(p: FirewallParams, ports: list[int]) -> FirewalkResult:
    """TTL-limited probes of `ports` to the rule's host, with the check's settings."""
    return await firewalk(
        p.address,
        ports,
        edge_hop=p.edge_hop,
        max_ttl=p.max_ttl,
        timeout_s=p.timeout_s,
        retries=max(p.retries, FIREWALK_MIN_RETRIES),
    )


async def udp_firewalk(
    result: CheckResult, p: FirewallParams, every: list[int], probed: list[int]
) -> CheckResult:
    """The UDP rule's verdict from TTL-limited probes of `probed` (see the module doc)."""
    assert p.rule is not None
    result.method = FIREWALK_METHOD
    result.evidence["ports"] = {"open": "", "blocked": "", "not_tested": compact_ranges(every)}
    if not have_raw_socket():
        result.reason = (
            "needs root or CAP_NET_RAW for TTL-limited probes (or `netready responder` at the "
            "far end: --responder ADDR[:PORT]); nothing was probed"
        )
        return result
    try:
        fw = await walk_to_host(p, probed)
    except (OSError, ValueError) as exc:
        result.reason = f"TTL-limited probes to {p.address} could not run: {exc}"
        return result
    sampled = len(probed) < len(every)
    result.evidence["egress_only"] = {
        "open": compact_ranges(fw.open),
        "blocked": compact_ranges(fw.blocked),
        "undetermined": compact_ranges(fw.undetermined),
        "sampled": compact_ranges(probed) if sampled else False,
    }
    untested = sorted(set(every) - set(fw.blocked))
    result.evidence["ports"] = {
        "open": "",
        "blocked": compact_ranges(fw.blocked),
        "not_tested": compact_ranges(untested),
    }
    result.evidence.update(
        address=fw.address,
        edge_hop=fw.edge_hop,
        beyond_router=fw.beyond,
        hops={str(t): a for t, a in sorted(fw.hops.items())},
        probes_sent=fw.probes_sent,
        firewalk_s=round(fw.duration_s, 3),
    )
    if fw.controls:
        result.evidence["control_ports"] = compact_ranges(fw.controls)
    if fw.rejected:
        result.evidence["rejected"] = {str(k): v for k, v in sorted(fw.rejected.items())}
    result.metrics = {
        "ports_egress_open": float(len(fw.open)),
        "ports_blocked": float(len(fw.blocked)),
        "ports_not_tested": float(len(untested)),
        "firewalk_ms_per_port": round(fw.duration_s * 1000 / max(len(probed), 1), 1),
    }
    how = (
        f"{len(probed)} of {len(every)} ports probed (first, last and random ports of each "
        "range: scapy is too slow, and routers rate-limit ICMP, for every port)"
        if sampled
        else f"all {len(every)} ports probed"
    )
    edge = f"the site's edge (hop {fw.edge_hop})" if fw.edge_hop else "the first hop"
    if fw.blocked:
        ranges = compact_ranges(fw.blocked)
        result.status = Status.FAIL
        result.reason = (
            f"TTL-limited probes: {edge} does not let out UDP {ranges} to {fw.address}: "
            f"{'rejected with ICMP; ' if fw.rejected else ''}silent after "
            f"{1 + max(p.retries, FIREWALK_MIN_RETRIES)} probes while other ports drew "
            f"ICMP time-exceeded from {fw.beyond or 'the next router'} (other ports of this rule, "
            f"or the control ports {compact_ranges(fw.controls)}); {how}"
        )
        result.remediation = text(
            "firewall", "remediation", transport=p.rule.transport,
            transport_upper="UDP", address=p.address, ports=ranges, function=p.rule.function,
        )  # fmt: skip
        result.evidence["remediation_de"] = text(
            "firewall", "remediation", "de", transport=p.rule.transport,
            transport_upper="UDP", address=p.address, ports=ranges, function=p.rule.function,
        )  # fmt: skip
    elif fw.open and fw.note:
        ranges = compact_ranges(fw.open)
        result.reason = f"egress only: UDP {ranges} reach {fw.address}; {fw.note}; {how}"
    elif fw.open:
        result.reason = (
            f"egress only: {edge} lets out UDP {compact_ranges(fw.open)} (ICMP time-exceeded "
            f"from {fw.beyond or fw.address} beyond it); the far end and the way back were not "
            f"tested (they need `netready responder`); {how}"
        )
    else:
        result.reason = f"TTL-limited probes decided nothing: {fw.note}; {how}"
    return result
