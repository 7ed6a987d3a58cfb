"""Fuzz the STAMP parsers, the reflector and a live `netready responder` (bounded: < 2 min).

Three phases, each printing cases per second and the failures it found:

1. random cases (>= 100,000): junk, truncations, bit flips and TLV garbage built from
   valid packets of both modes (authenticated ones carry a valid base HMAC, so the TLV
   code is reached), fed to every parse path (`unpack_sender`, `unpack_reflector`,
   `parse_tlvs`, the HMAC TLV checks), to `StampReflector.reflect` and to the voice
   stream's reply matcher. The codec may raise ValueError (documented); the reflector and
   the matcher must not raise at all, and the reflector must report no internal error;
2. hypothesis-generated cases (a few thousand) against the same targets;
3. >= 100,000 datagrams against a live responder on 127.0.0.1 (a subprocess, without and
   then with an HMAC key): every 500 datagrams a valid STAMP packet must still be
   answered, and on SIGTERM its summary must show 0 internal errors.

Usage: .venv/bin/python bench/fuzz_responder.py [--cases N] [--datagrams N] [--seed S]
Exit status 0 when no exception escaped, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netready.probes import stamp
from netready.probes.sockopts import RxMeta
from netready.probes.stamp import ErrorEstimate, SenderPacket, Tlv
from netready.probes.voice_io import Receiver, VoiceSample
from netready.responder.limits import ReflectorLimits
from netready.responder.stamp_reflector import StampReflector

KEY = bytes(range(7, 39))
EE = ErrorEstimate.for_error(1_000_000, False)
T_NS = 1_700_000_000_000_000_000
DEADLINE_S = 110.0
UNLIMITED = ReflectorLimits(min_interval_ms=0, max_pps_per_source=0, max_session_s=0)


class Tally:
    """Cases run and exceptions that escaped, by target."""

    def __init__(self) -> None:
        self.cases = 0
        self.escaped: dict[str, int] = {}
        self.examples: list[str] = []

    def escape(self, target: str, exc: BaseException, data: bytes) -> None:
        """Count an exception that escaped `target`; keep the first few as examples."""
        self.escaped[target] = self.escaped.get(target, 0) + 1
        if len(self.examples) < 5:
            self.examples.append(f"{target}: {exc!r} on {data[:64].hex()}...")

    @property
    def failures(self) -> int:
        """Exceptions that escaped, over all targets."""
        return sum(self.escaped.values())


def valid_packet(rng: random.Random, key: bytes | None) -> bytearray:
    """A well-formed sender or reflector packet, or TLVs with an HMAC TLV."""
    size = rng.choice((140, 172, 300)) if key else rng.choice((44, 52, 172, 300))
    ssid = rng.choice((0, 1, rng.randrange(65536)))
    if size == 44:
        tlvs = b""
    else:
        tlvs = stamp.sender_tlvs(size, rng.randrange(64), authenticated=key is not None)
    return bytearray(
        stamp.pack_sender(SenderPacket(rng.randrange(2**32), T_NS, EE, ssid, tlvs), key)
    )


def hostile(rng: random.Random, key: bytes | None) -> bytes:
    """One hostile datagram: junk, or a valid packet damaged in one of several ways."""
    kind = rng.randrange(8)
    if kind == 0:
        return rng.randbytes(rng.choice((0, 1, 22, 43, 44, 111, 112, rng.randrange(1600))))
    packet = valid_packet(rng, key)
    base = stamp.AUTH_BASE_SIZE if key else stamp.BASE_SIZE
    if kind == 1:
        for _ in range(rng.randint(1, 4)):
            packet[rng.randrange(len(packet))] ^= 1 << rng.randrange(8)
    elif kind == 2:
        del packet[rng.randrange(len(packet) + 1) :]
    elif kind == 3:  # TLV garbage behind a valid base (and base HMAC)
        packet[base:] = rng.randbytes(rng.randrange(80))
    elif kind == 4:  # well-framed TLVs of odd types and lengths, sealed
        packet[base:] = b"".join(
            stamp.pack_tlv(
                Tlv(
                    rng.choice((0, 1, 4, 8, 5, 255)),
                    rng.randbytes(rng.randrange(24)),
                    rng.randrange(256),
                )
            )
            for _ in range(rng.randrange(5))
        )
    elif kind == 5:
        packet += rng.randbytes(rng.randrange(1, 300))
    elif kind == 6:  # a second HMAC TLV, or padding after it
        packet += stamp.pack_tlv(Tlv(rng.choice((1, 8, 4)), bytes(rng.choice((4, 16)))))
    if key and kind in (3, 4, 5, 6) and rng.random() < 0.7:
        stamp.seal(packet, key)
    elif key and kind in (3, 4, 5, 6):
        packet[96:112] = stamp.packet_hmac(key, packet)
    return bytes(packet)


def run_case(data: bytes, key: bytes | None, reflector: StampReflector, tally: Tally) -> None:
    """Feed one datagram to every parse path and to the reflector."""
    codecs: list[tuple[str, Callable[[], object]]] = [
        ("unpack_sender", lambda: stamp.unpack_sender(data, key)),
        ("unpack_reflector", lambda: stamp.unpack_reflector(data, key)),
        ("parse_tlvs", lambda: stamp.parse_tlvs(data[44:])),
    ]
    for target, call in codecs:
        try:
            call()
        except ValueError:
            pass
        except Exception as exc:
            tally.escape(target, exc, data)
    for target, call in (
        ("tlv_integrity_ok", lambda: stamp.tlv_integrity_ok(KEY, data[:4], data[112:])),
        ("hmac_tlv_offset", lambda: stamp.hmac_tlv_offset(data)),
        (
            "reflect",
            lambda: reflector.reflect(data, ("192.0.2.1", 5004), T_NS, 64, 0xB8, lambda: T_NS),
        ),
        ("receiver", lambda: _receive(data, key)),
    ):
        try:
            out = call()
        except Exception as exc:
            tally.escape(target, exc, data)
            continue
        if target == "reflect" and isinstance(out, tuple) and len(out[0]) > len(data):
            tally.escape("reflect (amplified)", AssertionError(len(out[0])), data)
    tally.cases += 1


def _receive(data: bytes, key: bytes | None) -> None:
    rx = Receiver([VoiceSample(0, 0, T_NS)], ssid=1, timeout_ns=10**12, key=key, sent=1)
    rx.handle(data, RxMeta(kernel_ns=T_NS + 1, tos=0xB8), user_ns=T_NS + 2)


def phase_random(cases: int, seed: int, tally: Tally, deadline: float) -> float:
    """`cases` random hostile datagrams, both modes; returns the seconds taken."""
    rng = random.Random(seed)
    reflectors = {
        None: StampReflector(limits=UNLIMITED),
        KEY: StampReflector(keys={0: KEY}, limits=UNLIMITED),
    }
    started = time.perf_counter()
    for i in range(cases):
        key = KEY if i % 2 else None
        run_case(hostile(rng, key), key, reflectors[key], tally)
        if i % 5000 == 0 and time.monotonic() > deadline:
            print(f"  stopped after {i} cases: time budget used up")
            break
    for r in reflectors.values():
        if r.drops.get("error"):
            tally.escape("reflect (internal error)", RuntimeError(r.drops["error"]), b"")
    return time.perf_counter() - started


def phase_hypothesis(examples: int, tally: Tally) -> float:
    """`examples` hypothesis-generated datagrams; returns the seconds taken."""
    reflector = StampReflector(keys={0: KEY}, limits=UNLIMITED)
    plain = StampReflector(limits=UNLIMITED)

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.binary(max_size=400), st.booleans(), st.booleans())
    def case(data: bytes, authenticated: bool, seal: bool) -> None:
        """One example (sealed with a valid HMAC when asked)."""
        key = KEY if authenticated else None
        if key and seal and len(data) >= stamp.AUTH_BASE_SIZE:
            packet = bytearray(data)
            stamp.seal(packet, key)
            data = bytes(packet)
        run_case(data, key, reflector if key else plain, tally)

    started = time.perf_counter()
    case()
    return time.perf_counter() - started


# ---- the live responder ----


def _free_block(count: int) -> int:
    for _ in range(100):
        first = random.randint(2000, 16000)
        socks = []
        try:
            for port in range(first, first + count):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(s)
                s.bind(("127.0.0.1", port))
            return first
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise SystemExit("no free block of loopback ports for the live responder")


def phase_live(
    datagrams: int, key: bytes | None, seed: int, deadline: float
) -> tuple[int, float, str, int]:
    """(datagrams sent, seconds, the responder's summary line, unanswered pings)."""
    first = _free_block(4)
    cmd = [
        sys.executable, "-m", "netready", "responder", "--listen", "127.0.0.1",
        "--stamp-port", "0", "--udp-ports", f"{first}-{first + 3}",
        "--min-interval-ms", "0", "--max-pps-per-source", "0", "--max-session-s", "0",
    ]  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        if key:
            keyfile = Path(tmp) / "keys"
            keyfile.write_text(key.hex())
            keyfile.chmod(0o600)
            cmd += ["--key", str(keyfile)]
        proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
        try:
            assert proc.stderr is not None
            line = proc.stderr.readline()
            found = re.search(r"STAMP udp/(\d+)", line)
            if not found:
                raise SystemExit(f"the responder did not start: {line}{proc.stderr.read()}")
            stamp_addr = ("127.0.0.1", int(found[1]))
            targets = [stamp_addr] + [("127.0.0.1", p) for p in range(first, first + 4)]
            sent, seconds, lost = _flood(datagrams, key, seed, targets, deadline)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                _out, err = proc.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                _out, err = proc.communicate()
    summary = next(
        (x for x in err.splitlines() if x.startswith("netready responder stopped")),
        "no summary: " + err[-300:],
    )
    return sent, seconds, summary, lost


def _flood(
    datagrams: int, key: bytes | None, seed: int, targets: list[tuple[str, int]], deadline: float
) -> tuple[int, float, int]:
    rng = random.Random(seed)
    pool = [hostile(rng, key) for _ in range(4096)]
    lost = 0
    started = time.perf_counter()
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as c,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as ping,
    ):
        ping.settimeout(2.0)
        sent = 0
        for i in range(datagrams):
            c.sendto(pool[i % len(pool)] if i % 7 else hostile(rng, key), targets[i % len(targets)])
            sent += 1
            if i % 500 == 499:  # the responder must still answer, and this paces the flood
                seq = i & 0xFFFFFFFF
                payload = stamp.sender_tlvs(172, 46, authenticated=key is not None)
                packet = stamp.pack_sender(SenderPacket(seq, time.time_ns(), EE, 1, payload), key)
                ping.sendto(packet, targets[(i // 500) % len(targets)])
                lost += not _answered(ping, seq, key)
                if time.monotonic() > deadline:
                    print(f"  stopped after {sent} datagrams: time budget used up")
                    break
    return sent, time.perf_counter() - started, lost


def _answered(sock: socket.socket, seq: int, key: bytes | None) -> bool:
    try:
        while True:
            data = sock.recv(4096)
            if stamp.unpack_reflector(data, key).sender_seq == seq:
                return True
    except (TimeoutError, ValueError):
        return False


def _clean(summary: str) -> bool:
    """True if the stop summary shows no internal error and no reflector error drops."""
    internal = re.search(r"; (\d+) internal errors", summary)
    reasons = re.search(r"dropped \(([^)]*)\)", summary)
    bad = {"error", "malformed", "other"}
    dropped_for = {r.split(" ", 1)[1] for r in reasons[1].split(", ")} if reasons else set()
    return internal is not None and internal[1] == "0" and not dropped_for & bad


def main() -> int:
    """Run the three phases; 0 if nothing escaped."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=120_000, help="random parser/reflector cases")
    parser.add_argument("--examples", type=int, default=3_000, help="hypothesis examples")
    parser.add_argument("--datagrams", type=int, default=100_000, help="datagrams per live run")
    parser.add_argument("--seed", type=int, default=int.from_bytes(os.urandom(4), "big"))
    args, _unknown = parser.parse_known_args()  # `./run bench` passes its own arguments
    deadline = time.monotonic() + DEADLINE_S
    print(f"seed {args.seed}")
    tally = Tally()
    seconds = phase_random(args.cases, args.seed, tally, deadline)
    print(f"random cases: {tally.cases} in {seconds:.1f} s = {tally.cases / seconds:,.0f} cases/s")
    before = tally.cases
    seconds = phase_hypothesis(args.examples, tally)
    n = tally.cases - before
    print(f"hypothesis cases: {n} in {seconds:.1f} s = {n / seconds:,.0f} cases/s")
    live_sent, live_lost, live_bad = 0, 0, 0
    for key in (None, KEY):
        sent, secs, summary, lost = phase_live(args.datagrams, key, args.seed, deadline)
        mode = "authenticated" if key else "unauthenticated"
        print(
            f"live responder ({mode}): {sent} datagrams in {secs:.1f} s = {sent / secs:,.0f}/s; "
            f"{lost} of {sent // 500} pings unanswered\n  {summary}"
        )
        live_sent, live_lost = live_sent + sent, live_lost + lost
        live_bad += not _clean(summary)
    print(f"total: {tally.cases} parser/reflector cases, {live_sent} datagrams to a live responder")
    if tally.failures or live_bad or live_lost:
        print(
            f"FAILED: {tally.failures} exceptions escaped {tally.escaped}; live responder: "
            f"{live_bad} runs with internal errors, {live_lost} pings unanswered"
        )
        for example in tally.examples:
            print("  " + example)
        return 1
    print("0 exceptions escaped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
