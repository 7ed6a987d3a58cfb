"""The responder's limit tables under a spoofed-source flood: O(1) per event, bounded memory.

The timing tests compare the cost of the same number of events with a table that is
full against one that is empty, so a loaded machine slows both alike; the old code
(a dict rebuild or a full prune per event) was thousands of times slower when full.
"""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Callable

from netready.responder.limits import PerSecond, RateBudget, SourceLimiter, Workers, prefix_of
from netready.responder.replay import SEQ_WINDOW, ReplayCache, SeqWindow
from netready.responder.udp_guard import UdpGuard
from netready.responder.udp_ports import IP_PKTINFO

NS = 1_000_000_000


def seconds(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def test_per_second_costs_the_same_with_many_sources() -> None:
    """Finding 2: once more than 4096 sources were seen in a second, every call rebuilt
    the whole table (CPU quadratic in spoofed sources)."""
    limit = PerSecond(50, max_sources=4096)
    while int(time.monotonic()) != int(time.monotonic() + 0.5):  # not near a second's end
        time.sleep(0.05)
    took = seconds(
        lambda: [limit.allow(f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}") for i in range(20_000)]
    )
    assert took < 0.5  # was about 20,000 rebuilds of a 4,097-entry dict
    assert len(limit._counts) <= 4096


def test_per_second_still_limits_a_source() -> None:
    limit = PerSecond(3)
    while int(time.monotonic()) != int(time.monotonic() + 0.2):
        time.sleep(0.05)
    assert [limit.allow("192.0.2.1") for _ in range(5)] == [True, True, True, False, False]
    assert limit.allow("192.0.2.2")


def test_a_newcomer_into_a_full_source_table_costs_o1() -> None:
    """Finding 8: a full SourceLimiter pruned (scanned every entry) for each newcomer."""
    cap = 65_536
    full = SourceLimiter(100, cap=cap)
    now = 10 * NS
    for i in range(cap):  # every entry busy: none has refilled
        full.admit(f"a{i}", now)
    empty = SourceLimiter(100, cap=cap)
    newcomers = [f"b{i}" for i in range(5_000)]
    into_full = seconds(lambda: [full.admit(n, now) for n in newcomers])
    into_empty = seconds(lambda: [empty.admit(n, now) for n in newcomers])
    assert not any(full.admit(n, now) for n in newcomers[:10])  # refused: table busy
    assert full.refused_newcomers >= 5_000
    assert into_full < 10 * into_empty + 0.05  # was about 2 ms per newcomer
    later = now + 2 * NS  # every bucket has refilled: newcomers take the oldest places
    assert full.admit("c", later) and len(full) == cap


def test_source_limiter_prune_forgets_refilled_sources_only() -> None:
    limiter = SourceLimiter(10)  # bucket of 10, refilled in 1 s
    limiter.admit("old", 0)
    limiter.admit("new", 2 * NS)
    limiter.prune(2 * NS + 1)
    assert len(limiter) == 1  # "old" refilled long ago and was forgotten, "new" kept


def test_rate_budget_caps_everyone_together() -> None:
    budget = RateBudget(1000)  # 500 in the bucket
    assert sum(budget.charge(1, NS) for _ in range(2000)) == 500
    assert sum(budget.charge(1, NS + NS // 10) for _ in range(2000)) == 100  # 0.1 s refill
    assert RateBudget(0).charge(10**9, 0)  # 0: no limit


def test_workers_are_capped_per_network() -> None:
    """Finding 5: 80 idle connections from 10 addresses took every worker."""
    workers = Workers(total=64, per_source=8, per_network=16)
    taken = sum(workers.take(f"192.0.2.{1 + i % 10}") for i in range(80))
    assert taken == 16
    assert workers.take("198.51.100.1")  # another /24
    assert workers.take("2001:db8:0:1::1")
    assert sum(workers.take(f"2001:db8::{i + 1:x}") for i in range(20)) == 16  # one /64
    workers.give_back("192.0.2.1")
    assert workers.take("192.0.2.99")


def test_prefix_of_groups_neighbours() -> None:
    assert prefix_of("192.0.2.7") == prefix_of("192.0.2.200") != prefix_of("192.0.3.7")
    assert prefix_of("::ffff:192.0.2.7") == prefix_of("192.0.2.8")
    assert prefix_of("2001:db8::1") == prefix_of("2001:db8::ffff:1")
    assert prefix_of("2001:db8::1") != prefix_of("2001:db8:0:1::1")
    assert prefix_of("a") == "a"


def test_sequence_window_refuses_repeats_and_old_numbers() -> None:
    window = SeqWindow()
    assert window.accept(10) and not window.accept(10)
    assert window.accept(12) and window.accept(11) and not window.accept(11)
    assert window.accept(10 + SEQ_WINDOW + 5)
    assert not window.accept(10)  # fell out of the window
    wrap = SeqWindow()
    assert wrap.accept(2**32 - 1) and wrap.accept(0) and not wrap.accept(2**32 - 1)


def test_replay_cache_answers_a_tag_once_and_checks_freshness() -> None:
    cache = ReplayCache(window_s=10.0, max_tags=4)
    assert cache.first_time(b"a", 0) and not cache.first_time(b"a", NS)
    assert not cache.first_time(b"a", 19 * NS)  # still remembered 2 windows later
    assert cache.fresh(5 * NS, 14 * NS) and not cache.fresh(0, 11 * NS)
    for tag in (b"b", b"c", b"d", b"e", b"f"):  # more than max_tags: rotates early
        cache.first_time(tag, 2 * NS)
    assert len(cache) <= 8
    assert ReplayCache(window_s=0).fresh(0, 10**18)  # 0: no timestamp rule


def test_udp_guard_refuses_own_sockets_and_privileged_ports() -> None:
    bound = UdpGuard("192.0.2.10")
    bound.own_ports.update({862, 28000, 28001})
    assert bound.refuse_source("192.0.2.10", 28001, []) == "own-socket-source"
    assert bound.refuse_source("::ffff:192.0.2.10", 28001, []) == "own-socket-source"
    assert bound.refuse_source("198.51.100.1", 28001, []) is None  # a client may use 28001
    assert bound.refuse_source("198.51.100.1", 862, []) == "privileged-source-port"
    assert bound.refuse_source("198.51.100.1", 1024, []) is None


def test_a_wildcard_guard_learns_its_addresses_from_destinations() -> None:
    guard = UdpGuard("0.0.0.0")
    guard.own_ports.add(28000)
    public = "203.0.113.5"
    pktinfo = struct.pack("i", 2) + socket.inet_aton(public) + socket.inet_aton(public)
    anc = [(socket.IPPROTO_IP, IP_PKTINFO, pktinfo)]
    assert guard.refuse_source("127.0.0.1", 28000, []) == "own-socket-source"  # loopback
    # forged "from" our public address and port, sent to that address: learned and refused
    assert guard.refuse_source(public, 28000, anc) == "own-socket-source"
    assert guard.refuse_source(public, 28000, []) == "own-socket-source"  # remembered
    assert guard.refuse_source("198.51.100.1", 28000, anc) is None
