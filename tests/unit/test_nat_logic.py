"""RFC 5780 mapping/filtering decisions and the NAT binding lifetime judgement (no sockets)."""

from __future__ import annotations

from netready.probes import nat
from netready.probes.nat import GapResult

LOCAL = ("192.168.1.10", 40000)
PUB = ("203.0.113.7", 40000)


def test_mapping_behaviours() -> None:
    assert nat.mapping_behaviour(LOCAL, LOCAL, None, None) == nat.NO_NAT
    assert nat.mapping_behaviour(LOCAL, PUB, PUB, None) == nat.ENDPOINT_INDEPENDENT
    other = ("203.0.113.7", 40001)
    assert nat.mapping_behaviour(LOCAL, PUB, other, other) == nat.ADDRESS_DEPENDENT
    third = ("203.0.113.7", 40002)
    assert nat.mapping_behaviour(LOCAL, PUB, other, third) == nat.ADDRESS_PORT_DEPENDENT
    assert nat.mapping_behaviour(LOCAL, None, None, None) == nat.UNKNOWN
    assert nat.mapping_behaviour(LOCAL, PUB, None, None) == nat.UNKNOWN
    assert nat.mapping_behaviour(LOCAL, PUB, other, None) == nat.UNKNOWN


def test_filtering_behaviours() -> None:
    assert nat.filtering_behaviour(True, None) == nat.ENDPOINT_INDEPENDENT
    assert nat.filtering_behaviour(False, True) == nat.ADDRESS_DEPENDENT
    assert nat.filtering_behaviour(False, False) == nat.ADDRESS_PORT_DEPENDENT
    assert nat.filtering_behaviour(None, None) == nat.UNKNOWN
    assert nat.filtering_behaviour(False, None) == nat.UNKNOWN


def test_explanations_speak_of_calls() -> None:
    sym = nat.explain(nat.ADDRESS_PORT_DEPENDENT, nat.ADDRESS_PORT_DEPENDENT)
    assert "symmetric" in sym and "TURN relay" in sym and sym.endswith(".")
    assert "direct media" in nat.explain(nat.ENDPOINT_INDEPENDENT, nat.ENDPOINT_INDEPENDENT)
    assert "could not be determined" in nat.explain("bogus", "bogus")
    assert nat.needs_relay(nat.ADDRESS_DEPENDENT) and not nat.needs_relay(nat.NO_NAT)


def test_port_preservation() -> None:
    assert nat.port_preserved(LOCAL, PUB) is True
    assert nat.port_preserved(LOCAL, ("203.0.113.7", 1)) is False
    assert nat.port_preserved(None, PUB) is None


def test_lifetime_judgement() -> None:
    kept = [GapResult(10, True, True), GapResult(20, True, True), GapResult(35, True, True)]
    j = nat.judge_lifetime(kept, 30.0)
    assert (j.kept_s, j.lost_s, j.enough) == (35, None, True)
    short = [GapResult(10, True, True), GapResult(20, True, False)]
    j = nat.judge_lifetime(short, 30.0)
    assert (j.kept_s, j.lost_s, j.enough) == (10, 20, False)
    j = nat.judge_lifetime([GapResult(10, True, True), GapResult(60, False, False)], 30.0)
    assert j.enough is None and j.lost_s == 60
    assert nat.judge_lifetime([], 30.0).enough is None
    assert nat.judge_lifetime([GapResult(45, True, True), GapResult(60, True, False)], 30).enough


def test_gaps_are_bounded() -> None:
    assert nat.bounded_gaps((90, 10, 20, 35, 60), 240) == [10, 20, 35, 60, 90]
    # the gaps run side by side (one mapping each): the budget bounds each gap, not their sum
    assert nat.bounded_gaps((10, 20, 35, 60, 90), 60) == [10, 20, 35, 60]
    assert nat.bounded_gaps((0, -1, 5), 100) == [5]
