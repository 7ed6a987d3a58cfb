"""The `sip` checks on 127.0.0.1: OPTIONS against a real kamailio, ALG detection through the
responder's SIP echo, with and without a user-space relay that rewrites Contact like an ALG."""

from __future__ import annotations

import asyncio
import base64
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

from netready.checks.base import RunContext
from netready.checks.sip import SipCheck, plan_sip
from netready.checks.sip_params import SipParams
from netready.model import CheckResult, PortRange, Status
from netready.probes.sip import DECOY_PRIVATE, pad_for_echo
from netready.profile import find_profile, load_profile
from netready.responder.server import Responder, ResponderConfig
from tests.conftest import free_port, in_ci
from tests.integration.kamailio import kamailio

PUBLIC = "203.0.113.77"  # what the "ALG" writes instead of the private address


def run_check(**kw: object) -> CheckResult:
    args: dict[str, object] = {"timeout_s": 2.0, "address": "127.0.0.1", **kw}
    params = SipParams(**args)  # type: ignore[arg-type]
    ctx = RunContext(progress=lambda _f, _m: None)
    return asyncio.run(asyncio.wait_for(SipCheck().run("sip.test", params, ctx), 10.0))


@contextmanager
def echo_responder() -> Iterator[int]:
    port = free_port()
    config = ResponderConfig(stamp_port=0, sip_echo_ports=(PortRange(port, port),))
    responder = Responder(config, log=lambda _line: None)
    responder.start()
    try:
        yield port
    finally:
        responder.stop()


def rewrite(data: bytes) -> bytes:
    """What a SIP ALG does: the private address in Contact becomes the public one."""
    lines = data.split(b"\r\n")
    out = [
        line.replace(DECOY_PRIVATE.encode(), PUBLIC.encode())
        if line.lower().startswith(b"contact:")
        else line
        for line in lines
    ]
    return b"\r\n".join(out)


@contextmanager
def alg_relay(upstream: int) -> Iterator[int]:
    """A UDP and TCP relay on 127.0.0.1 that rewrites Contact on the way to `upstream`."""
    port = free_port()
    stop = threading.Event()
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", port))
    udp.settimeout(0.1)
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.bind(("127.0.0.1", port))
    tcp.listen(4)
    tcp.settimeout(0.1)

    def serve_udp() -> None:
        while not stop.is_set():
            try:
                data, client = udp.recvfrom(65535)
            except TimeoutError:
                continue
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as up:
                up.settimeout(1.0)
                up.sendto(rewrite(data), ("127.0.0.1", upstream))
                with suppress(TimeoutError):
                    udp.sendto(up.recv(65535), client)

    def serve_tcp() -> None:
        while not stop.is_set():
            try:
                conn, _ = tcp.accept()
            except TimeoutError:
                continue
            with conn, socket.create_connection(("127.0.0.1", upstream), 1.0) as up:
                conn.settimeout(1.0)
                up.sendall(rewrite(conn.recv(65535)))
                with suppress(OSError):
                    while chunk := up.recv(65535):
                        conn.sendall(chunk)

    threads = [threading.Thread(target=f, daemon=True) for f in (serve_udp, serve_tcp)]
    for t in threads:
        t.start()
    try:
        yield port
    finally:
        stop.set()
        for t in threads:
            t.join(2.0)
        udp.close()
        tcp.close()


def test_options_against_kamailio_udp_tcp_tls(tmp_path: Path) -> None:
    with kamailio(tmp_path) as kam:
        for transport in ("udp", "tcp"):
            r = run_check(transport=transport, port=kam.port)
            assert r.status == Status.PASS, r.reason
            assert "'200 OK'" in r.reason and r.metrics["status_code"] == 200.0
            assert r.metrics["rtt_ms"] < 1000
        if not kam.tls_port:
            msg = "kamailio-tls-modules not installed: SIP over TLS not tested"
            if in_ci():
                pytest.fail(msg + " and CI=true")
            pytest.skip(msg)
        r = run_check(transport="tls", port=kam.tls_port)
        assert r.status == Status.PASS, r.reason
        assert r.evidence["tls_version"].startswith("TLS")


def test_options_closed_tcp_is_not_tested_and_silent_udp_fails() -> None:
    r = run_check(transport="tcp", port=free_port(), timeout_s=1.0)
    assert r.status == Status.NOT_TESTED and "connection refused" in r.reason
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        r = run_check(transport="udp", port=silent.getsockname()[1], timeout_s=1.0)
    assert r.status == Status.FAIL and "no SIP answer" in r.reason
    assert "allow out proto udp to 127.0.0.1 port" in r.remediation


def test_alg_clean_path_passes_on_udp_and_tcp() -> None:
    with echo_responder() as port:
        for transport in ("udp", "tcp"):
            r = run_check(mode="alg", transport=transport, port=port)
            assert r.status == Status.PASS, r.reason
            assert "no rewrite" in r.reason and r.evidence["changes"] == []


def test_alg_relay_that_rewrites_contact_is_detected() -> None:
    with echo_responder() as port, alg_relay(port) as relay:
        for transport in ("udp", "tcp"):
            r = run_check(mode="alg", transport=transport, port=relay)
            assert r.status == Status.FAIL, r.reason
            assert r.reason.startswith(f"SIP ALG detected on {transport.upper()}: Contact ")
            assert f"rewritten from <sip:netready-alg@{DECOY_PRIVATE}:5060>" in r.reason
            assert f"to <sip:netready-alg@{PUBLIC}:5060>" in r.reason
            assert "SIP ALG" in r.remediation


def test_alg_without_echo_is_not_tested() -> None:
    r = run_check(mode="alg", transport="tcp", port=free_port(), timeout_s=1.0)
    assert r.status == Status.NOT_TESTED and "--sip-echo-ports" in r.reason
    r = run_check(mode="alg", transport="udp", address="", port=5060)
    assert r.status == Status.NOT_TESTED and "no responder" in r.reason


def test_echo_survives_hostile_input_and_bounds_replies() -> None:
    with echo_responder() as port:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(0.3)
            for junk in (
                b"\x00" * 100,
                b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP x\r\n\r\n",  # a response: never answered
                b"ACK sip:a SIP/2.0\r\nVia: SIP/2.0/UDP x\r\n\r\n",
                b"OPTIONS sip:a SIP/2.0\r\nFrom: x\r\n\r\n",  # no Via
                b"OPTIONS sip:a SIP/2.0\r\nVia: SIP/2.0/UDP x\r\n\r\n" + b"A" * 5000,
                b"\xff\xfe" * 700,
            ):
                s.sendto(junk, ("127.0.0.1", port))
                with pytest.raises(TimeoutError):
                    s.recv(65535)
            req = b"OPTIONS sip:a SIP/2.0\r\nVia: SIP/2.0/UDP 1.2.3.4\r\nCall-ID: x\r\n\r\n"
            s.sendto(req, ("127.0.0.1", port))  # unpadded: its answer would amplify
            with pytest.raises(TimeoutError):
                s.recv(65535)
            padded = pad_for_echo(req)
            s.sendto(padded, ("127.0.0.1", port))
            reply = s.recv(65535)
            assert reply.startswith(b"SIP/2.0 200 OK") and reply.endswith(base64.b64encode(req))
            assert len(reply) <= len(padded)  # no UDP reply is larger than its request
        with socket.create_connection(("127.0.0.1", port), 1.0) as c:  # silent: the banner
            c.settimeout(2.0)
            assert c.recv(64) == b"NETREADY\r\n"
        with socket.create_connection(("127.0.0.1", port), 1.0) as c:  # endless head: closed
            c.settimeout(4.0)
            with suppress(OSError):
                c.sendall(b"OPTIONS sip:a SIP/2.0\r\n" + b"X-Junk: y\r\n" * 2000)
            with suppress(ConnectionResetError):
                assert c.recv(64) == b""
        r = run_check(mode="alg", transport="tcp", port=port)  # still serving
        assert r.status == Status.PASS, r.reason


def test_plan_sip_skips_without_provider_and_plans_with_one() -> None:
    stimme = find_profile("stimme")
    plan = plan_sip(load_profile(stimme))
    ids = [p.id for p in plan]
    assert ids == [
        "sip.options.sip-udp",
        "sip.options.sip-tcp",
        "sip.options.sip-tls",
        "sip.alg.udp",
        "sip.alg.tcp",
    ]
    assert all("give --host sip_provider=ADDR" in p.skip_reason for p in plan)
    plan = plan_sip(load_profile(stimme, host_overrides={"sip_provider": "198.51.100.7"}))
    assert not any(p.skip_reason for p in plan)
    tls = plan[2].params
    assert (tls.transport, tls.port, tls.address) == ("tls", 5061, "198.51.100.7")
    assert plan[3].params.mode == "alg" and plan[3].params.port == 5060
