"""`h323.alg` on 127.0.0.1: the responder's H.323 echo on a clean path, behind a user-space
relay that rewrites addresses like an ALG, with nothing listening, and under hostile input."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

from netready.checks.base import RunContext
from netready.checks.h323 import H323Check, plan_h323
from netready.checks.h323_params import H323Params
from netready.engine.plan import build_plan
from netready.model import CheckResult, PortRange, Status
from netready.probes.h225 import H245, SOURCE, Endpoint, build_setup, parse_setup
from netready.probes.q931 import split_tpkt, tpkt
from netready.profile import find_profile, load_profile
from netready.resources import data_dir
from netready.responder import h323_echo
from netready.responder.server import Responder, ResponderConfig
from tests.conftest import free_port, run_cli

PUBLIC = "203.0.113.77"  # what the "ALG" writes instead of the phone's address
PROFILE = """
[profile]
name = "h323-loop"
title = "H.323 ALG detection on loopback"
responder = "127.0.0.1:{stamp}"

[hosts]
pbx = "127.0.0.1"

[checks."media.voice"]
media_rule = ""

[checks.h323]
echo_port = {echo}

[[rules]]
name = "h323"
protocol = "H.323"
transport = "tcp"
ports = {echo}
host = "pbx"
function = "registration, signalling"
"""


def run_check(port: int, address: str = "127.0.0.1", timeout_s: float = 2.0) -> CheckResult:
    params = H323Params(timeout_s=timeout_s, echo_port=port, address=address)
    ctx = RunContext(progress=lambda _f, _m: None)
    return asyncio.run(asyncio.wait_for(H323Check().run("h323.alg", params, ctx), 10.0))


@contextmanager
def responder(tcp: bool = False) -> Iterator[tuple[int, int]]:
    """A responder with an H.323 echo; yields (echo port, STAMP port). `tcp`: a plain TCP port."""
    port = free_port()
    config = ResponderConfig(
        stamp_port=0,
        h323_echo_ports=() if tcp else (PortRange(port, port),),
        tcp_ports=(PortRange(port, port),) if tcp else (),
    )
    server = Responder(config, log=lambda _line: None)
    server.start()
    try:
        yield port, server.stamp_address[1]
    finally:
        server.stop()


def read_frame(conn: socket.socket) -> bytes:
    data = b""
    while (parts := split_tpkt(data)) is None:
        chunk = conn.recv(4096)
        if not chunk:
            raise ConnectionError("closed before a whole frame")
        data += chunk
    return data[: len(data) - len(parts[1])]


def rewrite_like_an_alg(data: bytes) -> bytes:
    """What an H.323 ALG does: the phone's own call signalling and H.245 addresses, in place."""
    found = parse_setup(data).addresses
    for name in (SOURCE, H245):
        before = found[name]
        data = data.replace(before.pack(), Endpoint(PUBLIC, before.port).pack())
    return data


def shout_display(data: bytes) -> bytes:
    """A box that edits a non-address byte (the Display text) and nothing else."""
    return data.replace(b"netready", b"NETREADY")


@contextmanager
def relay(upstream: int, edit: Callable[[bytes], bytes]) -> Iterator[int]:
    """A TCP relay on 127.0.0.1 that applies `edit` to the client's frame on its way up."""
    port = free_port()
    stop = threading.Event()
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", port))
    listener.listen(4)
    listener.settimeout(0.1)

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn, socket.create_connection(("127.0.0.1", upstream), 1.0) as up:
                conn.settimeout(2.0)
                up.sendall(edit(read_frame(conn)))
                with suppress(OSError):
                    while chunk := up.recv(65535):
                        conn.sendall(chunk)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        stop.set()
        thread.join(2.0)
        listener.close()


def test_clean_path_passes_with_every_address_unchanged() -> None:
    with responder() as (port, _stamp):
        r = run_check(port)
    assert r.status == Status.PASS, r.reason
    assert r.reason.startswith(f"no rewrite: the responder received the H.225 SETUP on TCP {port}")
    ev = r.evidence
    assert ev["changes"] == [] and ev["received_addresses"] == ev["sent_addresses"]
    assert set(ev["sent_addresses"]) == {
        "sourceCallSignalAddress",
        "destCallSignalAddress",
        "h245Address",
        "fastStart.mediaChannel",
        "fastStart.mediaControlChannel",
    }
    assert ev["sent_addresses"]["sourceCallSignalAddress"] == ev["local"] == ev["responder_saw"]
    assert ev["nat"] is False and ev["sent_hex"] == ev["received_by_responder_hex"]
    assert 0 < r.metrics["rtt_ms"] < 1000 and r.metrics["changes"] == 0.0


def test_relay_that_rewrites_addresses_fails_naming_each_field() -> None:
    with responder() as (port, _stamp), relay(port, rewrite_like_an_alg) as via:
        r = run_check(via)
    assert r.status == Status.FAIL, r.reason
    sent = r.evidence["sent_addresses"]
    src, h245 = sent["sourceCallSignalAddress"], sent["h245Address"]
    src_port, h245_port = src.rsplit(":", 1)[1], h245.rsplit(":", 1)[1]
    assert r.reason == (
        f"H.323 ALG detected on TCP {via}: "
        f"sourceCallSignalAddress rewritten from {src} to {PUBLIC}:{src_port}; "
        f"h245Address rewritten from {h245} to {PUBLIC}:{h245_port}"
    )
    assert [c["field"] for c in r.evidence["changes"]] == ["sourceCallSignalAddress", "h245Address"]
    assert r.evidence["received_addresses"]["h245Address"] == f"{PUBLIC}:{h245_port}"
    assert "H.323 ALG" in r.remediation and "nf_conntrack_h323" in r.remediation
    assert r.metrics["changes"] == 2.0


def test_relay_that_edits_other_bytes_fails_too() -> None:
    with responder() as (port, _stamp), relay(port, shout_display) as via:
        r = run_check(via)
    assert r.status == Status.FAIL, r.reason
    assert "the SETUP arrived altered (8 byte(s) differ" in r.reason
    assert "although its transport addresses are unchanged" in r.reason
    assert r.evidence["changes"] == []


def test_no_echo_is_not_tested_never_a_pass() -> None:
    r = run_check(free_port(), timeout_s=1.0)
    assert r.status == Status.NOT_TESTED and "connection refused" in r.reason
    assert "--h323-echo-ports" in r.reason
    r = run_check(1720, address="")
    assert r.status == Status.NOT_TESTED and r.reason.startswith("no responder")
    with responder(tcp=True) as (port, _stamp):  # a plain TCP port: the banner
        r = run_check(port)
    assert r.status == Status.NOT_TESTED and "banner" in r.reason, r.reason
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:  # accepts, says nothing
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        r = run_check(silent.getsockname()[1], timeout_s=0.5)
    assert r.status == Status.NOT_TESTED and "connected, but no answer" in r.reason


def _closed_without_answer(port: int, payload: bytes) -> bool:
    with socket.create_connection(("127.0.0.1", port), 1.0) as c:
        c.settimeout(3.0)
        with suppress(OSError):
            c.sendall(payload)
        try:
            return c.recv(64) == b""
        except ConnectionResetError:
            return True


def test_echo_survives_hostile_input(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(h323_echo, "TCP_DEADLINE_S", 0.5)
    with responder() as (port, _stamp):
        for junk in (
            b"\x00" * 100,  # not TPKT
            b"GET / HTTP/1.1\r\n\r\n",
            b"\x03\x00\xff\xff" + b"A" * 100,  # longer than the echo takes
            tpkt(b"\x08\x02\x12\x34\x5a"),  # a RELEASE COMPLETE: no answer
            tpkt(b"\x08\x02\x12\x34\x05\x7e\x00"),  # a broken SETUP
            b"\x03\x00\x00\x40" + b"\x08",  # a frame that never completes
        ):
            assert _closed_without_answer(port, junk), junk
        with socket.create_connection(("127.0.0.1", port), 1.0) as c:  # silent: the banner
            c.settimeout(2.0)
            assert c.recv(64) == b"NETREADY\r\n"
        r = run_check(port)  # still serving
    assert r.status == Status.PASS, r.reason


def test_plan_and_report_through_the_cli(tmp_path: Path, config_dir: Path) -> None:
    stimme = plan_h323(load_profile(find_profile("stimme")))
    assert [p.id for p in stimme] == ["h323.alg"]
    assert stimme[0].params.echo_port == 1720 and stimme[0].params.address == ""
    lab = load_profile(data_dir("profiles") / "lab.toml")
    assert [p.params.echo_port for p in build_plan(lab) if p.id == "h323.alg"] == [11720]
    assert (
        plan_h323(load_profile(find_profile("stimme"), responder="198.51.100.7"))[0].params.address
        == "198.51.100.7"
    )
    with responder() as (port, stamp):
        profile = tmp_path / "h323.toml"
        profile.write_text(PROFILE.format(stamp=stamp, echo=port), "utf-8")
        out = tmp_path / "r"
        proc = run_cli(  # run_cli validates the signed report against the schema
            "check", "--profile", str(profile), "--only", "h323.alg", "--out", str(out),
            "--json", config=config_dir,
        )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert '"id":"h323.alg"' in proc.stdout and '"status":"pass"' in proc.stdout


def test_a_responder_serving_a_profile_with_h323_opens_the_echo_the_check_will_use() -> None:
    from netready.cli import build_parser
    from netready.responder.cli import responder_config

    def config_for(*extra: str) -> tuple[str, ...]:
        args = build_parser().parse_args(["responder", "--stamp-port", "0", *extra])
        return tuple(str(r) for r in responder_config(args, {}).h323_echo_ports)

    assert config_for("--profile", "stimme") == ("1720",)  # stimme has H.323/TLS on 1300
    assert config_for("--profile", "stimme", "--h323-echo-ports", "11720") == ("11720",)
    assert config_for() == ()


def test_one_source_with_stalled_connections_cannot_shut_out_another() -> None:
    """Each address gets a few workers; a stalled request holds its worker until the deadline."""
    with responder() as (port, _stamp):
        held = []
        try:
            for _ in range(34):  # more than all workers, within the 20/s connection rate
                c = socket.create_connection(("127.0.0.1", port), 1.0)
                c.sendall(b"\x03\x00")  # two bytes of a TPKT header, then nothing
                held.append(c)
                time.sleep(0.055)
            r = run_check(port, address="127.0.0.1")  # the check itself comes from 127.0.0.1 too
            assert r.status is not Status.PASS  # that source is at its cap: no answer now
            # the check from another address is answered while the flood still holds on
            with socket.socket() as s:
                s.bind(("127.0.0.2", 0))
                s.settimeout(4.0)
                s.connect(("127.0.0.1", port))
                s.sendall(build_setup(Endpoint("127.0.0.2", 1720)).data)
                assert len(read_frame(s)) > 0
        finally:
            for c in held:
                c.close()
