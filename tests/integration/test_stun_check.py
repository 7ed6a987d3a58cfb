"""The `stun.<rule>` and `nat.lifetime` checks against a real coturn (RFC 5780 mode) and fakes."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from aioice import stun

from netready.checks.base import RunContext
from netready.checks.nat_lifetime import NatLifetimeCheck
from netready.checks.stun import StunCheck, plan_stun, tls_skip_reason
from netready.checks.stun_params import NatLifetimeParams, StunParams
from netready.model import CheckResult, PortRange, Rule, Status
from netready.profile import load_profile
from netready.resources import data_dir
from tests.conftest import free_port, run_cli
from tests.integration.coturn import CoturnServer, coturn


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CoturnServer]:
    with coturn(tmp_path_factory.mktemp("coturn5780"), alt_host="127.0.0.2") as running:
        yield running


def _rule(transport: str, port: int) -> Rule:
    ports = (PortRange(port, port),)
    return Rule(f"stun-{transport}", "STUN/TURN", transport, ports, "stun", "media", "stun")


def _ctx(quick: bool = False) -> RunContext:
    return RunContext(progress=lambda _f, _m: None, quick=quick)


def _stun(transport: str, port: int, **kw: object) -> CheckResult:
    params = StunParams(rule=_rule(transport, port), address="127.0.0.1", **kw)  # type: ignore[arg-type]
    return asyncio.run(StunCheck().run(f"stun.stun-{transport}", params, _ctx()))


def test_udp_binding_and_rfc5780_behaviour(server: CoturnServer) -> None:
    r = _stun("udp", server.port)
    assert r.status == Status.PASS, r.reason
    assert r.method == "stun-binding-udp + rfc5780"
    assert r.metrics["answered"] == 5 and 0 < r.metrics["rtt_min_ms"] < 50
    assert r.metrics["port_preserved"] == 1.0 and r.evidence["behind_nat"] is False
    assert r.evidence["mapped"] == r.evidence["local"]
    behaviour = r.evidence["nat"]
    assert behaviour["other_address"] == f"127.0.0.2:{server.alt_port}"
    assert behaviour["mapping"] == "no-nat" and behaviour["filtering"] == "endpoint-independent"
    assert "incoming media works" in r.reason


def test_tcp_binding(server: CoturnServer) -> None:
    r = _stun("tcp", server.port)
    assert r.status == Status.PASS, r.reason
    assert r.evidence["mapped"] == r.evidence["local"] and r.metrics["rtt_ms"] > 0


def test_server_without_alternate_address_says_so(tmp_path: Path) -> None:
    with coturn(tmp_path) as plain:
        r = _stun("udp", plain.port)
    assert r.status == Status.PASS and r.evidence["nat"]["method"] == "none"
    assert "not determined" in r.reason and r.method == "stun-binding-udp"


def test_silent_port_fails_with_remediation() -> None:
    port = free_port(socket.SOCK_DGRAM)
    r = _stun("udp", port, samples=2, timeout_s=0.1, attempts=2)
    assert r.status == Status.FAIL and "no STUN answer" in r.reason
    assert f"allow out proto udp to 127.0.0.1 port {port}" in r.remediation
    t = _stun("tcp", free_port(), timeout_s=0.2, attempts=1)
    assert t.status == Status.FAIL and "TCP connect failed" in t.reason


class ForgetfulNat:
    """A STUN server that plays a NAT: after `idle_s` of silence from a source, that source's
    mapped port changes (a NAT times each mapping on its own)."""

    def __init__(self, idle_s: float) -> None:
        self.idle_s, self.shift = idle_s, 0
        self.last: dict[tuple[str, int], float] = {}
        self.mapped: dict[tuple[str, int], int] = {}
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.port = int(self.sock.getsockname()[1])
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while not self.stop.is_set():
            try:
                data, peer = self.sock.recvfrom(2048)
            except TimeoutError:
                continue
            now = time.monotonic()
            if peer not in self.mapped or now - self.last[peer] > self.idle_s:
                self.shift += 1
                self.mapped[peer] = 20000 + self.shift
            self.last[peer] = now
            req = stun.parse_message(data)
            answer = stun.Message(stun.Method.BINDING, stun.Class.RESPONSE, req.transaction_id)
            answer.attributes["XOR-MAPPED-ADDRESS"] = ("198.51.100.9", self.mapped[peer])
            self.sock.sendto(bytes(answer), peer)

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        self.sock.close()


def _lifetime(port: int, quick: bool = False, **kw: object) -> CheckResult:
    params = NatLifetimeParams(address="127.0.0.1", port=port, **kw)  # type: ignore[arg-type]
    return asyncio.run(NatLifetimeCheck().run("nat.lifetime", params, _ctx(quick)))


def test_lifetime_kept_against_coturn(server: CoturnServer) -> None:
    r = _lifetime(server.port, gaps_s=(0.1, 0.3), keepalive_s=0.2, budget_s=1.0)
    assert r.status == Status.PASS, r.reason
    assert r.metrics["lifetime_at_least_s"] == 0.3 and "lifetime_below_s" not in r.metrics


def test_lifetime_too_short_fails() -> None:
    fake = ForgetfulNat(idle_s=0.25)
    try:
        r = _lifetime(fake.port, gaps_s=(0.1, 0.4, 0.8), keepalive_s=0.5, budget_s=2.0)
    finally:
        fake.close()
    assert r.status == Status.FAIL
    assert r.metrics["lifetime_at_least_s"] == 0.1 and r.metrics["lifetime_below_s"] == 0.4
    assert "keep-alive" in r.reason and "session timeout" in r.remediation
    assert r.evidence["behind_nat"] is True and len(r.evidence["gaps"]) == 2


def test_lifetime_skipped_in_quick_mode() -> None:
    began = time.monotonic()
    r = _lifetime(free_port(socket.SOCK_DGRAM), quick=True)
    assert r.status == Status.SKIPPED and "quick mode" in r.reason
    assert time.monotonic() - began < 1.0


def test_plan_for_stimme_has_udp_tcp_and_lifetime() -> None:
    profile = load_profile(data_dir("profiles") / "stimme.toml")
    plan = plan_stun(profile)
    assert [p.id for p in plan] == ["stun.stun-udp", "stun.stun-tcp", "nat.lifetime"]
    assert plan[0].params.address == "46.189.64.249" and plan[2].params.port == 3478


TLS_RULE_PROFILE = """
[profile]
name = "stun-tls"
title = "STUN/TURN over TLS rule"

[hosts]
stun = "127.0.0.1"

[[rules]]
name = "turn-tls"
protocol = "STUN/TURN over TLS"
transport = "tcp"
tls = true
ports = {port}
host = "stun"
function = "media relay"
verify = "stun"

[checks."media.voice"]
media_rule = ""

[checks.stun]
timeout_s = 0.2
attempts = 1
"""
TLS_SKIP = "STUN over TLS is covered by turn.turn-tls/tls.turn-tls"


def _no_connection_came(listener: socket.socket) -> bool:
    """True if nobody connected to the (non-blocking) listener: its backlog is empty."""
    try:
        conn, _peer = listener.accept()
    except BlockingIOError:
        return True
    conn.close()
    return False


def test_tls_rule_is_planned_skipped_not_sent_plain_stun(tmp_path: Path, config_dir: Path) -> None:
    with socket.socket() as listener:  # stands in for a TURN-over-TLS server's port
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        listener.setblocking(False)
        port = int(listener.getsockname()[1])
        profile = tmp_path / "stun-tls.toml"
        profile.write_text(TLS_RULE_PROFILE.format(port=port), encoding="utf-8")
        (planned,) = plan_stun(load_profile(profile))  # no UDP rule: no nat.lifetime either
        assert planned.id == "stun.turn-tls" and TLS_SKIP in planned.skip_reason
        out = tmp_path / "report"
        proc = run_cli(
            "check", "--profile", str(profile), "--only", "stun.", "--out", str(out),
            config=config_dir, timeout=60.0,
        )  # fmt: skip
        direct = _stun_rule(_tls_rule(port))  # StunCheck itself, should a plan not skip it
        assert _no_connection_came(listener), "plain STUN was sent to the TLS port"
    checks = {c["id"]: c for c in json.loads((out / "report.json").read_bytes())["checks"]}
    assert set(checks) == {"stun.turn-tls"}, proc.stderr
    check = checks["stun.turn-tls"]
    assert check["status"] == "skipped" and TLS_SKIP in check["reason"], check
    assert check["reason"] == tls_skip_reason(planned.params.rule)
    assert direct.status == Status.SKIPPED and TLS_SKIP in direct.reason


def _tls_rule(port: int) -> Rule:
    ports = (PortRange(port, port),)
    return Rule("turn-tls", "STUN/TURN", "tcp", ports, "stun", "media", "stun", tls=True)


def _stun_rule(rule: Rule) -> CheckResult:
    params = StunParams(rule=rule, address="127.0.0.1", timeout_s=0.2, attempts=1)
    return asyncio.run(StunCheck().run(f"stun.{rule.name}", params, _ctx()))
