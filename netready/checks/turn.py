"""The `turn` check kind: an authenticated TURN allocation and a relayed exchange per rule.

Credentials come only from the environment (`NETREADY_TURN_USERNAME`,
`NETREADY_TURN_PASSWORD`); without them the check is `not_tested` and says which variables to
set. The password never enters the result: evidence holds the user name's presence only.

* the allocation is rejected (401/431): fail, "authentication rejected";
* no answer or another error before the relay: fail, with the step that failed;
* no relayed packet came back: fail; otherwise pass with the allocate time and relayed RTTs.

A rule with tls = true is TURN over TLS (RFC 8656 §3.1, e.g. 5349 or 443): evidence `tls`
records the version, cipher and the certificate presented (subject, issuer, SHA-256). A
handshake that fails is a fail ("TLS handshake failed"); a certificate that misses the pins
of `[checks."tls"]` is a fail ("TLS interception") before any credential is sent. Trust in
the system CAs is recorded by `tls.<rule>`, which the planner runs on the same port.
"""

from __future__ import annotations

import dataclasses
import os
import statistics
from typing import Any

from netready.checks.base import Check, PlannedCheck, RunContext, register
from netready.checks.tls import server_name_for
from netready.checks.tls_params import TlsParams
from netready.checks.turn_params import PASSWORD_ENV, USERNAME_ENV, TurnParams
from netready.checktexts import text
from netready.model import CheckResult, Profile, Rule, Status, reached_key
from netready.probes.tls import CertInfo, interception
from netready.probes.turn import Endpoint, TurnProbeResult, probe_turn

KIND = "turn"


def turn_transport(rule: Rule) -> str:
    """How TURN is spoken for a rule: "udp", "tcp", or "tls" (a TCP rule with tls = true)."""
    return "tls" if rule.tls else rule.transport


def rule_title(rule: Rule) -> str:
    """Human title of a rule's TURN check."""
    ports = ",".join(str(p) for p in rule.ports)
    return text(
        KIND,
        "title",
        transport=turn_transport(rule),
        ports=ports,
        host=rule.host,
        function=rule.function,
    )


def _ep(e: Endpoint | None) -> str:
    return "" if e is None else f"{e[0]}:{e[1]}"


def credentials() -> tuple[str, str] | None:
    """(user, password) from the environment, or None when either is missing."""
    user, password = os.environ.get(USERNAME_ENV, ""), os.environ.get(PASSWORD_ENV, "")
    return (user, password) if user and password else None


@register
class TurnCheck(Check):
    """TURN Allocate, CreatePermission and relayed round trips over one rule's transport."""

    kind = KIND
    Params = TurnParams
    title = "TURN"

    def timeout_s(self, params: Any, ctx: RunContext) -> float:
        p: TurnParams = params
        return 20.0 + p.timeout_s * (24 + 2 * p.packets)

    async def run(self, check_id: str, params: Any, ctx: RunContext) -> CheckResult:
        p: TurnParams = params
        assert p.rule is not None, "the planner sets the rule"
        port = p.rule.ports[0].first
        transport = turn_transport(p.rule)
        result = CheckResult(id=check_id, title=rule_title(p.rule), status=Status.NOT_TESTED)
        result.method = f"turn-allocate-{transport} + create-permission + send-indication"
        result.evidence = {"server": f"{p.address}:{port}", "transport": transport}
        creds = credentials()
        if creds is None:
            result.reason = (
                f"no TURN credentials: set {USERNAME_ENV} and {PASSWORD_ENV} in the environment "
                "(they are never written to the report)"
            )
            return result
        ctx.progress(0.1, f"TURN Allocate over {transport}")

        def pins(leaf: CertInfo | None) -> str:
            return interception(leaf, p.expect_issuer, p.expect_sha256)

        r = await probe_turn(
            (p.address, port), creds[0], creds[1], transport, p.packets, p.timeout_s,
            server_name=server_name_for(p.address), check_cert=pins,
        )  # fmt: skip
        return _judge(result, p, port, r)


def _expected(p: TurnParams) -> str:
    """The pins in words."""
    if p.expect_issuer:
        return p.expect_issuer
    return "a certificate with SHA-256 " + " or ".join(p.expect_sha256)


def _tls_evidence(p: TurnParams, r: TurnProbeResult) -> dict[str, Any]:
    """What the TLS handshake of the TURN connection showed."""
    leaf = r.certificate
    return {
        "handshake": "failed" if r.tls_failed else ("ok" if r.tls_version else "not_reached"),
        "version": r.tls_version,
        "cipher": r.tls_cipher,
        "certificate": leaf.to_dict() if leaf else None,
        "issuer": leaf.issuer if leaf else "",
        "fingerprint": leaf.sha256 if leaf else "",
        "pins": {"issuer": p.expect_issuer, "sha256": list(p.expect_sha256)},
        "interception": r.cert_refused,
    }


def _judge(result: CheckResult, p: TurnParams, port: int, r: TurnProbeResult) -> CheckResult:
    assert p.rule is not None
    result.evidence.update(
        stage=r.stage,
        error=r.error,
        relayed=_ep(r.relayed),
        mapped=_ep(r.mapped),
        peer_relayed=_ep(r.peer_relayed),
        packets_sent=r.sent,
        packets_back=len(r.rtts_ms),
        rtts_ms=[round(x, 3) for x in r.rtts_ms],
    )
    if r.transport == "tls":
        result.evidence["tls"] = _tls_evidence(p, r)
    if r.allocate_ms is not None:
        result.metrics["allocate_ms"] = r.allocate_ms
    result.metrics["relay_loss_pct"] = (
        100.0 * (r.sent - len(r.rtts_ms)) / r.sent if r.sent else 100.0
    )
    if r.rtts_ms:
        result.metrics["relay_rtt_median_ms"] = statistics.median(r.rtts_ms)
        result.metrics["relay_rtt_max_ms"] = max(r.rtts_ms)
    fields: dict[str, Any] = {
        "transport": p.rule.transport,
        "transport_upper": "TLS over TCP" if p.rule.tls else p.rule.transport.upper(),
        "address": p.address,
        "port": port,
    }
    server = f"{p.address}:{port}/{r.transport}"
    result.status = Status.FAIL
    if r.stage in ("permission", "relay", "done") or r.auth_rejected:  # Allocate answered
        result.evidence["reached"] = [reached_key(p.rule.transport, p.address, port)]
    if r.cert_refused:
        issuer = r.certificate.issuer if r.certificate else "(none)"
        result.reason = (
            f"TLS interception on {server}: the certificate was issued by '{issuer}', "
            f"expected '{_expected(p)}' ({r.error}); no TURN credentials were sent"
        )
        result.remediation = text(KIND, "remediation_tls", **fields)
    elif r.tls_failed:
        result.reason = f"TLS handshake failed on {server}: {r.error}"
        result.remediation = text(KIND, "remediation_tls", **fields)
    elif r.auth_rejected:
        result.reason = f"authentication rejected by the TURN server {server} ({r.error})"
        result.remediation = text(KIND, "remediation_auth")
    elif r.stage != "done":
        result.reason = f"TURN {r.stage} failed on {server}: {r.error}"
        result.remediation = text(KIND, "remediation", **fields)
    elif not r.rtts_ms:
        result.reason = (
            f"TURN allocation on {server} works (relayed {_ep(r.relayed)}), but none of "
            f"{r.sent} relayed packets came back"
        )
        result.remediation = text(KIND, "remediation", **fields)
    else:
        result.status = Status.PASS
        result.reason = (
            f"relayed address {_ep(r.relayed)}; {len(r.rtts_ms)} of {r.sent} packets relayed "
            "there and back"
        )
    return result


def plan_turn(profile: Profile) -> list[PlannedCheck]:
    """One `turn.<rule>` per rule with verify = "stun" whose host has an address (TURN over
    TLS for a rule with tls = true, with the certificate pins of `[checks."tls"]`)."""
    tls = TlsParams(**profile.checks.get("tls", {}))
    defaults = dataclasses.replace(
        TurnParams(**profile.checks.get(KIND, {})),
        expect_issuer=tls.expect_issuer,
        expect_sha256=tuple(tls.expect_sha256),
    )
    return [
        PlannedCheck(
            f"{KIND}.{rule.name}",
            rule_title(rule),
            TurnCheck(),
            dataclasses.replace(defaults, rule=rule, address=profile.hosts[rule.host]),
        )
        for rule in profile.rules
        if rule.verify == "stun" and profile.hosts.get(rule.host, "")
    ]
