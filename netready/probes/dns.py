"""DNS lookups against one resolver at a time (dnspython), with failures in words.

Each lookup asks one resolver directly (recursion desired), over UDP, and again over
TCP when the answer was truncated. The answer is the sorted text of the records of the
asked type (following CNAMEs inside the answer), plus the time it took.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.resolver

from netready.addr import split_host_port

DNS_PORT = 53

RCODE_WORDS = {
    "NXDOMAIN": "NXDOMAIN (the name does not exist)",
    "SERVFAIL": "SERVFAIL (the resolver could not get an answer)",
    "REFUSED": "REFUSED (the resolver does not answer this client)",
}


@dataclass(frozen=True)
class Lookup:
    """One question to one resolver and what came back."""

    name: str
    rdtype: str
    resolver: str
    rcode: str = ""  # "NOERROR", "NXDOMAIN", ...; "" when no answer came
    answers: tuple[str, ...] = ()
    ms: float | None = None
    error: str = ""  # in words; "" for NOERROR

    @property
    def answered(self) -> bool:
        """The resolver gave a DNS answer (any rcode)."""
        return bool(self.rcode)

    def to_dict(self) -> dict[str, object]:
        """Evidence form."""
        return {
            "rcode": self.rcode,
            "answers": list(self.answers),
            "ms": round(self.ms, 3) if self.ms is not None else None,
            "error": self.error,
        }


def parse_resolver(text: str) -> tuple[str, int]:
    """ "192.0.2.53" -> ("192.0.2.53", 53); "127.0.0.1:5353"; "[::1]:5353"."""
    return split_host_port(text, DNS_PORT)


def system_resolvers() -> list[str]:
    """The name servers of /etc/resolv.conf (via dnspython); [] when there are none."""
    try:
        return [str(ns) for ns in dns.resolver.Resolver(configure=True).nameservers]
    except (dns.resolver.NoResolverConfiguration, OSError):
        return []


def _records(
    response: dns.message.Message, qname: str, rdtype: dns.rdatatype.RdataType
) -> list[str]:
    name = dns.name.from_text(qname)
    out: list[str] = []
    for _ in range(8):  # follow a CNAME chain inside the answer section
        rrset = response.get_rrset(response.answer, name, dns.rdataclass.IN, rdtype)
        if rrset is not None:
            out += [r.to_text() for r in rrset]
            return out
        cname = response.get_rrset(response.answer, name, dns.rdataclass.IN, dns.rdatatype.CNAME)
        if cname is None:
            return out
        name = next(iter(cname)).target
    return out


async def lookup(name: str, rdtype: str, resolver: str, timeout_s: float) -> Lookup:
    """Ask `resolver` ("ADDR[:PORT]") for `name`/`rdtype`; never raises for DNS trouble."""
    host, port = parse_resolver(resolver)
    kind = dns.rdatatype.from_text(rdtype)
    query = dns.message.make_query(name, kind)
    started = time.perf_counter()
    try:
        response = await dns.asyncquery.udp(query, host, timeout=timeout_s, port=port)
        if response.flags & dns.flags.TC:
            left = max(0.1, timeout_s - (time.perf_counter() - started))
            response = await dns.asyncquery.tcp(query, host, timeout=left, port=port)
    except dns.exception.Timeout:
        return Lookup(name, rdtype, resolver, error=f"timeout (no answer within {timeout_s:g} s)")
    except (OSError, dns.exception.DNSException) as exc:
        return Lookup(name, rdtype, resolver, error=f"no answer: {exc}")
    ms = (time.perf_counter() - started) * 1000.0
    rcode = dns.rcode.to_text(response.rcode())
    if rcode != "NOERROR":
        words = RCODE_WORDS.get(rcode, rcode)
        return Lookup(name, rdtype, resolver, rcode, (), ms, words)
    answers = tuple(sorted(_records(response, name, kind)))
    return Lookup(name, rdtype, resolver, rcode, answers, ms, "" if answers else "no records")
