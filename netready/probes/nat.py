"""NAT behaviour decisions (RFC 5780, RFC 4787) and the NAT binding lifetime, without sockets.

The socket side (`netready.probes.stun_client`) runs the Binding requests; the functions
here only decide what the answers mean:

* mapping behaviour (RFC 5780 §4.3): Test I to the primary address A1:P1 gives the mapped
  address X1; X1 equal to the local address means no NAT. Test II to A2:P1 gives X2: equal
  to X1 is endpoint-independent mapping. Test III to A2:P2 gives X3: equal to X2 is
  address-dependent, else address-and-port-dependent mapping;
* filtering behaviour (RFC 5780 §4.4): an answer to CHANGE-REQUEST(IP and port) means
  endpoint-independent filtering; else an answer to CHANGE-REQUEST(port) means
  address-dependent, else address-and-port-dependent filtering;
* the binding lifetime: after each idle gap the same socket asks again; a different mapped
  port means the NAT had forgotten the mapping and made a new one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

Endpoint = tuple[str, int]

NO_NAT = "no-nat"
ENDPOINT_INDEPENDENT = "endpoint-independent"
ADDRESS_DEPENDENT = "address-dependent"
ADDRESS_PORT_DEPENDENT = "address-and-port-dependent"
UNKNOWN = "unknown"

#: What each behaviour means for calls, in words (mapping, filtering).
_MAPPING_WORDS = {
    NO_NAT: "no address translation between this site and the STUN server",
    ENDPOINT_INDEPENDENT: (
        "the NAT keeps one public address and port per local socket (endpoint-independent "
        "mapping, RFC 4787 REQ-1): the address learnt from STUN is the one the platform's "
        "media server sees, so calls use direct media"
    ),
    ADDRESS_DEPENDENT: (
        "the NAT gives each destination address its own public port (address-dependent "
        "mapping): the address learnt from STUN is not what the media server sees, so calls "
        "need the TURN relay"
    ),
    ADDRESS_PORT_DEPENDENT: (
        "the NAT gives each destination address and port its own public port (address-and-"
        'port-dependent, "symmetric" NAT): STUN addresses are useless for media, so every '
        "call with direct media needs the TURN relay"
    ),
    UNKNOWN: "the mapping behaviour could not be determined",
}
_FILTERING_WORDS = {
    ENDPOINT_INDEPENDENT: (
        "packets from any address reach an open mapping (endpoint-independent filtering): "
        "incoming media works as soon as the phone has sent once"
    ),
    ADDRESS_DEPENDENT: (
        "only addresses the phone has sent to may answer (address-dependent filtering): "
        "fine for symmetric RTP, the phone must send first"
    ),
    ADDRESS_PORT_DEPENDENT: (
        "only the exact address and port the phone has sent to may answer (address-and-port-"
        "dependent filtering): fine for symmetric RTP, the phone must send first"
    ),
    UNKNOWN: "the filtering behaviour could not be determined",
}


def same(a: Endpoint | None, b: Endpoint | None) -> bool:
    """True when both endpoints are known and equal (address text and port)."""
    return a is not None and b is not None and a[0] == b[0] and int(a[1]) == int(b[1])


def mapping_behaviour(
    local: Endpoint | None, x1: Endpoint | None, x2: Endpoint | None, x3: Endpoint | None
) -> str:
    """RFC 5780 §4.3 from the mapped addresses of Tests I-III (None = no answer)."""
    if x1 is None:
        return UNKNOWN
    if same(local, x1):
        return NO_NAT
    if x2 is None:
        return UNKNOWN
    if same(x1, x2):
        return ENDPOINT_INDEPENDENT
    if x3 is None:
        return UNKNOWN
    return ADDRESS_DEPENDENT if same(x2, x3) else ADDRESS_PORT_DEPENDENT


def filtering_behaviour(
    change_both_answered: bool | None, change_port_answered: bool | None
) -> str:
    """RFC 5780 §4.4 from whether Test II (change IP+port) and Test III (change port) answered.

    None means the test was not run (e.g. Test III is not needed after a Test II answer).
    """
    if change_both_answered:
        return ENDPOINT_INDEPENDENT
    if change_both_answered is None or change_port_answered is None:
        return UNKNOWN
    return ADDRESS_DEPENDENT if change_port_answered else ADDRESS_PORT_DEPENDENT


def port_preserved(local: Endpoint | None, mapped: Endpoint | None) -> bool | None:
    """Whether the public port equals the local port (None when either is unknown)."""
    if local is None or mapped is None:
        return None
    return int(local[1]) == int(mapped[1])


def explain(mapping: str, filtering: str) -> str:
    """The behaviour in words for calls, one sentence per aspect."""
    first = _MAPPING_WORDS.get(mapping, _MAPPING_WORDS[UNKNOWN])
    second = _FILTERING_WORDS.get(filtering, _FILTERING_WORDS[UNKNOWN])
    return f"{first[0].upper()}{first[1:]}; {second}."


def needs_relay(mapping: str) -> bool:
    """True when direct media cannot use the STUN address (address- or port-dependent NAT)."""
    return mapping in (ADDRESS_DEPENDENT, ADDRESS_PORT_DEPENDENT)


# ---- binding lifetime ----


@dataclass(frozen=True)
class GapResult:
    """One idle gap: how long, and whether the mapping was the same afterwards."""

    gap_s: float
    answered: bool
    kept: bool  # answered with the same mapped address and port as before the gap


@dataclass(frozen=True)
class LifetimeJudgement:
    """What the gaps show: the longest gap kept, the shortest gap lost, and the verdict."""

    kept_s: float | None  # longest idle gap after which the mapping was still there
    lost_s: float | None  # first gap after which it was gone (or no answer came)
    enough: bool | None  # mapping survives `keepalive_s`; None = not measured that far


def judge_lifetime(gaps: Sequence[GapResult], keepalive_s: float) -> LifetimeJudgement:
    """Longest kept gap, first lost gap; `enough` compares with the phones' keep-alive."""
    kept = [g.gap_s for g in gaps if g.kept]
    lost = next((g.gap_s for g in gaps if not g.kept), None)
    kept_s = max(kept) if kept else None
    if lost is not None and lost <= keepalive_s:
        enough: bool | None = False
    elif kept_s is not None and kept_s >= keepalive_s:
        enough = True
    else:
        enough = None
    return LifetimeJudgement(kept_s, lost, enough)


def bounded_gaps(gaps: Sequence[float], budget_s: float) -> list[float]:
    """The growing gaps (each on its own mapping, side by side), each at most `budget_s`."""
    return sorted({g for g in gaps if 0 < g <= budget_s})
