"""The `media.voice` check: a call-like stream through the responder, judged per direction."""

from __future__ import annotations

import asyncio
from typing import Any

from netready.addr import split_host_port
from netready.checks.base import Check, RunContext, register
from netready.checks.voice_params import VoiceParams
from netready.checktexts import text
from netready.engine.stats import voice_metrics
from netready.model import CheckResult, Limit, Status, Target
from netready.probes.voice import run_voice_stream

KIND = "media.voice"
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


def _statistic(targets: tuple[Target, ...], metric: str, default: str) -> str:
    return next((t.statistic for t in targets if t.metric == metric), default)


@register
class VoiceCheck(Check):
    """Runs the paced stream on its own thread and judges delay, jitter and loss."""

    kind = KIND
    Params = VoiceParams
    title = text(KIND, "title") or "Voice path"

    def timeout_s(self, params: Any, ctx: RunContext) -> float:
        p: VoiceParams = params
        return duration_for(p, ctx) + p.reply_timeout_s + 15.0

    async def run(self, check_id: str, params: Any, ctx: RunContext) -> CheckResult:
        p: VoiceParams = params
        result = CheckResult(
            id=check_id,
            title=self.title,
            status=Status.NOT_TESTED,
            method="stamp (RFC 8762, stateful reflector)",
        )
        if not p.responder:
            result.reason = (
                "no responder given (--responder ADDR[:PORT]); the STUN "
                "round-trip fallback is not available yet, so nothing was measured"
            )
            return result
        host, port = split_host_port(p.responder)
        duration = duration_for(p, ctx)
        run = await asyncio.to_thread(
            run_voice_stream,
            host,
            port,
            rate_pps=p.rate_pps,
            duration_s=duration,
            payload_bytes=p.payload_bytes,
            dscp=p.dscp,
            reply_timeout_s=p.reply_timeout_s,
            progress=ctx.progress,
            cancel=ctx.cancelled,
        )
        metrics, evidence = voice_metrics(
            run,
            delay_statistic=_statistic(p.targets, "delay_ms", "p95"),
            jitter_statistic=_statistic(p.targets, "jitter_ms", "running_max"),
            loss_statistic=_statistic(p.targets, "loss_pct", "whole_run"),
            codec=p.codec,
        )
        result.metrics = metrics
        result.evidence = {"responder": p.responder, "duration_s": duration, **evidence}
        result.limits = limits_for(p.targets)
        return _judge(result, run.interrupted, p.responder)


def _judge(result: CheckResult, interrupted: bool, responder: str) -> CheckResult:
    received = result.metrics.get("packets_received", 0.0)
    if interrupted:
        result.reason = "interrupted; the partial measurements are kept but not judged"
        return result
    if not received:
        result.reason = (
            f"no reply from the responder at {responder}: it is not running, "
            "or UDP to it is blocked; nothing could be measured"
        )
        return result
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
    return result
