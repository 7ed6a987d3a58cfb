"""Soak: `netready responder` under a forged flood while an honest STAMP client measures.

Everything runs inside a fresh network namespace (root; `ip netns add`, loopback up),
so all traffic, forged or not, stays on that namespace's loopback and no port of the
host is used:

* the responder: `python -m netready responder --profile stimme --listen 127.0.0.1`
  (STAMP on 862, 16,586 media ports, the SIP echo on 5060, TCP/TLS ports);
* an honest client: the project's own voice stream (`netready.probes.voice`, 50
  packets/s, 172-byte STAMP payload, DSCP EF) to media port 20000, in one-minute
  streams for the whole soak;
* a flood: `--flood-pps` datagrams a second (default 10,000), each from a forged source
  address of its own (127.1.0.1 upwards: never the client's 127.0.0.0/24) via a raw
  socket: STAMP test packets with made-up SSIDs to the STAMP port and media ports
  (new sessions), port probes, unpadded SIP requests to 5060, packets forged from the
  responder's own ports and from privileged ports, and junk. Bounded by time and count.

Every second the bench reads the responder's RSS and CPU time from /proc. At the end
it prints RSS (start, max, end), CPU (% of one core), the honest client's loss and
turnaround (T3 - T2 at the reflector) p50/p99/max, its RTT p99, how many forged
datagrams were sent, and the responder's own summary line (drops by reason).
Targets: honest loss 0, turnaround p99 <= 1 ms, RSS <= 100 MB.

`--realtime` runs the responder under `chrt -f 20` (SCHED_FIFO), to tell the time it
waits for a CPU on a busy machine apart from the time it takes itself.

Usage: .venv/bin/python bench/responder_soak.py [--minutes 10] [--flood-pps 10000] [--realtime]
Exit status 0 when every target is met, 1 when not, 2 when it could not run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

HONEST_PORT = 20000
STAMP_PORT = 862
SIP_PORT = 5060
MEDIA_FIRST, MEDIA_LAST = 16384, 32767
STREAM_S = 60.0
TARGET_RSS_MB = 100.0
TARGET_TURNAROUND_P99_MS = 1.0
CLK_TCK = os.sysconf("SC_CLK_TCK")
ROOT = Path(__file__).resolve().parent.parent


# ---- the three roles (run inside the namespace) ----


def flood(seconds: float, pps: int) -> None:
    """Forged datagrams, each from a new source in 127.1.0.1 upwards; bounded."""
    import socket

    from netready.probes import stamp
    from netready.probes.stamp import ErrorEstimate, SenderPacket
    from netready.probes.udp_probe import pack_probe

    sys.path.insert(0, str(ROOT))
    from tests.integration.forge import udp_datagram

    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    rng = random.Random(12)
    ee = ErrorEstimate.for_error(10**6, False)
    sip = b"OPTIONS sip:a SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1\r\nCall-ID: x\r\n\r\n"
    limit = int(seconds * pps)
    batch = max(1, pps // 100)  # one batch every 10 ms
    started = time.monotonic()
    sent = 0
    while sent < limit and time.monotonic() - started < seconds:
        for _ in range(batch):
            n = sent + 1
            source = (f"127.{1 + n // 65_024 % 254}.{n // 254 % 256}.{1 + n % 254}", 40000)
            media = rng.randint(MEDIA_FIRST, MEDIA_LAST)
            kind = n % 10
            if kind < 5:  # STAMP, a new session each time
                packet = stamp.pack_sender(SenderPacket(0, time.time_ns(), ee, n % 65535 + 1, b""))
                target = STAMP_PORT if kind < 2 else media
            elif kind < 7:
                packet, target = pack_probe(os.urandom(16), media), media
            elif kind == 7:
                packet, target = sip, SIP_PORT
            elif kind == 8:  # "from" the responder's own port, or from a privileged one
                packet, target = pack_probe(os.urandom(16), media), media
                source = ("127.0.0.1", media + 1) if n % 20 < 10 else (source[0], 123)
            else:
                packet, target = os.urandom(rng.randint(0, 200)), rng.choice((STAMP_PORT, media))
            raw.sendto(udp_datagram(source, ("127.0.0.1", target), packet), ("127.0.0.1", 0))
            sent += 1
        pause = started + sent / pps - time.monotonic()
        if pause > 0:
            time.sleep(pause)
    elapsed = time.monotonic() - started
    print(json.dumps({"flood_sent": sent, "flood_s": round(elapsed, 1)}), flush=True)


def honest(seconds: float) -> None:
    """Voice streams to the responder for `seconds`; prints loss and timing as JSON."""
    from netready.probes.voice import run_voice_stream

    sent = lost = late = 0
    turnaround: list[int] = []
    rtt: list[int] = []
    started = time.monotonic()
    while (left := seconds - (time.monotonic() - started)) > 1.0:
        run = run_voice_stream("127.0.0.1", HONEST_PORT, duration_s=min(STREAM_S, left))
        late += run.late_replies
        for s in run.samples:
            sent += 1
            if s.t4_ns is None or s.t2_ns is None or s.t3_ns is None:
                lost += 1
                continue
            turnaround.append(s.t3_ns - s.t2_ns)
            rtt.append((s.t4_ns - s.t1_ns) - (s.t3_ns - s.t2_ns))
    print(json.dumps({"sent": sent, "lost": lost, "late": late, "turnaround_ns": turnaround,
                      "rtt_ns": rtt}), flush=True)  # fmt: skip


# ---- the conductor (root namespace) ----


@contextmanager
def namespace() -> Iterator[list[str]]:
    """The command prefix that runs inside a fresh namespace (deleted afterwards)."""
    ip = shutil.which("ip")
    if ip is None:
        raise SystemExit("needs iproute2 (`ip`)")
    name = f"nr-soak-{uuid.uuid4().hex[:8]}"
    subprocess.run([ip, "netns", "add", name], check=True)
    try:
        subprocess.run([ip, "-n", name, "link", "set", "lo", "up"], check=True)
        yield [ip, "netns", "exec", name]
    finally:
        subprocess.run([ip, "netns", "del", name], check=False)


def proc_sample(pid: int) -> tuple[float, float]:
    """(RSS in MB, user + system CPU seconds) of a process."""
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        rss_kib = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return rss_kib / 1024, (int(fields[11]) + int(fields[12])) / CLK_TCK


def percentile(values: list[int], q: float) -> float:
    """The q-th percentile (nearest rank) in ms; nan for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))] / 1e6


def conduct(minutes: float, pps: int, realtime: bool = False) -> int:
    """Run the three roles in a namespace, sample the responder, print the results."""
    seconds = minutes * 60.0
    load_start = os.getloadavg()[0]
    me = [sys.executable, str(Path(__file__).resolve())]
    log = Path(tempfile.mkdtemp(prefix="nr-soak-")) / "responder.log"
    with namespace() as ns, log.open("w+", encoding="utf-8") as log_file:
        # the log goes to a file: a pipe nobody reads would fill and stall the responder
        responder = subprocess.Popen(
            [*ns, *(["chrt", "-f", "20"] if realtime else []),
             sys.executable, "-m", "netready", "responder", "--profile", "stimme",
             "--listen", "127.0.0.1", "--clock-synchronised", "no"],
            stderr=log_file, stdin=subprocess.DEVNULL, text=True, cwd=ROOT,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while "listening" not in log.read_text() and responder.poll() is None:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            if "listening" not in log.read_text():
                print(f"the responder did not start: {log.read_text()[-2000:]}")
                return 2
            pid = responder.pid  # `ip netns exec` execs the command: the same process
            rss_start, cpu_start = proc_sample(pid)
            # outputs go to files: a child blocked on a full pipe would stall the soak
            client_out = (log.parent / "honest.json").open("w+", encoding="utf-8")
            attacker_out = (log.parent / "flood.json").open("w+", encoding="utf-8")
            client = subprocess.Popen(
                [*ns, *me, "--honest", str(seconds)], stdout=client_out, text=True, cwd=ROOT
            )
            attacker = subprocess.Popen(
                [*ns, *me, "--flood", str(seconds), "--flood-pps", str(pps)],
                stdout=attacker_out, text=True, cwd=ROOT,
            )  # fmt: skip
            wall_start = time.monotonic()
            rss_max = rss_start
            while client.poll() is None or attacker.poll() is None:
                time.sleep(1.0)
                rss, _cpu = proc_sample(pid)
                rss_max = max(rss_max, rss)
                if time.monotonic() - wall_start > seconds + 120:
                    client.kill()
                    attacker.kill()
                    print("the client or the flood overran the soak by 2 minutes: stopped")
                    return 2
            rss_end, cpu_end = proc_sample(pid)
            wall = time.monotonic() - wall_start
            honest_out = json.loads((log.parent / "honest.json").read_text().splitlines()[-1])
            flood_out = json.loads((log.parent / "flood.json").read_text().splitlines()[-1])
            client_out.close()
            attacker_out.close()
        finally:
            responder.send_signal(signal.SIGTERM)
            try:
                responder.wait(timeout=20)
            except subprocess.TimeoutExpired:
                responder.kill()
            summary = [x for x in log.read_text().splitlines() if "responder stopped" in x]
    cpu_pct = 100.0 * (cpu_end - cpu_start) / wall
    turn_p99 = percentile(honest_out["turnaround_ns"], 99)
    loss = honest_out["lost"]
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    rate = flood_out["flood_sent"] / max(flood_out["flood_s"], 1e-9)
    print(f"netready responder soak{' (responder SCHED_FIFO)' if realtime else ''}, "
          f"{minutes:g} min, ended {when}; load average "
          f"{load_start:.1f} at the start, {os.getloadavg()[0]:.1f} at the end (2 = both "
          f"cores busy; other work on the machine shows here)")  # fmt: skip
    print(f"  flood: {flood_out['flood_sent']} forged datagrams in {flood_out['flood_s']} s "
          f"({rate:.0f}/s, each from a source of its own)")  # fmt: skip
    print(f"  responder: RSS start {rss_start:.1f} MB, max {rss_max:.1f} MB, end {rss_end:.1f} MB; "
          f"CPU {cpu_pct:.1f} % of one core over {wall:.0f} s")  # fmt: skip
    print(f"  honest client: {honest_out['sent']} sent, {loss} lost ({honest_out['late']} late); "
          f"turnaround p50 {percentile(honest_out['turnaround_ns'], 50):.3f} ms, "
          f"p99 {turn_p99:.3f} ms, max {percentile(honest_out['turnaround_ns'], 100):.3f} ms; "
          f"RTT p99 {percentile(honest_out['rtt_ns'], 99):.3f} ms")  # fmt: skip
    print("  " + (summary[-1] if summary else "(no summary line)"))
    print(f"  responder log: {log}")
    checks = {
        "honest loss 0": loss == 0,
        f"turnaround p99 <= {TARGET_TURNAROUND_P99_MS:g} ms": turn_p99 <= TARGET_TURNAROUND_P99_MS,
        f"RSS <= {TARGET_RSS_MB:.0f} MB": rss_max <= TARGET_RSS_MB,
    }
    for name, ok in checks.items():
        print(f"  target {name}: {'met' if ok else 'MISSED'}")
    return 0 if all(checks.values()) else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="soak length (default 10)")
    parser.add_argument("--flood-pps", type=int, default=10_000, help="forged datagrams/s")
    parser.add_argument(
        "--realtime", action="store_true", help="run the responder under chrt -f 20"
    )
    parser.add_argument("--flood", type=float, metavar="S", help=argparse.SUPPRESS)
    parser.add_argument("--honest", type=float, metavar="S", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.flood is not None:
        flood(args.flood, args.flood_pps)
        return 0
    if args.honest is not None:
        honest(args.honest)
        return 0
    if os.geteuid() != 0:
        print("cannot run: needs root (a network namespace and a raw socket for forged sources)")
        return 2
    if not 0 < args.minutes <= 24 * 60 or not 0 < args.flood_pps <= 100_000:
        print("--minutes must be 0-1440 and --flood-pps 1-100000")
        return 2
    return conduct(args.minutes, args.flood_pps, args.realtime)


if __name__ == "__main__":
    sys.exit(main())
