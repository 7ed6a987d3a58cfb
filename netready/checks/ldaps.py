"""The `ldaps` check kind: the platform's phone book over LDAPS, per port of an LDAPS rule.

Per port: TLS handshake and certificate (`netready.probes.tls`, the same pins as the TLS
checks: `expect_issuer`, `expect_sha256`), then with ldap3 a bind (anonymous, or simple with
`NETREADY_LDAP_BIND_DN` / `NETREADY_LDAP_PASSWORD` from the environment) and one search
under `base_dn` with a server time limit; the time to the first result is reported.

* TCP does not connect: `not_tested` (the firewall check reports the blocked port);
* no TLS handshake: fail; a certificate from another issuer: fail, "TLS interception";
* bind refused, or the search fails: fail with the server's result in words;
* otherwise pass. The bind password never enters the result.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
from typing import Any

from netready.checks.base import Check, PlannedCheck, RunContext, register
from netready.checks.ldaps_params import BIND_DN_ENV, PASSWORD_ENV, LdapsParams
from netready.checks.tls import expected_text, port_evidence, server_name_for
from netready.checks.tls_params import TlsParams
from netready.checktexts import text
from netready.model import CheckResult, Profile, Rule, Status
from netready.probes.ldaps import LdapSearchResult, ldap_search
from netready.probes.tls import interception, probe_tls

KIND = "ldaps"


def rule_title(rule: Rule) -> str:
    """Human title of a rule's LDAPS check."""
    ports = ",".join(str(p) for p in rule.ports)
    return text(KIND, "title", ports=ports, host=rule.host, function=rule.function)


@register
class LdapsCheck(Check):
    """TLS, certificate pins, bind and one phone-book search on each port of an LDAPS rule."""

    kind = KIND
    Params = LdapsParams
    title = "LDAPS"

    def timeout_s(self, params: Any, ctx: RunContext) -> float:
        p: LdapsParams = params
        ports = p.rule.port_count() if p.rule else 1
        return 20.0 + ports * (p.timeout_s * 6 + p.time_limit_s)

    async def run(self, check_id: str, params: Any, ctx: RunContext) -> CheckResult:
        p: LdapsParams = params
        assert p.rule is not None, "the planner sets the rule"
        result = CheckResult(id=check_id, title=rule_title(p.rule), status=Status.NOT_TESTED)
        result.method = "tls-handshake + ldap-bind + paged-search"
        bind_dn, password = os.environ.get(BIND_DN_ENV, ""), os.environ.get(PASSWORD_ENV, "")
        result.evidence = {
            "address": p.address,
            "base_dn": p.base_dn,
            "bind": bind_dn or "anonymous",
            "pins": {"issuer": p.expect_issuer, "sha256": list(p.expect_sha256)},
            "per_port": {},
        }
        if bool(bind_dn) != bool(password):
            result.reason = f"set both {BIND_DN_ENV} and {PASSWORD_ENV} (or neither: anonymous)"
            return result
        verdicts = []
        for port in (port for r in p.rule.ports for port in r.ports()):
            ctx.progress(0.1, f"LDAPS {p.address}:{port}")
            verdicts.append(await self._port(result, p, port, bind_dn, password))
        failed = [v for v in verdicts if v[0] == Status.FAIL]
        untested = [v for v in verdicts if v[0] == Status.NOT_TESTED]
        if failed:
            result.status = Status.FAIL
            result.reason = "; ".join(v[1] for v in failed)
            result.remediation = failed[0][2]
        elif untested:
            result.reason = "; ".join(v[1] for v in untested)
        else:
            result.status = Status.PASS
            result.reason = "; ".join(v[1] for v in verdicts)
        return result

    async def _port(
        self, result: CheckResult, p: LdapsParams, port: int, bind_dn: str, password: str
    ) -> tuple[Status, str, str]:
        """(status, reason, remediation) of one port; its evidence goes into `result`."""
        assert p.rule is not None
        name = server_name_for(p.address)
        tls = await probe_tls(p.address, port, name, p.timeout_s)
        mismatch = interception(tls.leaf, p.expect_issuer, p.expect_sha256)
        ev = port_evidence(tls, mismatch)
        result.evidence["per_port"][str(port)] = ev
        fields: dict[str, Any] = {"address": p.address, "ports": port, "function": p.rule.function}
        if not tls.connected:
            return Status.NOT_TESTED, f"TCP did not connect on {port}: {tls.error}", ""
        if not tls.handshake_ok:
            why = f"TLS handshake failed on {port}: {tls.error}"
            return Status.FAIL, why, text(KIND, "remediation_handshake", **fields)
        if tls.handshake_ms is not None:
            result.metrics[f"handshake_ms_{port}"] = tls.handshake_ms
        if mismatch:
            issuer = tls.leaf.issuer if tls.leaf else "(none)"
            why = (
                f"TLS interception: the certificate on {port} was issued by '{issuer}', "
                f"expected '{expected_text(TlsParams(p.expect_issuer, p.expect_sha256))}'"
            )
            ev["issuer_seen"] = issuer
            return Status.FAIL, why, text(KIND, "remediation", **fields)
        r = await asyncio.to_thread(
            ldap_search,
            p.address,
            port,
            bind_dn=bind_dn,
            password=password,
            base_dn=p.base_dn,
            search_filter=p.search_filter,
            attributes=p.attributes,
            time_limit_s=p.time_limit_s,
            size_limit=p.size_limit,
            page_size=p.page_size,
            timeout_s=p.timeout_s,
        )
        ev["ldap"] = _ldap_evidence(r)
        for key in ("bind_ms", "first_result_ms", "search_ms"):
            value = getattr(r, key)
            if value is not None:
                result.metrics[f"{key}_{port}"] = value
        result.metrics[f"entries_{port}"] = float(r.entries)
        if r.stage == "bind" and not r.bound:
            why = f"LDAP bind as {r.bind_as} rejected on {port}: {r.error}"
            return Status.FAIL, why, text(KIND, "remediation_bind")
        if r.stage != "done":
            why = f"LDAP {r.stage} failed on {port}: {r.error}"
            return Status.FAIL, why, text(KIND, "remediation_search", base_dn=p.base_dn or "''")
        first = f", first after {r.first_result_ms:.1f} ms" if r.first_result_ms else ""
        return Status.PASS, f"{port}: bound as {r.bind_as}, {r.entries} entries{first}", ""


def _ldap_evidence(r: LdapSearchResult) -> dict[str, Any]:
    return {
        "bind_as": r.bind_as,
        "bound": r.bound,
        "stage": r.stage,
        "error": r.error,
        "result": r.result_code,
        "entries": r.entries,
        "sample_dns": r.sample,
    }


def plan_ldaps(profile: Profile) -> list[PlannedCheck]:
    """One `ldaps.<rule>` per rule with verify = "ldaps" whose host has an address."""
    defaults = LdapsParams(**profile.checks.get(KIND, {}))
    return [
        PlannedCheck(
            f"{KIND}.{rule.name}",
            rule_title(rule),
            LdapsCheck(),
            dataclasses.replace(defaults, rule=rule, address=profile.hosts[rule.host]),
        )
        for rule in profile.rules
        if rule.verify == "ldaps" and profile.hosts.get(rule.host, "")
    ]
