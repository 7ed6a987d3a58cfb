"""Running figures of a voice stream while it runs: what the live charts show.

These numbers are for the eye only; the verdict always comes from `stats.voice_metrics`
over the whole run. A packet is "settled" once its reply is in, or once it has waited
longer than the reply timeout (then it counts as lost, either way). Settled packets are
folded in send order, so the jitter here is the RFC 3550 estimate in send order (the
final report orders the downstream by arrival).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

NS_PER_MS = 1_000_000


class StampTimes(Protocol):
    """The four STAMP timestamps of one packet (None while not known)."""

    t1_ns: int
    t2_ns: int | None
    t3_ns: int | None
    t4_ns: int | None


@dataclass
class _Jitter:
    """RFC 3550 §6.4.1 interarrival jitter of one direction, in ns."""

    last_transit: int | None = None
    j: float = 0.0

    def add(self, transit: int) -> None:
        if self.last_transit is not None:
            d = abs(transit - self.last_transit)
            self.j += (d - self.j) / 16.0
        self.last_transit = transit


@dataclass
class LiveStats:
    """Folds settled samples in send order and says what happened since the last call."""

    timeout_ns: int
    measured_one_way: bool = False  # both clocks synchronised: one-way delays are real
    settled: int = 0
    received: int = 0
    lost: int = 0

    def __post_init__(self) -> None:
        self._up = _Jitter()
        self._down = _Jitter()

    def update(self, samples: Sequence[StampTimes], sent: int, now_ns: int) -> dict[str, float]:
        """Fold what settled since the last call; the figures of this step (ms, counts)."""
        rtts: list[int] = []
        ups: list[int] = []
        downs: list[int] = []
        while self.settled < sent:
            s = samples[self.settled]
            replied = s.t2_ns is not None and s.t3_ns is not None and s.t4_ns is not None
            if not replied and now_ns - s.t1_ns < self.timeout_ns:
                break  # may still come back
            self.settled += 1
            if not replied:
                self.lost += 1
                continue
            assert s.t2_ns is not None and s.t3_ns is not None and s.t4_ns is not None
            self.received += 1
            up, down = s.t2_ns - s.t1_ns, s.t4_ns - s.t3_ns
            rtts.append(up + down)
            ups.append(up)
            downs.append(down)
            self._up.add(up)
            self._down.add(down)
        values = {
            "sent": float(sent),
            "settled": float(self.settled),
            "received": float(self.received),
            "lost": float(self.lost),
            "jitter_up_ms": self._up.j / NS_PER_MS,
            "jitter_down_ms": self._down.j / NS_PER_MS,
        }
        if rtts:
            rtt = sum(rtts) / len(rtts) / NS_PER_MS
            values["rtt_ms"] = rtt
            if self.measured_one_way:
                values["delay_up_ms"] = sum(ups) / len(ups) / NS_PER_MS
                values["delay_down_ms"] = sum(downs) / len(downs) / NS_PER_MS
            else:
                values["delay_up_ms"] = values["delay_down_ms"] = rtt / 2
        values["delay_measured"] = 1.0 if self.measured_one_way else 0.0
        return values
