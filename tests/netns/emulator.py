"""User-space delay/jitter emulator on a TUN device (this kernel has no netem).

Run in the lab's router namespace, one process per direction::

    python tests/netns/emulator.py --dev tup --delay-ms 40 --jitter-ms 5 --seed 1

The router sends one direction's packets into the TUN device by policy routing (`ip rule iif
<ingress> lookup <table>`, the table routes the far subnet to the device). The emulator reads
each packet, holds it on a heap and writes it back into the same device at its release time;
the kernel then routes it on out of the far interface. Only this process touches the packets,
so it needs no extra package (the NFQUEUE route would need fnfqueue or libnetfilter-queue).

Timing: `select` until `--spin-us` (300 µs) before the next release, then a busy loop, so
releases are a few µs late instead of one timer wake-up (~0.1 ms in a VM). Arrival is stamped
when the packet is read, so the read wake-up (tens of µs) still adds to the delay.

TTL: the packet is routed twice in the router (ingress -> TUN, TUN -> egress), so the kernel
takes 2 off its TTL. The emulator adds 1 back (RFC 1624 incremental checksum update), so
traceroute sees the router once and a TTL=2 probe still reaches the far side.

Delay distribution: each packet draws its delay uniformly from [delay - jitter, delay + jitter]
(clamped at 0). For two independent draws E|X - Y| = 2·jitter/3, which is what RFC 3550 J
(J += (|D| - J)/16) converges to when the draws reach the wire unchanged.

Order: FIFO by default. A real access link is a queue and does not reorder, so a packet is
never released before the one read ahead of it: release = max(arrival + draw, previous release).
At 20 ms spacing (50 packets/s) FIFO never binds while 2·jitter <= 20 ms, so J = 2·jitter/3
exactly (±5 ms -> 3.33 ms, ±10 ms -> 6.67 ms). Above that it clumps packets and J saturates
(±20 -> 12.1, ±30 -> 15.7, ±45 -> 19.3 ms): on a FIFO path with spacing T, J < 2·T = 40 ms.
`--reorder` draws every packet independently, as netem does; RFC 3550 J in arrival order is
then ±20 -> 13.9, ±30 -> 21.6, ±42 -> 30.5, ±45 -> 32.6 ms. `model_jitter` computes these.

Measured on the 2-CPU VM through netready (50 packets/s, 40 ms ± 0 one way, 10 s runs, other
test suites running alongside): RTT bias over the clean path +0.15 to +0.27 ms (read wake-up
plus the second routing pass), extra σ 0.08-0.20 ms, release lateness mean 5-70 µs (the high
end when releases coincide with the sender's busy-wait, i.e. delays that are multiples of
20 ms), max 0.25-2.9 ms (VM scheduling).

Bounded: exits on SIGTERM/SIGINT, when its parent dies (PR_SET_PDEATHSIG) and after
`--max-lifetime` seconds; on exit prints one JSON line of counters and release lateness.
"""

from __future__ import annotations

import argparse
import ctypes
import fcntl
import heapq
import itertools
import json
import os
import random
import select
import signal
import socket
import struct
import sys
import time
from dataclasses import dataclass, field
from types import FrameType

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
PR_SET_PDEATHSIG = 1
MAX_PACKET = 65535
IDLE_WAIT_S = 0.5  # longest select when nothing is held (bounds lifetime checks)


class _Stop(Exception):
    """Raised by the signal handler to leave a blocking select at once."""


def ttl_plus_one(pkt: bytearray) -> None:
    """Add 1 to an IPv4 TTL and patch the header checksum (RFC 1624: HC' = ~(~HC + ~m + m'))."""
    ttl = pkt[8]
    if ttl >= 255:
        return
    old = (ttl << 8) | pkt[9]
    new = old + 0x100
    hc = (pkt[10] << 8) | pkt[11]
    s = (~hc & 0xFFFF) + (~old & 0xFFFF) + new
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    hc = ~s & 0xFFFF
    pkt[8], pkt[10], pkt[11] = ttl + 1, hc >> 8, hc & 0xFF


@dataclass
class DelayModel:
    """Release times: uniform draw around `delay_ns`, FIFO unless `reorder`."""

    delay_ns: int
    jitter_ns: int
    reorder: bool = False
    rng: random.Random = field(default_factory=random.Random)
    last_release: int = 0

    def release(self, arrival_ns: int) -> int:
        """When a packet that arrived at `arrival_ns` leaves."""
        draw = self.delay_ns
        if self.jitter_ns:
            draw += round(self.rng.uniform(-self.jitter_ns, self.jitter_ns))
        at = arrival_ns + max(0, draw)
        if not self.reorder:
            at = max(at, self.last_release)
            self.last_release = at
        return at


def model_jitter(
    delay_ms: float,
    jitter_ms: float,
    *,
    spacing_ms: float = 20.0,
    reorder: bool = False,
    packets: int = 20000,
    seed: int = 1,
) -> float:
    """Mean RFC 3550 J (ms, arrival order) this emulator's model gives a periodic stream."""
    model = DelayModel(int(delay_ms * 1e6), int(jitter_ms * 1e6), reorder, random.Random(seed))
    spacing = int(spacing_ms * 1e6)
    out = sorted((model.release(i * spacing), i * spacing) for i in range(packets))
    j, total = 0.0, 0.0
    for (r0, s0), (r1, s1) in itertools.pairwise(out):
        j += (abs((r1 - s1) - (r0 - s0)) - j) / 16
        total += j
    return total / (len(out) - 1) / 1e6


@dataclass
class Stats:
    """Counters and release lateness (actual write minus scheduled release)."""

    read: int = 0
    written: int = 0
    not_ipv4: int = 0
    overflow: int = 0
    write_errors: int = 0
    late_sum_ns: int = 0
    late_max_ns: int = 0

    def as_dict(self) -> dict[str, float]:
        mean = self.late_sum_ns / self.written if self.written else 0.0
        return {
            "read": self.read,
            "written": self.written,
            "not_ipv4": self.not_ipv4,
            "overflow": self.overflow,
            "write_errors": self.write_errors,
            "late_mean_us": mean / 1e3,
            "late_max_us": self.late_max_ns / 1e3,
        }


def open_tun(dev: str) -> int:
    """Attach to TUN device `dev` (created beforehand by `ip tuntap add ... mode tun`).

    TUNSETIFF would create a missing device, so a missing one is refused first."""
    socket.if_nametoindex(dev)  # OSError if there is no such device in this namespace
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    try:
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", dev.encode(), IFF_TUN | IFF_NO_PI))
    except OSError:
        os.close(fd)
        raise
    return fd


@dataclass
class Emulator:
    """The read / hold / release loop on one TUN descriptor."""

    fd: int
    model: DelayModel
    spin_ns: int = 300_000
    limit: int = 10000
    fix_ttl: bool = True
    heap: list[tuple[int, int, bytes]] = field(default_factory=list)
    stats: Stats = field(default_factory=Stats)

    def read_all(self) -> None:
        """Take every packet the kernel has queued on the device."""
        while True:
            try:
                data = os.read(self.fd, MAX_PACKET)
            except (BlockingIOError, InterruptedError):
                return
            now = time.perf_counter_ns()
            self.stats.read += 1
            if len(data) < 20 or data[0] >> 4 != 4:
                self.stats.not_ipv4 += 1
                continue
            if len(self.heap) >= self.limit:
                self.stats.overflow += 1
                continue
            pkt = bytearray(data)
            if self.fix_ttl:
                ttl_plus_one(pkt)
            heapq.heappush(self.heap, (self.model.release(now), self.stats.read, bytes(pkt)))

    def release_due(self) -> None:
        """Write back every packet whose release time has come."""
        while self.heap and self.heap[0][0] <= (now := time.perf_counter_ns()):
            due, _, pkt = heapq.heappop(self.heap)
            try:
                os.write(self.fd, pkt)
            except OSError:
                self.stats.write_errors += 1
                continue
            late = now - due
            self.stats.written += 1
            self.stats.late_sum_ns += late
            self.stats.late_max_ns = max(self.stats.late_max_ns, late)

    def run(self, until_ns: int) -> None:
        """Loop until `until_ns` (perf_counter) or until a signal raises _Stop."""
        while (now := time.perf_counter_ns()) < until_ns:
            self.release_due()
            wait_ns = self.heap[0][0] - now if self.heap else int(IDLE_WAIT_S * 1e9)
            if wait_ns > self.spin_ns:
                timeout = min(wait_ns - self.spin_ns, until_ns - now) / 1e9
                if select.select([self.fd], [], [], max(0.0, timeout))[0]:
                    self.read_all()
            else:
                self.read_all()  # spin: keep taking arrivals until the release is due


def _on_signal(signum: int, frame: FrameType | None) -> None:
    raise _Stop


def _die_with_parent() -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    if os.getppid() == 1:  # the parent died before prctl took effect
        raise _Stop


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--dev", required=True, help="existing TUN device in this namespace")
    ap.add_argument("--delay-ms", type=float, required=True)
    ap.add_argument("--jitter-ms", type=float, default=0.0)
    ap.add_argument("--seed", type=int, default=None, help="seed of the delay draws")
    ap.add_argument("--reorder", action="store_true", help="independent draws (netem-like)")
    ap.add_argument("--spin-us", type=int, default=300, help="busy-wait before a release")
    ap.add_argument("--limit", type=int, default=10000, help="packets held at most")
    ap.add_argument("--no-fix-ttl", dest="fix_ttl", action="store_false")
    ap.add_argument("--max-lifetime", type=float, default=600.0, help="seconds, then exit")
    args = ap.parse_args(argv)
    if args.delay_ms < 0 or args.jitter_ms < 0 or args.max_lifetime <= 0:
        ap.error("delay, jitter and lifetime must not be negative")
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _on_signal)
    model = DelayModel(
        int(args.delay_ms * 1e6), int(args.jitter_ms * 1e6), args.reorder, random.Random(args.seed)
    )
    emu: Emulator | None = None
    try:
        _die_with_parent()
        emu = Emulator(open_tun(args.dev), model, args.spin_us * 1000, args.limit, args.fix_ttl)
        print("ready", flush=True)
        emu.run(time.perf_counter_ns() + int(args.max_lifetime * 1e9))
    except _Stop:
        pass
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if emu is not None:
            os.close(emu.fd)
            print(json.dumps({"stats": emu.stats.as_dict(), "held": len(emu.heap)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
