"""The responder's counters, as one snapshot and one summary line."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class ResponderStats:
    """Counters since start (a snapshot); `*_drops` are (reason, count), largest first.

    The field names are stable (they become metric names): add, never rename.
    """

    stamp_reflected: int
    stamp_dropped: int
    stamp_sessions: int
    udp_echoed: int
    udp_dropped: int
    tcp_accepted: int
    tcp_errors: int
    internal_errors: int
    stamp_drops: tuple[tuple[str, int], ...] = ()  # (reason, count), largest first
    tcp_refused: int = 0
    stamp_evicted: int = 0  # sessions forgotten for room before their idle time ran out
    # (never one active in the last 5 s: a newcomer is dropped instead, `table-full`)
    udp_drops: tuple[tuple[str, int], ...] = ()  # port-probe echoes not sent, by reason
    sip_echoed: int = 0  # SIP echo answers (UDP and TCP) and probe echoes on SIP ports
    sip_dropped: int = 0
    sip_drops: tuple[tuple[str, int], ...] = ()
    h323_echoed: int = 0
    h323_dropped: int = 0
    h323_drops: tuple[tuple[str, int], ...] = ()
    stamp_unconfirmed_evicted: int = 0  # one-packet sessions forgotten for room

    def summary(self) -> str:
        """The one line printed when the responder stops."""
        reasons = _reasons(self.stamp_drops)
        return (
            f"netready responder stopped: STAMP {self.stamp_reflected} reflected, "
            f"{self.stamp_dropped} dropped" + (f" ({reasons})" if reasons else "") + ", "
            f"{self.stamp_sessions} sessions"
            + (f" ({self.stamp_evicted} evicted while active)" if self.stamp_evicted else "")
            + (
                f" ({self.stamp_unconfirmed_evicted} one-packet sessions evicted)"
                if self.stamp_unconfirmed_evicted
                else ""
            )
            + "; "
            f"UDP probes {self.udp_echoed} echoed, {self.udp_dropped} dropped"
            + _in_brackets(self.udp_drops)
            + "; "
            f"SIP echo {self.sip_echoed} answered, {self.sip_dropped} dropped"
            + _in_brackets(self.sip_drops)
            + "; "
            f"H.323 echo {self.h323_echoed} answered, {self.h323_dropped} dropped"
            + _in_brackets(self.h323_drops)
            + "; "
            f"TCP {self.tcp_accepted} connections accepted, {self.tcp_refused} refused, "
            f"{self.tcp_errors} errors; {self.internal_errors} internal errors"
        )


def _reasons(drops: tuple[tuple[str, int], ...]) -> str:
    return ", ".join(f"{n} {reason}" for reason, n in drops)


def _in_brackets(drops: tuple[tuple[str, int], ...]) -> str:
    return f" ({_reasons(drops)})" if drops else ""


def merge_drops(dropped: int, *counters: Mapping[str, int]) -> tuple[tuple[str, int], ...]:
    """Drop reasons from several counters, largest first; `other` for unexplained drops."""
    drops: dict[str, int] = {}
    for counter in counters:
        for reason, n in list(counter.items()):
            drops[reason] = drops.get(reason, 0) + n
    if sum(drops.values()) < dropped:
        drops["other"] = dropped - sum(drops.values())
    return tuple(sorted(drops.items(), key=lambda item: (-item[1], item[0])))
