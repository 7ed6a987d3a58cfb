"""The paced voice stream against a StampReflector on 127.0.0.1: real sockets, kernel stamps."""

from __future__ import annotations

import itertools
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netready.metrics.stats import voice_metrics
from netready.probes.sockopts import (
    ANCILLARY_BUFSIZE,
    RxMeta,
    enable_rx_metadata,
    parse_ancillary,
    set_tx_tos,
)
from netready.probes.voice import VoiceSample, run_voice_stream
from netready.probes.voice_io import Receiver
from netready.responder.stamp_reflector import StampReflector


class Reflector:
    """StampReflector behind a tiny UDP loop on its own thread; `hostile` adds junk replies."""

    def __init__(self, host: str = "127.0.0.1", hostile: bool = False) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.sock.settimeout(0.05)
        enable_rx_metadata(self.sock)
        self.port = int(self.sock.getsockname()[1])
        self.core = StampReflector()
        self.hostile = hostile
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while not self.stop.is_set():
            try:
                data, anc, _flags, peer = self.sock.recvmsg(4096, ANCILLARY_BUFSIZE)
            except TimeoutError:
                continue
            meta = parse_ancillary(anc)
            rx_ns = meta.kernel_ns or time.time_ns()
            out = self.core.reflect(data, peer, rx_ns, meta.ttl, meta.tos, time.time_ns)
            if out is None:
                continue
            reply, tos = out
            if tos is not None:
                set_tx_tos(self.sock, tos)
            self.sock.sendto(reply, peer)
            if self.hostile:
                self.sock.sendto(b"\x00" * 10, peer)  # runt
                self.sock.sendto(reply[:24] + b"\xff" * 20 + reply[44:], peer)  # foreign T1
                self.sock.sendto(reply, peer)  # duplicate

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        self.sock.close()


@pytest.fixture
def reflector() -> Iterator[Reflector]:
    r = Reflector()
    yield r
    r.close()


@pytest.mark.slow
def test_three_seconds_at_50_pps(reflector: Reflector) -> None:
    calls: list[float] = []
    run = run_voice_stream(
        "127.0.0.1",
        reflector.port,
        duration_s=3.0,
        progress=lambda fraction, text: calls.append(time.monotonic()),
    )
    m, ev = voice_metrics(run)
    print(
        f"\nloopback 3 s @ 50 pps: send late p99 {m['send_late_p99_ms']:.4f} ms,"
        f" max {m['send_late_max_ms']:.4f} ms, mean {m['send_late_mean_ms']:.4f} ms;"
        f" RTT mean {m['rtt_mean_ms']:.4f} ms, max {m['rtt_max_ms']:.4f} ms;"
        f" jitter up {m['jitter_up_ms']:.4f} ms, down {m['jitter_down_ms']:.4f} ms"
    )
    assert (m["packets_sent"], m["packets_received"]) == (150, 150)
    assert m["loss_up_pct"] == m["loss_down_pct"] == m["loss_rt_pct"] == 0.0
    assert m["rtt_mean_ms"] < 5.0 and m["rtt_p95_ms"] < 5.0
    assert "send_late_p99_ms" in m and "mos" in m
    assert run.timestamp_source == ev["timestamp_source"] == "kernel"
    assert not run.interrupted and run.ignored_replies == 0
    assert {s.dscp_at_reflector for s in run.samples} == {46}  # loopback keeps EF both ways
    assert {s.dscp_received for s in run.samples} == {46}
    assert {s.rx_ttl_at_reflector for s in run.samples} == {255}
    assert [s.reflector_seq for s in run.samples] == list(range(150))
    gaps = [b - a for a, b in itertools.pairwise(calls[:-1])]  # the final call is extra
    assert 5 <= len(calls) <= 20 and min(gaps) >= 0.19


def test_cancel_returns_partial_samples(reflector: Reflector) -> None:
    cancel = threading.Event()
    threading.Timer(0.5, cancel.set).start()
    started = time.monotonic()
    run = run_voice_stream("127.0.0.1", reflector.port, duration_s=10.0, cancel=cancel)
    assert time.monotonic() - started < 1.5
    assert run.interrupted
    assert 10 <= len(run.samples) <= 40
    assert sum(s.t4_ns is not None for s in run.samples) >= len(run.samples) - 2


def test_hostile_replies_are_counted_not_fatal() -> None:
    r = Reflector(hostile=True)
    try:
        run = run_voice_stream("127.0.0.1", r.port, duration_s=0.4, rate_pps=50)
    finally:
        r.close()
    assert len(run.samples) == 20
    assert all(s.t4_ns is not None for s in run.samples)
    # The stream stops reading once the last genuine reply is in: junk after it stays unread.
    assert all(s.duplicates == 1 for s in run.samples[:-1])
    assert 38 <= run.ignored_replies <= 40  # one runt and one with a foreign T1 per probe


def test_ipv6_loopback() -> None:
    try:
        r = Reflector("::1")
    except OSError:
        pytest.skip("no IPv6 on loopback")
    try:
        run = run_voice_stream("::1", r.port, duration_s=0.3, rate_pps=50)
    finally:
        r.close()
    assert len(run.samples) == 15
    assert all(s.t4_ns is not None for s in run.samples)
    assert {s.dscp_at_reflector for s in run.samples} == {46}


def test_unreachable_port_loses_everything_quietly() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    run = run_voice_stream("127.0.0.1", port, duration_s=0.2, reply_timeout_s=0.2)
    m, ev = voice_metrics(run)
    assert len(run.samples) == 10 and m["packets_received"] == 0.0
    assert m["loss_rt_pct"] == 100.0 and "why" in ev


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=200), st.none() | st.integers(0, 255))
def test_receiver_never_raises_on_junk(data: bytes, tos: int | None) -> None:
    rx = Receiver([VoiceSample(0, 0, 1)], ssid=7, timeout_ns=10**9, sent=1)
    rx.handle(data, RxMeta(kernel_ns=5, tos=tos), user_ns=6)
    assert rx.ignored + rx.received + rx.late == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"source_ports": (5000, 4000)}, "bad source ports"),
        ({"source_ports": (0, 10)}, "bad source ports"),
        ({"source_ports": (5000, 5010), "source_port": 5001}, "bad source ports"),
        ({"hmac_key": b"short"}, "at least 16 are needed"),
        ({"ssid": 70000}, "outside 0-65535"),
        ({"hmac_key": bytes(16), "payload_bytes": 120}, "at least 140 are needed"),
    ],
)
def test_bad_stream_arguments(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        run_voice_stream("127.0.0.1", 9, duration_s=0.1, **kwargs)  # type: ignore[arg-type]


def test_authenticated_stream_with_a_fixed_ssid() -> None:
    key = bytes(range(16, 48))
    r = Reflector()
    r.core = StampReflector(keys={42: key})
    try:
        run = run_voice_stream("127.0.0.1", r.port, duration_s=0.3, hmac_key=key, ssid=42)
    finally:
        r.close()
    assert run.authenticated and run.ssid == 42 and run.payload_bytes == 172
    assert all(s.t4_ns is not None for s in run.samples)
    assert {s.dscp_at_reflector for s in run.samples} == {46}
