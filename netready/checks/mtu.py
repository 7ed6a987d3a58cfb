"""The `path.mtu` check kind: the largest UDP packet that passes unfragmented, and fragments.

With the responder (see `netready.probes.mtu`): single STAMP packets with Don't Fragment
set, bisected between 576 and 1500 bytes (IP), find the largest size that comes back.
The responder reflects a packet of exactly the size it received, so this tests both
directions together (the smaller of the two MTUs). Then one 3000-byte payload without DF
shows whether fragmented UDP passes.

Verdict: SIP over UDP with an SDP body needs UDP payloads of about 1300 bytes; the check
passes when a payload of `required_payload_bytes` (1300) passes unfragmented, else fails
with a remediation. Without a responder, or when not even the smallest size comes back,
it is `not_tested`.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from netready.addr import split_host_port
from netready.checks.base import QUIET, Check, PlannedCheck, RunContext, register
from netready.checks.mtu_params import MtuParams
from netready.checktexts import text
from netready.model import CheckResult, Profile, Status
from netready.probes.mtu import MtuRun, df_unsupported_reason, run_mtu_probe

KIND = "path.mtu"
TEXTS = "mtu"  # checks/mtu.toml
BOTH_WAYS = (
    "the responder reflects each packet at the size it received, so each size was "
    "tested both ways together (the smaller MTU of the two directions)"
)


def plan_mtu(profile: Profile) -> list[PlannedCheck]:
    """One `path.mtu` check; skipped (not_tested) without a responder."""
    params = MtuParams(**profile.checks.get(KIND, {}))
    params = dataclasses.replace(params, responder=profile.responder)
    skip = "" if profile.responder else "no responder given (--responder ADDR[:PORT])"
    return [PlannedCheck(KIND, MtuCheck.title, MtuCheck(), params, skip)]


@register
class MtuCheck(Check):
    """Bisects the DF packet size through the responder and tries one fragmented packet."""

    kind = KIND
    Params = MtuParams
    load = QUIET
    title = text(TEXTS, "title") or "Path MTU and IP fragments"

    def timeout_s(self, params: Any, ctx: RunContext) -> float:
        p: MtuParams = params
        sizes = 2 + max(p.max_ip_bytes - p.min_ip_bytes, 1).bit_length() + 1
        return sizes * p.tries * p.timeout_s + 30.0

    def expected_s(self, params: Any, ctx: RunContext) -> float:
        p: MtuParams = params
        return 2.0 + p.timeout_s * 2  # answered sizes are quick; the one too large waits

    async def run(self, check_id: str, params: Any, ctx: RunContext) -> CheckResult:
        p: MtuParams = params
        result = CheckResult(id=check_id, title=self.title, status=Status.NOT_TESTED)
        result.method = "stamp (RFC 8762) packets with DF, bisected; one fragmented payload"
        if not p.responder:
            result.reason = "no responder given (--responder ADDR[:PORT]): path MTU not measured"
            return result
        if unsupported := df_unsupported_reason():
            result.reason = f"{unsupported}: path MTU not measured"
            return result
        host, port = split_host_port(p.responder)
        ctx.progress(0.0, "path MTU: probing sizes with DF")
        run = await asyncio.to_thread(
            run_mtu_probe,
            host,
            port,
            min_ip_bytes=p.min_ip_bytes,
            max_ip_bytes=p.max_ip_bytes,
            timeout_s=p.timeout_s,
            tries=p.tries,
            fragment_payload_bytes=p.fragment_payload_bytes,
        )
        ctx.progress(1.0, f"path MTU {run.path_mtu_bytes or 'unknown'}")
        judge(result, p, run)
        return result


def judge(result: CheckResult, p: MtuParams, run: MtuRun) -> None:
    """Metrics, evidence and the verdict against the 1300-byte SIP payload threshold."""
    result.evidence = {
        "destination": f"{run.address}:{run.port}",
        "path_mtu_bytes": run.path_mtu_bytes,
        "max_payload_bytes": run.max_payload_bytes,
        "fragments_pass": run.fragments_pass,
        "fragment_payload_bytes": run.fragment_payload_bytes,
        "fragment_outcome": run.fragment_outcome,
        "kernel_path_mtu": run.kernel_path_mtu,
        "required_payload_bytes": p.required_payload_bytes,
        "header_bytes": run.overhead,
        "directions": BOTH_WAYS,
        "sizes": [dataclasses.asdict(s) for s in run.sizes],
    }
    if run.path_mtu_bytes is None:
        result.reason = (
            f"not even a {p.min_ip_bytes}-byte packet came back from the responder at "
            f"{run.address}:{run.port} (not running, or UDP to it is blocked): path MTU "
            "not measured"
        )
        return
    result.metrics = {"path_mtu_bytes": float(run.path_mtu_bytes)}
    if run.fragments_pass is not None:
        result.metrics["fragments_pass"] = 1.0 if run.fragments_pass else 0.0
    payload = run.max_payload_bytes or 0
    mtu_words = (
        f"path MTU {run.path_mtu_bytes} bytes (UDP payload up to {payload} bytes unfragmented; "
        f"{'at least, the largest size tried' if run.path_mtu_bytes >= p.max_ip_bytes else 'DF'}"
        "; both directions together)"
    )
    frag_words = {
        True: f"fragmented UDP ({run.fragment_payload_bytes}-byte payload) passes",
        False: (
            f"fragmented UDP ({run.fragment_payload_bytes}-byte payload) did not come back "
            "(IP fragments dropped on the path, or the responder's --max-packet is smaller)"
        ),
        None: "fragmented UDP not tried",
    }[run.fragments_pass]
    need = p.required_payload_bytes
    if payload >= need:
        result.status = Status.PASS
        result.reason = f"{mtu_words}; {frag_words}; SIP over UDP needs {need}-byte payloads"
        return
    result.status = Status.FAIL
    result.reason = (
        f"{mtu_words}: below the {need}-byte UDP payload that SIP over UDP with SDP needs "
        f"(IP MTU {need + run.overhead}); {frag_words}"
    )
    ip_need = need + run.overhead
    result.remediation = text(TEXTS, "remediation", required=need, ip_required=ip_need)
    result.evidence["remediation_de"] = text(
        TEXTS, "remediation", "de", required=need, ip_required=ip_need
    )
