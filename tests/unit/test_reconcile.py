"""One report never contradicts itself: a port any check reached is never "blocked".

`netready.engine.reconcile` on hand-built results (the contradiction as a field run produced
it: the firewall check's probe to UDP 3478 went unanswered while the STUN check got its
Binding answered there), and through the real `Runner`, which emits the corrected result
as a second CheckFinished.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from netready.checks.base import Check, PlannedCheck, RunContext
from netready.engine.reconcile import parse_ranges, reached_by, reconcile
from netready.engine.runner import Runner, RunOutcome
from netready.events import CheckFinished, Event, RunFinished
from netready.model import CheckResult, Status, Verdict, reached_key

ADDR = "127.0.0.9"
OTHER = "127.0.0.10"


def firewall_result(
    blocked: str = "3478",
    open_: str = "",
    not_tested: str = "",
    transport: str = "udp",
    title_ports: str = "3478",
    rule: str = "stun-udp",
) -> CheckResult:
    """A failed `firewall.*` result as FirewallCheck.run builds it."""
    upper = transport.upper()
    result = CheckResult(
        id=f"firewall.{rule}",
        title=f"Firewall: STUN {upper}/{title_ports} to stun (STUN/TURN)",
        status=Status.FAIL,
        method="stun-binding to the host",
        reason=f"1 of 1 {upper} port(s) to {ADDR} did not answer: {blocked}",
        remediation=(
            f"Allow outbound {upper} ... to {ADDR} port(s) {blocked} (STUN/TURN); "
            f"firewall rule: allow out proto {transport} to {ADDR} port {blocked}"
        ),
        metrics={
            "ports_open": float(len(parse_ranges(open_))),
            "ports_blocked": float(len(parse_ranges(blocked))),
            "ports_not_tested": float(len(parse_ranges(not_tested))),
        },
    )
    result.evidence.update(
        host="stun",
        host_address=ADDR,
        destination=ADDR,
        function="STUN/TURN",
        ports={"open": open_, "blocked": blocked, "not_tested": not_tested},
        remediation_de="Ausgehend ... freigeben",
    )
    result.evidence["transport"] = transport  # as the firewall check writes it
    return result


def stun_result(*reached: str, check_id: str = "stun.stun-udp") -> CheckResult:
    result = CheckResult(id=check_id, title="STUN over UDP", status=Status.PASS)
    result.evidence["reached"] = list(reached)
    return result


def test_parse_ranges() -> None:
    assert parse_ranges("") == []
    assert parse_ranges("3478") == [3478]
    assert parse_ranges("1-3,5") == [1, 2, 3, 5]
    assert parse_ranges("16384-16386,50000") == [16384, 16385, 16386, 50000]


def test_reached_key_format() -> None:
    assert reached_key("udp", ADDR, 3478) == f"udp/{ADDR}:3478"


def test_reached_by_names_the_first_check() -> None:
    a = stun_result(f"udp/{ADDR}:3478", check_id="stun.a")
    b = stun_result(f"udp/{ADDR}:3478", f"tcp/{ADDR}:3478", check_id="stun.b")
    assert reached_by([a, b]) == {f"udp/{ADDR}:3478": "stun.a", f"tcp/{ADDR}:3478": "stun.b"}


def test_a_reached_port_is_moved_to_open_and_the_rule_passes() -> None:
    fw = firewall_result()
    stun = stun_result(reached_key("udp", ADDR, 3478))
    changed = reconcile([fw, stun])
    assert changed == [fw]
    assert fw.status is Status.PASS
    assert fw.evidence["ports"] == {"open": "3478", "blocked": "", "not_tested": ""}
    assert fw.remediation == ""
    assert "remediation_de" not in fw.evidence
    assert fw.evidence["reconciled"] == {
        "3478": "reached by stun.stun-udp: an answer proves the port open"
    }
    assert fw.reason == "port(s) 3478 answered stun.stun-udp in this run and count as open"
    assert fw.metrics["ports_blocked"] == 0.0 and fw.metrics["ports_open"] == 1.0
    assert stun.status is Status.PASS  # the other side is left alone


def test_reconcile_is_idempotent() -> None:
    fw = firewall_result()
    results = [fw, stun_result(reached_key("udp", ADDR, 3478))]
    assert reconcile(results) == [fw]
    assert reconcile(results) == []  # nothing blocked any more: nothing changes again
    assert fw.status is Status.PASS


def test_a_partly_reached_range_stays_failed_with_the_rest() -> None:
    fw = firewall_result(blocked="3478-3480", title_ports="3478-3480")
    changed = reconcile([fw, stun_result(reached_key("udp", ADDR, 3478))])
    assert changed == [fw]
    assert fw.status is Status.FAIL
    assert fw.evidence["ports"] == {"open": "3478", "blocked": "3479-3480", "not_tested": ""}
    assert fw.evidence["reconciled"] == {
        "3478": "reached by stun.stun-udp: an answer proves the port open"
    }
    assert fw.reason == (
        "2 UDP port(s) not reachable: 3479-3480 did not answer; "
        "port(s) 3478 answered stun.stun-udp in this run and count as open"
    )
    assert "port(s) 3479-3480 (STUN/TURN)" in fw.remediation and "3478" not in fw.remediation
    assert f"allow out proto udp to {ADDR} port 3479-3480" in fw.remediation
    assert "3479-3480" in fw.evidence["remediation_de"]
    assert fw.metrics["ports_blocked"] == 2.0 and fw.metrics["ports_open"] == 1.0


def test_existing_open_ports_are_kept() -> None:
    fw = firewall_result(blocked="3479", open_="3478", title_ports="3478-3479")
    reconcile([fw, stun_result(reached_key("udp", ADDR, 3479))])
    assert fw.status is Status.PASS
    assert fw.evidence["ports"]["open"] == "3478-3479"
    assert fw.metrics["ports_open"] == 2.0


def test_reached_with_untested_ports_left_is_not_tested() -> None:
    fw = firewall_result(blocked="3478", not_tested="3479", title_ports="3478-3479")
    reconcile([fw, stun_result(reached_key("udp", ADDR, 3478))])
    assert fw.status is Status.NOT_TESTED
    assert fw.remediation == ""
    assert fw.reason == (
        "port(s) 3478 answered stun.stun-udp in this run and count as open; not tested: 3479"
    )


def test_a_port_reached_at_another_address_changes_nothing() -> None:
    fw = firewall_result()
    before = (fw.status, dict(fw.evidence["ports"]), fw.reason, fw.remediation)
    assert reconcile([fw, stun_result(reached_key("udp", OTHER, 3478))]) == []
    assert (fw.status, fw.evidence["ports"], fw.reason, fw.remediation) == before
    assert "reconciled" not in fw.evidence


def test_a_port_reached_at_the_host_address_counts_when_the_destination_differs() -> None:
    """A stand-in decision tests the responder's address; the host's own answer still counts."""
    fw = firewall_result()
    fw.evidence["destination"] = OTHER
    reconcile([fw, stun_result(reached_key("udp", ADDR, 3478))])
    assert fw.status is Status.PASS


def test_tcp_and_udp_do_not_mix() -> None:
    udp = firewall_result()
    tcp_reach = stun_result(reached_key("tcp", ADDR, 3478), check_id="stun.stun-tcp")
    assert reconcile([udp, tcp_reach]) == []
    assert udp.status is Status.FAIL and udp.evidence["ports"]["blocked"] == "3478"

    tcp = firewall_result(transport="tcp", rule="stun-tcp")
    udp_reach = stun_result(reached_key("udp", ADDR, 3478))
    assert reconcile([tcp, udp_reach]) == []
    assert tcp.status is Status.FAIL

    assert reconcile([tcp, udp, udp_reach, tcp_reach]) == [tcp, udp]
    assert tcp.evidence["reconciled"] == {
        "3478": "reached by stun.stun-tcp: an answer proves the port open"
    }
    assert udp.evidence["reconciled"] == {
        "3478": "reached by stun.stun-udp: an answer proves the port open"
    }


def test_transport_comes_from_the_evidence_not_the_title() -> None:
    fw = firewall_result()
    fw.title = "Firewall rule"  # no transport in the title
    reconcile([fw, stun_result(reached_key("udp", ADDR, 3478))])
    assert fw.status is Status.PASS


def test_a_firewall_result_never_reconciles_itself() -> None:
    fw = firewall_result()
    fw.evidence["reached"] = [reached_key("udp", ADDR, 3478)]
    assert reconcile([fw]) == []
    assert fw.status is Status.FAIL


def test_only_firewall_results_are_corrected() -> None:
    other = firewall_result()
    other.id = "stunish.stun-udp"  # not a firewall.* id
    assert reconcile([other, stun_result(reached_key("udp", ADDR, 3478))]) == []
    assert other.status is Status.FAIL


def test_results_without_ports_are_left_alone() -> None:
    fw = firewall_result()
    fw.evidence.pop("ports")
    assert reconcile([fw, stun_result(reached_key("udp", ADDR, 3478))]) == []
    fw2 = firewall_result(blocked="")
    assert reconcile([fw2, stun_result(reached_key("udp", ADDR, 3478))]) == []


def test_ipv6_addresses() -> None:
    fw = firewall_result()
    fw.evidence.update(destination="::1", host_address="::1")
    reconcile([fw, stun_result(reached_key("udp", "::1", 3478))])
    assert fw.status is Status.PASS


def test_a_partly_reached_tcp_rule_keeps_the_words_of_its_refused_ports() -> None:
    fw = firewall_result(blocked="5060-5061", transport="tcp", title_ports="5060-5061", rule="sip")
    fw.evidence["port_states"] = {
        str(port): {
            "state": "closed",
            "detail": "connection refused (RST or ICMP port unreachable)",
        }
        for port in (5060, 5061)
    }
    fw.reason = (
        f"2 of 2 TCP port(s) to {ADDR} not reachable: "
        "5060-5061 refused (reset): nothing listens there, or a firewall rejects it"
    )
    reconcile([fw, stun_result(reached_key("tcp", ADDR, 5060), check_id="tls.sip")])
    assert fw.status is Status.FAIL
    assert fw.evidence["ports"]["blocked"] == "5061"
    assert "5061 refused (reset): nothing listens there, or a firewall rejects it" in fw.reason
    assert "did not answer" not in fw.reason
    assert "TCP reset" in fw.remediation


# ---- through the runner ----


@dataclass(frozen=True)
class CannedParams:
    result: CheckResult = field(default_factory=lambda: CheckResult("x", "x", Status.PASS))


class Canned(Check):
    """Returns a copy of the result it was planned with."""

    kind = "test.canned"
    Params = CannedParams
    title = "canned"

    async def run(self, check_id: str, params: Any, ctx: RunContext) -> CheckResult:
        r: CheckResult = params.result
        return CheckResult(
            id=check_id,
            title=r.title,
            status=r.status,
            method=r.method,
            metrics=dict(r.metrics),
            evidence={k: (dict(v) if isinstance(v, dict) else v) for k, v in r.evidence.items()},
            reason=r.reason,
            remediation=r.remediation,
        )


def run_plan(*results: CheckResult) -> tuple[RunOutcome, list[Event], list[dict[str, Any]]]:
    """Run canned results; the events, and each event as a subscriber saw it at the time."""
    plan = [PlannedCheck(r.id, r.title, Canned(), CannedParams(r)) for r in results]
    events: list[Event] = []
    seen: list[dict[str, Any]] = []

    def subscriber(event: Event) -> None:
        events.append(event)
        seen.append(json.loads(json.dumps(event.to_dict())))

    outcome = asyncio.run(Runner(plan, [subscriber], "test").run())
    return outcome, events, seen


def test_runner_emits_the_corrected_result_and_the_verdict_passes() -> None:
    outcome, events, seen = run_plan(firewall_result(), stun_result(reached_key("udp", ADDR, 3478)))
    finished = [d["result"] for d in seen if d["event"] == "check_finished"]
    assert [(r["id"], r["status"]) for r in finished] == [
        ("firewall.stun-udp", "fail"),
        ("stun.stun-udp", "pass"),
        ("firewall.stun-udp", "pass"),
    ]
    corrected = finished[2]
    assert corrected["evidence"]["ports"] == {"open": "3478", "blocked": "", "not_tested": ""}
    assert corrected["evidence"]["reconciled"] == {
        "3478": "reached by stun.stun-udp: an answer proves the port open"
    }
    assert corrected["remediation"] == ""
    assert finished[0]["remediation"] != ""
    assert [d["event"] for d in seen[-2:]] == ["check_finished", "run_finished"]
    assert seen[-1]["verdict"] == "PASS"
    assert outcome.verdict is Verdict.PASS
    assert [r.status for r in outcome.results] == [Status.PASS, Status.PASS]
    last = events[-2]
    assert isinstance(last, CheckFinished) and last.result is outcome.results[0]
    assert isinstance(events[-1], RunFinished)


def test_runner_without_a_contradiction_emits_each_result_once() -> None:
    outcome, events, seen = run_plan(
        firewall_result(), stun_result(reached_key("udp", OTHER, 3478))
    )
    finished = [e for e in events if isinstance(e, CheckFinished)]
    assert [e.result.id for e in finished] == ["firewall.stun-udp", "stun.stun-udp"]
    assert seen[-1]["verdict"] == "FAIL"
    assert outcome.verdict is Verdict.FAIL


def test_runner_partial_correction_still_fails() -> None:
    outcome, events, _ = run_plan(
        firewall_result(blocked="3478-3480", title_ports="3478-3480"),
        stun_result(reached_key("udp", ADDR, 3478)),
    )
    finished = [e for e in events if isinstance(e, CheckFinished)]
    assert len(finished) == 3
    assert finished[2].result.evidence["ports"]["blocked"] == "3479-3480"
    assert outcome.verdict is Verdict.FAIL
