"""UDP rules of the firewall check: the strongest evidence available decides each port.

In the field no platform host runs `netready responder` (docs: ARCHITECTURE.md section 8), so
a UDP rule is decided by the first rung of this ladder that can speak for it, and the result
names the method and the destination actually tested:

(a) **the service's own protocol at the rule's host**: a STUN Binding on a STUN/TURN rule
    (verify = "stun"), SIP OPTIONS on a SIP rule (verify = "sip"). An answer proves the
    port open end to end, to that exact address. A silent port goes down the ladder: the
    responder at the host decides it; a responder standing in for the host that answers on
    the same port shows the port is let out, only not to the host (blocked, and the reason
    says so; silent there too: blocked); with neither, egress-only probes decide (d).
(b) **`netready responder` at the host's own address**, found by a short preflight (a few
    ports of every echo rule of that host, once per run and address); then every port is
    swept there.
(c) **the responder standing in for the host** (profile `responder_stands_in_for`): the
    same ports swept on the responder's own address, after a check that the responder is
    alive at all (STAMP, or any echo), plus TTL-limited egress probes to the host's exact
    address where raw sockets allow. A port the site's edge demonstrably stops toward the
    host is blocked even when the responder's address got through. The site must allow the
    responder's address like the host's for this to mean anything; the result says so.
(d) nothing answers for the host: `None`, and the caller runs egress-only probes
    (`firewall_paths.udp_firewalk`), which never pass.

A range whose host has no echo is therefore decided in seconds, never swept for minutes.
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass, field
from typing import Any

from netready.addr import split_host_port
from netready.checks.base import RunContext
from netready.checks.firewall_params import FirewallParams
from netready.checks.firewall_paths import quick_sample, walk_to_host
from netready.model import Rule
from netready.probes.errors import network_failure
from netready.probes.firewalk import have_raw_socket
from netready.probes.sip import build_options
from netready.probes.sip_io import exchange
from netready.probes.stamp_ping import stamp_ping
from netready.probes.stun_client import UdpStunClient
from netready.probes.udp_sweep import DEFAULT_RETRIES, RttEstimator, compact_ranges, sweep_udp

#: The methods, as the report names them.
METHOD_STUN = "stun-binding to the host"
METHOD_SIP = "sip-options to the host"
METHOD_ECHO_AT_HOST = "udp-echo via netready responder at the host's address"
METHOD_STAND_IN = "udp-echo via netready responder standing in for the host"
#: Preflight: each sampled port gets this many sends, each waiting this long.
PREFLIGHT_RETRIES = 1
PREFLIGHT_TIMEOUT_S = 0.5
#: Ports sampled per range for the preflight (first, last and the middle).
PREFLIGHT_PER_RANGE = 3
#: A silent service port is asked this many times (STUN: RFC 5389's 7 is for lossy paths;
#: 5 gives 0.02**5 odds of a false block at 1 % loss each way).
SERVICE_ATTEMPTS = 1 + DEFAULT_RETRIES
STUN_WAIT_S = 0.5
SIP_WAIT_S = 4.0  # RFC 3261 timer E: sends at 0, 0.5, 1.5 and 3.5 s


@dataclass
class UdpDecision:
    """Which ports are open and blocked, how that was found out, and where."""

    method: str
    destination: str
    open: list[int]
    blocked: list[int]
    untested_reason: str = ""  # set when nothing could be probed (all ports not_tested)
    evidence: dict[str, Any] = field(default_factory=dict)
    note: str = ""  # a sentence the reason must carry (stand-in, partial agreement)


def preflight_ports(rule: Rule) -> list[int]:
    """First, middle and last port of each range of a rule."""
    ports: set[int] = set()
    for r in rule.ports:
        ports.update((r.first, (r.first + r.last) // 2, r.last))
    return sorted(ports)


def route_problem(address: str, port: int) -> str:
    """Words for "this machine has no way to `address`" (no route, ...), '' if it has one.
    A connected UDP socket asks the kernel's routing table; nothing is sent."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.connect((address, port))
    except OSError as exc:
        return network_failure(exc)
    return ""


def responder_address(p: FirewallParams) -> tuple[str, int]:
    """(address, STAMP port) of the responder, ("", 0) without one."""
    if not p.responder:
        return "", 0
    return split_host_port(p.responder)


async def decide_udp(p: FirewallParams, ctx: RunContext, ports: list[int]) -> UdpDecision | None:
    """The ladder (module doc); None when only egress probes are left."""
    assert p.rule is not None
    no_way = route_problem(p.address, ports[0] if ports else 9)
    if no_way:  # no route from here: nothing to ask, and nothing to wait for
        decision = UdpDecision("udp (not sent: no route)", p.address, [], [])
        decision.untested_reason = f"{no_way}: nothing could be sent to {p.address}"
        decision.evidence["network_error"] = no_way
        return decision
    if p.rule.verify in ("stun", "sip"):
        return await _service(p, ctx, ports)  # which goes down the ladder for silent ports
    probe_ports = list(p.host_probe_ports) or preflight_ports(p.rule)
    if await echo_answers(ctx, p.address, probe_ports):
        swept = await _sweep(p, ctx, p.address, ports)
        return UdpDecision(METHOD_ECHO_AT_HOST, p.address, swept[0], swept[1], evidence=swept[2])
    raddr, stamp_port = responder_address(p)
    if p.stands_in and raddr:
        return await _stand_in(p, ctx, ports, raddr, stamp_port, probe_ports)
    return None


async def echo_answers(ctx: RunContext, address: str, ports: list[int]) -> bool:
    """Does any port echo at `address`? Asked once per run and address (ctx.shared)."""
    key = f"firewall.echo_at:{address}"
    known: asyncio.Future[bool] | None = ctx.shared.get(key)
    if known is None:
        known = asyncio.get_running_loop().create_future()
        ctx.shared[key] = known
        try:
            sweep = await sweep_udp(
                address,
                ports,
                timeout_s=PREFLIGHT_TIMEOUT_S,
                retries=PREFLIGHT_RETRIES,
                window=64,
                rtt=_rtt(ctx, address),
            )
            known.set_result(bool(sweep.open))
        except (OSError, ValueError):
            known.set_result(False)
        finally:
            if not known.done():  # cancelled: a later check asks again, nobody waits forever
                ctx.shared.pop(key, None)
                known.set_result(False)
    return await asyncio.shield(known)


def _rtt(ctx: RunContext, address: str) -> RttEstimator:
    estimator: RttEstimator = ctx.shared.setdefault(f"firewall.rtt:{address}", RttEstimator())
    return estimator


async def _sweep(
    p: FirewallParams, ctx: RunContext, address: str, ports: list[int]
) -> tuple[list[int], list[int], dict[str, Any]]:
    retries = max(p.retries, DEFAULT_RETRIES)
    sweep = await sweep_udp(
        address,
        ports,
        timeout_s=p.timeout_s,
        retries=retries,
        window=p.udp_window,
        progress=ctx.progress,
        rtt=_rtt(ctx, address),
    )
    detail: dict[str, Any] = {
        "probes_sent": sweep.sent,
        "probes_retried": sweep.retried,
        "attempts_per_silent_port": retries + 1,
        "sweep_s": round(sweep.duration_s, 3),
    }
    if sweep.rtt_ms:
        detail["rtt_ms"] = sweep.rtt_ms
    if sweep.send_errors:
        detail["send_errors"] = sweep.send_errors
    return sweep.open, sweep.blocked, detail


# ---- (a) the service's own protocol ----


async def _service(p: FirewallParams, ctx: RunContext, ports: list[int]) -> UdpDecision | None:
    """(a) first; silent ports go down the ladder: (b) the responder at the host decides them,
    (c) a stand-in that answers shows the port is let out, only not to the host (blocked),
    (d) without either, None: egress-only probes decide the rule."""
    assert p.rule is not None
    stun = p.rule.verify == "stun"
    ask = _stun_answers if stun else _sip_answers
    answers = await asyncio.gather(*(ask(p.address, port) for port in ports))
    open_ = [port for port, (ok, _) in zip(ports, answers, strict=True) if ok]
    silent = [port for port, (ok, _) in zip(ports, answers, strict=True) if not ok]
    what = "STUN Binding" if stun else "SIP OPTIONS"
    evidence: dict[str, Any] = {
        "service_answers": {
            str(port): words for port, (_, words) in zip(ports, answers, strict=True)
        },
        "attempts_per_silent_port": SERVICE_ATTEMPTS if stun else "RFC 3261 timer E for 4 s",
    }
    method = METHOD_STUN if stun else METHOD_SIP
    decision = UdpDecision(method, p.address, open_, [], evidence=evidence)
    if not silent:
        return decision
    silence = f"no answer to {what} on {compact_ranges(silent)}"
    if await echo_answers(ctx, p.address, list(p.host_probe_ports) or silent):
        echoed, blocked, detail = await _sweep(p, ctx, p.address, silent)
        evidence["echo_at_host"] = {"open": compact_ranges(echoed), **detail}
        decision.open, decision.blocked = sorted(open_ + echoed), blocked
        decision.method = f"{method} + {METHOD_ECHO_AT_HOST}" if open_ else METHOD_ECHO_AT_HOST
        decision.note = f"{silence}; the responder at the host's address echoed the rest"
        if blocked:
            decision.note = f"{silence}, and no echo from the responder at the host either"
        return decision
    raddr, stamp_port = responder_address(p)
    if p.stands_in and raddr and await _responder_alive(ctx, raddr, stamp_port, silent):
        stand_open, _, detail = await _sweep(p, ctx, raddr, silent)
        evidence["responder_stand_in"] = {"address": raddr, "open": compact_ranges(stand_open)}
        evidence["responder_stand_in"].update(detail)
        decision.blocked = silent
        decision.note = f"{silence}: a firewall drops it, or the server is down"
        if stand_open:
            decision.note += (
                f"; the responder standing in at {raddr} answered on "
                f"{compact_ranges(stand_open)}: the port is let out, but not to {p.address}"
            )
        return decision
    if open_:
        decision.blocked = silent
        decision.note = f"{silence}: a firewall drops it, or the server is down"
        return decision
    return None


async def _stun_answers(address: str, port: int) -> tuple[bool, str]:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    client = await UdpStunClient.open(family)
    try:
        answer = await client.binding(
            (address, port), timeout_s=STUN_WAIT_S, attempts=SERVICE_ATTEMPTS
        )
    finally:
        client.close()
    if answer is None:
        return False, f"no STUN answer after {SERVICE_ATTEMPTS} requests"
    return True, f"STUN Binding answered in {answer.rtt_ms:.1f} ms"


async def _sip_answers(address: str, port: int) -> tuple[bool, str]:
    ex = await exchange(
        address,
        port,
        "udp",
        lambda ip, local_port: build_options(address, port, "UDP", ip, local_port),
        SIP_WAIT_S,
    )
    if ex.response is None:
        return False, ex.error
    return True, f"'{ex.response.start_line}' in {ex.rtt_ms or 0.0:.1f} ms"


# ---- (c) the responder standing in for the host ----


async def _stand_in(
    p: FirewallParams,
    ctx: RunContext,
    ports: list[int],
    raddr: str,
    stamp_port: int,
    probe_ports: list[int],
) -> UdpDecision:
    assert p.rule is not None
    decision = UdpDecision(METHOD_STAND_IN, raddr, [], [])
    decision.evidence = {"stands_in_for": p.rule.host, "host_address": p.address}
    alive = await _responder_alive(ctx, raddr, stamp_port, probe_ports)
    if not alive:
        decision.untested_reason = (
            f"the responder standing in for {p.rule.host} at {raddr} answered nothing (STAMP "
            f"port {stamp_port} and {compact_ranges(probe_ports)}): is it running, and does "
            f"the site let traffic to {raddr} out?"
        )
        return decision
    decision.open, decision.blocked, detail = await _sweep(p, ctx, raddr, ports)
    decision.evidence.update(detail)
    decision.note = (
        f"the responder at {raddr} stood in for {p.rule.host} ({p.address}) on the same ports: "
        f"the result holds for {p.address} only if the site allows it like {raddr}"
    )
    await _egress_to_host(p, decision)
    return decision


async def _responder_alive(
    ctx: RunContext, raddr: str, stamp_port: int, probe_ports: list[int]
) -> bool:
    key = f"firewall.responder_alive:{raddr}:{stamp_port}"
    if key not in ctx.shared:
        rtt = await stamp_ping(raddr, stamp_port)
        ctx.shared[key] = rtt is not None or await echo_answers(ctx, raddr, probe_ports)
    return bool(ctx.shared[key])


async def _egress_to_host(p: FirewallParams, decision: UdpDecision) -> None:
    """TTL-limited probes to the host's exact address (sampled): does the edge let them out?"""
    assert p.rule is not None
    if not have_raw_socket():
        decision.evidence["egress_to_host"] = {
            "tested": False,
            "why": "needs root or CAP_NET_RAW for TTL-limited probes",
        }
        return
    every = [port for r in p.rule.ports for port in r.ports()]  # firewalk_samples 0 = all
    sample = quick_sample(p.rule, p.firewalk_samples) if p.firewalk_samples else every
    try:
        fw = await walk_to_host(p, sample)
    except (OSError, ValueError) as exc:
        decision.evidence["egress_to_host"] = {"tested": False, "why": str(exc)}
        return
    decision.evidence["egress_to_host"] = {
        "tested": True,
        "address": fw.address,
        "sampled": compact_ranges(sample),
        "open": compact_ranges(fw.open),
        "blocked": compact_ranges(fw.blocked),
        "undetermined": compact_ranges(fw.undetermined),
        "edge_hop": fw.edge_hop,
        "beyond_router": fw.beyond,
        "note": fw.note,
    }
    let_out = sorted(set(fw.open) & set(decision.blocked))
    if let_out:  # silent at the stand-in, yet the edge lets them out toward the host itself
        decision.blocked = sorted(set(decision.blocked) - set(let_out))
        decision.note += (
            f"; UDP {compact_ranges(let_out)} did not reach {decision.destination}, but "
            f"TTL-limited probes show the site's edge lets them out toward {p.address}: "
            f"the site does not seem to allow {decision.destination} like {p.address}, so "
            "these are not tested, not blocked"
        )
    stopped = sorted(set(fw.blocked) - set(decision.blocked))
    if stopped:
        decision.blocked = sorted(set(decision.blocked) | set(stopped))
        decision.open = sorted(set(decision.open) - set(stopped))
        decision.note += (
            f"; TTL-limited probes show the site's edge stops UDP {compact_ranges(stopped)} "
            f"toward {p.address} itself"
        )
