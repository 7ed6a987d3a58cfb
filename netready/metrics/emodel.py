"""ITU-T G.107 E-model, simplified for echo-controlled VoIP (narrowband R, MOS per Annex B)."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

# Ro - Is - Idte - Idle with every G.107 Table 3 default (computed: 93.2062; G.107 says 93.2).
R_DEFAULTS = 93.2062
M_T_MS = 100.0  # delay sensitivity mT (G.107 06/2015)
S_T = 1.0  # delay sensitivity sT
PACKETISATION_MS = 20.0  # ptime of the reference call
DEVICE_MS = 10.0  # processing in the two end devices
JITTER_BUFFER_FACTOR = 2.0  # de-jitter buffer delay = this x jitter


@dataclass(frozen=True)
class Codec:
    """Equipment impairment Ie and packet-loss robustness Bpl (ITU-T G.113 Appendix I)."""

    ie: float
    bpl: float
    lookahead_ms: float = 0.0


CODECS: dict[str, Codec] = {
    "g711": Codec(0.0, 25.1),  # G.711 with packet loss concealment (G.711 Appendix I)
    "g711-noplc": Codec(0.0, 4.3),
    "g729a": Codec(11.0, 19.0, 5.0),  # G.729A + VAD, 2 frames per packet
}


def codec(name: str) -> Codec:
    """The codec called `name`; ValueError naming the known ones otherwise."""
    try:
        return CODECS[name]
    except KeyError:
        raise ValueError(f"unknown codec {name!r}; known: {', '.join(sorted(CODECS))}") from None


def idd(ta_ms: float) -> float:
    """Impairment from pure one-way (mouth-to-ear) delay Ta (G.107 §7.4)."""
    if ta_ms <= M_T_MS:
        return 0.0
    x = math.log(ta_ms / M_T_MS) / math.log(2)
    k = 6 * S_T
    return float(25 * ((1 + x**k) ** (1 / k) - 3 * (1 + (x / 3) ** k) ** (1 / k) + 2))


def ie_eff(name: str, ppl_pct: float, burst_r: float = 1.0) -> float:
    """Effective equipment impairment for packet loss `ppl_pct` (percent) and BurstR."""
    c = codec(name)
    return c.ie + (95 - c.ie) * ppl_pct / (ppl_pct / burst_r + c.bpl)


def mouth_to_ear_ms(network_delay_ms: float, jitter_ms: float, name: str = "g711") -> float:
    """Ta: network one-way delay + packetisation + lookahead + jitter buffer + devices."""
    extra = PACKETISATION_MS + codec(name).lookahead_ms + DEVICE_MS
    return network_delay_ms + JITTER_BUFFER_FACTOR * jitter_ms + extra


def r_factor(ta_ms: float, ppl_pct: float, burst_r: float = 1.0, name: str = "g711") -> float:
    """Transmission rating R = R_defaults - Idd(Ta) - Ie_eff (advantage factor A = 0)."""
    return R_DEFAULTS - idd(ta_ms) - ie_eff(name, ppl_pct, burst_r)


def mos(r: float) -> float:
    """Estimated MOS-CQE for a rating R (G.107 Annex B), at least 1 and at most 4.5."""
    if r <= 0:
        return 1.0
    if r >= 100:
        return 4.5
    return max(1.0, 1 + 0.035 * r + r * (r - 60) * (100 - r) * 7e-6)


def burst_ratio(lost: list[bool]) -> float:
    """BurstR from a loss pattern (two-state Markov, G.107 §7.5); 1 when it cannot tell.

    Values below 1 (losses more spread out than random) are raised to 1, the random case.
    """
    received = lost.count(False)
    losses = len(lost) - received
    if not received or not losses:
        return 1.0
    to_loss = sum(1 for a, b in itertools.pairwise(lost) if not a and b)
    to_recv = sum(1 for a, b in itertools.pairwise(lost) if a and not b)
    p, q = to_loss / received, to_recv / losses
    return 1.0 if p + q == 0 else max(1.0, 1 / (p + q))
