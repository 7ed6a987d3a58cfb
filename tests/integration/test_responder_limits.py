"""The real responder on 127.0.0.1: authenticated STAMP, limits, session lines, media ports.

Every test runs the real `StampReflector` behind real sockets, is bounded to a few
seconds and sends only to 127.0.0.1 (the allow-list test filters 127.0.0.1 out; it
never sends to the networks it allows).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from netready.metrics.stats import voice_metrics
from netready.model import PortRange
from netready.probes import stamp
from netready.probes.stamp import ErrorEstimate, SenderPacket
from netready.probes.stamp_keys import load_hmac_keys
from netready.probes.udp_sweep import sweep_udp
from netready.probes.voice import run_voice_stream
from netready.responder.limits import parse_allow
from netready.responder.server import BindError, Responder, ResponderConfig, ResponderStats

LOW, HIGH = 2000, 16300  # below the media set and the ephemeral range (as test_responder)
EE = ErrorEstimate.for_error(1_000_000, False)
KEY = bytes.fromhex("8f" * 8 + "a1" * 8 + "5c" * 16)


class Live:
    """A started responder plus what it logged."""

    def __init__(self, responder: Responder, media: list[int], log: list[str]) -> None:
        self.responder = responder
        self.media = media
        self.log = log

    @property
    def stamp(self) -> tuple[str, int]:
        return self.responder.stamp_address

    @property
    def stats(self) -> ResponderStats:
        return self.responder.stats

    def drops(self) -> dict[str, int]:
        return dict(self.responder.stats.stamp_drops)


def _free(ports: range) -> bool:
    for port in ports:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def free_block(count: int) -> range:
    for _ in range(50):
        first = random.randint(LOW, HIGH - count)
        if _free(range(first, first + count)):
            return range(first, first + count)
    pytest.skip("no free block of loopback ports found")


@contextlib.contextmanager
def live(media: int = 0, tcp: bool = False, **settings: object) -> Iterator[Live]:
    """A responder with the real reflector, `media` UDP media ports and `settings`."""
    for _ in range(20):
        block = free_block(max(media, 1))
        ports = (PortRange(block[0], block[-1]),) if media else ()
        log: list[str] = []
        config = replace(
            ResponderConfig(stamp_port=0, clock_synchronised=False),
            udp_ports=ports,
            tcp_ports=(PortRange(block[0], block[0]),) if tcp else (),
            **settings,  # type: ignore[arg-type]
        )
        r = Responder(config, log=log.append)
        try:
            r.start()
        except BindError:
            continue
        try:
            yield Live(r, list(block)[:media], log)
        finally:
            r.stop()
        return
    pytest.skip("no free block of loopback ports found")


def stamp_packet(seq: int = 0, size: int = 172, ssid: int = 1, key: bytes | None = None) -> bytes:
    tlvs = stamp.sender_tlvs(size, 46, authenticated=key is not None)
    return stamp.pack_sender(SenderPacket(seq, time.time_ns(), EE, ssid, tlvs), key)


def replies(sock: socket.socket, wait_s: float = 0.3) -> list[bytes]:
    sock.settimeout(wait_s)
    got = []
    with contextlib.suppress(TimeoutError):
        while True:
            got.append(sock.recv(2048))
    return got


def eventually(condition: Callable[[], bool], timeout_s: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


# ---- authenticated mode ----


def test_authenticated_stream_passes_and_a_wrong_key_gets_nothing(tmp_path: Path) -> None:
    keyfile = tmp_path / "stamp.keys"
    keyfile.write_text(f"# shared with the client\n0 {KEY.hex()}\n")
    keyfile.chmod(0o600)
    with live(keys=load_hmac_keys(keyfile)) as r:
        host, port = r.stamp
        run = run_voice_stream(host, port, duration_s=2.0, hmac_key=KEY)
        m, _ev = voice_metrics(run)
        assert run.authenticated and len(run.samples) == 100
        assert m["packets_received"] == 100 and m["loss_rt_pct"] == 0.0
        assert m["rtt_mean_ms"] < 5.0 and run.ignored_replies == 0
        assert {s.dscp_at_reflector for s in run.samples} == {46}  # CoS TLV verified both ways
        wrong = run_voice_stream(
            host, port, duration_s=0.4, hmac_key=bytes(32), reply_timeout_s=0.3
        )
        plain = run_voice_stream(host, port, duration_s=0.2, reply_timeout_s=0.3)
        assert all(s.t4_ns is None for s in wrong.samples + plain.samples)
        assert eventually(lambda: r.drops().get("bad-hmac") == 30)
        assert r.stats.stamp_reflected == 100
    lines = [line for line in r.log if line.startswith("STAMP session")]
    assert lines[0].endswith(f"SSID {run.ssid}, authenticated: yes")
    assert "ended (responder stopped): 100 reflected, 0 dropped" in lines[1]
    assert all(KEY.hex() not in line for line in r.log)


def test_cli_key_file_and_clean_sigterm(tmp_path: Path) -> None:
    keyfile = tmp_path / "k"
    keyfile.write_text(KEY.hex() + "\n")
    keyfile.chmod(0o644)
    cmd = [sys.executable, "-m", "netready", "responder", "--stamp-port", "0", "--key"]
    bad = subprocess.run([*cmd, str(keyfile)], capture_output=True, text=True, timeout=30)
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [
        f"netready: error: HMAC key file {keyfile} is accessible by group or others "
        f"(mode 0644); run `chmod 600 {keyfile}`"
    ]
    keyfile.chmod(0o600)
    proc = subprocess.Popen(
        [*cmd, str(keyfile), "--allow", "127.0.0.0/8", "--max-session-s", "60"],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stderr is not None
        first = proc.stderr.readline()
        found = re.search(r"STAMP udp/(\d+) \(authenticated", first)
        assert found, first
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as c:
            c.settimeout(2.0)
            c.sendto(stamp_packet(7, key=KEY), ("127.0.0.1", int(found[1])))
            reply = stamp.unpack_reflector(c.recv(2048), KEY)
        assert reply.sender_seq == 7
        proc.send_signal(signal.SIGTERM)
        rest = proc.stderr.read()
        assert proc.wait(timeout=5) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "authenticated: yes" in rest and "1 reflected" in rest
    assert "netready responder stopped: STAMP 1 reflected" in rest
    assert KEY.hex() not in first + rest


# ---- limits ----


def settled(r: Live) -> int:
    """Datagrams the responder has handled, once that number stops changing."""
    last = -1
    while (now := r.stats.stamp_reflected + r.stats.stamp_dropped) != last:
        last = now
        time.sleep(0.1)
    return now


def test_min_interval_rate_limits_a_session() -> None:
    with (
        live(min_interval_ms=5.0, max_pps_per_source=0) as r,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as c,
    ):
        c.connect(r.stamp)
        for seq in range(200):  # in bursts of 50: far faster than one every 5 ms
            c.send(stamp_packet(seq))
            if seq % 50 == 49:
                time.sleep(0.003)
        got = replies(c)
        handled = settled(r)
    assert handled >= 180  # the rest, if any, overflowed the kernel's receive buffer
    assert 95 <= len(got) <= 110  # the bucket's 100, plus what refilled meanwhile
    assert r.stats.stamp_reflected == len(got)
    assert r.drops() == {"session-rate": handled - len(got)}
    assert f"dropped ({handled - len(got)} session-rate)" in r.log[-2]


def test_per_source_rate_spans_sessions() -> None:
    with live(max_pps_per_source=100, min_interval_ms=0) as r:
        clients = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(10)]
        try:
            for c in clients:
                c.connect(r.stamp)
            for seq in range(20):
                for c in clients:
                    c.send(stamp_packet(seq))
                time.sleep(0.001)
            got = sum(len(replies(c, 0.05)) for c in clients)
        finally:
            for c in clients:
                c.close()
        handled = settled(r)
    assert handled >= 180
    assert 45 <= got <= 65  # one bucket of 50 for 127.0.0.1, whatever the source port
    assert r.drops() == {"source-rate": handled - got}


def test_max_packet_on_the_stamp_port_and_a_media_port() -> None:
    with live(media=2, max_packet=200) as r, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as c:
        for target in (r.stamp, ("127.0.0.1", r.media[1])):
            c.sendto(stamp_packet(size=200), target)
            c.sendto(stamp_packet(size=201), target)
            c.sendto(stamp_packet(size=4000), target)
        got = replies(c)
        assert eventually(lambda: r.stats.stamp_dropped == 4)
    assert sorted(map(len, got)) == [200, 200]
    assert r.drops() == {"too-large": 4}


def test_allow_list_refuses_loopback_when_only_10_8_is_allowed() -> None:
    with live(media=1, tcp=True, allow=parse_allow(["10.0.0.0/8"])) as r:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as c:
            c.sendto(stamp_packet(), r.stamp)
            c.sendto(stamp_packet(), ("127.0.0.1", r.media[0]))
            c.sendto(
                b"NRP1" + os.urandom(16) + r.media[0].to_bytes(2, "big"), ("127.0.0.1", r.media[0])
            )
            assert replies(c) == []
        try:
            with socket.create_connection(("127.0.0.1", r.media[0]), timeout=2) as t:
                banner = t.recv(100)
        except ConnectionResetError:
            banner = b""
        assert banner == b""  # a reset, never the banner
        assert eventually(lambda: r.stats.tcp_refused == 1)
        assert r.drops() == {"not-allowed": 2} and r.stats.udp_dropped == 1
        assert r.stats.tcp_accepted == 0 and r.stats.udp_echoed == 0
    assert "allowed: 10.0.0.0/8" in r.log[0]
    with live(media=1, allow=parse_allow(["10.0.0.0/8", "127.0.0.1"])) as ok:
        sweep = asyncio.run(sweep_udp("127.0.0.1", ok.media, timeout_s=0.5, retries=1))
        assert sweep.open == ok.media


def test_max_session_time_stops_answering() -> None:
    with live(max_session_s=0.3) as r:
        run = run_voice_stream(*r.stamp, duration_s=0.8, reply_timeout_s=0.3)
    answered = [s.seq for s in run.samples if s.t4_ns is not None]
    assert 12 <= len(answered) <= 18 and answered == list(range(len(answered)))
    assert sum("reached the maximum session time (0.3 s)" in line for line in r.log) == 1
    assert r.drops()["session-time"] == 40 - len(answered)


# ---- sessions and media ports ----


def test_session_start_and_idle_end_lines() -> None:
    with live(session_idle_s=0.3) as r:
        run = run_voice_stream(*r.stamp, duration_s=0.2, rate_pps=50)
        port = run.source_port
        end = f"from 127.0.0.1:{port} SSID {run.ssid} ended (idle): 10 reflected, 0 dropped"
        assert eventually(lambda: any(end in line for line in r.log))  # about 1 s housekeeping
    starts = [line for line in r.log if "authenticated: no" in line]
    assert starts == [f"STAMP session 1 from 127.0.0.1:{port} SSID {run.ssid}, authenticated: no"]
    assert "STAMP 10 reflected, 0 dropped, 1 sessions" in r.log[-1]


def test_stamp_on_a_media_port_from_a_source_port_range() -> None:
    sources = free_block(20)
    with live(media=5) as r:
        media_port = r.media[3]
        run = run_voice_stream(
            "127.0.0.1", media_port, duration_s=1.0, source_ports=(sources[0], sources[-1])
        )
        # the same port still echoes netready's port probes
        sweep = asyncio.run(sweep_udp("127.0.0.1", r.media, timeout_s=0.5, retries=1))
    assert sources[0] <= run.source_port <= sources[-1] and run.source_in_range
    m, ev = voice_metrics(run)
    assert m["packets_received"] == 50 and m["loss_rt_pct"] == 0.0
    assert run.timestamp_source == ev["timestamp_source"] == "kernel"
    assert {s.rx_ttl_at_reflector for s in run.samples} == {255}
    assert {s.dscp_at_reflector for s in run.samples} == {s.dscp_received for s in run.samples}
    assert {s.dscp_received for s in run.samples} == {46}
    assert [s.reflector_seq for s in run.samples] == list(range(50))
    assert sweep.open == r.media
    assert f"from 127.0.0.1:{run.source_port} SSID {run.ssid}, authenticated: no" in r.log[1]


def test_source_port_range_with_every_port_taken_falls_back_to_any_port() -> None:
    block = free_block(3)
    held = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in block]
    try:
        for s, port in zip(held, block, strict=True):
            s.bind(("0.0.0.0", port))
        with live() as r:
            run = run_voice_stream(*r.stamp, duration_s=0.1, source_ports=(block[0], block[-1]))
    finally:
        for s in held:
            s.close()
    assert run.source_port not in block and run.source_in_range is False
    assert all(s.t4_ns is not None for s in run.samples)


# ---- hostile input against the running responder ----


def _hostile(rng: random.Random, i: int, key: bytes | None) -> bytes:
    """Junk, truncations and bit flips of valid packets, TLV garbage with good HMACs."""
    kind = i % 6
    if kind == 0:
        return rng.randbytes(
            rng.choice((0, 1, 21, 22, 43, 44, 111, 112, 113, rng.randint(0, 1500)))
        )
    packet = bytearray(
        stamp_packet(i, rng.choice((140, 172, 600) if key else (52, 172)), i % 3, key)
    )
    if kind == 1:
        packet[rng.randrange(len(packet))] ^= 1 << rng.randrange(8)
    elif kind == 2:
        del packet[rng.randrange(len(packet)) :]
    elif kind == 3:
        base = stamp.AUTH_BASE_SIZE if key else stamp.BASE_SIZE
        packet[base:] = rng.randbytes(rng.randint(0, 64))
        if key:
            packet[96:112] = stamp.packet_hmac(key, packet)
    elif kind == 4:
        packet += rng.randbytes(rng.randint(1, 2000))
    return bytes(packet)


@pytest.mark.parametrize("key", [None, KEY], ids=["unauthenticated", "authenticated"])
def test_flood_of_hostile_datagrams(key: bytes | None) -> None:
    keys = {0: KEY} if key else None
    with live(media=2, keys=keys, min_interval_ms=0, max_pps_per_source=0) as r:
        rng = random.Random(8972)
        targets = [r.stamp, ("127.0.0.1", r.media[0])]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as c:
            for i in range(10_000):
                c.sendto(_hostile(rng, i, key), targets[i % 2])
                if i % 500 == 0:
                    time.sleep(0.005)  # let the loop drain, so more reaches the reflector
        time.sleep(0.2)
        assert r.responder.running
        run = run_voice_stream(*targets[1], duration_s=0.2, hmac_key=key, reply_timeout_s=0.5)
        assert all(s.t4_ns is not None for s in run.samples)
    stats = r.stats
    print(f"\nflood ({'authenticated' if key else 'unauthenticated'}): {stats.summary()}")
    assert stats.internal_errors == 0
    drops = dict(stats.stamp_drops)
    assert "error" not in drops and "malformed" not in drops and "other" not in drops
    assert stats.stamp_reflected > 1000 and stats.stamp_dropped > 1000
