"""The `dns` check against name servers of our own on 127.0.0.1 (never the system's).

`nameserver()` is a tiny dnspython server on UDP and TCP serving a dict of records:
unknown names get NXDOMAIN, `broken.test` SERVFAIL; a "silent" server reads and never
answers. Two servers with different zones show inconsistent answers.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from netready.checks.base import RunContext
from netready.checks.dns import DnsCheck, plan_dns
from netready.checks.dns_params import DnsParams
from netready.model import CheckResult, Status
from netready.probes.dns import parse_resolver
from netready.profile import find_profile, load_profile

Zone = dict[tuple[str, str], list[str]]

ZONE: Zone = {
    ("pbx.test.", "A"): ["192.0.2.10"],
    ("pbx.test.", "AAAA"): ["2001:db8::10"],
    ("sip.test.", "A"): ["192.0.2.20"],
    ("_sip._udp.sip.test.", "SRV"): ["10 60 5060 edge1.sip.test."],
    ("_sips._tcp.sip.test.", "SRV"): ["10 60 5061 edge1.sip.test."],
    ("sip.test.", "NAPTR"): ['10 50 "s" "SIP+D2U" "" _sip._udp.sip.test.'],
    ("edge1.sip.test.", "A"): ["192.0.2.21"],
}


def _answer(wire: bytes, zone: Zone) -> bytes | None:
    try:
        query = dns.message.from_wire(wire)
    except Exception:
        return None
    response = dns.message.make_response(query)
    q = query.question[0]
    name, rdtype = q.name.to_text(), dns.rdatatype.to_text(q.rdtype)
    if name == "broken.test.":
        response.set_rcode(dns.rcode.SERVFAIL)
    elif (name, rdtype) in zone:
        response.answer.append(
            dns.rrset.from_text_list(name, 60, dns.rdataclass.IN, rdtype, zone[(name, rdtype)])
        )
    elif not any(n == name for n, _ in zone):
        response.set_rcode(dns.rcode.NXDOMAIN)
    return response.to_wire()


@contextmanager
def nameserver(zone: Zone, silent: bool = False) -> Iterator[str]:
    """A name server on 127.0.0.1 (UDP, and TCP on the same port); yields "127.0.0.1:PORT"."""
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    udp.settimeout(0.1)
    port = udp.getsockname()[1]
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.bind(("127.0.0.1", port))
    tcp.listen(8)
    tcp.settimeout(0.1)
    stop = threading.Event()

    def serve_udp() -> None:
        while not stop.is_set():
            try:
                data, peer = udp.recvfrom(4096)
            except TimeoutError:
                continue
            reply = None if silent else _answer(data, zone)
            if reply:
                udp.sendto(reply, peer)

    def serve_tcp() -> None:
        while not stop.is_set():
            try:
                conn, _ = tcp.accept()
            except TimeoutError:
                continue
            with conn, suppress(OSError):
                conn.settimeout(1.0)
                size = int.from_bytes(conn.recv(2), "big")
                reply = None if silent else _answer(conn.recv(size), zone)
                if reply:
                    conn.sendall(len(reply).to_bytes(2, "big") + reply)

    threads = [threading.Thread(target=f, daemon=True) for f in (serve_udp, serve_tcp)]
    for t in threads:
        t.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        stop.set()
        for t in threads:
            t.join(2.0)
        udp.close()
        tcp.close()


def run_dns(
    resolvers: tuple[str, ...], names: dict[str, str], sip: tuple[str, ...] = ()
) -> CheckResult:
    params = DnsParams(
        resolvers=resolvers, timeout_s=0.5, names=tuple(names.items()), sip_names=sip
    )
    ctx = RunContext(progress=lambda _f, _m: None)
    return asyncio.run(asyncio.wait_for(DnsCheck().run("dns", params, ctx), 10.0))


def test_parse_resolver_accepts_addr_and_port() -> None:
    assert parse_resolver("192.0.2.53") == ("192.0.2.53", 53)
    assert parse_resolver("127.0.0.1:5353") == ("127.0.0.1", 5353)
    assert parse_resolver("[::1]:5353") == ("::1", 5353)


def test_names_resolve_with_srv_and_naptr_for_the_sip_provider() -> None:
    with nameserver(ZONE) as ns:
        r = run_dns((ns,), {"pbx": "pbx.test", "sip_provider": "sip.test"}, ("sip.test",))
    assert r.status == Status.PASS, r.reason
    assert r.reason.startswith("2 name(s) resolved by 1 resolver(s)")
    assert "no SRV record for _sip._tcp.sip.test" in r.reason
    pbx = r.evidence["names"]["pbx.test"]["resolvers"][ns]
    assert pbx["A"]["answers"] == ["192.0.2.10"] and pbx["AAAA"]["answers"] == ["2001:db8::10"]
    sip = r.evidence["sip"]
    assert sip["records"]["_sip._udp.sip.test SRV"] == ["10 60 5060 edge1.sip.test."]
    assert sip["records"]["sip.test NAPTR"] == ['10 50 "s" "SIP+D2U" "" _sip._udp.sip.test.']
    assert sip["srv_targets"] == {"edge1.sip.test.": ["192.0.2.21"]}
    assert r.evidence["timing"][ns]["unanswered"] == 0 and r.metrics["lookup_ms_max"] < 500


def test_failures_in_words_per_resolver_and_differing_answers() -> None:
    other = dict(ZONE)
    other[("pbx.test.", "A")] = ["198.51.100.99"]
    with nameserver(ZONE) as good, nameserver(other) as odd, nameserver({}, silent=True) as mute:
        r = run_dns((good, odd), {"pbx": "pbx.test", "x": "missing.test", "y": "broken.test"})
        assert r.status == Status.FAIL
        assert f"missing.test (x) via {good}: NXDOMAIN (the name does not exist)" in r.reason
        assert f"broken.test (y) via {odd}: SERVFAIL" in r.reason
        assert "A answers for pbx.test differ between resolvers" in r.reason
        assert f"{good} gives 192.0.2.10; {odd} gives 198.51.100.99" in r.reason
        assert "DHCP" in r.remediation
        r = run_dns((good, mute), {"pbx": "pbx.test"})
    assert r.status == Status.FAIL
    assert f"pbx.test (pbx) via {mute}: timeout (no answer within 0.5 s)" in r.reason
    assert r.evidence["timing"][mute]["unanswered"] == 2
    assert r.evidence["timing"][good]["unanswered"] == 0


def test_plan_dns_lists_ip_literals_and_names(tmp_path: Path) -> None:
    plan = plan_dns(load_profile(find_profile("stimme")))
    assert [p.id for p in plan] == ["dns"]
    assert (
        "nothing to resolve" in plan[0].skip_reason and "pbx=46.189.64.189" in plan[0].skip_reason
    )
    profile = load_profile(find_profile("stimme"), host_overrides={"sip_provider": "sip.test"})
    (planned,) = plan_dns(profile)
    assert not planned.skip_reason
    assert planned.params.names == (("sip_provider", "sip.test"),)
    assert planned.params.sip_names == ("sip.test",)
    assert ("pbx", "46.189.64.189") in planned.params.literals
