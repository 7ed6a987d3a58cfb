"""The UDP ladder of the firewall check (`firewall_udp.decide_udp`) against real loopback peers.

Every peer is real and on 127.0.0.0/8 only: a tiny STUN server (aioice's codec) on
127.0.0.1, a real `netready responder` on 127.0.0.1 (the host itself echoes) or on
127.0.0.2 (the responder standing in for the host), and "silent" ports made of bound UDP
sockets that read nothing back. Each test asserts the exact method, destination, port sets
and the sentence the reason must carry.

The stand-in rung also sends TTL-limited probes to the host when raw sockets are allowed
(root); on loopback those say nothing about a site's edge, so the stand-in tests switch
that part off and assert that the evidence says it was not tested.
"""

from __future__ import annotations

import asyncio
import random
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any, cast

import pytest
from aioice import stun

from netready.checks import firewall_udp
from netready.checks.base import RunContext
from netready.checks.firewall import FirewallCheck
from netready.checks.firewall_params import FirewallParams
from netready.checks.firewall_udp import (
    METHOD_ECHO_AT_HOST,
    METHOD_SIP,
    METHOD_STAND_IN,
    METHOD_STUN,
    PREFLIGHT_RETRIES,
    SERVICE_ATTEMPTS,
    decide_udp,
    echo_answers,
    preflight_ports,
)
from netready.model import PortRange, Rule, Status
from netready.probes.firewalk import FirewalkResult
from netready.probes.udp_sweep import DEFAULT_RETRIES
from netready.responder.server import BindError, Responder, ResponderConfig

HOST = "127.0.0.1"  # the rule's host
STAND_IN = "127.0.0.2"  # where the responder standing in for it listens


def ctx() -> RunContext:
    return RunContext(progress=lambda f, m: None)


def udp_rule(verify: str, first: int, last: int, name: str = "rtp") -> Rule:
    return Rule(
        name=name,
        protocol="STUN" if verify == "stun" else "RTP",
        transport="udp",
        ports=(PortRange(first, last),),
        host="pbx",
        function="voice",
        verify=verify,
    )


def params(rule: Rule, responder: str = "", stands_in: bool = False, **kw: Any) -> FirewallParams:
    kw.setdefault("timeout_s", 0.5)
    return FirewallParams(rule=rule, address=HOST, responder=responder, stands_in=stands_in, **kw)


def free_block(count: int) -> int:
    """First of `count` consecutive UDP ports free on both 127.0.0.1 and 127.0.0.2."""
    for _ in range(200):
        first = random.randint(20000, 32000 - count)  # below Linux's ephemeral range
        socks: list[socket.socket] = []
        try:
            for port in range(first, first + count):
                for address in (HOST, STAND_IN):
                    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                    socks.append(s)
                    s.bind((address, port))
            return first
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError(f"no block of {count} free UDP ports on {HOST} and {STAND_IN}")


def free_udp_port(address: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((address, 0))
        return int(s.getsockname()[1])


@contextmanager
def responder(listen: str, *ranges: tuple[int, int]) -> Iterator[Responder]:
    """A real `netready responder` on `listen` echoing the given UDP port ranges."""
    config = ResponderConfig(
        listen=listen,
        stamp_port=0,
        udp_ports=tuple(PortRange(a, b) for a, b in ranges),
        clock_synchronised=True,
    )
    r = Responder(config, log=lambda _line: None)
    try:
        r.start()
    except BindError as exc:  # another process took a port of the block meanwhile
        pytest.skip(f"cannot bind the loopback responder: {exc}")
    try:
        yield r
    finally:
        r.stop()


def stamp_of(r: Responder) -> str:
    host, port = r.stamp_address
    return f"{host}:{port}"


@contextmanager
def silent(address: str, ports: list[int]) -> Iterator[dict[int, socket.socket]]:
    """UDP sockets bound on `ports` that never answer: a firewall that drops."""
    socks: dict[int, socket.socket] = {}
    try:
        for port in ports:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.setblocking(False)
            s.bind((address, port))
            socks[port] = s
        yield socks
    finally:
        for s in socks.values():
            s.close()


def drain(socks: dict[int, socket.socket]) -> dict[int, int]:
    """Datagrams each silent socket received since the last drain."""
    counts: dict[int, int] = {}
    for port, s in socks.items():
        counts[port] = 0
        while True:
            try:
                s.recv(2048)
            except BlockingIOError:
                break
            counts[port] += 1
    return counts


class StunServer(asyncio.DatagramProtocol):
    """Answers STUN Binding requests with a success response; ignores anything else."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.requests = 0
        self.ignored = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            request = stun.parse_message(data)
        except Exception:  # a netready echo probe, or junk: a STUN server does not echo it
            self.ignored += 1
            return
        if request.message_class != stun.Class.REQUEST:
            self.ignored += 1
            return
        self.requests += 1
        response = stun.Message(
            stun.Method.BINDING, stun.Class.RESPONSE, transaction_id=request.transaction_id
        )
        response.attributes["XOR-MAPPED-ADDRESS"] = (addr[0], addr[1])
        assert self.transport is not None
        self.transport.sendto(bytes(response), addr)


@asynccontextmanager
async def stun_server(port: int) -> AsyncIterator[StunServer]:
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(StunServer, local_addr=(HOST, port))
    try:
        yield proto
    finally:
        transport.close()


@pytest.fixture
def no_raw(monkeypatch: pytest.MonkeyPatch) -> None:
    """No TTL-limited probes toward the host: on loopback they prove nothing."""
    monkeypatch.setattr(firewall_udp, "have_raw_socket", lambda: False)


# ---- (a) the service's own protocol ----


def test_stun_rule_open_by_stun_binding_although_the_host_echoes_nothing() -> None:
    port = free_udp_port(HOST)
    rule = udp_rule("stun", port, port, name="stun-udp")

    async def go() -> tuple[firewall_udp.UdpDecision | None, bool, StunServer]:
        async with stun_server(port) as server:
            c = ctx()
            decision = await decide_udp(params(rule), c, [port])
            echoes = await echo_answers(ctx(), HOST, [port])  # the host is no responder
            return decision, echoes, server

    decision, echoes, server = asyncio.run(go())
    assert echoes is False
    assert decision is not None
    assert decision.method == METHOD_STUN
    assert decision.destination == HOST
    assert (decision.open, decision.blocked) == ([port], [])
    assert decision.untested_reason == "" and decision.note == ""
    assert decision.evidence["service_answers"][str(port)].startswith("STUN Binding answered in ")
    assert server.requests >= 1
    assert server.ignored >= 1  # the echo probes reached it and went unanswered


def test_stun_rule_silent_host_without_other_evidence_goes_to_egress_probes() -> None:
    """No STUN answer, no echo at the host, no stand-in: only egress probes are left (None)."""
    port = free_udp_port(HOST)
    rule = udp_rule("stun", port, port, name="stun-udp")
    with silent(HOST, [port]) as socks:
        decision = asyncio.run(decide_udp(params(rule), ctx(), [port]))
        got = drain(socks)
    assert decision is None
    assert got[port] >= SERVICE_ATTEMPTS  # the STUN requests, then the echo preflight


def test_stun_rule_silent_host_with_stand_in_says_let_out_but_not_to_the_host() -> None:
    port = free_block(1)
    rule = udp_rule("stun", port, port, name="stun-udp")
    with silent(HOST, [port]), responder(STAND_IN, (port, port)) as r:
        p = params(rule, responder=stamp_of(r), stands_in=True)
        decision = asyncio.run(decide_udp(p, ctx(), [port]))
    assert decision is not None
    assert decision.method == METHOD_STUN and decision.destination == HOST
    assert (decision.open, decision.blocked) == ([], [port])
    assert decision.note == (
        f"no answer to STUN Binding on {port}: a firewall drops it, or the server is down; "
        f"the responder standing in at {STAND_IN} answered on {port}: "
        f"the port is let out, but not to {HOST}"
    )
    stand_in = decision.evidence["responder_stand_in"]
    assert (stand_in["address"], stand_in["open"]) == (STAND_IN, str(port))


def test_stun_rule_silent_host_and_dead_stand_in_goes_to_egress_probes() -> None:
    port = free_block(1)
    rule = udp_rule("stun", port, port, name="stun-udp")
    with silent(HOST, [port]), silent(STAND_IN, [port]):
        stamp = f"{STAND_IN}:{free_udp_port(STAND_IN)}"
        p = params(rule, responder=stamp, stands_in=True, timeout_s=0.2)
        decision = asyncio.run(decide_udp(p, ctx(), [port]))
    assert decision is None  # a stand-in that answers nothing is no evidence


@contextmanager
def sip_server(address: str, port: int) -> Iterator[list[bytes]]:
    """A tiny SIP server on loopback: any request gets '200 OK' with its Via, Call-ID, CSeq."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((address, port))
    sock.settimeout(0.05)
    got: list[bytes] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                data, peer = sock.recvfrom(4096)
            except TimeoutError:
                continue
            got.append(data)
            keep = [
                line
                for line in data.decode("utf-8", "replace").split("\r\n")
                if line.lower().split(":", 1)[0] in ("via", "call-id", "cseq", "from", "to")
            ]
            reply = "\r\n".join(["SIP/2.0 200 OK", *keep, "Content-Length: 0", "", ""])
            sock.sendto(reply.encode(), peer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield got
    finally:
        stop.set()
        thread.join()
        sock.close()


def test_sip_rule_open_by_options_to_the_host() -> None:
    port = free_udp_port(HOST)
    rule = udp_rule("sip", port, port, name="sip-udp")
    with sip_server(HOST, port) as got:
        decision = asyncio.run(decide_udp(params(rule), ctx(), [port]))
    assert decision is not None
    assert decision.method == METHOD_SIP
    assert decision.destination == HOST
    assert (decision.open, decision.blocked, decision.note) == ([port], [], "")
    assert decision.evidence["service_answers"][str(port)].startswith("'SIP/2.0 200")
    assert got and got[0].startswith(b"OPTIONS sip:")


# ---- (b) the responder at the host's own address ----


def test_echo_at_host_whole_range_open() -> None:
    first = free_block(10)
    rule = udp_rule("echo", first, first + 9)
    ports = list(range(first, first + 10))
    with responder(HOST, (first, first + 9)):
        decision = asyncio.run(decide_udp(params(rule), ctx(), ports))
    assert decision is not None
    assert decision.method == METHOD_ECHO_AT_HOST
    assert decision.destination == HOST
    assert (decision.open, decision.blocked) == (ports, [])
    assert decision.note == "" and decision.untested_reason == ""
    assert decision.evidence["attempts_per_silent_port"] == 1 + max(1, DEFAULT_RETRIES)


def test_echo_at_host_unserved_ports_are_exactly_the_blocked_set() -> None:
    first = free_block(10)
    rule = udp_rule("echo", first, first + 9)
    ports = list(range(first, first + 10))
    served, dropped = ports[:4] + ports[6:8], ports[4:6] + ports[8:]
    assert preflight_ports(rule) == [first, first + 4, first + 9]  # one of them echoes
    with (
        responder(HOST, (first, first + 3), (first + 6, first + 7)),
        silent(HOST, dropped),
    ):
        started = time.monotonic()
        decision = asyncio.run(decide_udp(params(rule), ctx(), ports))
        elapsed = time.monotonic() - started
    assert decision is not None
    assert decision.method == METHOD_ECHO_AT_HOST and decision.destination == HOST
    assert decision.open == served
    assert decision.blocked == dropped
    assert elapsed < 5.0


def test_echo_at_host_found_by_the_host_probe_ports_of_another_rule() -> None:
    """The planner's `host_probe_ports` (every echo rule of the host) replace the rule's own."""
    first = free_block(12)
    rule = udp_rule("echo", first, first + 5)
    ports = list(range(first, first + 6))
    # the host echoes on the other rule's ports only; this rule's own preflight ports are silent
    with responder(HOST, (first + 10, first + 11)), silent(HOST, ports):
        own = asyncio.run(decide_udp(params(rule), ctx(), ports))
        shared = asyncio.run(decide_udp(params(rule, host_probe_ports=(first + 10,)), ctx(), ports))
    assert own is None  # nothing echoes at its own preflight ports, no stand-in
    assert shared is not None
    assert shared.method == METHOD_ECHO_AT_HOST
    assert (shared.open, shared.blocked) == ([], ports)


# ---- (c) the responder standing in for the host ----


@pytest.mark.usefixtures("no_raw")
def test_stand_in_sweeps_the_responder_address() -> None:
    first = free_block(10)
    rule = udp_rule("echo", first, first + 9)
    ports = list(range(first, first + 10))
    with silent(HOST, ports), responder(STAND_IN, (first, first + 9)) as r:
        p = params(rule, responder=stamp_of(r), stands_in=True)
        decision = asyncio.run(decide_udp(p, ctx(), ports))
    assert decision is not None
    assert decision.method == METHOD_STAND_IN
    assert decision.destination == STAND_IN
    assert (decision.open, decision.blocked) == (ports, [])
    assert decision.untested_reason == ""
    assert decision.note == (
        f"the responder at {STAND_IN} stood in for pbx ({HOST}) on the same ports: "
        f"the result holds for {HOST} only if the site allows it like {STAND_IN}"
    )
    assert decision.evidence["stands_in_for"] == "pbx"
    assert decision.evidence["host_address"] == HOST
    assert decision.evidence["egress_to_host"]["tested"] is False


@pytest.mark.usefixtures("no_raw")
def test_stand_in_unserved_ports_are_blocked_at_the_stand_in() -> None:
    first = free_block(8)
    rule = udp_rule("echo", first, first + 7)
    ports = list(range(first, first + 8))
    with (
        silent(HOST, ports),
        responder(STAND_IN, (first, first + 4)) as r,
        silent(STAND_IN, ports[5:]),
    ):
        p = params(rule, responder=stamp_of(r), stands_in=True)
        decision = asyncio.run(decide_udp(p, ctx(), ports))
    assert decision is not None
    assert decision.method == METHOD_STAND_IN and decision.destination == STAND_IN
    assert (decision.open, decision.blocked) == (ports[:5], ports[5:])


def test_ports_silent_at_the_stand_in_but_let_out_toward_the_host_are_not_blocked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The site allows the PBX but not the responder's address: the stand-in hears nothing
    of those ports while the egress probes show them leaving toward the PBX. Not tested
    (the site should allow the responder), never blocked."""
    first = free_block(8)
    rule = udp_rule("echo", first, first + 7)
    ports = list(range(first, first + 8))

    async def egress(_p: FirewallParams, sample: list[int]) -> FirewalkResult:
        return FirewalkResult(address=HOST, open=sorted(sample), edge_hop=1)

    monkeypatch.setattr(firewall_udp, "have_raw_socket", lambda: True)
    monkeypatch.setattr(firewall_udp, "walk_to_host", egress)
    with (
        silent(HOST, ports),
        responder(STAND_IN, (first, first + 4)) as r,
        silent(STAND_IN, ports[5:]),
    ):
        p = params(rule, responder=stamp_of(r), stands_in=True, firewalk_samples=0)
        decision = asyncio.run(decide_udp(p, ctx(), ports))
    assert decision is not None
    assert (decision.open, decision.blocked) == (ports[:5], [])
    assert f"does not seem to allow {STAND_IN} like {HOST}" in decision.note


@pytest.mark.usefixtures("no_raw")
def test_stand_in_alive_by_echo_when_its_stamp_port_is_silent() -> None:
    """A responder whose STAMP port does not answer (HMAC mode, other port) still counts as
    alive when it echoes at the preflight ports."""
    first = free_block(6)
    rule = udp_rule("echo", first, first + 5)
    ports = list(range(first, first + 6))
    stamp = free_udp_port(STAND_IN)
    with silent(HOST, ports), silent(STAND_IN, [stamp]), responder(STAND_IN, (first, first + 5)):
        p = params(rule, responder=f"{STAND_IN}:{stamp}", stands_in=True)
        decision = asyncio.run(decide_udp(p, ctx(), ports))
    assert decision is not None
    assert decision.method == METHOD_STAND_IN
    assert (decision.open, decision.blocked, decision.untested_reason) == (ports, [], "")


@pytest.mark.parametrize("stand_in", ["drops", "nothing bound"])
def test_stand_in_not_running_is_untested_never_blocked(stand_in: str) -> None:
    first = free_block(6)
    rule = udp_rule("echo", first, first + 5)
    ports = list(range(first, first + 6))
    stamp = free_udp_port(STAND_IN)
    bound = [*ports, stamp] if stand_in == "drops" else []
    with silent(HOST, ports), silent(STAND_IN, bound):
        p = params(rule, responder=f"{STAND_IN}:{stamp}", stands_in=True)
        started = time.monotonic()
        decision = asyncio.run(decide_udp(p, ctx(), ports))
        elapsed = time.monotonic() - started
    assert decision is not None
    assert decision.method == METHOD_STAND_IN and decision.destination == STAND_IN
    assert (decision.open, decision.blocked) == ([], [])
    assert decision.untested_reason == (
        f"the responder standing in for pbx at {STAND_IN} answered nothing (STAMP port {stamp} "
        f"and {first},{first + 2},{first + 5}): is it running, and does the site let traffic "
        f"to {STAND_IN} out?"
    )
    assert elapsed < 5.0


def test_stand_in_not_running_through_the_check_is_not_tested() -> None:
    first = free_block(6)
    rule = udp_rule("echo", first, first + 5)
    stamp = free_udp_port(STAND_IN)
    with silent(HOST, list(range(first, first + 6))):
        p = params(rule, responder=f"{STAND_IN}:{stamp}", stands_in=True)
        result = asyncio.run(FirewallCheck().run("firewall.rtp", p, ctx()))
    assert result.status is Status.NOT_TESTED
    assert result.method == METHOD_STAND_IN
    assert result.evidence["destination"] == STAND_IN
    assert result.evidence["ports"] == {
        "open": "",
        "blocked": "",
        "not_tested": f"{first}-{first + 5}",
    }
    assert result.reason.startswith(f"the responder standing in for pbx at {STAND_IN}")
    assert result.remediation == ""


# ---- (d) nothing answers for the host ----


def test_no_echo_and_no_stand_in_is_egress_only_and_fast() -> None:
    for _ in range(50):
        first = random.randint(20000, 30000)
        rule = udp_rule("echo", first, first + 9999)  # a wide range: decided by its preflight
        probe = preflight_ports(rule)
        try:
            quiet = silent(HOST, probe)
            socks = quiet.__enter__()
        except OSError:
            continue
        try:
            started = time.monotonic()
            decision = asyncio.run(
                decide_udp(params(rule), ctx(), list(range(first, first + 10000)))
            )
            elapsed = time.monotonic() - started
            got = drain(socks)
        finally:
            quiet.__exit__(None, None, None)
        assert probe == [first, first + 4999, first + 9999]
        assert decision is None
        assert elapsed < 5.0
        assert got == dict.fromkeys(probe, 1 + PREFLIGHT_RETRIES)  # the preflight, nothing more
        return
    pytest.skip("no free preflight ports")


def test_stands_in_without_a_responder_address_is_egress_only() -> None:
    first = free_block(3)
    rule = udp_rule("echo", first, first + 2)
    with silent(HOST, [first, first + 1, first + 2]):
        decision = asyncio.run(
            decide_udp(params(rule, stands_in=True), ctx(), [first, first + 1, first + 2])
        )
    assert decision is None


def test_responder_not_standing_in_is_not_used() -> None:
    """A responder that does not stand in for this host is never swept in its place."""
    first = free_block(3)
    rule = udp_rule("echo", first, first + 2)
    ports = [first, first + 1, first + 2]
    with silent(HOST, ports), responder(STAND_IN, (first, first + 2)) as r:
        decision = asyncio.run(decide_udp(params(rule, responder=stamp_of(r)), ctx(), ports))
    assert decision is None


# ---- the preflight: once per run and address ----


def test_preflight_asked_once_per_run_and_address() -> None:
    first = free_block(20)
    a = udp_rule("echo", first, first + 9, name="video")
    b = udp_rule("echo", first + 10, first + 19, name="sharing")
    probe = tuple(sorted({*preflight_ports(a), *preflight_ports(b)}))
    with silent(HOST, list(probe)) as socks:
        run = ctx()

        async def both() -> list[firewall_udp.UdpDecision | None]:
            return list(
                await asyncio.gather(
                    decide_udp(
                        params(a, host_probe_ports=probe), run, list(range(first, first + 10))
                    ),
                    decide_udp(
                        params(b, host_probe_ports=probe), run, list(range(first + 10, first + 20))
                    ),
                )
            )

        assert asyncio.run(both()) == [None, None]
        first_run = drain(socks)
        started = time.monotonic()
        again = asyncio.run(decide_udp(params(a, host_probe_ports=probe), run, [first]))
        elapsed = time.monotonic() - started
        after = drain(socks)
        asyncio.run(decide_udp(params(a, host_probe_ports=probe), ctx(), [first]))  # a new run
        new_run = drain(socks)
    assert first_run == {p: 1 + PREFLIGHT_RETRIES for p in probe}  # two rules, one preflight
    assert again is None and elapsed < 2.0  # no preflight wait (0.5 s a try); loose for VMs
    assert after == dict.fromkeys(probe, 0)  # the run's answer was reused: nothing sent
    assert new_run == {p: 1 + PREFLIGHT_RETRIES for p in probe}
    assert f"firewall.echo_at:{HOST}" in run.shared


def test_preflight_answer_is_per_address() -> None:
    first = free_block(3)
    ports = [first, first + 1, first + 2]
    run = ctx()

    async def ask() -> tuple[bool, bool]:
        at_stand_in = await echo_answers(run, STAND_IN, ports)
        at_host = await echo_answers(run, HOST, ports)
        return at_stand_in, at_host

    with silent(HOST, ports), responder(STAND_IN, (first, first + 2)):
        assert asyncio.run(ask()) == (True, False)


def test_a_cancelled_preflight_does_not_leave_later_askers_waiting() -> None:
    first = free_block(3)
    ports = [first, first + 1, first + 2]
    run = ctx()

    async def go() -> bool:
        asker = asyncio.ensure_future(echo_answers(run, HOST, ports))
        while f"firewall.echo_at:{HOST}" not in run.shared:  # it has started its preflight
            await asyncio.sleep(0)
        asker.cancel()
        await asyncio.gather(asker, return_exceptions=True)
        return await asyncio.wait_for(echo_answers(run, HOST, ports), 2.5)

    with silent(HOST, ports):
        assert asyncio.run(go()) is False


# ---- through the check: method, destination and reason as the report shows them ----


def test_check_result_for_echo_at_host_with_blocked_ports() -> None:
    first = free_block(6)
    rule = udp_rule("echo", first, first + 5)
    with responder(HOST, (first, first + 3)), silent(HOST, [first + 4, first + 5]):
        result = asyncio.run(FirewallCheck().run("firewall.rtp", params(rule), ctx()))
    assert result.status is Status.FAIL
    assert result.method == METHOD_ECHO_AT_HOST
    assert result.evidence["destination"] == HOST
    assert result.evidence["ports"] == {
        "open": f"{first}-{first + 3}",
        "blocked": f"{first + 4}-{first + 5}",
        "not_tested": "",
    }
    assert result.reason == f"2 of 6 UDP port(s) to {HOST} did not answer: {first + 4}-{first + 5}"
    assert f"allow out proto udp to {HOST} port {first + 4}-{first + 5}" in result.remediation
    assert result.metrics == {"ports_open": 4.0, "ports_blocked": 2.0, "ports_not_tested": 0.0}


@pytest.mark.usefixtures("no_raw")
def test_check_result_for_stand_in_names_the_stand_in() -> None:
    first = free_block(4)
    rule = udp_rule("echo", first, first + 3)
    ports = list(range(first, first + 4))
    with silent(HOST, ports), responder(STAND_IN, (first, first + 3)) as r:
        p = params(rule, responder=stamp_of(r), stands_in=True)
        result = asyncio.run(FirewallCheck().run("firewall.rtp", p, ctx()))
    assert result.status is Status.PASS
    assert result.method == METHOD_STAND_IN
    assert result.evidence["destination"] == STAND_IN
    assert result.evidence["host_address"] == HOST
    assert result.evidence["ports"]["open"] == f"{first}-{first + 3}"
    assert result.reason == (
        f"the responder at {STAND_IN} stood in for pbx ({HOST}) on the same ports: "
        f"the result holds for {HOST} only if the site allows it like {STAND_IN}"
    )


def test_check_result_for_silent_stun_host_with_stand_in() -> None:
    port = free_block(1)
    rule = udp_rule("stun", port, port, name="stun-udp")
    with silent(HOST, [port]), responder(STAND_IN, (port, port)) as r:
        p = params(rule, responder=stamp_of(r), stands_in=True)
        result = asyncio.run(FirewallCheck().run("firewall.stun-udp", p, ctx()))
    assert result.status is Status.FAIL
    assert result.method == METHOD_STUN
    assert result.evidence["destination"] == HOST
    assert result.evidence["ports"] == {"open": "", "blocked": str(port), "not_tested": ""}
    assert result.reason == (
        f"1 of 1 UDP port(s) to {HOST} did not answer: {port}; "
        f"no answer to STUN Binding on {port}: a firewall drops it, or the server is down; "
        f"the responder standing in at {STAND_IN} answered on {port}: "
        f"the port is let out, but not to {HOST}"
    )
    assert f"allow out proto udp to {HOST} port {port}" in result.remediation


def test_silent_sockets_really_drop() -> None:
    """The premise of every test above: a silent socket swallows what it gets."""
    port = free_udp_port(HOST)
    with silent(HOST, [port]) as socks:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(0.2)
            s.sendto(b"x", (HOST, port))
            with pytest.raises(TimeoutError):
                s.recv(64)
        assert drain(socks) == {port: 1}
