"""E-model against the test vectors of PROTOCOLS.md §3.6."""

from __future__ import annotations

import pytest

from netready.metrics import emodel


@pytest.mark.parametrize(
    ("ta_ms", "idd", "r"),
    [
        (100, 0.0, 93.21),
        (150, 0.164, 93.04),
        (177.3, 1.172, 92.03),
        (200, 3.044, 90.16),
        (250, 8.917, 84.29),
        (300, 14.761, 78.45),
        (400, 24.07, 69.14),
    ],
)
def test_delay_impairment(ta_ms: float, idd: float, r: float) -> None:
    assert emodel.idd(ta_ms) == pytest.approx(idd, abs=0.001)
    assert emodel.r_factor(ta_ms, 0.0) == pytest.approx(r, abs=0.01)


@pytest.mark.parametrize(
    ("codec", "ppl", "ie_eff", "r", "mos"),
    [
        ("g711", 0, 0.0, 93.04, 4.41),
        ("g711", 1, 3.64, 89.40, 4.32),
        ("g711", 2, 7.01, 86.03, 4.23),
        ("g711-noplc", 1, 17.92, 75.12, 3.83),
        ("g711-noplc", 2, 30.16, 62.88, 3.25),
        ("g729a", 0, 11.0, 82.04, 4.10),
        ("g729a", 1, 15.20, 77.84, 3.94),
        ("g729a", 2, 19.00, 74.04, 3.78),
    ],
)
def test_codec_table_at_ta_150(codec: str, ppl: float, ie_eff: float, r: float, mos: float) -> None:
    assert emodel.ie_eff(codec, ppl) == pytest.approx(ie_eff, abs=0.01)
    rating = emodel.r_factor(150, ppl, name=codec)
    assert rating == pytest.approx(r, abs=0.01)
    assert emodel.mos(rating) == pytest.approx(mos, abs=0.01)


def test_bursty_loss_hurts_more() -> None:
    assert emodel.ie_eff("g711", 1.0, burst_r=2.0) == pytest.approx(3.71, abs=0.01)
    assert emodel.r_factor(150, 1.0, 2.0) == pytest.approx(89.33, abs=0.01)


def test_mos_is_clamped() -> None:
    assert emodel.mos(-5) == emodel.mos(0) == emodel.mos(3) == 1.0
    assert emodel.mos(100) == emodel.mos(120) == 4.5


def test_burst_ratio_from_a_loss_pattern() -> None:
    ok, lost = False, True
    assert emodel.burst_ratio([ok] * 100) == 1.0
    assert emodel.burst_ratio([lost] * 5) == 1.0
    spread = ([ok] * 9 + [lost]) * 10  # isolated losses: p = 10/90, q = 1 -> 1/(p+q) < 1 -> 1
    assert emodel.burst_ratio(spread) == 1.0
    bursty = [ok] * 45 + [lost] * 10 + [ok] * 45  # p = 1/90, q = 1/10
    assert emodel.burst_ratio(bursty) == pytest.approx(1 / (1 / 90 + 1 / 10))


def test_mouth_to_ear_budget() -> None:
    assert emodel.mouth_to_ear_ms(100.0, 5.0) == 100 + 10 + 20 + 10
    assert emodel.mouth_to_ear_ms(100.0, 5.0, "g729a") == 145.0
    with pytest.raises(ValueError, match="unknown codec 'amr'"):
        emodel.codec("amr")
