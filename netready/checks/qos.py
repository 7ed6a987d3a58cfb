"""The `qos.dscp` check kind: is the voice marking (DSCP EF) kept, per direction?

A short STAMP stream (3 s at 50 packets/s, DSCP EF) goes to the responder. The RFC 8972
Class of Service TLV of each reply says which DSCP reached the responder (upstream) and
whether the responder could mark its reply with the DSCP asked for (RP = 0); the DSCP of the
reply as it arrives here is the downstream. Per direction the verdict is `kept`,
`bleached` (to CS0), `remarked` (to another value) or `unknown` (no data; downstream also
when the responder could not apply the DSCP, RP = 1).

The platform only recommends QoS (seed 002), so a lost marking is no failed requirement:
the check passes, with a reason that says what happened and a remediation for IT. Without
a responder, when it does not answer, or on Windows (which does not send an application's
marks), the check is `not_tested`.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from netready.addr import split_host_port
from netready.checks.base import QUIET, Check, PlannedCheck, RunContext, register
from netready.checks.qos_params import QosParams
from netready.checktexts import text
from netready.metrics.stats import voice_metrics
from netready.model import CheckResult, Profile, Status
from netready.probes.sockopts import tx_dscp_unsupported_reason
from netready.probes.voice import VoiceRun, run_voice_stream

KIND = "qos.dscp"
TEXTS = "qos"  # checks/qos.toml
DSCP_NAMES = {
    0: "CS0",
    8: "CS1",
    10: "AF11",
    12: "AF12",
    14: "AF13",
    16: "CS2",
    18: "AF21",
    20: "AF22",
    22: "AF23",
    24: "CS3",
    26: "AF31",
    28: "AF32",
    30: "AF33",
    32: "CS4",
    34: "AF41",
    36: "AF42",
    38: "AF43",
    40: "CS5",
    44: "VOICE-ADMIT",
    46: "EF",
    48: "CS6",
    56: "CS7",
}
WHERE = {"upstream": "site to platform", "downstream": "platform to site"}


def dscp_name(value: int) -> str:
    """EF, CS0, AF41 ...; the number for values without a name."""
    return DSCP_NAMES.get(value, str(value))


def title_for(dscp: int) -> str:
    """The check's title for the DSCP it sends."""
    return text(TEXTS, "title", name=dscp_name(dscp), dscp=dscp)


def plan_qos(profile: Profile) -> list[PlannedCheck]:
    """One `qos.dscp` check; skipped (not_tested) without a responder."""
    params = QosParams(**profile.checks.get(KIND, {}))
    params = dataclasses.replace(params, responder=profile.responder)
    skip = "" if profile.responder else "no responder given (--responder ADDR[:PORT])"
    return [PlannedCheck(KIND, title_for(params.dscp), QosCheck(), params, skip)]


def direction_verdict(sent: int, seen: dict[str, int], known: bool) -> tuple[str, list[int]]:
    """(kept | bleached | remarked | unknown, the values seen) for one direction."""
    values = sorted(int(v) for v in seen)
    if not known or not values:
        return "unknown", values
    if values == [sent]:
        return "kept", values
    if values == [0]:
        return "bleached", values
    return "remarked", values


def describe(direction: str, verdict: str, values: list[int], name: str = "") -> str:
    """E.g. "EF kept upstream", "bleached to CS0 downstream", "remarked to AF41 upstream".

    `name` (the DSCP sent, e.g. "EF") starts the first phrase of a summary.
    """
    lead = f"{name} " if name else ""
    if verdict == "kept":
        return f"{lead}kept {direction}"
    if verdict == "bleached":
        return f"{lead}bleached to CS0 {direction}"
    if verdict == "remarked":
        return f"{lead}remarked to {', '.join(dscp_name(v) for v in values)} {direction}"
    return f"{lead}{direction} unknown".strip()


@register
class QosCheck(Check):
    """Sends the short EF stream and reads the DSCP per direction from the CoS TLV."""

    kind = KIND
    Params = QosParams
    load = QUIET
    title = text(TEXTS, "title", name="EF", dscp=46) or "QoS: DSCP per direction"

    def timeout_s(self, params: Any, ctx: RunContext) -> float:
        p: QosParams = params
        return p.duration_s + p.reply_timeout_s + 30.0

    def expected_s(self, params: Any, ctx: RunContext) -> float:
        p: QosParams = params
        return p.duration_s + p.reply_timeout_s

    async def run(self, check_id: str, params: Any, ctx: RunContext) -> CheckResult:
        p: QosParams = params
        result = CheckResult(id=check_id, title=title_for(p.dscp), status=Status.NOT_TESTED)
        result.method = "stamp (RFC 8762) class-of-service TLV (RFC 8972)"
        if not p.responder:
            result.reason = "no responder given (--responder ADDR[:PORT]): DSCP not measured"
            return result
        if unsupported := tx_dscp_unsupported_reason():
            result.reason = f"{unsupported}: DSCP not measured"
            return result
        host, port = split_host_port(p.responder)
        run = await asyncio.to_thread(_stream, host, port, p, ctx)
        metrics, evidence = voice_metrics(run)
        result.metrics = {
            k: metrics[k] for k in ("packets_sent", "packets_received") if k in metrics
        }
        raw = evidence.get("dscp")
        dscp: dict[str, Any] = dict(raw) if isinstance(raw, dict) else {}
        result.evidence = {"destination": f"{host}:{port}", "dscp": dscp}
        if run.interrupted:
            result.reason = "interrupted; DSCP not judged"
            return result
        if not metrics.get("packets_received"):
            result.reason = (
                f"the responder at {host}:{port} did not answer (not running, or UDP to it "
                "is blocked): DSCP not measured"
            )
            return result
        judge(result, p.dscp, dscp)
        return result


def judge(result: CheckResult, sent: int, dscp: dict[str, Any]) -> None:
    """Verdict per direction from the dscp evidence of `voice_metrics`."""
    up, up_seen = direction_verdict(sent, dscp.get("at_reflector", {}), True)
    applied = dscp.get("downstream_kept") is not None
    down, down_seen = direction_verdict(sent, dscp.get("received", {}), applied)
    result.evidence |= {
        "upstream": up,
        "downstream": down,
        "seen": {"upstream": up_seen, "downstream": down_seen},
        "seen_names": {
            "upstream": [dscp_name(v) for v in up_seen],
            "downstream": [dscp_name(v) for v in down_seen],
        },
    }
    summary = " / ".join(
        [
            describe("upstream", up, up_seen, dscp_name(sent)),
            describe("downstream", down, down_seen),
        ]
    )
    result.evidence["summary"] = summary
    notes: list[str] = []
    if down == "unknown" and dscp.get("received") and not applied:
        notes.append("the responder could not mark its replies (CoS TLV RP = 1)")
    if up == "unknown" and down == "unknown":
        result.reason = f"{summary}: no DSCP data came back" + (f" ({notes[0]})" if notes else "")
        return
    result.status = Status.PASS
    lost = [d for d, v in (("upstream", up), ("downstream", down)) if v in ("bleached", "remarked")]
    if lost:
        where = ", ".join(WHERE[d] for d in lost)
        result.reason = (
            f"{summary}: voice loses its priority marking ({where}); the platform recommends "
            "QoS, so this is advice, not a failed requirement"
        )
        result.remediation = text(TEXTS, "remediation", where=where)
        result.evidence["remediation_de"] = text(TEXTS, "remediation", "de", where=where)
    elif notes or "unknown" in (up, down):
        result.reason = summary + (f" ({notes[0]})" if notes else "")
    else:
        result.reason = summary


def _stream(host: str, port: int, p: QosParams, ctx: RunContext) -> VoiceRun:
    duration = p.duration_s if ctx.duration_s is None else min(p.duration_s, ctx.duration_s)
    return run_voice_stream(
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
