"""The `dns` check kind: do the profile's host names resolve, through every resolver?

One check `dns` covers all names, because its findings are per resolver (timing, a
resolver that fails or is silent) and across resolvers (answers that differ). Every
DNS name among the profile's hosts is asked for A and AAAA at each resolver
separately; hosts given as IP addresses need no lookup and are listed as such. For
the SIP provider's name the SRV records `_sip._udp`, `_sip._tcp`, `_sips._tcp` and
NAPTR are looked up too, and the SRV targets' addresses.

* fail: a resolver gives no address for a name (NXDOMAIN, SERVFAIL, timeout, no
  A/AAAA records), named per resolver in words;
* pass: every resolver gives an address for every name; answers that differ between
  resolvers are reported in the reason and the evidence (not a failure: CDNs and
  geo-DNS answer differently on purpose), as are missing SRV/NAPTR records;
* not_tested: no resolver is configured.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import statistics
from typing import Any

from netready.checks.base import Check, PlannedCheck, RunContext, register
from netready.checks.dns_params import DnsParams
from netready.checktexts import text
from netready.model import CheckResult, Profile, Status
from netready.probes.dns import Lookup, lookup, system_resolvers

KIND = "dns"
ADDRESS_TYPES = ("A", "AAAA")
SRV_PREFIXES = ("_sip._udp.", "_sip._tcp.", "_sips._tcp.")


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value.split("%", 1)[0])
    except ValueError:
        return False
    return True


@register
class DnsCheck(Check):
    """A/AAAA for every host name at every resolver; SRV/NAPTR for the SIP provider."""

    kind = KIND
    Params = DnsParams
    title = "DNS"

    def timeout_s(self, params: Any, ctx: RunContext) -> float:
        p: DnsParams = params
        return 4 * p.timeout_s + 10.0

    async def run(self, check_id: str, params: Any, ctx: RunContext) -> CheckResult:
        p: DnsParams = params
        result = CheckResult(id=check_id, title=text(KIND, "title"), status=Status.NOT_TESTED)
        resolvers = list(p.resolvers) or system_resolvers()
        result.method = "dnspython, each resolver asked directly"
        result.evidence = {
            "resolvers": resolvers,
            "system_resolvers": not p.resolvers,
            "addresses_given": {
                k: f"{v}: address given, nothing to resolve" for k, v in p.literals
            },
        }
        if not resolvers:
            result.reason = "no DNS resolver configured (/etc/resolv.conf has no nameserver)"
            return result
        names = sorted({name for _, name in p.names})
        questions = [(n, t) for n in names for t in ADDRESS_TYPES]
        questions += [(pre + n, "SRV") for n in p.sip_names for pre in SRV_PREFIXES]
        questions += [(n, "NAPTR") for n in p.sip_names]
        found = await asyncio.gather(
            *(lookup(n, t, r, p.timeout_s) for n, t in questions for r in resolvers)
        )
        srv_targets = _srv_targets(found)
        found += await asyncio.gather(
            *(lookup(n, "A", resolvers[0], p.timeout_s) for n in srv_targets)
        )
        return _judge(result, p, resolvers, names, found)


def _srv_targets(found: list[Lookup]) -> list[str]:
    targets = {a.split()[-1] for f in found if f.rdtype == "SRV" for a in f.answers}
    return sorted(t for t in targets if t != ".")


def _by(found: list[Lookup], name: str, rdtype: str) -> dict[str, Lookup]:
    return {f.resolver: f for f in found if f.name == name and f.rdtype == rdtype}


def _judge(
    result: CheckResult, p: DnsParams, resolvers: list[str], names: list[str], found: list[Lookup]
) -> CheckResult:
    failures: list[str] = []
    notes: list[str] = []
    evidence: dict[str, Any] = {}
    for host, name in p.names:
        per: dict[str, Any] = {}
        for r in resolvers:
            a, aaaa = (_by(found, name, t).get(r) for t in ADDRESS_TYPES)
            per[r] = {"A": a.to_dict() if a else None, "AAAA": aaaa.to_dict() if aaaa else None}
            if not (a and a.answers) and not (aaaa and aaaa.answers):
                why = a.error if a and a.error != "no records" else (aaaa.error if aaaa else "")
                failures.append(f"{name} ({host}) via {r}: {why or 'no address records'}")
        evidence[name] = {"host": host, "resolvers": per}
        for t in ADDRESS_TYPES:
            sets = {r: f.answers for r, f in _by(found, name, t).items() if f.answers}
            if len(set(sets.values())) > 1:
                shown = "; ".join(f"{r} gives {', '.join(v)}" for r, v in sets.items())
                notes.append(f"{t} answers for {name} differ between resolvers: {shown}")
                evidence[name].setdefault("differs", []).append(t)
    sip: dict[str, Any] = {}
    for base in p.sip_names:
        for q, t in [(pre + base, "SRV") for pre in SRV_PREFIXES] + [(base, "NAPTR")]:
            best = next((f for f in _by(found, q, t).values() if f.answers), None)
            sip[f"{q} {t}"] = list(best.answers) if best else []
            if best is None:
                notes.append(f"no {t} record for {q}")
    targets = {f.name: list(f.answers) for f in found if f.rdtype == "A" and f.name not in names}
    if sip:
        result.evidence["sip"] = {"records": sip, "srv_targets": targets}
    result.evidence["names"] = evidence
    timing = _timing(resolvers, found)
    result.evidence["timing"] = timing
    all_ms = [f.ms for f in found if f.ms is not None]
    result.metrics = {
        "names": float(len(names)),
        "resolvers": float(len(resolvers)),
        "failures": float(len(failures)),
        "lookup_ms_max": round(max(all_ms), 3) if all_ms else 0.0,
    }
    if failures:
        result.status = Status.FAIL
        result.reason = "name resolution failed: " + "; ".join(failures)
        result.remediation = text(KIND, "remediation")
    elif not names:
        result.status = Status.SKIPPED
        result.reason = "every host is given as an IP address: nothing to resolve"
    else:
        result.status = Status.PASS
        result.reason = f"{len(names)} name(s) resolved by {len(resolvers)} resolver(s)"
    if notes:
        result.reason += "; " + "; ".join(notes)
    return result


def _timing(resolvers: list[str], found: list[Lookup]) -> dict[str, Any]:
    """Per resolver: median and max lookup time, and how many lookups got no answer."""
    out: dict[str, Any] = {}
    for r in resolvers:
        mine = [f for f in found if f.resolver == r]
        ms = [f.ms for f in mine if f.ms is not None]
        out[r] = {
            "lookups": len(mine),
            "unanswered": sum(1 for f in mine if not f.answered),
            "ms_median": round(statistics.median(ms), 3) if ms else None,
            "ms_max": round(max(ms), 3) if ms else None,
        }
    return out


def plan_dns(profile: Profile) -> list[PlannedCheck]:
    """The `dns` check; skipped when every host is an IP address (or has none)."""
    base = DnsParams(**profile.checks.get(KIND, {}))
    sip_hosts = {r.host for r in profile.rules if r.verify == "sip"}
    names = tuple((k, v) for k, v in profile.hosts.items() if v and not _is_ip(v))
    literals = tuple((k, v) for k, v in profile.hosts.items() if v and _is_ip(v))
    sip_names = tuple(sorted({v for k, v in names if k in sip_hosts}))
    params = dataclasses.replace(base, names=names, sip_names=sip_names, literals=literals)
    skip = ""
    if not names:
        given = ", ".join(f"{k}={v}" for k, v in literals) or "none"
        skip = f"every host is given as an IP address ({given}): nothing to resolve"
    return [PlannedCheck(KIND, text(KIND, "title"), DnsCheck(), params, skip)]
