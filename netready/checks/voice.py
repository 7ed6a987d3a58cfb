"""The `media.voice` check: a call-like stream through the responder, judged per direction.

Order of methods: the STAMP stream to the responder (per direction); if no responder is
given or it does not answer a one-second preflight, a STUN round-trip stream to the
profile's STUN server (directions cannot be separated); if neither answers: not_tested.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

from netready.addr import split_host_port
from netready.checks.base import QUIET, Check, RunContext, register
from netready.checks.voice_params import VoiceParams
from netready.checktexts import text
from netready.metrics.stats import voice_metrics
from netready.metrics.stun_stats import stun_metrics
from netready.model import CheckResult, Limit, Status, Target, reached_key
from netready.probes.stamp_keys import load_hmac_keys
from netready.probes.stun_stream import StunRun, run_stun_stream
from netready.probes.voice import VoiceRun, run_voice_stream

KIND = "media.voice"
#: Ports of the media range the preflight tries before it gives up on the responder.
PREFLIGHT_TRIES = 3
PREFLIGHT_PPS = 10  # the preflight: 10 packets in 1 s, replies awaited for 1 s
PREFLIGHT_S = 1.0
# target metric -> the per-direction metrics it limits
TARGET_METRICS = {
    "delay_ms": ("delay_up_ms", "delay_down_ms"),
    "jitter_ms": ("jitter_up_ms", "jitter_down_ms"),
    "loss_pct": ("loss_up_pct", "loss_down_pct"),
}


def duration_for(p: VoiceParams, ctx: RunContext) -> float:
    """--duration wins, then quick mode, then the profile's duration."""
    if ctx.duration_s is not None:
        return ctx.duration_s
    return p.quick_duration_s if ctx.quick else p.duration_s


def limits_for(targets: tuple[Target, ...]) -> dict[str, Limit]:
    """Per-direction limits from the profile's targets."""
    return {m: t.limit for t in targets for m in TARGET_METRICS.get(t.metric, ())}


def statistics_for(targets: tuple[Target, ...]) -> dict[str, str]:
    """The statistic each target is judged on, as keyword arguments of the metric functions."""
    chosen = {t.metric: t.statistic for t in targets}
    return {
        "delay_statistic": chosen.get("delay_ms", "p95"),
        "jitter_statistic": chosen.get("jitter_ms", "running_max"),
        "loss_statistic": chosen.get("loss_pct", "whole_run"),
    }


def destination(p: VoiceParams) -> tuple[str, int]:
    """A port of the platform's RTP range on the responder's host, else its STAMP port."""
    host, stamp_port = split_host_port(p.responder)
    first, last = p.media_ports
    return (host, random.randint(first, last)) if first else (host, stamp_port)


def _source_ports(p: VoiceParams) -> tuple[int, int]:
    low, _, high = p.source_ports.partition("-")
    return int(low), int(high or low)


def _received(run: VoiceRun) -> int:
    return sum(1 for s in run.samples if s.t4_ns is not None)


@register
class VoiceCheck(Check):
    """Runs the paced stream on its own thread and judges delay, jitter and loss."""

    kind = KIND
    Params = VoiceParams
    load = QUIET
    title = text(KIND, "title") or "Voice path"

    def timeout_s(self, params: Any, ctx: RunContext) -> float:
        p: VoiceParams = params
        return 2 * (duration_for(p, ctx) + p.reply_timeout_s) + 30.0

    def expected_s(self, params: Any, ctx: RunContext) -> float:
        p: VoiceParams = params
        return PREFLIGHT_S + duration_for(p, ctx) + p.reply_timeout_s

    async def run(self, check_id: str, params: Any, ctx: RunContext) -> CheckResult:
        p: VoiceParams = params
        result = CheckResult(id=check_id, title=self.title, status=Status.NOT_TESTED)
        result.limits = limits_for(p.targets)
        why: list[str] = []
        if p.responder:
            if await self._stamp(result, p, ctx, why):
                return result
        else:
            why.append("no responder given (--responder ADDR[:PORT])")
        if p.stun_address:
            if await self._stun(result, p, ctx, why):
                return result
        else:
            why.append("no STUN server in the profile for a round-trip fallback")
        result.reason = "; ".join(why) + "; nothing could be measured"
        return result

    async def _stamp(
        self, result: CheckResult, p: VoiceParams, ctx: RunContext, why: list[str]
    ) -> bool:
        tried: list[int] = []
        for _ in range(PREFLIGHT_TRIES if p.media_ports[0] else 1):
            host, port = destination(p)  # another port of the range if one is blocked
            if port in tried:
                continue
            tried.append(port)
            pre = await asyncio.to_thread(_voice_stream, host, port, p, ctx, True)
            if _received(pre):
                break
        else:
            ports = ", ".join(str(t) for t in tried)
            why.append(
                f"the responder at {host} did not answer within 1 s on port(s) {ports} (not "
                "running, or UDP to it is blocked)"
            )
            return False
        run = await asyncio.to_thread(_voice_stream, host, port, p, ctx, False)
        metrics, evidence = voice_metrics(run, codec=p.codec, **statistics_for(p.targets))
        result.method = "stamp (RFC 8762, stateful reflector, per direction)"
        result.metrics = metrics
        result.evidence = {
            "destination": f"{host}:{port}",
            "source_port": run.source_port,
            "source_in_range": run.source_in_range,
            "authenticated": run.authenticated,
            "pacing_realtime": run.realtime,
            **evidence,
        }
        if _received(run):
            result.evidence["reached"] = [reached_key("udp", host, port)]
        _judge(result, run.interrupted)
        return True

    async def _stun(
        self, result: CheckResult, p: VoiceParams, ctx: RunContext, why: list[str]
    ) -> bool:
        pre = await asyncio.to_thread(_stun_stream, p, ctx, True)
        if not pre.received:
            how = "refused (ICMP port unreachable)" if pre.refused else "no answer"
            why.append(
                f"the STUN server {p.stun_address}:{p.stun_port} did not answer within 1 s ({how})"
            )
            return False
        run = await asyncio.to_thread(_stun_stream, p, ctx, False)
        metrics, evidence = stun_metrics(run, codec=p.codec, **statistics_for(p.targets))
        result.method = "stun-rtt (round trip only; directions could not be separated)"
        result.metrics = metrics
        result.evidence = {"fallback_because": "; ".join(why), **evidence}
        _judge(result, run.interrupted)
        return True


def _voice_stream(host: str, port: int, p: VoiceParams, ctx: RunContext, pre: bool) -> VoiceRun:
    """The STAMP stream; `pre` = the short preflight that only asks "is anybody there?"."""
    ssid, key = _hmac_key(p)
    return run_voice_stream(
        host,
        port,
        rate_pps=PREFLIGHT_PPS if pre else p.rate_pps,
        duration_s=PREFLIGHT_S if pre else duration_for(p, ctx),
        reply_timeout_s=PREFLIGHT_S if pre else p.reply_timeout_s,
        payload_bytes=p.payload_bytes,
        dscp=p.dscp,
        source_ports=_source_ports(p),
        hmac_key=key,
        ssid=ssid,
        clock_synchronised={"yes": True, "no": False}.get(p.clock_synchronised),
        progress=None if pre else ctx.progress,
        cancel=ctx.cancelled,
        live=None if pre else ctx.live,
    )


def _hmac_key(p: VoiceParams) -> tuple[int, bytes | None]:
    """(SSID, key) from the profile's key file: the default key (SSID 0) or the only one."""
    if not p.hmac_key_file:
        return 0, None
    keys = load_hmac_keys(p.hmac_key_file)
    ssid = 0 if 0 in keys else min(keys)
    return ssid, keys[ssid]


def _stun_stream(p: VoiceParams, ctx: RunContext, pre: bool) -> StunRun:
    """The STUN round-trip stream (fallback), or its preflight."""
    return run_stun_stream(
        p.stun_address,
        p.stun_port,
        rate_pps=PREFLIGHT_PPS if pre else p.rate_pps,
        duration_s=PREFLIGHT_S if pre else duration_for(p, ctx),
        reply_timeout_s=PREFLIGHT_S if pre else p.reply_timeout_s,
        dscp=p.dscp,
        progress=None if pre else ctx.progress,
        cancel=ctx.cancelled,
    )


def _judge(result: CheckResult, interrupted: bool) -> None:
    if interrupted:
        result.reason = "interrupted; the partial measurements are kept but not judged"
        return
    missing = [m for m in result.limits if m not in result.metrics]
    failed = [
        m
        for m, lim in result.limits.items()
        if m in result.metrics and not lim.holds(result.metrics[m])
    ]
    if failed:
        result.status = Status.FAIL
        result.reason = "; ".join(
            f"{m} = {result.metrics[m]:.2f}, limit {result.limits[m].op} {result.limits[m].value:g}"
            for m in failed
        )
        first = failed[0]
        result.remediation = text(
            KIND, "remediation", metric=first, limit=f"{result.limits[first].value:g}"
        )
    elif missing:
        result.reason = f"could not compute {', '.join(missing)}"
    else:
        result.status = Status.PASS
