"""UDP rules without a responder: TTL-limited probes ("firewalk", Schiffman & Goldsmith 1998).

A UDP datagram to the platform's port p with TTL = h + 1, where h is the hop count of the
site's edge (its firewall), expires at the first router *beyond* the edge, which answers
with ICMP time-exceeded. That answer proves the edge forwarded port p outbound. It says
nothing about the far end (the platform's firewall, the service on p, the way back for
media), so the result is **egress only** and never a pass of the rule.

How the edge is found (no `edge_hop` given): every sampled port is sent with TTL 1, 2, ...
(max_ttl); up to the edge all of them draw a time-exceeded (a router answers before its
forward filter runs), so the first TTL at which some ports still draw one and others do not
is edge + 1 (`CONTROL_PORTS` ride along as neighbours, see below). If the probes reach the
target itself before that, no router beyond the edge can testify: ports the target answers
are open, silent ones undetermined (an open UDP port and an ICMP rate limit look alike). If
every port falls silent at the same TTL, that hop either blocks all of them or sends no
ICMP, and nothing can be told apart. With `edge_hop`, only TTL = edge_hop + 1 is sent.

Verdicts per port at TTL edge + 1:

* **open** (egress only): a time-exceeded from a router beyond the edge, or any answer
  from the target itself (UDP, or ICMP port unreachable: the edge let it through);
* **blocked**: an ICMP destination-unreachable from a router (the edge rejects it), or
  silence after `1 + retries` probes *while other ports of the same round drew a
  time-exceeded from that very router*;
* **undetermined**: silence when no port of the round drew a time-exceeded.

Why silence may count as blocked: silence alone is ambiguous: the router beyond may
rate-limit ICMP (Linux: a burst of ~6, then 1 per second per destination by default), or the
ICMP may be lost. Silent ports are therefore retried after a pause, in rounds of their own;
a router that answered neighbours in the same round and stays silent for one port across
every retry is not rate limiting that port, its edge dropped it. The firewall check then
calls the rule `fail` for those ports (the firewall verdict stays trustworthy: it names
ports only when the evidence is consistent). Without any answering neighbour it reports
`not_tested`.

Needs raw sockets (root or CAP_NET_RAW; `have_raw_socket`). IPv4 only. scapy sends and
matches the probes (an ICMP error quotes the probe's IP header and UDP ports); it costs
tens of milliseconds per answered probe, so big ranges are sampled by the caller (every
port of a 16k range would take minutes, and would trip ICMP rate limits). Behind a NAT the
time-exceeded must be translated back (Linux conntrack does, many CPE do): silence there can
be a false block, which is why the reason names the method.
"""

from __future__ import annotations

import asyncio
import ipaddress
import random
import socket
import time
from dataclasses import dataclass, field
from typing import Any

#: ICMP types/codes that the probe can draw.
TIME_EXCEEDED = 11
DEST_UNREACH = 3
#: The verdicts per port.
OPEN, BLOCKED, UNDETERMINED = "open", "blocked", "undetermined"
#: Sent alongside every round as neighbours (DNS, NTP, QUIC: commonly let out), so a rule
#: whose every port is blocked still has ports beside it that show the next hop answers.
CONTROL_PORTS = (53, 123, 443)


@dataclass
class FirewalkResult:
    """Per-port verdicts at TTL edge + 1, and what the path looked like."""

    address: str
    open: list[int] = field(default_factory=list)
    blocked: list[int] = field(default_factory=list)
    undetermined: list[int] = field(default_factory=list)
    edge_hop: int = 0  # 0 = not found
    beyond: str = ""  # address of the router beyond the edge that answered
    hops: dict[int, list[str]] = field(default_factory=dict)  # ttl -> routers that answered
    rejected: dict[int, str] = field(default_factory=dict)  # port -> "ICMP 3/13 from ..."
    controls: list[int] = field(default_factory=list)  # neighbour ports sent alongside
    probes_sent: int = 0
    duration_s: float = 0.0
    note: str = ""  # why nothing could be decided, if so


def have_raw_socket() -> bool:
    """True when this process may open a raw socket (root or CAP_NET_RAW)."""
    try:
        socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP).close()
    except PermissionError:
        return False
    return True


def resolve_ipv4(address: str) -> str:
    """The IPv4 literal for an address or host name; ValueError for IPv6 or no answer."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        infos = socket.getaddrinfo(address, None, socket.AF_INET, socket.SOCK_DGRAM)
        return str(infos[0][4][0])
    if ip.version != 4:
        raise ValueError("TTL-limited probes are implemented for IPv4 only")
    return address


def _answer(reply: Any, target: str) -> tuple[str, str]:
    """(kind, text) for one reply: kind "te" | "target" | "rejected"."""
    from scapy.layers.inet import ICMP, IP

    src = str(reply[IP].src)
    if src == target:
        return "target", f"answer from the target {src}"
    if reply.haslayer(ICMP):
        icmp = reply[ICMP]
        if icmp.type == TIME_EXCEEDED:
            return "te", src
        return "rejected", f"ICMP {icmp.type}/{icmp.code} from {src}"
    return "rejected", f"unexpected answer from {src}"


def _round(
    target: str, ports: list[int], ttl: int, timeout_s: float, inter_s: float
) -> dict[int, tuple[str, str]]:
    """Send one UDP probe per port with this TTL; the answers per port."""
    from scapy.layers.inet import IP, UDP
    from scapy.sendrecv import sr

    base = random.randint(20000, 60000 - len(ports) - 1)
    probes = [
        IP(dst=target, ttl=ttl, id=random.randint(1, 65535))
        / UDP(sport=base + i, dport=port)
        / b"netready-firewalk"
        for i, port in enumerate(ports)
    ]
    answered, _ = sr(probes, timeout=timeout_s, inter=inter_s, verbose=0)
    out: dict[int, tuple[str, str]] = {}
    for sent, reply in answered:
        out[int(sent.dport)] = _answer(reply, target)
    return out


def _probe_ttl(
    target: str,
    ports: list[int],
    ttl: int,
    timeout_s: float,
    retries: int,
    inter_s: float,
    result: FirewalkResult,
) -> dict[int, tuple[str, str]]:
    """One TTL for every port; silent ports are sent again, `retries` more rounds."""
    answers: dict[int, tuple[str, str]] = {}
    pending = list(ports)
    for attempt in range(retries + 1):
        if not pending:
            break
        if attempt:
            time.sleep(min(timeout_s, 0.5))  # let a rate-limiting router's bucket refill
        result.probes_sent += len(pending)
        answers |= _round(target, pending, ttl, timeout_s, inter_s)
        pending = [p for p in pending if p not in answers]
        if attempt == 0 and len(pending) == len(ports) and ttl > 1:
            # nobody answered at all: a silent hop, not worth retrying every port
            pending = pending[:1]
    result.hops[ttl] = sorted({a[1] for a in answers.values() if a[0] == "te"})
    return answers


def _decide(
    ports: list[int], answers: dict[int, tuple[str, str]], ttl: int, result: FirewalkResult
) -> None:
    """Fill open/blocked/undetermined from the answers at TTL = edge + 1."""
    result.edge_hop = ttl - 1
    beyond = [a[1] for a in answers.values() if a[0] == "te"]
    result.beyond = beyond[0] if beyond else ""
    neighbours = any(a[0] == "te" for a in answers.values())
    for port in ports:
        kind, text = answers.get(port, ("", ""))
        if kind in ("te", "target"):
            result.open.append(port)
        elif kind == "rejected":
            result.blocked.append(port)
            result.rejected[port] = text
        elif neighbours:
            result.blocked.append(port)
        else:
            result.undetermined.append(port)


def firewalk_blocking(
    address: str,
    ports: list[int],
    *,
    edge_hop: int = 0,
    max_ttl: int = 8,
    timeout_s: float = 1.0,
    retries: int = 2,
    inter_s: float = 0.001,
    controls: list[int] | None = None,
) -> FirewalkResult:
    """Per-port egress verdicts for UDP `ports` to `address` (see the module doc).

    Blocking (scapy); needs raw sockets. `edge_hop` 0 finds the edge from the probes.
    `controls`: ports sent alongside in every round (default CONTROL_PORTS) as neighbours
    for a rule whose every port is blocked; they are not reported."""
    started = time.perf_counter()
    target = resolve_ipv4(address)
    result = FirewalkResult(address=target)
    ports = sorted(set(ports))
    extra = [c for c in (CONTROL_PORTS if controls is None else controls) if c not in ports]
    every = ports + sorted(set(extra))
    result.controls = every[len(ports) :]
    ttls = [edge_hop + 1] if edge_hop > 0 else list(range(1, max_ttl + 1))
    for ttl in ttls:
        answers = _probe_ttl(target, every, ttl, timeout_s, retries, result=result, inter_s=inter_s)
        kinds = {k for k, _ in answers.values()}
        silent = len(answers) < len(every)
        if edge_hop > 0 or ("te" in kinds and (silent or "rejected" in kinds)):
            _decide(ports, answers, ttl, result)
            break
        if "rejected" in kinds and "te" not in kinds and "target" not in kinds:
            _decide(ports, answers, ttl, result)
            break
        if "target" in kinds:
            _decide(ports, answers, ttl, result)
            result.edge_hop = 0  # not found: no router beyond it answered
            result.note = (
                f"the probes reach {target} itself at TTL {ttl}, with no router beyond the edge "
                "before it to answer; the target's silence is ambiguous (an open UDP port, or "
                "its ICMP rate limit)"
            )
            break
    else:
        result.undetermined = list(ports)
        result.note = (
            f"no TTL up to {max_ttl} separated the ports: every hop answered all of them, or "
            "fell silent for all (it blocks every port, or sends no ICMP time-exceeded)"
        )
    result.duration_s = time.perf_counter() - started
    return result


async def firewalk(address: str, ports: list[int], **kwargs: Any) -> FirewalkResult:
    """`firewalk_blocking` in a worker thread; one firewalk at a time per process (so the
    rounds of two rules do not share one router's ICMP budget). A port found open for the
    same address earlier in the run joins the control ports."""
    async with _gate():
        known = _KNOWN_OPEN.get(address)
        if known is not None and "controls" not in kwargs:
            kwargs["controls"] = [known, *CONTROL_PORTS]
        result = await asyncio.to_thread(firewalk_blocking, address, ports, **kwargs)
        if result.open:
            _KNOWN_OPEN[address] = result.open[0]
        return result


_KNOWN_OPEN: dict[str, int] = {}


_LOCKS: dict[int, asyncio.Lock] = {}


def _gate() -> asyncio.Lock:
    loop = id(asyncio.get_running_loop())
    return _LOCKS.setdefault(loop, asyncio.Lock())
