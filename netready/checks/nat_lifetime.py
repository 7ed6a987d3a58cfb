"""The `nat.lifetime` check: how long the site's NAT keeps an idle UDP mapping.

One UDP socket per idle gap asks the platform's STUN server for its mapped address, stays
silent for its gap, and asks again; the same mapped address and port means the mapping
survived the gap, a new one means the NAT had dropped it (method `mapped-port-change`; a NAT
that hands out the same port again after expiry cannot be told apart). Every socket has a
mapping of its own and a NAT times each mapping on its own, so the gaps run side by side:
the check takes as long as its longest gap, and the scheduler runs it beside everything
else (load `idle`). The story ends at the shortest gap whose mapping was lost. The longest kept gap
is compared with the 30 s between a phone's keep-alives. Quick mode skips this check.
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import time
from dataclasses import dataclass
from typing import Any

from netready.checks.base import IDLE, Check, PlannedCheck, RunContext, register
from netready.checks.stun_params import NatLifetimeParams
from netready.checktexts import text
from netready.model import CheckResult, Profile, Status
from netready.probes import nat
from netready.probes.stun_client import UdpStunClient, local_address_towards

KIND = "nat.lifetime"


async def _idle(seconds: float, ctx: RunContext) -> bool:
    """Sleep `seconds`; False as soon as the run is cancelled."""
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        if ctx.cancelled.is_set():
            return False
        await asyncio.sleep(min(left, 0.2))
    return not ctx.cancelled.is_set()


@register
class NatLifetimeCheck(Check):
    """Idle UDP mapping lifetime against the phones' 30 s keep-alive."""

    kind = KIND
    Params = NatLifetimeParams
    load = IDLE
    title = "NAT binding lifetime"

    def timeout_s(self, params: Any, ctx: RunContext) -> float:
        p: NatLifetimeParams = params
        longest = max(nat.bounded_gaps(p.gaps_s, p.budget_s), default=0.0)
        return 30.0 + longest + 10 * p.timeout_s * p.attempts

    def expected_s(self, params: Any, ctx: RunContext) -> float:
        p: NatLifetimeParams = params
        return 0.0 if ctx.quick else max(nat.bounded_gaps(p.gaps_s, p.budget_s), default=0.0)

    async def run(self, check_id: str, params: Any, ctx: RunContext) -> CheckResult:
        p: NatLifetimeParams = params
        title = text(KIND, "title", address=p.address, port=p.port)
        result = CheckResult(id=check_id, title=title, status=Status.NOT_TESTED)
        result.method = "mapped-port-change"
        gaps = nat.bounded_gaps(p.gaps_s, p.budget_s)
        result.evidence = {
            "server": f"{p.address}:{p.port}",
            "gaps_planned_s": gaps,
            "keepalive_s": p.keepalive_s,
        }
        if ctx.quick:
            result.status = Status.SKIPPED
            result.reason = "quick mode: the NAT binding lifetime needs minutes of idle time"
            return result
        family = socket.AF_INET6 if ":" in p.address else socket.AF_INET
        server = (p.address, p.port)
        progress = asyncio.ensure_future(_progress(ctx, max(gaps, default=0.0)))
        try:
            probes = await asyncio.gather(*(_one_gap(server, family, gap, p, ctx) for gap in gaps))
        finally:
            progress.cancel()
        started = [probe for probe in probes if probe.first is not None]
        if not started:
            result.reason = f"no STUN answer from {p.address}:{p.port} over UDP"
            return result
        first = started[0]
        assert first.first is not None
        result.evidence.update(
            mapped=f"{first.first[0]}:{first.first[1]}",
            behind_nat=not nat.same(first.local, first.first),
        )
        if any(probe.interrupted for probe in probes):
            result.evidence["interrupted"] = True
        done: list[nat.GapResult] = []
        for probe in started:  # ascending gaps; the first lost mapping ends the story
            if probe.gap is None:
                continue
            done.append(probe.gap)
            if not probe.gap.kept:
                result.evidence["mapped_after_loss"] = probe.mapped_after
                break
        return _judge(result, p, done)


@dataclass
class _GapProbe:
    """One mapping's story: its first answer, and what the gap did to it."""

    first: tuple[str, int] | None = None
    local: tuple[str, int] | None = None
    gap: nat.GapResult | None = None
    mapped_after: str = ""
    interrupted: bool = False


async def _one_gap(
    server: tuple[str, int], family: int, gap: float, p: NatLifetimeParams, ctx: RunContext
) -> _GapProbe:
    """Its own socket (its own NAT mapping): a Binding, `gap` s of silence, a Binding."""
    probe = _GapProbe()
    client = await UdpStunClient.open(family)
    try:
        first = await client.binding(server, 0, p.timeout_s, p.attempts)
        if first is None or first.mapped is None:
            return probe
        probe.first = first.mapped
        probe.local = (local_address_towards(server[0], server[1]), client.local_port)
        if not await _idle(gap, ctx):
            probe.interrupted = True
            return probe
        again = await client.binding(server, 0, p.timeout_s, p.attempts)
        mapped = again.mapped if again else None
        probe.gap = nat.GapResult(gap, again is not None, nat.same(first.mapped, mapped))
        probe.mapped_after = f"{mapped[0]}:{mapped[1]}" if mapped else ""
        return probe
    finally:
        client.close()


async def _progress(ctx: RunContext, longest_s: float) -> None:
    began = time.monotonic()
    while longest_s > 0:
        elapsed = time.monotonic() - began
        ctx.progress(
            min(elapsed / longest_s, 1.0), f"idle mappings, {elapsed:.0f} of {longest_s:g} s"
        )
        await asyncio.sleep(1.0)


def _judge(result: CheckResult, p: NatLifetimeParams, done: list[nat.GapResult]) -> CheckResult:
    judged = nat.judge_lifetime(done, p.keepalive_s)
    result.evidence["gaps"] = [
        {"gap_s": g.gap_s, "answered": g.answered, "kept": g.kept} for g in done
    ]
    if judged.kept_s is not None:
        result.metrics["lifetime_at_least_s"] = judged.kept_s
    if judged.lost_s is not None:
        result.metrics["lifetime_below_s"] = judged.lost_s
    result.metrics["keepalive_s"] = p.keepalive_s
    if judged.enough is False:
        result.status = Status.FAIL
        result.reason = (
            f"the NAT forgot an idle UDP mapping within {judged.lost_s:g} s, shorter than the "
            f"{p.keepalive_s:g} s between a phone's keep-alives: incoming calls and audio can "
            "be lost between keep-alives"
        )
        result.remediation = text(
            KIND,
            "remediation",
            address=p.address,
            keepalive=f"{p.keepalive_s:g}",
            lost=f"{judged.lost_s:g}",
        )
    elif judged.enough:
        result.status = Status.PASS
        lost = f", lost after {judged.lost_s:g} s" if judged.lost_s is not None else ""
        result.reason = (
            f"an idle UDP mapping survived {judged.kept_s:g} s{lost}: longer than the "
            f"{p.keepalive_s:g} s between a phone's keep-alives"
        )
    elif not result.reason:
        result.reason = f"not measured up to the {p.keepalive_s:g} s keep-alive interval"
    return result


def plan_nat_lifetime(profile: Profile) -> list[PlannedCheck]:
    """One `nat.lifetime` check against the first UDP STUN rule whose host has an address."""
    for rule in profile.rules:
        address = profile.hosts.get(rule.host, "")
        if rule.verify == "stun" and rule.transport == "udp" and address:
            base = NatLifetimeParams(**profile.checks.get(KIND, {}))
            params = dataclasses.replace(base, address=address, port=rule.ports[0].first)
            return [PlannedCheck(KIND, params_title(params), NatLifetimeCheck(), params)]
    return []


def params_title(p: NatLifetimeParams) -> str:
    """The check's title for planned params."""
    return text(KIND, "title", address=p.address, port=p.port)
