"""The paced STUN Binding stream against a real coturn on 127.0.0.1, a silent port and junk."""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import threading
import time
from collections.abc import Iterator

import pytest
import rfc8785
from aioice import stun, turn

from netready.metrics.stun_stats import stun_metrics
from netready.probes.stun_stream import run_stun_stream
from tests.conftest import free_port
from tests.integration.coturn import CoturnServer, coturn, stun_binding

USER, PASSWORD, REALM = "netready", "s3cret-test", "netready.test"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CoturnServer]:
    with coturn(
        tmp_path_factory.mktemp("coturn"), user=USER, password=PASSWORD, realm=REALM
    ) as running:
        yield running


@pytest.mark.slow
def test_three_seconds_at_50_pps(server: CoturnServer) -> None:
    calls: list[float] = []
    began = time.monotonic()
    run = run_stun_stream(
        server.host,
        server.port,
        rate_pps=50,
        duration_s=3.0,
        progress=lambda f, _m: calls.append(f),
    )
    assert time.monotonic() - began < 15.0  # it ends; timing targets are bench/'s business
    assert len(run.samples) == 150 and run.received >= 149
    assert not run.interrupted and run.ignored_replies == 0 and run.send_errors == 0
    assert run.mapped_address == run.local_address
    assert str(run.mapped_address).startswith("127.0.0.1:")
    assert run.timestamp_source == "kernel" and run.request_bytes == 20
    assert calls and calls[-1] == 1.0
    m, ev = stun_metrics(run)
    assert m["packets_sent"] == 150 and m["loss_rt_pct"] <= 1 / 150 * 100
    # sanity bounds only: a VM stall of tens of ms must not fail a functional test
    # (send lateness and jitter on loopback are measured in bench/voice_reference.py)
    assert 0 < m["rtt_min_ms"] <= m["rtt_p50_ms"] <= m["rtt_max_ms"] < 1000.0
    assert 0 <= m["rtt_jitter_ms"] < 500.0 and 0 <= m["send_late_p99_ms"] < 1000.0
    assert m["delay_up_ms"] == m["delay_down_ms"] == m["rtt_p95_ms"] / 2
    assert m["jitter_up_ms"] == m["rtt_jitter_ms"] and m["loss_up_pct"] == m["loss_rt_pct"]
    assert ev["method"] == "stun-rtt" and ev["directions_separated"] is False
    assert ev["behind_nat"] is False
    rfc8785.dumps(json.loads(json.dumps(ev)))  # report-safe: no integer above 2^53


def test_cancel_mid_run_keeps_partial_data(server: CoturnServer) -> None:
    cancel = threading.Event()
    timer = threading.Timer(0.5, cancel.set)
    began = time.monotonic()
    timer.start()
    try:
        run = run_stun_stream(server.host, server.port, duration_s=10.0, cancel=cancel)
    finally:
        timer.cancel()
    assert time.monotonic() - began < 2.0
    assert run.interrupted and 10 <= len(run.samples) < 100
    assert run.received >= len(run.samples) - 2
    m, ev = stun_metrics(run)
    assert m["packets_sent"] == len(run.samples) and m["loss_rt_pct"] == 0.0
    assert ev["stream"]["interrupted"] is True  # type: ignore[index]


def test_nothing_listening_gives_no_answer() -> None:
    port = free_port(socket.SOCK_DGRAM)
    began = time.monotonic()
    run = run_stun_stream("127.0.0.1", port, duration_s=0.5, reply_timeout_s=0.3)
    assert time.monotonic() - began < 2.0
    assert len(run.samples) == 25 and run.received == 0
    assert run.refused > 0  # ICMP port unreachable on loopback
    assert run.mapped_address is None
    m, ev = stun_metrics(run)
    assert m["packets_received"] == 0 and m["loss_rt_pct"] == 100.0
    assert "rtt_p95_ms" not in m and "delay_up_ms" not in m and "mos" not in m
    assert ev["behind_nat"] is None


class Junk:
    """Answers each request with garbage; answers some for real, twice, or too late."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.port = int(self.sock.getsockname()[1])
        self.held: list[tuple[bytes, tuple[str, int]]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    @staticmethod
    def _answers(tid: bytes, peer: tuple[str, int]) -> list[bytes]:
        good = stun.Message(stun.Method.BINDING, stun.Class.RESPONSE, tid)
        good.attributes["XOR-MAPPED-ADDRESS"] = peer
        bad_family = bytes(good)[:20] + b"\x00\x20\x00\x08\x00\x07" + b"\x00" * 6
        bad_lifetime = struct.pack("!HHI12sHH2s", 0x0101, 8, stun.COOKIE, tid, 0x000D, 2, b"\0\0")
        return [
            b"\x00" * 10,  # runt
            b"\xff" * 40,  # not STUN
            bytes(stun.Message(stun.Method.BINDING, stun.Class.RESPONSE)),  # foreign ID
            bytes(stun.Message(stun.Method.BINDING, stun.Class.REQUEST, tid)),  # not an answer
            bytes(good)[:-4],  # length mismatch
            bad_family[:2] + struct.pack("!H", 12) + bad_family[4:],  # unknown family
            bad_lifetime,  # attribute too short for its type (struct.error inside aioice)
        ]

    def _loop(self) -> None:
        count = 0
        while not self.stop.is_set():
            try:
                data, peer = self.sock.recvfrom(2048)
            except TimeoutError:
                continue
            tid = data[8:20]
            for junk in self._answers(tid, peer):
                self.sock.sendto(junk, peer)
            good = stun.Message(stun.Method.BINDING, stun.Class.RESPONSE, tid)
            good.attributes["XOR-MAPPED-ADDRESS"] = peer
            count += 1
            if count % 5 == 0:  # every 5th is answered 5 requests (100 ms) later
                if self.held:
                    self.sock.sendto(*self.held.pop())
                self.held.append((bytes(good), peer))
                continue
            self.sock.sendto(bytes(good), peer)
            if count % 3 == 0:
                self.sock.sendto(bytes(good), peer)  # duplicate

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        self.sock.close()


@pytest.fixture
def junk() -> Iterator[Junk]:
    j = Junk()
    yield j
    j.close()


def test_garbage_is_counted_and_never_raises(junk: Junk) -> None:
    run = run_stun_stream("127.0.0.1", junk.port, duration_s=1.0, reply_timeout_s=0.05)
    n = len(run.samples)
    assert n == 50
    held = n // 5
    assert run.received == n - held
    assert run.late_replies == held - 1  # the last held answer is never sent
    duplicates = sum(1 for c in range(1, n + 1) if c % 3 == 0 and c % 5)
    assert sum(s.duplicates for s in run.samples) == duplicates
    reasons = run.ignored_reasons
    assert reasons["not_stun"] == 2 * n and reasons["unknown_transaction"] == n
    assert reasons["not_binding_answer"] == n and reasons["malformed"] == 3 * n
    assert run.ignored_replies == 7 * n
    m, _ev = stun_metrics(run)
    assert m["loss_rt_pct"] == pytest.approx(100 * held / n)


def _allocate(server: CoturnServer) -> tuple[str, int]:
    async def go() -> tuple[str, int]:
        transport, _protocol = await turn.create_turn_endpoint(
            asyncio.DatagramProtocol, server.address, USER, PASSWORD
        )
        try:
            relayed: tuple[str, int] = transport.get_extra_info("sockname")
            return relayed
        finally:
            transport.close()

    return asyncio.run(asyncio.wait_for(go(), 5.0))


def test_coturn_helper_answers_binding_and_allocates(server: CoturnServer) -> None:
    """The helper is meant for TURN tests too: the static user can allocate a relay."""
    assert stun_binding(server.host, server.port) is not None
    host, port = _allocate(server)
    assert host == "127.0.0.1" and server.relay_ports[0] <= port <= server.relay_ports[1]
    assert "netready.test" in server.log_text()
