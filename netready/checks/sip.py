"""The `sip` check kind: SIP OPTIONS to the provider, and SIP ALG detection.

* `sip.options.<rule>`, one per SIP rule of the profile (verify = "sip"): an OPTIONS
  request over the rule's transport (UDP, TCP, or TLS for a rule with tls = true) to
  the provider's host and port. Any final response passes: 200, but also 404 or 405
  mean a SIP server answered (the status line is named). A TCP/TLS port that does not
  connect is `not_tested` (the firewall check reports it); no answer over UDP, a
  connection without an answer, or a failed TLS handshake fail.
* `sip.alg.udp` / `sip.alg.tcp`: an OPTIONS with private addresses in Via, Contact and
  an SDP body to the responder's SIP echo (`netready responder --sip-echo-ports`),
  which returns the request exactly as received. Any difference is a SIP ALG on the
  path: the check fails and names each rewritten field, from what to what.

Both are planned only for sites with a SIP trunk (the rule's host has an address);
otherwise they are skipped with the rule's condition, like the firewall checks.
"""

from __future__ import annotations

import base64
import dataclasses
from typing import Any

from netready.addr import split_host_port
from netready.checks.base import Check, PlannedCheck, RunContext, register
from netready.checks.sip_params import SipParams
from netready.checktexts import text
from netready.model import CheckResult, Profile, Status, reached_key
from netready.probes.sip import (
    ECHO_CONTENT_TYPE,
    Change,
    Probe,
    build_options,
    diff_messages,
    parse_message,
    strip_echo_padding,
)
from netready.probes.sip_io import SipExchange, exchange

KIND = "sip"


def _transport(p: SipParams) -> str:
    return p.transport.upper()


def _options_title(p: SipParams) -> str:
    return text(KIND, "title_options", transport=_transport(p), address=p.address, port=p.port)


def _alg_title(p: SipParams) -> str:
    return text(KIND, "title_alg", transport=_transport(p))


@register
class SipCheck(Check):
    """OPTIONS round trip to the SIP provider, or ALG detection through the responder."""

    kind = KIND
    Params = SipParams
    title = "SIP"

    def timeout_s(self, params: Any, ctx: RunContext) -> float:
        p: SipParams = params
        return p.timeout_s + 10.0

    async def run(self, check_id: str, params: Any, ctx: RunContext) -> CheckResult:
        p: SipParams = params
        if p.mode == "alg":
            return await _run_alg(check_id, p)
        return await _run_options(check_id, p)


def _exchange_evidence(ex: SipExchange) -> dict[str, Any]:
    ev: dict[str, Any] = {
        "transport": ex.transport,
        "local": f"{ex.local[0]}:{ex.local[1]}",
        "sends": ex.sends,
        "error": ex.error,
    }
    if ex.response is not None:
        ev["status_line"] = ex.response.start_line
        ev["server"] = ex.response.header("server") or ex.response.header("user-agent")
        ev["via"] = ex.response.header("via")
    if ex.tls_version:
        ev["tls_version"] = ex.tls_version
    return ev


async def _run_options(check_id: str, p: SipParams) -> CheckResult:
    result = CheckResult(id=check_id, title=_options_title(p), status=Status.NOT_TESTED)
    result.method = f"sip-options-{p.transport}"

    def build(ip: str, port: int) -> Probe:
        via = "TLS" if p.transport == "tls" else p.transport.upper()
        return build_options(p.address, p.port, via, ip, port)

    ex = await exchange(p.address, p.port, p.transport, build, p.timeout_s)
    result.evidence = {"address": p.address, "port": p.port, **_exchange_evidence(ex)}
    where = f"{p.address}:{p.port}/{p.transport}"
    if ex.response is not None and ex.rtt_ms is not None:
        result.metrics = {"rtt_ms": round(ex.rtt_ms, 3), "status_code": float(ex.response.status)}
        result.status = Status.PASS
        transport = "udp" if p.transport == "udp" else "tcp"
        result.evidence["reached"] = [reached_key(transport, p.address, p.port)]
        result.reason = (
            f"a SIP server answered OPTIONS on {where} with '{ex.response.start_line[8:]}' "
            f"in {ex.rtt_ms:.1f} ms"
        )
        return result
    function = p.rule.function if p.rule else "SIP"
    if p.transport != "udp" and not ex.connected and not ex.error.startswith("TLS"):
        result.reason = (
            f"TCP to {where} did not connect ({ex.error}): OPTIONS not tried "
            "(the firewall check reports the port)"
        )
        return result
    result.status = Status.FAIL
    result.reason = f"no SIP answer to OPTIONS on {where}: {ex.error}"
    result.remediation = text(
        KIND, "remediation_options", address=p.address, port=p.port,
        transport=p.transport, function=function,
    )  # fmt: skip
    return result


def _alg_reason(transport: str, changes: list[Change]) -> str:
    return f"SIP ALG detected on {transport}: " + "; ".join(c.describe() for c in changes)


def _echoed_request(body: bytes, content_type: str) -> bytes:
    """The request as the responder received it: base64 (current) or raw (sipfrag)."""
    if not body:
        raise ValueError("no echo in the body")
    if ECHO_CONTENT_TYPE in content_type:
        return base64.b64decode(b"".join(body.split()), validate=True)
    if "sipfrag" in content_type or "octet-stream" in content_type:
        return body
    raise ValueError("no echo in the body")


async def _run_alg(check_id: str, p: SipParams) -> CheckResult:
    result = CheckResult(id=check_id, title=_alg_title(p), status=Status.NOT_TESTED)
    result.method = f"sip-echo-{p.transport}"
    if not p.address:
        result.reason = "no responder: SIP ALG detection needs `--responder ADDR` running "
        result.reason += "`netready responder --sip-echo-ports PORT`"
        return result

    def build(ip: str, port: int) -> Probe:
        return build_options(p.address, p.port, p.transport.upper(), ip, port, alg_probe=True)

    ex = await exchange(p.address, p.port, p.transport, build, p.timeout_s)
    where = f"{p.address}:{p.port}/{p.transport}"
    result.evidence = {"echo": where, **_exchange_evidence(ex)}
    if ex.response is None or ex.probe is None:
        result.reason = (
            f"no answer from the responder's SIP echo at {where} ({ex.error}): start it with "
            f"`netready responder --sip-echo-ports {p.port}` and open the port"
        )
        return result
    ctype = ex.response.header("content-type").lower()
    try:
        echoed = _echoed_request(ex.response.body, ctype)
        got = parse_message(echoed)
    except ValueError:
        result.reason = (
            f"{where} answered '{ex.response.start_line}' without the echoed request: "
            "not a netready SIP echo (another SIP server on that port?)"
        )
        return result
    sent_core = strip_echo_padding(ex.probe.data)  # the padding is not echoed
    sent = parse_message(sent_core)
    changes = diff_messages(sent, got)
    result.evidence["sent"] = sent_core.decode("utf-8", "replace")
    result.evidence["received_by_responder"] = echoed.decode("utf-8", "replace")
    result.evidence["changes"] = [dataclasses.asdict(c) for c in changes]
    result.metrics = {"rtt_ms": round(ex.rtt_ms or 0.0, 3), "changes": float(len(changes))}
    if changes:
        result.status = Status.FAIL
        result.reason = _alg_reason(p.transport.upper(), changes)
        result.remediation = text(KIND, "remediation_alg", transport=p.transport.upper())
    else:
        result.status = Status.PASS
        result.reason = (
            f"no rewrite: the responder received the SIP request over {p.transport.upper()} "
            "exactly as sent (no SIP ALG on the path)"
        )
    return result


def plan_sip(profile: Profile) -> list[PlannedCheck]:
    """`sip.options.<rule>` per SIP rule, then `sip.alg.udp`/`sip.alg.tcp` per transport."""
    base = SipParams(**profile.checks.get(KIND, {}))
    responder = split_host_port(profile.responder)[0] if profile.responder else ""
    plan: list[PlannedCheck] = []
    alg: dict[str, PlannedCheck] = {}
    check = SipCheck()
    for rule in profile.rules:
        if rule.verify != "sip":
            continue
        address = profile.hosts.get(rule.host, "")
        skip = "" if address else rule.condition or f"host '{rule.host}' has no address"
        transport = "tls" if rule.tls else rule.transport
        params = dataclasses.replace(
            base, mode="options", transport=transport, address=address,
            port=rule.ports[0].first, rule=rule,
        )  # fmt: skip
        plan.append(
            PlannedCheck(f"{KIND}.options.{rule.name}", _options_title(params), check, params, skip)
        )
        if rule.tls or transport in alg:
            continue
        echo = dataclasses.replace(
            base, mode="alg", transport=transport, address=responder,
            port=base.echo_port or rule.ports[0].first, rule=rule,
        )  # fmt: skip
        alg[transport] = PlannedCheck(
            f"{KIND}.alg.{transport}", _alg_title(echo), check, echo, skip
        )
    return plan + list(alg.values())
