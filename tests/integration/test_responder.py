"""`netready responder` on loopback with real sockets: STAMP port, UDP echo ports, TCP ports.

Only 127.0.0.1 and ::1 are used. Port blocks are picked at random below the
ephemeral range (so no client socket of this machine takes them meanwhile) and
checked free; a collision with another program just moves to another block.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import resource
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from netready.checks.base import RunContext
from netready.checks.sip import SipCheck
from netready.checks.sip_params import SipParams
from netready.model import PortRange, Status
from netready.probes.stamp import ErrorEstimate, SenderPacket, pack_sender, unpack_reflector
from netready.probes.tcp import probe_tcp_ports
from netready.probes.udp_probe import pack_echo, pack_probe
from netready.probes.udp_sweep import DEFAULT_RETRIES, sweep_udp
from netready.probes.voice import run_voice_stream
from netready.responder.server import (
    BindError,
    Responder,
    ResponderConfig,
    ResponderError,
    parse_port_list,
)
from netready.responder.server import ensure_fd_limit as ensure_fd_limit
from tests.conftest import in_ci, require_root

MEDIA_SET = (PortRange(16384, 32767), PortRange(50000, 50100), PortRange(60000, 60100))
# Test ports: above the privileged ports, below the media set (16384-32767, which a demo
# or the full-set test may hold) and far from the ephemeral range (32768-60999).
LOW, HIGH = 2000, 16300


class StandInReflector:
    """Stand-in for StampReflector (same `reflect` signature), with visible behaviour.

    Replies with the datagram reversed (never longer than the request); a first
    byte b"T" asks for TOS 0xB8 on the reply; a first byte 0xFF raises (a bug in
    the reflector must not stop the loop); under 4 bytes is dropped.
    """

    def __init__(self) -> None:
        self.calls: list[tuple[bytes, tuple[str, int], int, int | None, int | None]] = []
        self.lock = threading.Lock()

    def reflect(
        self,
        data: bytes,
        peer: tuple[str, int],
        rx_ns: int,
        rx_ttl: int | None,
        rx_tos: int | None,
        now_ns: Callable[[], int],
    ) -> tuple[bytes, int | None] | None:
        if data[:1] == b"\xff":
            raise ValueError("stand-in reflector: hostile first byte")
        if len(data) < 4:
            return None
        with self.lock:
            if len(self.calls) < 1000:
                self.calls.append((data, peer, rx_ns, rx_ttl, rx_tos))
        assert now_ns() >= rx_ns
        return data[::-1], (0xB8 if data[:1] == b"T" else None)


@dataclass
class Running:
    responder: Responder
    reflector: StandInReflector
    udp: list[int]
    tcp: list[int]
    free_udp: list[int]
    free_tcp: list[int]
    log: list[str] = field(default_factory=list)


def _all_free(host: str, ports: list[int], kind: socket.SocketKind) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for port in ports:
        with socket.socket(family, kind) as s:
            try:
                s.bind((host, port))
            except OSError:
                return False
    return True


@contextlib.contextmanager
def responder(
    udp: int, tcp: int = 0, free: int = 0, listen: str = "127.0.0.1"
) -> Iterator[Running]:
    """A started responder with `udp` UDP and `tcp` TCP ports plus `free` unbound ports each."""
    check_host = "::1" if listen == "::" else listen
    for _ in range(30):
        base = random.randint(LOW, HIGH - udp - free)
        udp_ports = list(range(base, base + udp))
        free_udp = list(range(base + udp, base + udp + free))
        tcp_ports = list(range(base, base + tcp))
        free_tcp = list(range(base + tcp, base + tcp + free))
        if not (_all_free(check_host, free_udp, socket.SOCK_DGRAM)) or not _all_free(
            check_host, free_tcp, socket.SOCK_STREAM
        ):
            continue
        reflector = StandInReflector()
        log: list[str] = []
        config = ResponderConfig(
            listen=listen,
            stamp_port=0,
            udp_ports=(PortRange(base, base + udp - 1),) if udp else (),
            tcp_ports=(PortRange(base, base + tcp - 1),) if tcp else (),
        )
        r = Responder(config, log=log.append, reflector=reflector)
        try:
            r.start()
        except BindError:
            continue
        try:
            yield Running(r, reflector, udp_ports, tcp_ports, free_udp, free_tcp, log)
        finally:
            r.stop()
        return
    pytest.skip("no free block of loopback ports found in 30 tries")


def udp_client(family: int = socket.AF_INET) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.settimeout(1.0)
    return sock


def echo_of(sock: socket.socket, host: str, port: int, tries: int = 10) -> bytes | None:
    """Send one valid probe (several times if needed) and return the echo."""
    probe = pack_probe(os.urandom(16), port)
    sock.settimeout(0.2)
    for _ in range(tries):
        sock.sendto(probe, (host, port))
        try:
            while True:  # skip anything else queued on the socket
                data, addr = sock.recvfrom(100)
                if data == pack_echo(probe) and addr[1] == port:
                    return data
        except TimeoutError:
            continue
    return None


def eventually(condition: Callable[[], bool], timeout_s: float = 2.0) -> bool:
    """Poll `condition` (the responder thread updates counters after it replies)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


# ---- sweeps and TCP through the responder ----


def test_sweep_finds_exactly_the_bound_ports() -> None:
    with responder(udp=300, tcp=3, free=20) as run:
        ports = run.udp + run.free_udp
        random.shuffle(ports)
        result = asyncio.run(sweep_udp("127.0.0.1", ports, timeout_s=0.2, retries=1))
        assert result.open == run.udp
        assert result.blocked == run.free_udp
        assert result.not_tested == []
        assert result.sent == 300 + 20 * 2  # free ports were retried once
        assert result.retried == 20
        assert eventually(lambda: run.responder.stats.udp_echoed == 300)


def test_tcp_probe_finds_listening_ports_open_and_a_free_one_closed() -> None:
    with responder(udp=1, tcp=3, free=2) as run:
        results = asyncio.run(probe_tcp_ports("127.0.0.1", run.tcp + run.free_tcp, timeout_s=0.5))
        states = {r.port: r.state for r in results}
        assert states == {**dict.fromkeys(run.tcp, "open"), **dict.fromkeys(run.free_tcp, "closed")}
        assert all("responder banner" in r.detail for r in results if r.state == "open")
        assert eventually(lambda: run.responder.stats.tcp_accepted == 3)
    # The filtered case needs a firewall; tests/integration/test_tcp_probe.py fakes it
    # on loopback with a full accept queue, and the netns tests use nftables.


def test_tcp_banner_then_clean_close() -> None:
    with responder(udp=1, tcp=1) as run, socket.create_connection(("127.0.0.1", run.tcp[0])) as c:
        c.settimeout(1.0)
        assert c.recv(100) == b"NETREADY\r\n"
        assert c.recv(100) == b""


def test_ipv6_loopback() -> None:
    if not socket.has_ipv6 or not _all_free("::1", [], socket.SOCK_DGRAM):
        pytest.skip("no IPv6 on this host")
    with responder(udp=20, tcp=2, free=3, listen="::1") as run:
        sweep = asyncio.run(sweep_udp("::1", run.udp + run.free_udp, timeout_s=0.2, retries=0))
        assert (sweep.open, sweep.blocked) == (run.udp, run.free_udp)
        tcp = asyncio.run(probe_tcp_ports("::1", run.tcp + run.free_tcp[:1], timeout_s=0.5))
        assert [r.state for r in tcp] == ["open", "open", "closed"]
        with udp_client(socket.AF_INET6) as c:
            c.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, 33)
            c.sendto(b"hello v6", run.responder.stamp_address)
            assert c.recvfrom(100)[0] == b"6v olleh"
        assert run.reflector.calls[0][3] == 33


def test_wildcard_listen_answers_both_families_from_the_probed_address() -> None:
    """Bound to ::, replies leave from the probed address (IP_PKTINFO / IPV6_PKTINFO)."""
    with responder(udp=10, free=2, listen="::") as run:
        for host in ("127.0.0.1", "::1"):
            sweep = asyncio.run(sweep_udp(host, run.udp + run.free_udp, timeout_s=0.2, retries=0))
            assert (sweep.open, sweep.blocked) == (run.udp, run.free_udp), host
        stamp_port = run.responder.stamp_address[1]
        with udp_client() as c:
            c.setsockopt(socket.IPPROTO_IP, socket.IP_RECVTOS, 1)
            c.sendto(b"Tv4 via dual stack", ("127.0.0.1", stamp_port))
            data, anc, _flags, addr = c.recvmsg(100, 64)
        assert data == b"Tv4 via dual stack"[::-1]
        assert addr == ("127.0.0.1", stamp_port)
        assert (socket.IPPROTO_IP, 1, b"\xb8") in anc


# ---- the STAMP port ----


def test_stamp_port_passes_kernel_metadata_and_applies_reply_tos() -> None:
    with responder(udp=1) as run, udp_client() as c:
        c.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, 0x28)
        c.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, 17)
        c.setsockopt(socket.IPPROTO_IP, socket.IP_RECVTOS, 1)
        before = time.time_ns()
        for payload in (b"Tfirst", b"second", b"Tthird"):
            c.sendto(payload, run.responder.stamp_address)
            data, anc, _flags, _addr = c.recvmsg(100, 64)
            assert data == payload[::-1]
            tos = next(blob[0] for level, kind, blob in anc if (level, kind) == (0, 1))
            assert tos == (0xB8 if payload.startswith(b"T") else 0)
        after = time.time_ns()
        # counters and the log are updated just after the reply is sent
        assert eventually(lambda: run.responder.stats.stamp_reflected == 3)
        _data, peer, rx_ns, ttl, rx_tos = run.reflector.calls[0]
        assert peer == ("127.0.0.1", c.getsockname()[1])
        assert before <= rx_ns <= after  # kernel timestamp, CLOCK_REALTIME
        assert (ttl, rx_tos) == (17, 0x28)
        # Session lines come from the real reflector (tests/integration/test_responder_limits.py).
        assert not [line for line in run.log if line.startswith("STAMP session")]


def test_default_reflector_is_the_real_stamp_reflector() -> None:
    config = ResponderConfig(stamp_port=0, clock_synchronised=False)
    log: list[str] = []
    r = Responder(config, log=log.append)
    r.start()
    try:
        with udp_client() as c:
            t1 = time.time_ns()
            ee = ErrorEstimate.for_error(1_000_000, False)
            c.sendto(pack_sender(SenderPacket(7, t1, ee, ssid=42)), r.stamp_address)
            reply = unpack_reflector(c.recvfrom(200)[0])
    finally:
        r.stop()
    assert (reply.sender_seq, reply.ssid, reply.seq) == (7, 42, 0)
    assert reply.sender_ttl == 64
    assert t1 - 10**6 <= reply.receive_timestamp_ns <= reply.timestamp_ns <= time.time_ns()
    assert not reply.error_estimate.synchronised
    assert "STAMP 1 reflected" in log[-1]


def test_hostile_input_never_stops_the_loop() -> None:
    with responder(udp=4) as run:
        stamp = run.responder.stamp_address
        probe_port = run.udp[0]
        rng = random.Random(8762)
        with udp_client() as c:
            for i in range(20_000):
                size = rng.choice((0, 1, 21, 22, 23, 44, rng.randint(0, 1500), 12_000))
                data = bytearray(rng.randbytes(size))
                if size and i % 7 == 0:
                    data[0] = 0xFF  # makes the stand-in reflector raise
                if size == 22 and i % 5 == 0:
                    data[:4] = b"NRP1"  # well-formed probe with a random nonce and port
                target = stamp if i % 2 else ("127.0.0.1", probe_port)
                c.sendto(bytes(data), target)
                if i % 2000 == 0:
                    time.sleep(0.01)  # let the loop drain, so more reaches the handlers
            time.sleep(0.2)
        assert run.responder.running
        with udp_client() as fresh:
            assert echo_of(fresh, "127.0.0.1", probe_port) is not None
            fresh.sendto(b"still alive", stamp)
            assert fresh.recvfrom(100)[0] == b"evila llits"
    stats = run.responder.stats  # final counters, after stop() joined the loop
    print(f"\nhostile flood: {stats}")
    assert stats.internal_errors == 0
    assert stats.udp_echoed > 50  # the well-formed probes among the junk
    # Everything else on the probe port went to the reflector, like on the STAMP port:
    # reflector exceptions, its drops and datagrams over --max-packet are counted drops.
    assert stats.stamp_dropped > 1000
    assert stats.stamp_reflected > 1000
    reasons = dict(stats.stamp_drops)
    assert reasons["error"] > 500 and reasons["too-large"] > 500


# ---- configuration and errors ----


def test_bind_error_names_transport_and_port() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as busy:
        busy.bind(("127.0.0.1", 0))
        port = busy.getsockname()[1]
        r = Responder(ResponderConfig(stamp_port=0, udp_ports=(PortRange(port, port),)))
        with pytest.raises(BindError, match=f"cannot bind UDP port {port} on 127.0.0.1: .*in use"):
            r.start()
        assert not r.running
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = Responder(
            ResponderConfig(stamp_port=0, tcp_ports=(PortRange(port, port),)),
            reflector=StandInReflector(),
        )
        with pytest.raises(BindError, match=f"cannot bind TCP port {port} on 127.0.0.1"):
            r.start()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as busy:
        busy.bind(("127.0.0.1", 0))
        port = busy.getsockname()[1]
        r = Responder(ResponderConfig(stamp_port=port), reflector=StandInReflector())
        with pytest.raises(BindError, match=f"cannot bind UDP port {port} \\(STAMP\\)"):
            r.start()


def test_stamp_port_inside_the_udp_ranges_is_refused() -> None:
    config = ResponderConfig(stamp_port=20001, udp_ports=(PortRange(20000, 20010),))
    with pytest.raises(ResponderError, match="UDP port 20001 is both the STAMP port"):
        Responder(config, reflector=StandInReflector()).start()


def test_fd_limit_error_names_needed_and_available() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        pytest.skip("hard RLIMIT_NOFILE is unlimited here")
    with pytest.raises(ResponderError, match=f"file descriptors .* at most {hard}"):
        ensure_fd_limit(hard + 1)
    assert resource.getrlimit(resource.RLIMIT_NOFILE) == (soft, hard)


def test_lifecycle_edges() -> None:
    r = Responder(
        ResponderConfig(stamp_port=0), log=lambda _line: None, reflector=StandInReflector()
    )
    with pytest.raises(ResponderError, match="not started"):
        _ = r.stamp_address
    r.stop()  # stopping a responder that never started is harmless
    r.start()
    with pytest.raises(ResponderError, match="already running"):
        r.start()
    r.stop()
    r.stop()
    assert not r.running


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("16384-32767,50000-50100", ((16384, 32767), (50000, 50100))),
        (" 5060 , 5061 ", ((5060, 5061),)),
        ("60000-60100,16384-32767,20000", ((16384, 32767), (60000, 60100))),
        ("", ()),
        ("443", ((443, 443),)),
    ],
)
def test_parse_port_list(text: str, expected: tuple[tuple[int, int], ...]) -> None:
    assert parse_port_list(text) == tuple(PortRange(a, b) for a, b in expected)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0-10", "port 0 in '0-10' is outside 1-65535"),
        ("65536", "port 65536 in '65536' is outside 1-65535"),
        ("200-100", "range '200-100' runs backwards"),
        ("80,,443", "empty entry in port list '80,,443'"),
        ("http", "'http' is not a port or a range like 16384-32767"),
        ("1-2-3", "'1-2-3' is not a port or a range"),
    ],
)
def test_parse_port_list_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        parse_port_list(text)


# ---- scale and process behaviour ----


def _rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def test_full_media_set_16586_ports() -> None:
    count = sum(len(r) for r in MEDIA_SET)
    assert count == 16586
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < count + 300:
        pytest.skip(f"hard RLIMIT_NOFILE {hard} is below the {count + 300} descriptors needed")
    config = ResponderConfig(stamp_port=0, udp_ports=MEDIA_SET, clock_synchronised=False)
    rss_before = _rss_kib()
    for attempt in range(5):  # 50000-50100 and 60000-60100 lie in Linux's ephemeral range:
        r = Responder(config, log=lambda _line: None)  # a passing client socket may hold one
        started = time.perf_counter()
        try:
            r.start()
            break
        except BindError as exc:
            busy = exc
            time.sleep(0.5 * (attempt + 1))
    else:
        pytest.skip(f"media port busy on 127.0.0.1 in 5 tries: {busy}")
    bind_s = time.perf_counter() - started
    rss_delta_mb = (_rss_kib() - rss_before) / 1024
    try:
        ports = [p for pr in MEDIA_SET for p in pr.ports()]
        # retries as the firewall check makes them: on loopback a 16,586-port sweep runs
        # faster than the responder's 10,000 echoes/s per source, and the limited ones are
        # answered on a later attempt (in the field the round trip paces the window)
        sweep = asyncio.run(
            sweep_udp("127.0.0.1", ports, timeout_s=0.5, retries=DEFAULT_RETRIES, window=128)
        )
        # every one of those ports reflects STAMP too (the real reflector)
        media_port = random.choice(ports)
        voice = run_voice_stream("127.0.0.1", media_port, duration_s=0.3, reply_timeout_s=1.0)
    finally:
        started = time.perf_counter()
        r.stop()
        stop_s = time.perf_counter() - started
    print(
        f"\nfull media set: {count} UDP sockets bound in {bind_s:.3f} s, "
        f"RSS +{rss_delta_mb:.1f} MB; sweep (responder in the same process) "
        f"{sweep.duration_s:.3f} s, {sweep.sent} probes, {sweep.retried} retried; "
        f"stop {stop_s:.3f} s"
    )
    assert len(sweep.open) == count
    assert sweep.blocked == [] and sweep.not_tested == []
    assert all(s.t4_ns is not None for s in voice.samples), media_port
    assert bind_s < 5 and sweep.duration_s < 5


def _spawn_responder() -> tuple[subprocess.Popen[str], int]:
    """`python -c ... serve_forever()` on 5 free UDP ports, once it answers a probe."""
    for _ in range(10):
        base = random.randint(LOW, HIGH - 10)
        code = textwrap.dedent(
            f"""
            from netready.model import PortRange
            from netready.responder.server import Responder, ResponderConfig
            Responder(ResponderConfig(stamp_port=0, udp_ports=(PortRange({base}, {base + 4}),),
                                      clock_synchronised=False)).serve_forever()
            """
        )
        proc = subprocess.Popen(
            [sys.executable, "-c", code],
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
        )
        deadline = time.monotonic() + 10
        with udp_client() as c:
            while echo_of(c, "127.0.0.1", base + 4, tries=1) is None:
                if proc.poll() is not None:
                    break
                if time.monotonic() > deadline:
                    proc.kill()
                    pytest.fail(f"responder never answered: {proc.communicate()[1]}")
            else:
                return proc, base
        err = proc.communicate()[1]
        assert "cannot bind" in err, err  # a port collision: try another block
    pytest.skip("no free block of loopback ports found in 10 tries")


def test_serve_forever_stops_cleanly_on_sigterm() -> None:
    proc, _base = _spawn_responder()
    try:
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=2)
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert took < 2
    assert "netready responder stopped: STAMP 0 reflected" in err
    assert "UDP probes " in err


def test_profile_responder_answers_probe_and_sip_echo_on_one_port(tmp_path: Path) -> None:
    """`responder --profile stimme` serves what the profile's checks need with one flag,
    the SIP echo included: on 5060/udp one socket answers the firewall check's port probe
    and the sip.alg.udp check's echo; 5060/tcp answers sip.alg.tcp (issue 10, item 5)."""
    require_root()  # 862 and the stimme ports below 1024
    host = "127.0.0.77"  # a loopback address of its own, apart from other tests' 127.0.0.1
    proc = subprocess.Popen(
        [sys.executable, "-m", "netready", "responder", "--profile", "stimme",
         "--listen", host, "--clock-synchronised", "no"],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
        env=dict(os.environ, NETREADY_CONFIG_DIR=str(tmp_path)),
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()  # the "listening" line, or why it could not bind
        if "cannot bind" in line and not in_ci():  # CI machines have these ports free
            pytest.skip(f"a stimme port is taken on this machine: {line.strip()}")
        assert "SIP echo udp+tcp (5060)" in line, line
        with udp_client() as c:
            assert echo_of(c, host, 5060) is not None  # the port probe, answered as NRE1
        for transport in ("udp", "tcp"):
            params = SipParams(mode="alg", transport=transport, address=host, port=5060)
            ctx = RunContext(progress=lambda _f, _m: None)
            result = asyncio.run(SipCheck().run(f"sip.alg.{transport}", params, ctx))
            assert result.status is Status.PASS, result.reason
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert "SIP echo 3 answered" in err  # one probe echo and two SIP echoes
