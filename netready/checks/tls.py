"""The `tls` check kind: does every TLS port of one rule reach the platform's own TLS?

Per port of the rule (see `netready.probes.tls` for what is captured):

* TCP does not connect: that port is `not_tested` here (the `firewall.<rule>` check
  already reports the blocked port);
* the port connects but no TLS handshake completes: fail, "TLS handshake failed";
* the handshake works but the leaf certificate misses the profile's pins
  (`expect_issuer`, `expect_sha256` in `[checks."tls"]`): fail, "TLS interception",
  naming the issuer that was seen, on every TLS port alike;
* otherwise the port passes. HTTPS rules (`verify = "https"`) also send one GET / and
  report the status line (evidence only: any HTTP answer shows the path works).

With an explicit HTTP proxy (`proxy` in `[checks."tls"]`, or HTTPS_PROXY / ALL_PROXY unless
NO_PROXY matches) every handshake runs inside an HTTP CONNECT tunnel; evidence `proxy` names
it, and a CONNECT the proxy refuses leaves that port `not_tested` with the status line.
"""

from __future__ import annotations

import asyncio
import ipaddress
from typing import Any

from netready.checks.base import Check, RunContext, register
from netready.checks.tls_params import TlsParams
from netready.checktexts import text
from netready.model import CheckResult, Rule, Status, reached_key
from netready.probes.proxy import probe_tls_via_proxy, select_proxy
from netready.probes.tls import TlsProbeResult, interception, probe_tls
from netready.probes.udp_sweep import compact_ranges

KIND = "tls"
#: TLS probes running at once for one rule.
PARALLEL = 8


def rule_title(rule: Rule) -> str:
    """Human title of a rule's TLS check."""
    return text(
        KIND,
        "title",
        protocol=rule.protocol,
        ports=",".join(str(p) for p in rule.ports),
        host=rule.host,
        function=rule.function,
    )


def remediation(rule: Rule, address: str, ports: str, key: str = "remediation") -> str:
    """What the customer's IT has to change (key: remediation or remediation_handshake)."""
    return text(KIND, key, address=address, ports=ports, function=rule.function)


def expected_text(p: TlsParams) -> str:
    """The pins in words, for the interception reason."""
    if p.expect_issuer:
        return p.expect_issuer
    return "a certificate with SHA-256 " + " or ".join(p.expect_sha256)


def server_name_for(address: str) -> str | None:
    """SNI: the host's name when the profile gives a name, none for an IP literal."""
    try:
        ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address
    return None


def port_evidence(r: TlsProbeResult, mismatch: str) -> dict[str, Any]:
    """One port's evidence: handshake, version, cipher, chain, fingerprint, HTTP status."""
    if not r.connected:
        return {"handshake": "not_connected", "error": r.error}
    if not r.handshake_ok:
        return {"handshake": "failed", "error": r.error}
    leaf = r.leaf
    ev: dict[str, Any] = {
        "handshake": "ok",
        "version": r.version,
        "cipher": r.cipher,
        "alpn": r.alpn,
        "handshake_ms": r.handshake_ms,
        "chain": [c.to_dict() for c in r.chain],
        "chain_source": r.chain_source,
        "fingerprint": leaf.sha256 if leaf else "",
        "issuer": leaf.issuer if leaf else "",
        "verified_by_system_cas": r.verified,
        "verify_error": r.verify_error,
        "interception": bool(mismatch),
    }
    if mismatch:
        ev["pin_mismatch"] = mismatch
    if r.http_status or r.http_error:
        ev["http_status"] = r.http_status
        ev["http_error"] = r.http_error
    return ev


@register
class TlsCheck(Check):
    """Handshakes with each port of a TLS rule and compares the certificate with the pins."""

    kind = KIND
    Params = TlsParams
    title = "TLS"

    def timeout_s(self, params: Any, ctx: RunContext) -> float:
        p: TlsParams = params
        ports = p.rule.port_count() if p.rule else 0
        return 30.0 + p.timeout_s * 4 * (ports // PARALLEL + 1)

    async def run(self, check_id: str, params: Any, ctx: RunContext) -> CheckResult:
        p: TlsParams = params
        assert p.rule is not None, "the planner sets the rule"
        rule = p.rule
        https = rule.verify == "https"
        result = CheckResult(id=check_id, title=rule_title(rule), status=Status.NOT_TESTED)
        result.method = "tls-handshake + GET /" if https else "tls-handshake"
        gate = asyncio.Semaphore(PARALLEL)
        name = server_name_for(p.address)
        proxy = select_proxy(p.proxy, p.address)
        if proxy is not None:
            result.method += " through http-connect via proxy"

        async def one(port: int) -> TlsProbeResult:
            async with gate:
                if proxy is not None:
                    return await probe_tls_via_proxy(
                        proxy, p.address, port, name, p.timeout_s, http_request=https
                    )
                return await probe_tls(p.address, port, name, p.timeout_s, http_request=https)

        ports = [port for r in rule.ports for port in r.ports()]
        probes = await asyncio.gather(*(one(port) for port in ports))
        result = _judge(result, p, probes, name)
        if proxy is not None:
            result.evidence["proxy"] = proxy.label
            result.evidence["proxy_source"] = proxy.source
        return result


def _judge(
    result: CheckResult, p: TlsParams, probes: list[TlsProbeResult], name: str | None
) -> CheckResult:
    assert p.rule is not None
    mismatches = {r.port: interception(r.leaf, p.expect_issuer, p.expect_sha256) for r in probes}
    intercepted = [r for r in probes if r.handshake_ok and mismatches[r.port]]
    failed = [r for r in probes if r.connected and not r.handshake_ok]
    untested = [r for r in probes if not r.connected]
    result.evidence = {
        "address": p.address,
        "server_name": name or "",
        "pins": {"issuer": p.expect_issuer, "sha256": list(p.expect_sha256)},
        "interception": bool(intercepted),
        "per_port": {str(r.port): port_evidence(r, mismatches[r.port]) for r in probes},
    }
    connected = [r.port for r in probes if r.connected]
    if connected:  # a completed TCP handshake proves the port open, whatever TLS did
        result.evidence["reached"] = [reached_key("tcp", p.address, port) for port in connected]
    times = [r.handshake_ms for r in probes if r.handshake_ms is not None]
    result.metrics = {
        "ports_ok": float(len(probes) - len(intercepted) - len(failed) - len(untested)),
        "ports_intercepted": float(len(intercepted)),
        "ports_handshake_failed": float(len(failed)),
        "ports_not_tested": float(len(untested)),
    }
    if times:
        result.metrics["handshake_ms_max"] = max(times)
    reasons: list[str] = []
    if intercepted:
        issuers = sorted({r.leaf.issuer for r in intercepted if r.leaf})
        result.evidence["issuer_seen"] = issuers[0] if len(issuers) == 1 else issuers
        reasons += [
            f"TLS interception: the certificate on {r.port} was issued by "
            f"'{r.leaf.issuer if r.leaf else '(none)'}', expected '{expected_text(p)}'"
            for r in intercepted
        ]
        ranges = compact_ranges([r.port for r in intercepted])
        result.remediation = remediation(p.rule, p.address, ranges)
    if failed:
        reasons += [f"TLS handshake failed on {r.port}: {r.error}" for r in failed]
        if not result.remediation:
            ranges = compact_ranges([r.port for r in failed])
            result.remediation = remediation(p.rule, p.address, ranges, "remediation_handshake")
    if reasons:
        result.status = Status.FAIL
        result.reason = "; ".join(reasons)
    elif untested:
        result.reason = (
            f"TCP did not connect on {compact_ranges([r.port for r in untested])}: "
            f"TLS not tried (the firewall check reports the port); {untested[0].error}"
        )
    else:
        result.status = Status.PASS
    return result
