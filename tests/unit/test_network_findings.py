"""A network failure is a finding, not a crash; TCP states are worded as they are.

* The runner (`_error`): a check that raises an OSError meaning "no way from here to there"
  (ENETUNREACH, EHOSTUNREACH, ...) ends as `fail` with the words of
  `probes.errors.NETWORK_ERRNO_WORDS` and a remediation about this machine's connection;
  EADDRNOTAVAIL (no usable local address) is `not_tested`; anything else stays `error`
  "internal error in the check".
* The firewall check's TCP verdict (`_judge`, `_blocked_reason`, `_remediation_for`): a real
  probe on 127.0.0.1 to a port where nothing listens is "refused (reset)" with the reset
  remediation; the other states from hand-built port states.
"""

from __future__ import annotations

import asyncio
import errno
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from netready.checks.base import Check, PlannedCheck, RunContext
from netready.checks.firewall import FirewallCheck, _judge
from netready.checks.firewall_params import FirewallParams
from netready.checktexts import text
from netready.engine.runner import Runner, RunOutcome
from netready.model import CheckResult, PortRange, Rule, Status, Verdict
from netready.probes.errors import NETWORK_ERRNO_WORDS, NETWORK_REMEDIATION, network_failure
from netready.probes.tcp import CLOSED, FILTERED, RESET_AFTER_CONNECT, UNREACHABLE
from netready.probes.tcp import STATE_WORDS as TCP_WORDS

LOCAL = "127.0.0.1"


# ---- probes.errors.network_failure ----


@pytest.mark.parametrize("name", sorted(NETWORK_ERRNO_WORDS))
def test_network_failure_words_for_each_errno(name: str) -> None:
    exc = OSError(getattr(errno, name), "whatever the OS says")
    assert network_failure(exc) == NETWORK_ERRNO_WORDS[name]


def test_network_failure_is_empty_for_anything_else() -> None:
    assert network_failure(ConnectionRefusedError(errno.ECONNREFUSED, "refused")) == ""
    assert network_failure(TimeoutError()) == ""
    assert network_failure(OSError("no errno")) == ""
    assert network_failure(ValueError("bad")) == ""


def test_network_errno_words_name_what_an_installer_meets() -> None:
    assert NETWORK_ERRNO_WORDS["ENETUNREACH"].startswith("network unreachable")
    assert NETWORK_ERRNO_WORDS["EHOSTUNREACH"].startswith("host unreachable")
    assert NETWORK_ERRNO_WORDS["EADDRNOTAVAIL"].startswith("address not available")
    assert "default route" in NETWORK_REMEDIATION


# ---- the runner turns a network OSError into a finding ----


@dataclass(frozen=True)
class RaiseParams:
    exc: BaseException | None = None
    in_timeout: bool = False  # raise while the runner asks for the timeout (unusable params)


class Raising(Check):
    kind = "test.raising"
    Params = RaiseParams
    title = "raising"

    def timeout_s(self, params: Any, ctx: RunContext) -> float:
        if params.in_timeout and params.exc is not None:
            raise params.exc
        return 5.0

    async def run(self, check_id: str, params: Any, ctx: RunContext) -> CheckResult:
        await asyncio.sleep(0)
        if params.exc is not None:
            raise params.exc
        return CheckResult(check_id, "raising", Status.PASS)


def run_raising(exc: BaseException, in_timeout: bool = False) -> tuple[CheckResult, RunOutcome]:
    plan = [PlannedCheck("svc.one", "one service", Raising(), RaiseParams(exc, in_timeout))]
    outcome = asyncio.run(Runner(plan, [], "test").run())
    assert len(outcome.results) == 1
    return outcome.results[0], outcome


def test_enetunreach_is_a_finding_not_an_error() -> None:
    result, outcome = run_raising(OSError(errno.ENETUNREACH, "Network is unreachable"))
    assert result.status is Status.NOT_TESTED  # nothing measured: no figures to fail on
    assert "network unreachable" in result.reason
    assert result.reason == (
        "network unreachable: no route from this machine ([Errno 101] Network is unreachable)"
    )
    assert "internal error" not in result.reason
    assert result.remediation == NETWORK_REMEDIATION
    assert "default route" in result.remediation
    assert result.evidence["network_error"] == "ENETUNREACH"
    assert (result.id, result.title) == ("svc.one", "one service")
    assert outcome.verdict is Verdict.INCOMPLETE


def test_ehostunreach_is_a_finding() -> None:
    result, _ = run_raising(OSError(errno.EHOSTUNREACH, "No route to host"))
    assert result.status is Status.NOT_TESTED
    assert result.reason.startswith("host unreachable: a router or this machine found no way")
    assert result.remediation == NETWORK_REMEDIATION
    assert result.evidence["network_error"] == "EHOSTUNREACH"


def test_enetdown_is_a_finding() -> None:
    result, _ = run_raising(OSError(errno.ENETDOWN, "Network is down"))
    assert result.status is Status.NOT_TESTED
    assert result.reason.startswith("network down")


def test_eaddrnotavail_is_not_tested() -> None:
    result, outcome = run_raising(OSError(errno.EADDRNOTAVAIL, "Cannot assign requested address"))
    assert result.status is Status.NOT_TESTED
    assert result.reason.startswith("address not available: this machine has no usable local")
    assert result.remediation == NETWORK_REMEDIATION
    assert result.evidence["network_error"] == "EADDRNOTAVAIL"
    assert outcome.verdict is Verdict.INCOMPLETE


def test_a_network_error_while_planning_the_timeout_is_a_finding_too() -> None:
    result, _ = run_raising(OSError(errno.ENETUNREACH, "Network is unreachable"), in_timeout=True)
    assert result.status is Status.NOT_TESTED
    assert result.reason.startswith("network unreachable")


@pytest.mark.parametrize(
    "exc",
    [
        ValueError("bad value"),
        ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"),
        OSError("an OSError without errno"),
    ],
    ids=["ValueError", "ECONNREFUSED", "no-errno"],
)
def test_anything_else_is_still_an_internal_error(exc: BaseException) -> None:
    result, outcome = run_raising(exc)
    assert result.status is Status.ERROR
    assert result.reason.startswith(f"internal error in the check: {type(exc).__name__}: {exc}")
    assert "(at run:" in result.reason  # where it was raised
    assert result.remediation == ""
    assert "network_error" not in result.evidence
    assert outcome.verdict is Verdict.INCOMPLETE


# ---- the firewall check's TCP wording, with a real probe on loopback ----


def tcp_rule(*ports: int) -> Rule:
    return Rule(
        name="h323-tls",
        protocol="H.323/TLS",
        transport="tcp",
        ports=tuple(PortRange(p, p) for p in ports),
        host="pbx",
        function="H.323",
        verify="connect",
    )


def tcp_params(rule: Rule) -> FirewallParams:
    return FirewallParams(rule=rule, address=LOCAL, timeout_s=1.0, retries=0)


def closed_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (the kernel answers a SYN with RST)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOCAL, 0))
        return int(s.getsockname()[1])


@contextmanager
def listening() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOCAL, 0))
        s.listen(8)
        yield int(s.getsockname()[1])


def run_check(rule: Rule) -> CheckResult:
    ctx = RunContext(progress=lambda f, m: None)
    return asyncio.run(FirewallCheck().run("firewall.h323-tls", tcp_params(rule), ctx))


def test_tcp_refused_port_is_worded_as_a_reset_with_the_reset_remediation() -> None:
    port = closed_port()
    result = run_check(tcp_rule(port))
    assert result.status is Status.FAIL
    assert result.method == "tcp-connect"
    assert result.evidence["ports"] == {"open": "", "blocked": str(port), "not_tested": ""}
    assert result.evidence["port_states"][str(port)]["state"] == CLOSED
    assert "refused (reset): nothing listens there, or a firewall rejects it" in result.reason
    assert result.reason == (
        f"1 of 1 TCP port(s) to {LOCAL} not reachable: "
        f"{port} refused (reset): nothing listens there, or a firewall rejects it"
    )
    assert "TCP reset" in result.remediation
    assert result.remediation == text(
        "firewall", "remediation_reset", address=LOCAL, ports=str(port), function="H.323"
    )
    assert "TCP-Reset" in result.evidence["remediation_de"]


def test_tcp_open_and_refused_ports_together() -> None:
    port = closed_port()
    with listening() as open_port:
        result = run_check(tcp_rule(open_port, port))
    assert result.status is Status.FAIL
    assert result.evidence["ports"]["open"] == str(open_port)
    assert result.evidence["ports"]["blocked"] == str(port)
    assert result.reason.startswith(f"1 of 2 TCP port(s) to {LOCAL} not reachable: {port} refused")
    assert result.remediation.startswith(f"{LOCAL} answered port(s) {port} with a TCP reset")


def test_tcp_all_open_passes() -> None:
    with listening() as port:
        result = run_check(tcp_rule(port))
    assert result.status is Status.PASS
    assert (result.reason, result.remediation) == ("", "")
    assert "port_states" not in result.evidence


# ---- _judge on hand-built port states ----


def judged(states: dict[int, tuple[str, str]], blocked: list[int]) -> CheckResult:
    rule = tcp_rule(*sorted(states))
    result = CheckResult("firewall.h323-tls", "t", Status.NOT_TESTED)
    result.evidence["destination"] = LOCAL
    result.evidence["port_states"] = {
        str(port): {"state": state, "detail": detail} for port, (state, detail) in states.items()
    }
    return _judge(result, tcp_params(rule), blocked, [], None)


def test_judge_words_each_tcp_state() -> None:
    result = judged(
        {1300: (FILTERED, "timed out"), 1301: (CLOSED, "refused"), 1302: (RESET_AFTER_CONNECT, "")},
        [1300, 1301, 1302],
    )
    assert result.status is Status.FAIL
    assert result.reason == (
        f"3 of 3 TCP port(s) to {LOCAL} not reachable: "
        f"1301 {TCP_WORDS[CLOSED]}; 1300 {TCP_WORDS[FILTERED]}; "
        f"1302 {TCP_WORDS[RESET_AFTER_CONNECT]}"
    )
    # mixed states: the general rule line, not the reset one
    assert "TCP reset" not in result.remediation
    assert f"allow out proto tcp to {LOCAL} port 1300-1302" in result.remediation


def test_judge_filtered_only() -> None:
    result = judged({1300: (FILTERED, "timed out")}, [1300])
    assert result.reason == f"1 of 1 TCP port(s) to {LOCAL} not reachable: 1300 no answer: " + (
        "a firewall drops it"
    )
    assert result.remediation.startswith("Allow outbound TCP")


def test_judge_unreachable_names_the_icmp_error_and_the_route() -> None:
    detail = "network unreachable (ENETUNREACH)"
    result = judged({1300: (UNREACHABLE, detail)}, [1300])
    assert result.status is Status.FAIL
    assert result.reason == f"1 of 1 TCP port(s) to {LOCAL} not reachable: 1300 {detail}"
    assert result.remediation == text(
        "firewall", "remediation_unreachable", address=LOCAL, why=detail
    )
    assert "default route" in result.remediation


def test_judge_untested_ports_with_send_errors_name_the_network() -> None:
    rule = Rule(
        name="rtp",
        protocol="RTP",
        transport="udp",
        ports=(PortRange(16384, 16387),),
        host="pbx",
        function="voice",
        verify="echo",
    )
    result = CheckResult("firewall.rtp", "t", Status.NOT_TESTED)
    result.evidence["send_errors"] = {"ENETUNREACH": 8}
    p = FirewallParams(rule=rule, address=LOCAL)
    _judge(result, p, [], [16384, 16385, 16386, 16387], None)
    assert result.status is Status.NOT_TESTED
    assert result.reason == (
        "4 port(s) could not be probed: 16384-16387 (network unreachable: no route from this "
        "machine)"
    )
    assert result.remediation == text(
        "firewall",
        "remediation_unreachable",
        address=LOCAL,
        why=NETWORK_ERRNO_WORDS["ENETUNREACH"],
    )
