"""The `h323` check kind: `h323.alg`, H.323 ALG detection through the responder's echo.

Many firewalls ship an H.323 helper ("H.323 ALG", "H.323 inspection"; Linux has
`nf_conntrack_h323` + `nf_nat_h323`). It parses H.225 call signalling on TCP 1720 and
rewrites the transport addresses inside it. The check connects to the responder's H.323
echo (`netready responder --h323-echo-ports 1720`) and sends one Q.931 SETUP with an
H.225 Setup-UUIE naming its own address, as a phone does: `sourceCallSignalAddress` (its
TCP address), `destCallSignalAddress` (the responder's), `h245Address` and a fastStart
RTP/RTCP pair (`netready.probes.h225`). The echo returns the SETUP exactly as received;
the check decodes it and compares every transport address:

* all unchanged (byte for byte) -> `pass`; the evidence also says whether the path NATs
  the site's address (the echo names the TCP peer the responder saw);
* an address rewritten -> `fail`, naming each field from what to what (any other change
  of the bytes fails too: something on the path edits H.225);
* no echo (nothing listening, port filtered, another service) -> `not_tested`, never a pass.

Planned once for a profile with an H.323 rule (protocol "H.323", "H.323/TLS", ...). The
echo listens on `[checks.h323] echo_port` (default 1720, where ALGs act).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import secrets
from typing import Any

from netready.addr import split_host_port
from netready.checks.base import Check, PlannedCheck, RunContext, register
from netready.checks.h323_params import H323Params
from netready.checktexts import text
from netready.model import CheckResult, Profile, Rule, Status
from netready.probes.h225 import (
    Change,
    Endpoint,
    SetupProbe,
    build_setup,
    diff_addresses,
    first_difference,
    parse_setup,
)
from netready.probes.h225_echo import parse_echo_reply
from netready.probes.h225_io import H225Exchange, exchange

KIND = "h323"
CHECK_ID = "h323.alg"


def is_h323_rule(rule: Rule) -> bool:
    """A rule for H.323 signalling ("H.323", "H.323/TLS", "H323/s", ...)."""
    return "h323" in rule.protocol.lower().replace(".", "").replace(" ", "")


def _title(p: H323Params) -> str:
    return text(KIND, "title", port=p.echo_port)


def build_probe(local: tuple[str, int], peer: tuple[str, int]) -> SetupProbe:
    """The SETUP a phone at `local` would send to `peer` (H.245 and RTP ports random)."""
    try:
        ipaddress.IPv4Address(local[0])
        ipaddress.IPv4Address(peer[0])
    except ValueError:
        raise ValueError(
            "H.323 ALG detection needs IPv4 (the ALGs rewrite IPv4 addresses); "
            "give the responder an IPv4 address"
        ) from None
    h245_port = 30000 + secrets.randbelow(10000)
    rtp_port = 40000 + 2 * secrets.randbelow(5000)
    return build_setup(
        Endpoint(*local),
        Endpoint(*peer),
        Endpoint(local[0], h245_port),
        Endpoint(local[0], rtp_port),
    )


@register
class H323Check(Check):
    """Sends an H.225 SETUP through the responder's echo and diffs what came back."""

    kind = KIND
    Params = H323Params
    title = "H.323 ALG"

    def timeout_s(self, params: Any, ctx: RunContext) -> float:
        p: H323Params = params
        return p.timeout_s + 10.0

    async def run(self, check_id: str, params: Any, ctx: RunContext) -> CheckResult:
        p: H323Params = params
        result = CheckResult(id=check_id, title=_title(p), status=Status.NOT_TESTED)
        result.method = "h225-echo-tcp"
        if not p.address:
            result.reason = (
                "no responder: H.323 ALG detection needs `--responder ADDR` running "
                f"`netready responder --h323-echo-ports {p.echo_port}`"
            )
            return result
        ex = await exchange(p.address, p.echo_port, build_probe, p.timeout_s)
        return _judge(result, p, ex)


def _addresses(found: dict[str, Endpoint]) -> dict[str, str]:
    return {name: str(ep) for name, ep in found.items()}


def _judge(result: CheckResult, p: H323Params, ex: H225Exchange) -> CheckResult:
    where = f"{p.address}:{p.echo_port}/tcp"
    result.evidence = {"echo": where, "local": f"{ex.local[0]}:{ex.local[1]}", "error": ex.error}
    hint = f"start it with `netready responder --h323-echo-ports {p.echo_port}`"
    if ex.connected and ex.probe is None:  # e.g. an IPv6 path: no IPv4 SETUP to send
        result.reason = f"H.323 ALG detection not run against {where}: {ex.error}"
        return result
    if ex.probe is None or not ex.reply:
        result.reason = (
            f"no answer from the responder's H.323 echo at {where} ({ex.error}): "
            f"{hint} and open TCP {p.echo_port}"
        )
        return result
    try:
        echo = parse_echo_reply(ex.reply)
    except ValueError as exc:
        result.evidence["error"] = str(exc)
        result.reason = (
            f"{where} answered, but not with a netready H.323 echo ({exc}): another H.323 "
            f"service on that port? {hint}"
        )
        return result
    sent = ex.probe
    result.evidence |= {
        "responder_saw": echo.peer,
        "nat": echo.peer != result.evidence["local"],
        "sent_hex": sent.data.hex(),
        "received_by_responder_hex": echo.echoed.hex(),
        "sent_addresses": _addresses(sent.addresses),
    }
    changes, altered = _compare(sent, echo.echoed, result.evidence)
    result.evidence["changes"] = [dataclasses.asdict(c) for c in changes]
    result.metrics = {"rtt_ms": round(ex.rtt_ms or 0.0, 3), "changes": float(len(changes))}
    if not changes and not altered:
        result.status = Status.PASS
        nat = (
            f"; the path translates {result.evidence['local']} to {echo.peer} without touching "
            "H.225"
            if result.evidence["nat"]
            else ""
        )
        result.reason = (
            f"no rewrite: the responder received the H.225 SETUP on TCP {p.echo_port} exactly "
            f"as sent (no H.323 ALG on the path){nat}"
        )
        return result
    result.status = Status.FAIL
    detail = "; ".join(c.describe() for c in changes) or altered
    result.reason = f"H.323 ALG detected on TCP {p.echo_port}: {detail}"
    result.remediation = text(KIND, "remediation", port=p.echo_port)
    return result


def _compare(sent: SetupProbe, echoed: bytes, evidence: dict[str, Any]) -> tuple[list[Change], str]:
    """(address changes, a sentence for any other alteration or "")."""
    if echoed == sent.data:
        evidence["received_addresses"] = _addresses(sent.addresses)
        return [], ""
    try:
        got = parse_setup(echoed).addresses
    except ValueError as exc:
        return [], (
            f"the SETUP arrived altered and no longer decodes as H.225 ({exc}; "
            f"{len(sent.data)} bytes sent, {len(echoed)} received)"
        )
    evidence["received_addresses"] = _addresses(got)
    changes = diff_addresses(sent.addresses, got)
    if changes:
        return changes, ""
    offset = first_difference(sent.data, echoed)
    count = sum(a != b for a, b in zip(sent.data, echoed, strict=False))
    count += abs(len(sent.data) - len(echoed))
    return [], (
        f"the SETUP arrived altered ({count} byte(s) differ, the first at offset {offset}) "
        "although its transport addresses are unchanged"
    )


def plan_h323(profile: Profile) -> list[PlannedCheck]:
    """`h323.alg` once, when the profile has an H.323 rule; against the profile's responder."""
    rules = [r for r in profile.rules if is_h323_rule(r)]
    if not rules:
        return []
    base = H323Params(**profile.checks.get(KIND, {}))
    responder = split_host_port(profile.responder)[0] if profile.responder else ""
    params = dataclasses.replace(base, address=responder, rule=rules[0])
    return [PlannedCheck(CHECK_ID, _title(params), H323Check(), params)]
