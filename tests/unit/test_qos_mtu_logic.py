"""The judging logic of `qos.dscp` and `path.mtu`, without a network: verdicts, reasons, edges.

`netready.checks.qos` (direction_verdict, describe, dscp_name, judge) and
`netready.checks.mtu.judge` are pure functions of what the probes measured; the namespace
tests (tests/netns/test_qos_mtu.py, test_mtu_limits.py) show the same verdicts end to end.
"""

from __future__ import annotations

from typing import Any

import pytest

from netready.checks import mtu, qos
from netready.checks.mtu_params import MtuParams
from netready.model import CheckResult, Status
from netready.probes.mtu import IPV4_OVERHEAD, IPV6_OVERHEAD, MtuRun, SizeTry

EF = 46


def _result(check_id: str) -> CheckResult:
    return CheckResult(id=check_id, title="t", status=Status.NOT_TESTED)


# ---- qos.dscp ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seen", "known", "verdict"),
    [
        ({"46": 150}, True, "kept"),
        ({"0": 150}, True, "bleached"),
        ({"34": 150}, True, "remarked"),
        ({"46": 100, "0": 50}, True, "remarked"),  # part of the stream lost it: not "kept"
        ({}, True, "unknown"),
        ({"46": 150}, False, "unknown"),  # the responder could not mark (RP = 1)
    ],
)
def test_direction_verdict(seen: dict[str, int], known: bool, verdict: str) -> None:
    got, values = qos.direction_verdict(EF, seen, known)
    assert got == verdict
    assert values == sorted(int(v) for v in seen)


def test_describe_and_names() -> None:
    assert qos.describe("upstream", "kept", [46], "EF") == "EF kept upstream"
    assert qos.describe("downstream", "bleached", [0]) == "bleached to CS0 downstream"
    assert qos.describe("upstream", "remarked", [0, 34]) == "remarked to CS0, AF41 upstream"
    assert qos.describe("downstream", "unknown", []) == "downstream unknown"
    assert qos.dscp_name(46) == "EF" and qos.dscp_name(0) == "CS0" and qos.dscp_name(5) == "5"


def _dscp(up: dict[str, int], down: dict[str, int], applied: bool = True) -> dict[str, Any]:
    """The `dscp` evidence of `voice_metrics` (netready.metrics.stats) for a stream sent EF."""
    return {
        "sent": EF,
        "at_reflector": up,
        "received": down,
        "upstream_kept": set(up) == {str(EF)} if up else None,
        "downstream_kept": set(down) == {str(EF)} if down and applied else None,
    }


def test_qos_kept_both_ways_passes_without_advice() -> None:
    r = _result("qos.dscp")
    qos.judge(r, EF, _dscp({"46": 150}, {"46": 150}))
    assert r.status == Status.PASS and r.reason == "EF kept upstream / kept downstream"
    assert not r.remediation
    assert r.evidence["seen_names"] == {"upstream": ["EF"], "downstream": ["EF"]}


def test_qos_lost_marking_is_advice_not_failure() -> None:
    r = _result("qos.dscp")
    qos.judge(r, EF, _dscp({"0": 150}, {"34": 150}))
    assert r.status == Status.PASS  # the platform only recommends QoS
    assert r.reason.startswith("EF bleached to CS0 upstream / remarked to AF41 downstream: ")
    assert "site to platform, platform to site" in r.reason and "advice" in r.reason
    assert "site to platform, platform to site" in r.remediation
    assert r.evidence["remediation_de"] and r.evidence["remediation_de"] != r.remediation
    assert (r.evidence["upstream"], r.evidence["downstream"]) == ("bleached", "remarked")


def test_qos_responder_that_cannot_mark_leaves_downstream_unknown() -> None:
    r = _result("qos.dscp")
    qos.judge(r, EF, _dscp({"46": 150}, {"0": 150}, applied=False))
    assert r.status == Status.PASS and not r.remediation
    assert r.evidence["downstream"] == "unknown"
    assert r.reason == (
        "EF kept upstream / downstream unknown "
        "(the responder could not mark its replies (CoS TLV RP = 1))"
    )


def test_qos_no_dscp_data_is_not_judged() -> None:
    r = _result("qos.dscp")
    qos.judge(r, EF, _dscp({}, {}))
    assert r.status == Status.NOT_TESTED
    assert r.reason.endswith("no DSCP data came back")


# ---- path.mtu ----------------------------------------------------------------------------


def _run(
    path_mtu: int | None,
    fragments: bool | None = True,
    overhead: int = IPV4_OVERHEAD,
) -> MtuRun:
    sizes = [SizeTry(1500, path_mtu == 1500, 1, "reply" if path_mtu == 1500 else "emsgsize")]
    return MtuRun(
        "203.0.113.2", 862, overhead, path_mtu, fragments, 3000, path_mtu, sizes,
        {True: "reply", False: "timeout", None: ""}[fragments],
    )  # fmt: skip


def _judge(run: MtuRun, **params: Any) -> CheckResult:
    r = _result("path.mtu")
    mtu.judge(r, MtuParams(**params), run)
    return r


def test_mtu_clean_path_passes() -> None:
    r = _judge(_run(1500))
    assert r.status == Status.PASS and not r.remediation
    assert r.metrics == {"path_mtu_bytes": 1500.0, "fragments_pass": 1.0}
    assert "path MTU 1500 bytes (UDP payload up to 1472 bytes unfragmented" in r.reason
    assert "at least, the largest size tried" in r.reason  # 1500 is max_ip_bytes
    assert "fragmented UDP (3000-byte payload) passes" in r.reason
    assert r.evidence["max_payload_bytes"] == 1472 and r.evidence["sizes"][0]["ip_bytes"] == 1500


def test_mtu_dropped_fragments_alone_still_pass_but_say_so() -> None:
    r = _judge(_run(1500, fragments=False))
    assert r.status == Status.PASS and not r.remediation
    assert r.metrics["fragments_pass"] == 0.0 and r.evidence["fragments_pass"] is False
    assert "did not come back (IP fragments dropped on the path" in r.reason


@pytest.mark.parametrize(
    ("path_mtu", "overhead", "status"),
    [
        (1328, IPV4_OVERHEAD, Status.PASS),  # exactly 1300 bytes of payload
        (1327, IPV4_OVERHEAD, Status.FAIL),
        (1348, IPV6_OVERHEAD, Status.PASS),
        (1347, IPV6_OVERHEAD, Status.FAIL),
    ],
)
def test_mtu_threshold_is_the_sip_payload(path_mtu: int, overhead: int, status: Status) -> None:
    assert _judge(_run(path_mtu, overhead=overhead)).status == status


def test_mtu_below_sip_payload_fails_with_remediation() -> None:
    r = _judge(_run(1200, fragments=None))
    assert r.status == Status.FAIL
    assert r.reason.startswith("path MTU 1200 bytes (UDP payload up to 1172 bytes unfragmented")
    assert "DF; both directions together)" in r.reason  # not "at least": 1200 < max
    assert "below the 1300-byte UDP payload that SIP over UDP with SDP needs (IP MTU 1328)" in (
        r.reason
    )
    assert r.reason.endswith("fragmented UDP not tried")
    assert "fragments_pass" not in r.metrics
    assert "1300" in r.remediation and "1328" in r.remediation
    assert "1328" in r.evidence["remediation_de"]


def test_mtu_required_payload_comes_from_the_params() -> None:
    assert _judge(_run(1200), required_payload_bytes=1100).status == Status.PASS
    r = _judge(_run(1400), required_payload_bytes=1400)
    assert r.status == Status.FAIL and "(IP MTU 1428)" in r.reason


def test_mtu_nothing_came_back_is_not_tested() -> None:
    r = _judge(_run(None, fragments=None), min_ip_bytes=600)
    assert r.status == Status.NOT_TESTED and not r.metrics
    assert r.reason.startswith("not even a 600-byte packet came back from the responder")
    assert r.evidence["path_mtu_bytes"] is None
