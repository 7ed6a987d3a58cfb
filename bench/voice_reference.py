"""Reference comparison: netready's voice-path numbers next to irtt, ping and iperf3 (issue #3).

Everything runs in one impairment lab (tests/netns/lab.py: site -- router -- platform
namespaces on one kernel, so one-way delays are exact) and one tool after the other, never
two at once:

1. Loopback self-noise, inside the platform namespace on 127.0.0.1: `netready responder` in a
   process of its own and `netready check --only media.voice` (50 packets/s, 172-byte
   payload), then irtt at the same rate and size for reference. Reported: RFC 3550 jitter per
   direction (mean of the running estimate, final value, running max), netready's own send
   lateness metric (send_late_*: the pacer's wake-up against the scheduled slot: mean, p99,
   max; irtt's nearest is its timer error) and, as an independent check of that metric, the
   packets' arrival times at the responder against a straight 20 ms grid (pacing as the
   wire sees it; not for irtt, whose sequence numbers do not stay on such a grid).
2. The emulated path: 40 ms ± 5 ms uniform FIFO delay upstream only by default (site ->
   platform; the downstream stays clean, so each direction's jitter has a known, different
   truth; `--down-delay-ms/--down-jitter-ms` emulate it too), 0.5 % random loss (nft
   numgen) in both directions. On it, in turn: netready (the CLI, clock
   synchronised = yes, so delay and jitter are per direction), irtt, ping, iperf3 UDP forward
   (`-c`, the up direction) and reverse (`-R`, the down direction). The delay emulator is
   restarted with the same seed before every tool, so each sees the same sequence of draws.
3. Ground truth from the router: a table of this script's own in the router namespace counts
   every flow (protocol, source port, destination port; ICMP per direction) before (forward
   hook priority -20) and after (-5) the lab's loss rule (priority -10), so each tool's run
   has an exact per-direction drop count for its own packets (netready's one-second
   preflight and iperf3's TCP control connection are separate flows and are left out). The
   lab's own counters are read around each run as a cross-check.
4. Jitter in one definition for everyone: the RFC 3550 estimator J += (|D| - J) / 16 run over
   the per-packet one-way delays of consecutive *received* packets in arrival order (up:
   order of arrival at the responder / irtt server, down: at the client), D being the
   difference of two consecutive one-way delays. "Mean" is the mean of the running estimate
   from packet 17 on (J starts at 0 and needs ~16 packets to converge; netready's running max
   skips the same ramp), "final" its last value. irtt reports IPDV (RFC 3393, consecutive
   sequence numbers) and its mean of |IPDV|; J is an exponential average of |D| with gain
   1/16, so its long-run mean equals the mean |IPDV| when nothing is reordered; both are shown.
   iperf3's figure is its own RFC 1889 estimator, final value only.
5. Targets of issue #3, printed as ✓/✗: |RTT mean netready − irtt| <= 0.5 ms; J (mean of the
   running estimate) within 10 % of irtt's per direction; loss within 0.2 percentage points
   of the router's count per direction; on loopback J running max <= 0.05 ms per direction
   and send lateness p99 <= 0.5 ms.

Run as root (it builds network namespaces), from the repository root, either way::

    .venv/bin/python -m bench.voice_reference
    .venv/bin/python bench/voice_reference.py     # inserts the repository root into sys.path

Options shorten or lengthen the phases (defaults: ~3.3 minutes); `--json FILE` keeps every raw
number. Exit status: 0 every target met, 1 one missed, 2 could not run (not root, tool missing).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import math
import os
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if sys.path[0] != str(ROOT):  # first: site-packages may hold an unrelated `tests` package
    sys.path.insert(0, str(ROOT))

from tests.netns.emulator import model_jitter  # noqa: E402
from tests.netns.lab import DIRECTIONS, Lab  # noqa: E402
from tests.netns.procs import stop_process  # noqa: E402

STAMP_PORT = 8620
IRTT_PORT = 2112
IPERF_PORT = 5201
RATE_PPS = 50
PAYLOAD = 172
LOSS_PCT, SEED = 0.5, 11
IPERF_ATTEMPTS = 3
WARMUP = 16  # J from packet WARMUP + 1 on, like netready's running max
BENCH_TABLE = "netready_bench"
DIRS = ("up", "down")
# targets of issue #3
RTT_TOL_MS, JITTER_TOL, LOSS_TOL_PP = 0.5, 0.10, 0.2
SELF_JITTER_MAX_MS, SEND_LATE_P99_MAX_MS = 0.05, 0.5
PROFILE = """[profile]
name = "voice-reference"
title = "reference comparison (bench/voice_reference.py)"
responder = "{responder}"

[targets.delay_ms]
max = 150.0
statistic = "p95"
[targets.jitter_ms]
max = 20.0
statistic = "running_max"
[targets.loss_pct]
below = 1.0
statistic = "whole_run"

[checks."media.voice"]
duration_s = {duration}
rate_pps = {rate}
payload_bytes = {payload}
reply_timeout_s = 1.0
clock_synchronised = "yes"
media_rule = ""
"""
Values = dict[str, float]


# -- RFC 3550 / 3393 on per-packet one-way delays --------------------------------------------
def rfc3550_running(transits_in_arrival_order: Sequence[int]) -> list[float]:
    """The RFC 3550 estimate J (ns) after each received packet from the second on."""
    j, out = 0.0, []
    for prev, cur in itertools.pairwise(transits_in_arrival_order):
        j += (abs(cur - prev) - j) / 16
        out.append(j)
    return out


def jitter_values(prefix: str, transits_in_arrival_order: Sequence[int]) -> Values:
    """`<prefix>_mean`, `_final`, `_max` of the running RFC 3550 J, in ms (mean and max
    from packet WARMUP + 1 on)."""
    js = rfc3550_running(transits_in_arrival_order)
    if not js:
        return {}
    warm = js[WARMUP - 1 :] or js
    return {
        f"{prefix}_mean": statistics.fmean(warm) / 1e6,
        f"{prefix}_final": js[-1] / 1e6,
        f"{prefix}_max": max(warm) / 1e6,
    }


def ipdv_mean_ms(delay_by_seq: dict[int, int]) -> float:
    """Mean |IPDV| (RFC 3393, consecutive sequence numbers both received), ms."""
    diffs = [abs(delay_by_seq[k + 1] - d) for k, d in delay_by_seq.items() if k + 1 in delay_by_seq]
    return statistics.fmean(diffs) / 1e6 if diffs else math.nan


def grid_lateness(prefix: str, arrivals: dict[int, int]) -> Values:
    """Pacing seen from the far end: arrival times (ns, by sequence number) against the
    least-squares straight line through them (which absorbs any rate difference between the
    sender's schedule clock and the receiver's clock), measured from the earliest packet:
    `<prefix>_p50`, `_p99`, `_max` in ms. Includes the path's own delay variation."""
    seqs = sorted(arrivals)
    if len(seqs) < 3:
        return {}
    t0 = arrivals[seqs[0]]
    ys = [arrivals[k] - t0 for k in seqs]
    xm, ym = statistics.fmean(seqs), statistics.fmean(ys)
    sxx = sum((x - xm) ** 2 for x in seqs)
    slope = sum((x - xm) * (y - ym) for x, y in zip(seqs, ys, strict=True)) / sxx
    resid = [y - (ym + slope * (x - xm)) for x, y in zip(seqs, ys, strict=True)]
    late = sorted(r - min(resid) for r in resid)
    pick = {"p50": 50, "p99": 99}
    out = {
        f"{prefix}_{k}": late[max(0, -(-p * len(late) // 100) - 1)] / 1e6 for k, p in pick.items()
    }
    out[f"{prefix}_max"] = late[-1] / 1e6
    return out


# -- the router's exact per-flow counts ------------------------------------------------------
@dataclass
class Count:
    """Packets of one direction of one tool's flows: seen at the router, dropped there."""

    seen: int = 0
    dropped: int = 0

    @property
    def pct(self) -> float:
        """Dropped share in percent."""
        return 100.0 * self.dropped / self.seen if self.seen else math.nan


FlowKey = tuple[str, int, int]  # (l4 protocol, source port, destination port)


@dataclass
class Flows:
    """Per-direction packet counts before and after the loss rule, by flow, plus ICMP."""

    pre: dict[str, dict[FlowKey, int]] = field(default_factory=dict)
    post: dict[str, dict[FlowKey, int]] = field(default_factory=dict)
    icmp: dict[str, int] = field(default_factory=dict)  # "pre up", "post down", ...

    def count(self, direction: str, match: Callable[[FlowKey], bool]) -> Count:
        """Seen and dropped packets of the flows `match` selects in one direction."""
        seen = sum(n for k, n in self.pre.get(direction, {}).items() if match(k))
        passed = sum(n for k, n in self.post.get(direction, {}).items() if match(k))
        return Count(seen, seen - passed)

    def icmp_count(self, direction: str) -> Count:
        """ICMP packets of one direction (ping's echo requests up, replies down)."""
        seen = self.icmp.get(f"pre {direction}", 0)
        return Count(seen, seen - self.icmp.get(f"post {direction}", 0))

    def dropped_total(self, direction: str) -> int:
        """Every TCP/UDP/ICMP packet of one direction dropped (cross-check with the lab)."""
        every = self.count(direction, lambda _k: True).dropped
        return every + self.icmp_count(direction).dropped


def bench_table_text() -> str:
    """`nft -f` input: per-flow counters around the lab's loss rule (priority -10)."""
    sets, chains = [], []
    for stage in ("pre", "post"):
        for d in DIRS:
            sets.append(
                f"  set {stage}_{d} {{ type inet_proto . inet_service . inet_service;"
                " flags dynamic; counter; size 65536; }"
            )
    for stage, prio in (("pre", -20), ("post", -5)):
        rules = []
        for d in DIRS:
            iif = f'iifname "{DIRECTIONS[d].ingress}"'
            rules.append(
                f"{iif} meta l4proto {{ tcp, udp }}"
                f" update @{stage}_{d} {{ meta l4proto . th sport . th dport }}"
            )
            rules.append(f'{iif} meta l4proto icmp counter comment "icmp {stage} {d}"')
        body = "\n    ".join(rules)
        chains.append(
            f"  chain {stage} {{\n    type filter hook forward priority {prio}; policy accept;\n"
            f"    {body}\n  }}"
        )
    inner = "\n".join(sets + chains)
    return (
        f"table inet {BENCH_TABLE}\ndelete table inet {BENCH_TABLE}\n"
        f"table inet {BENCH_TABLE} {{\n{inner}\n}}\n"
    )


def reset_flows(lab: Lab) -> None:
    """(Re)load the counting table in the router: every counter starts from 0."""
    argv = ["ip", "netns", "exec", lab.ns["router"], "nft", "-f", "-"]
    proc = subprocess.run(argv, input=bench_table_text(), text=True, capture_output=True)
    if proc.returncode:
        raise RuntimeError(f"nft refused the bench table: {proc.stderr.strip()}")


def read_flows(lab: Lab) -> Flows:
    """The counting table's per-flow and ICMP counters now."""
    listing = lab.run_in("router", ["nft", "-j", "list", "table", "inet", BENCH_TABLE]).stdout
    flows = Flows()
    for item in json.loads(listing)["nftables"]:
        if "set" in item:
            stage, _, d = str(item["set"]["name"]).partition("_")
            table = (flows.pre if stage == "pre" else flows.post).setdefault(d, {})
            for elem in item["set"].get("elem", []):
                proto, sport, dport = elem["elem"]["val"]["concat"]
                table[(str(proto), int(sport), int(dport))] = int(
                    elem["elem"]["counter"]["packets"]
                )
        rule = item.get("rule", {})
        comment = str(rule.get("comment", ""))
        if comment.startswith("icmp "):
            for expr in rule.get("expr", []):
                if "counter" in expr:
                    flows.icmp[comment.removeprefix("icmp ")] = int(expr["counter"]["packets"])
    return flows


# -- processes --------------------------------------------------------------------------------
def wait_for_text(path: Path, text: str, proc: subprocess.Popen[str], what: str) -> None:
    """Wait (<= 20 s) until a started server's log file shows `text`."""
    deadline = time.monotonic() + 20.0
    while text not in path.read_text("utf-8", "replace"):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start: {path.read_text('utf-8', 'replace')}")
        time.sleep(0.05)


@contextmanager
def server(
    lab: Lab, role: str, argv: list[str], log: Path, ready: str, what: str
) -> Iterator[subprocess.Popen[str]]:
    """A server in a namespace, its output in `log`, stopped on leaving."""
    with log.open("w", encoding="utf-8") as sink:
        proc = lab.popen_in(role, argv, stdout=sink, stderr=subprocess.STDOUT)
    try:
        wait_for_text(log, ready, proc, what)
        yield proc
    finally:
        stop_process(proc)


def cpu_jiffies() -> tuple[int, int, int]:
    """(busy, steal, total) jiffies of all CPUs since boot, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, fields[7], sum(fields)


@contextmanager
def cpu_meter(run: Run) -> Iterator[None]:
    """Host CPU busy and steal share (all CPUs) over the block, into run.cpu: whatever else
    runs on the machine (other test suites) shows up here and explains timing outliers."""
    busy0, steal0, total0 = cpu_jiffies()
    t0 = time.monotonic()
    yield
    run.seconds = time.monotonic() - t0
    busy1, steal1, total1 = cpu_jiffies()
    span = max(1, total1 - total0)
    run.cpu = {
        "busy_pct": 100 * (busy1 - busy0) / span,
        "steal_pct": 100 * (steal1 - steal0) / span,
    }


@dataclass
class Run:
    """One tool's run: its numbers, the router's truth and what it took."""

    tool: str
    commands: list[str]
    values: Values
    truth: dict[str, Count] = field(default_factory=dict)
    lab_dropped: dict[str, int] = field(default_factory=dict)  # lab counters, all traffic
    flows_dropped: dict[str, int] = field(default_factory=dict)  # bench table, all traffic
    emulator: dict[str, dict[str, Any]] = field(default_factory=dict)  # direction -> stats
    seconds: float = 0.0
    port: int = 0  # netready: the stream's source port (its flow at the router)
    notes: list[str] = field(default_factory=list)
    label: str = ""  # how the run is named in the report (default: the tool)
    cpu: dict[str, float] = field(default_factory=dict)  # host CPU busy / steal, % of all


def shell(argv: Sequence[str], role: str) -> str:
    """How a command was run, for the record."""
    return f"[{role}] {shlex.join(argv)}"


# -- netready ---------------------------------------------------------------------------------
def netready_check(
    lab: Lab, role: str, responder: str, seconds: float, work: Path, name: str
) -> tuple[dict[str, Any], list[str], str]:
    """`netready check --only media.voice` in a namespace; (the check, argv, shown command)."""
    profile = work / f"{name}.toml"
    profile.write_text(
        PROFILE.format(responder=responder, duration=seconds, rate=RATE_PPS, payload=PAYLOAD),
        "utf-8",
    )
    out = work / f"report-{name}"
    argv = [sys.executable, "-m", "netready", "check", "--profile", str(profile)]
    argv += ["--only", "media.voice", "--responder", responder]
    argv += ["--duration", f"{seconds:g}", "--out", str(out), "--quiet"]
    env = dict(os.environ, NETREADY_CONFIG_DIR=str(work / "config"))
    proc = lab.run_in(role, argv, check=False, timeout=seconds + 90, env=env)
    report = out / "report.json"
    if not report.exists():
        raise RuntimeError(f"netready wrote no report (exit {proc.returncode}): {proc.stderr}")
    checks: list[dict[str, Any]] = json.loads(report.read_bytes())["checks"]
    check = checks[0]
    if not str(check.get("method", "")).startswith("stamp"):
        raise RuntimeError(f"the voice check did not measure with STAMP: {check.get('reason')}")
    return check, argv, shell(argv, role)


def _ns(value: object) -> int:
    return int(str(value))


def netready_values(check: dict[str, Any]) -> tuple[Values, list[str]]:
    """netready's own metrics plus J/IPDV recomputed from its per-packet samples (the
    recomputed final and running max must equal netready's: listed as notes if not)."""
    m: dict[str, float] = check["metrics"]
    ev: dict[str, Any] = check["evidence"]
    got = [s for s in ev["samples"] if s[2] is not None and s[4] is not None]
    up = {int(s[0]): _ns(s[2]) - _ns(s[1]) for s in got}
    down = {int(s[0]): _ns(s[4]) - _ns(s[3]) for s in got}
    v: Values = {k: float(m[k]) for k in ("rtt_mean_ms", "loss_up_pct", "loss_down_pct")}
    v |= {"delay_up": m["delay_up_mean_ms"], "delay_down": m["delay_down_mean_ms"]}
    v |= {k: m[f"send_late_{k.split('_')[-1]}_ms"] for k in ("late_mean", "late_p99", "late_max")}
    v |= jitter_values("j_up", [up[int(s[0])] for s in sorted(got, key=lambda s: int(s[5]))])
    v |= jitter_values("j_down", [down[int(s[0])] for s in sorted(got, key=lambda s: _ns(s[4]))])
    v["ipdv_up"], v["ipdv_down"] = ipdv_mean_ms(up), ipdv_mean_ms(down)
    v |= grid_lateness("wire_late", {int(s[0]): _ns(s[2]) for s in got})
    loss = ev["loss"]
    s_max, r_max, replies = loss["sender_seq_max"], loss["reflector_seq_max"], loss["replies"]
    v |= {"sent": m["packets_sent"], "lost_up": s_max - r_max, "lost_down": r_max + 1 - replies}
    notes = []
    for d in DIRS:
        for mine, theirs in (("final", "final"), ("max", "running_max")):
            a, b = v.get(f"j_{d}_{mine}", math.nan), m.get(f"jitter_{d}_{theirs}_ms", math.nan)
            if not abs(a - b) <= 1e-6:
                notes.append(f"recomputed J {d} {mine} {a:.6f} != netready's {b:.6f} ms")
    if ev.get("delay_method") != "measured":
        notes.append(f"delay method {ev.get('delay_method')}: one-way delay not measured")
    if ev.get("timestamp_source") != "kernel":
        notes.append(f"timestamp source {ev.get('timestamp_source')}")
    return v, notes


# -- irtt -------------------------------------------------------------------------------------
def irtt_argv(addr: str, seconds: float, out: Path) -> list[str]:
    """The irtt client command of issue #3 (G.711-like: 20 ms, 172 bytes)."""
    argv = ["irtt", "client", "-Q", "-i", "20ms", "-d", f"{seconds:g}s", "-l", str(PAYLOAD)]
    return [*argv, "-o", str(out), addr]


def irtt_run(
    lab: Lab, role: str, addr: str, seconds: float, work: Path, name: str
) -> tuple[dict[str, Any], list[str]]:
    """`irtt server` and `irtt client` in one namespace's view; (its JSON, commands)."""
    out = work / f"irtt-{name}.json"
    srv_argv = ["irtt", "server", "-b", addr]
    cli_argv = irtt_argv(addr, seconds, out)
    srv_role = "platform" if role == "site" else role
    log = work / f"irtt-server-{name}.log"
    with server(lab, srv_role, srv_argv, log, "ListenerStart", "irtt server"):
        lab.run_in(role, cli_argv, timeout=seconds + 60)
    doc: dict[str, Any] = json.loads(out.read_text("utf-8"))
    return doc, [shell(srv_argv, srv_role), shell(cli_argv, role)]


def irtt_values(doc: dict[str, Any]) -> Values:
    """RTT, one-way delays, loss per direction, irtt's IPDV and RFC 3550 J recomputed from
    its per-packet one-way delays in arrival order."""
    st: dict[str, Any] = doc["stats"]
    v: Values = {
        "rtt_mean_ms": st["rtt"]["mean"] / 1e6,
        "delay_up": st["send_delay"]["mean"] / 1e6,
        "delay_down": st["receive_delay"]["mean"] / 1e6,
        "ipdv_up_irtt": st["ipdv_send"]["mean"] / 1e6,
        "ipdv_down_irtt": st["ipdv_receive"]["mean"] / 1e6,
        "loss_up_pct": float(st["upstream_loss_percent"]),
        "loss_down_pct": float(st["downstream_loss_percent"]),
        "sent": float(st["packets_sent"]),
        "lost_up": float(st["packets_sent"] - st["server_packets_received"]),
        "lost_down": float(st["server_packets_received"] - st["packets_received"]),
        "timer_error_mean": st["timer_error"]["mean"] / 1e6,
        "timer_error_max": st["timer_error"]["max"] / 1e6,
    }
    up: list[tuple[int, int, int]] = []  # (arrival at the server, seqno, send delay)
    down: list[tuple[int, int, int]] = []  # (arrival at the client, seqno, receive delay)
    for rt in doc["round_trips"]:
        ts, delay = rt.get("timestamps", {}), rt.get("delay", {})
        arrived_up = ts.get("server", {}).get("receive", {}).get("wall")
        arrived_down = ts.get("client", {}).get("receive", {}).get("wall")
        if arrived_up is not None and "send" in delay:
            up.append((int(arrived_up), int(rt["seqno"]), int(delay["send"])))
        if arrived_down is not None and "receive" in delay:
            down.append((int(arrived_down), int(rt["seqno"]), int(delay["receive"])))
    v["timer_misses"] = float(st.get("timer_misses", 0))
    for d, rows in (("up", up), ("down", down)):
        rows.sort()
        v |= jitter_values(f"j_{d}", [r[2] for r in rows])
        v[f"ipdv_{d}"] = ipdv_mean_ms({r[1]: r[2] for r in rows})
    return v


# -- ping, iperf3 -----------------------------------------------------------------------------
def ping_values(text: str) -> Values:
    """RTT avg/mdev and round-trip loss from iputils ping's summary."""
    sent = re.search(r"(\d+) packets transmitted, (\d+) received", text)
    rtt = re.search(r"= ([\d.]+)/([\d.]+)/([\d.]+)/([\d.]+) ms", text)
    if not sent or not rtt:
        raise RuntimeError(f"cannot read ping's summary: {text[-300:]}")
    n, got = int(sent[1]), int(sent[2])
    return {
        "rtt_mean_ms": float(rtt[2]),
        "rtt_mdev_ms": float(rtt[4]),
        "sent": float(n),
        "loss_rt_pct": 100.0 * (n - got) / n,
        "lost_rt": float(n - got),
    }


def iperf_values(doc: dict[str, Any]) -> Values:
    """Receiver-side jitter (RFC 1889, final value) and loss of one iperf3 UDP run."""
    if doc.get("error"):
        raise RuntimeError(f"iperf3: {doc['error']}")
    r: dict[str, Any] = doc["end"]["sum_received"]
    return {
        "jitter_final": float(r["jitter_ms"]),
        "loss_pct": float(r["lost_percent"]),
        "lost": float(r["lost_packets"]),
        "packets": float(r["packets"]),
    }


# -- the phases -------------------------------------------------------------------------------
def loopback_phase(lab: Lab, args: argparse.Namespace, work: Path) -> tuple[Run, Run]:
    """netready and irtt on 127.0.0.1 inside the platform namespace (nothing else runs)."""
    argv = [sys.executable, "-m", "netready", "responder", "--listen", "127.0.0.1"]
    argv += ["--stamp-port", str(STAMP_PORT), "--clock-synchronised", "yes"]
    nr, ir = Run("netready", [shell(argv, "platform")], {}), Run("irtt", [], {})
    log = work / "responder-lo.log"
    with server(lab, "platform", argv, log, "listening", "responder"), cpu_meter(nr):
        check, _argv, cmd = netready_check(
            lab, "platform", f"127.0.0.1:{STAMP_PORT}", args.loopback_s, work, "loopback"
        )
    nr.values, nr.notes = netready_values(check)
    nr.commands.append(cmd)
    with cpu_meter(ir):
        doc, ir.commands = irtt_run(
            lab, "platform", "127.0.0.1", args.irtt_loopback_s, work, "loopback"
        )
    ir.values = irtt_values(doc)
    return nr, ir


def emulated(args: argparse.Namespace) -> dict[str, tuple[float, float]]:
    """(delay, jitter) in ms per direction that gets an emulator."""
    both = {
        "up": (args.up_delay_ms, args.up_jitter_ms),
        "down": (args.down_delay_ms, args.down_jitter_ms),
    }
    return {d: dj for d, dj in both.items() if dj != (0.0, 0.0)}


@contextmanager
def tool_run(lab: Lab, run: Run, args: argparse.Namespace) -> Iterator[Run]:
    """Fresh emulators (same seeds) and fresh counters before; truth and stats after."""
    for d, (delay, jitter) in emulated(args).items():
        lab.set_delay(d, delay, jitter, seed=SEED + DIRS.index(d))
    reset_flows(lab)
    before = lab.dropped()
    with cpu_meter(run):
        yield run
    flows = read_flows(lab)
    after = lab.dropped()
    run.lab_dropped = {d: after[d] - before[d] for d in DIRS}
    run.flows_dropped = {d: flows.dropped_total(d) for d in DIRS}
    for d in emulated(args):
        run.emulator[d] = dict(lab.stop_delay(d) or {}).get("stats", {})
    _truth_from(run, flows)


def _truth_from(run: Run, flows: Flows) -> None:
    """Per-direction truth of the tool's own packets, by its flows."""
    port = run.port
    if run.tool == "netready":
        run.truth = {
            "up": flows.count("up", lambda k: k == ("udp", port, STAMP_PORT)),
            "down": flows.count("down", lambda k: k == ("udp", STAMP_PORT, port)),
        }
    elif run.tool == "irtt":
        run.truth = {
            "up": flows.count("up", lambda k: k[0] == "udp" and k[2] == IRTT_PORT),
            "down": flows.count("down", lambda k: k[0] == "udp" and k[1] == IRTT_PORT),
        }
    elif run.tool == "ping":
        run.truth = {d: flows.icmp_count(d) for d in DIRS}
    else:  # iperf3: the UDP data, not the TCP control connection
        run.truth = {
            "up": flows.count("up", lambda k: k[0] == "udp" and k[2] == IPERF_PORT),
            "down": flows.count("down", lambda k: k[0] == "udp" and k[1] == IPERF_PORT),
        }


def path_phase(lab: Lab, args: argparse.Namespace, work: Path) -> list[Run]:
    """netready, irtt, ping, iperf3 up and down, one after the other on the impaired path."""
    for d in DIRS:
        lab.set_loss(d, LOSS_PCT, deterministic=False)
    runs: list[Run] = []
    addr = lab.platform_ip
    responder = f"{addr}:{STAMP_PORT}"
    argv = [sys.executable, "-m", "netready", "responder", "--listen", addr]
    argv += ["--stamp-port", str(STAMP_PORT), "--clock-synchronised", "yes"]
    with server(lab, "platform", argv, work / "responder.log", "listening", "responder"):
        with tool_run(lab, Run("netready", [shell(argv, "platform")], {}), args) as run:
            check, _argv, cmd = netready_check(lab, "site", responder, args.path_s, work, "path")
            run.values, run.notes = netready_values(check)
            run.port = int(check["evidence"]["source_port"])
            run.commands.append(cmd)
        runs.append(run)
    with tool_run(lab, Run("irtt", [], {}), args) as run:
        doc, run.commands = irtt_run(lab, "site", addr, args.path_s, work, "path")
        run.values = irtt_values(doc)
    runs.append(run)
    with tool_run(lab, Run("ping", [], {}), args) as run:
        ping = ["ping", "-q", "-c", str(args.ping_count), "-i", "0.02", addr]
        out = lab.run_in("site", ping, check=False, timeout=args.ping_count * 0.02 + 30)
        run.values, run.commands = ping_values(out.stdout), [shell(ping, "site")]
    runs.append(run)
    runs += [iperf_run(lab, args, work, reverse) for reverse in (False, True)]
    return runs


def iperf_run(lab: Lab, args: argparse.Namespace, work: Path, reverse: bool) -> Run:
    """iperf3 UDP at the stream's rate and size, up (forward) or down (-R). Tried up to
    IPERF_ATTEMPTS times: a lost UDP connect datagram (0.5 % loss) can make iperf3 give up."""
    name = "iperf3 -R" if reverse else "iperf3"
    addr = lab.platform_ip
    srv = ["iperf3", "-s", "-1", "--forceflush", "-B", addr, "-p", str(IPERF_PORT)]
    cli = ["iperf3", "-c", addr, "-p", str(IPERF_PORT), "-u", "-b", "68.8K"]
    cli += ["-l", str(PAYLOAD), "-t", f"{args.iperf_s:g}", "--json"] + ["-R"] * reverse
    failures: list[str] = []
    for attempt in range(1, IPERF_ATTEMPTS + 1):
        with tool_run(lab, Run("iperf3", [], {}, label=name), args) as run:
            log = work / f"{name.replace(' ', '')}-{attempt}.log"
            with server(lab, "platform", srv, log, "listening", "iperf3 server") as proc:
                out = lab.run_in("site", cli, check=False, timeout=args.iperf_s + 60)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(5)
            run.commands = [shell(srv, "platform"), shell(cli, "site")]
            try:
                run.values = iperf_values(json.loads(out.stdout))
            except (RuntimeError, ValueError, KeyError) as exc:
                failures.append(f"attempt {attempt} failed: {exc}")
                continue
        break
    else:
        run.values = dict.fromkeys(("jitter_final", "loss_pct", "lost", "packets"), math.nan)
    run.notes += failures
    return run


# -- the report -------------------------------------------------------------------------------
def f3(x: float | None, digits: int = 3) -> str:
    """A number for the table, "—" when missing."""
    return "—" if x is None or math.isnan(x) else f"{x:.{digits}f}"


def jcell(v: Values, prefix: str) -> str:
    """The "mean / final" cell of a J series."""
    return f"{f3(v.get(f'{prefix}_mean'))} / {f3(v.get(f'{prefix}_final'))}"


def loss_cell(pct: float, lost: float, truth: Count) -> str:
    """Tool's loss next to the router's count of the same packets."""
    return f"{pct:.3f} % ({lost:.0f}) · router {truth.pct:.3f} % ({truth.dropped}/{truth.seen})"


@dataclass
class Check:
    """One target of issue #3 against what was measured."""

    name: str
    ok: bool
    detail: str

    def line(self) -> str:
        """`- ✓ name: detail`."""
        return f"- {'✓' if self.ok else '✗'} {self.name}: {self.detail}"


def checks(lo: Run, nr: Run, ir: Run, args: argparse.Namespace) -> list[Check]:
    """The targets: RTT and jitter against irtt, loss against the router, self-noise."""
    out = []
    emu = emulated(args)
    diff = nr.values["rtt_mean_ms"] - ir.values["rtt_mean_ms"]
    out.append(
        Check(
            f"RTT mean within {RTT_TOL_MS} ms of irtt's",
            abs(diff) <= RTT_TOL_MS,
            f"netready {nr.values['rtt_mean_ms']:.3f} − irtt {ir.values['rtt_mean_ms']:.3f}"
            f" = {diff:+.3f} ms",
        )
    )
    for d in DIRS:
        a, b = nr.values[f"j_{d}_mean"], ir.values[f"j_{d}_mean"]
        out.append(
            Check(
                f"jitter {d} within {JITTER_TOL:.0%} of irtt's (RFC 3550 J, mean of the estimate)",
                abs(a - b) <= JITTER_TOL * b,
                f"netready {a:.4f} vs irtt {b:.4f} ms: ratio {a / b:.3f}, Δ {a - b:+.4f} ms"
                f" (final {nr.values[f'j_{d}_final']:.3f} vs {ir.values[f'j_{d}_final']:.3f})"
                + (
                    ""
                    if d in emu
                    else "; clean direction, true J ≈ 0: both figures are the tools' own"
                    " timestamp noise (loopback table)"
                ),
            )
        )
    for d in DIRS:
        pct, truth = nr.values[f"loss_{d}_pct"], nr.truth[d]
        out.append(
            Check(
                f"loss {d} within {LOSS_TOL_PP} pp of the router's count",
                abs(pct - truth.pct) <= LOSS_TOL_PP,
                f"netready {pct:.3f} % ({nr.values[f'lost_{d}']:.0f} lost) vs router"
                f" {truth.pct:.3f} % ({truth.dropped} of {truth.seen}):"
                f" Δ {pct - truth.pct:+.3f} pp",
            )
        )
    for d in DIRS:
        worst = lo.values[f"j_{d}_max"]
        out.append(
            Check(
                f"self-noise on loopback: RFC 3550 J {d} ≤ {SELF_JITTER_MAX_MS} ms (running max)",
                worst <= SELF_JITTER_MAX_MS,
                f"running max {worst:.4f}, mean {lo.values[f'j_{d}_mean']:.4f},"
                f" final {lo.values[f'j_{d}_final']:.4f} ms",
            )
        )
    p99 = lo.values["late_p99"]
    out.append(
        Check(
            f"self-noise on loopback: send lateness p99 ≤ {SEND_LATE_P99_MAX_MS} ms",
            p99 <= SEND_LATE_P99_MAX_MS,
            f"p99 {p99:.4f} ms (mean {lo.values['late_mean']:.4f},"
            f" max {lo.values['late_max']:.3f}); seen at the responder against the"
            f" {1000 / RATE_PPS:g} ms grid: p99 {lo.values.get('wire_late_p99', math.nan):.4f},"
            f" max {lo.values.get('wire_late_max', math.nan):.3f} ms",
        )
    )
    return out


def grid_cell(v: Values) -> str:
    """The "p50 / p99 / max" cell of the arrival-grid lateness."""
    late = [v.get(f"wire_late_{k}") for k in ("p50", "p99", "max")]
    return " / ".join(f3(x, 4) for x in late)


def loopback_table(nr: Run, ir: Run, args: argparse.Namespace) -> list[str]:
    """Self-noise on 127.0.0.1, netready next to irtt."""
    n, i = nr.values, ir.values
    return [
        f"Loopback self-noise ({RATE_PPS} pps, {PAYLOAD}-byte payload; netready"
        f" {args.loopback_s:g} s, irtt {args.irtt_loopback_s:g} s), ms:",
        "",
        "| loopback | netready | irtt |",
        "|---|---|---|",
        f"| RTT mean | {f3(n['rtt_mean_ms'], 4)} | {f3(i['rtt_mean_ms'], 4)} |",
        f"| one-way delay up / down mean | {f3(n['delay_up'], 4)} / {f3(n['delay_down'], 4)}"
        f" | {f3(i['delay_up'], 4)} / {f3(i['delay_down'], 4)} |",
        *(
            f"| RFC 3550 J {d}: mean / final / running max | {jcell(n, f'j_{d}')} /"
            f" {f3(n.get(f'j_{d}_max'), 4)} | {jcell(i, f'j_{d}')} / {f3(i.get(f'j_{d}_max'), 4)} |"
            for d in DIRS
        ),
        f"| send lateness mean / p99 / max (irtt: timer error mean / — / max) |"
        f" {f3(n['late_mean'], 4)} / {f3(n['late_p99'], 4)} / {f3(n['late_max'])} |"
        f" {f3(i['timer_error_mean'], 4)} / — / {f3(i['timer_error_max'])} |",
        f"| arrival at the far end against the {1000 / RATE_PPS:g} ms grid, p50 / p99 / max"
        f" | {grid_cell(n)} | — (seqno i is not kept at start + i·20 ms) |",
        f"| packets sent (irtt: timer misses) | {n['sent']:.0f} | {i['sent']:.0f}"
        f" ({i['timer_misses']:.0f}) |",
    ]


def truth_cells(args: argparse.Namespace) -> dict[str, tuple[str, str, float]]:
    """Per direction: the emulator's delay and jitter truth as cells, and the model J (ms)."""
    out = {}
    emu = emulated(args)
    for d in DIRS:
        if d not in emu:
            out[d] = ("base (no emulator)", "0 (clean)", 0.0)
            continue
        delay, jitter = emu[d]
        model = model_jitter(delay, jitter, spacing_ms=1000 / RATE_PPS)
        out[d] = (f"{delay:g} + base (set)", f"{model:.3f} (model of ±{jitter:g} FIFO)", model)
    return out


def describe_path(args: argparse.Namespace) -> str:
    """The path in words, e.g. "up 40 ms ± 5 ms uniform FIFO, down clean"."""
    emu = emulated(args)
    parts = [
        f"{d} {emu[d][0]:g} ms ± {emu[d][1]:g} ms uniform FIFO" if d in emu else f"{d} clean"
        for d in DIRS
    ]
    return ", ".join(parts)


def path_table(runs: list[Run], args: argparse.Namespace) -> list[str]:
    """The emulated path: every tool's numbers next to the emulator's truth."""
    nr, ir, ping, up, down = runs
    n, i, p = nr.values, ir.values, ping.values
    truth = truth_cells(args)
    rt = ping.truth
    rt_truth = 100.0 * (rt["up"].dropped + rt["down"].dropped) / max(1, rt["up"].seen)
    rows = [
        f"Emulated path: {describe_path(args)}; {LOSS_PCT} % random loss each way."
        " ms unless a unit is given; J cells are mean of the running estimate / final value.",
        "",
        "| metric | netready | irtt | ping | iperf3 | emulator truth |",
        "|---|---|---|---|---|---|",
        f"| RTT mean | {f3(n['rtt_mean_ms'])} | {f3(i['rtt_mean_ms'])} |"
        f" {f3(p['rtt_mean_ms'])} (mdev {f3(p['rtt_mdev_ms'])}) | — | sum of both + base |",
    ]
    for d in DIRS:
        rows.append(
            f"| delay {d}, mean | {f3(n[f'delay_{d}'])} | {f3(i[f'delay_{d}'])} | — | — |"
            f" {truth[d][0]} |"
        )
    for d, iperf in (("up", up), ("down", down)):
        rows += [
            f"| jitter {d}, RFC 3550 | {jcell(n, f'j_{d}')} | {jcell(i, f'j_{d}')} | — |"
            f" — / {f3(iperf.values['jitter_final'])} | {truth[d][1]} |",
            f"| jitter {d}, running max | {f3(n[f'j_{d}_max'])} | {f3(i[f'j_{d}_max'])} | — |"
            " — | — |",
        ]
    rows.append(
        f"| mean abs IPDV up / down | {f3(n['ipdv_up'])} / {f3(n['ipdv_down'])} |"
        f" {f3(i['ipdv_up_irtt'])} / {f3(i['ipdv_down_irtt'])} | — | — |"
        f" {truth['up'][2]:.3f} / {truth['down'][2]:.3f} |"
    )
    for d, iperf in (("up", up), ("down", down)):
        rows.append(
            f"| loss {d}: % (packets) · router, same packets |"
            f" {loss_cell(n[f'loss_{d}_pct'], n[f'lost_{d}'], nr.truth[d])} |"
            f" {loss_cell(i[f'loss_{d}_pct'], i[f'lost_{d}'], ir.truth[d])} | — |"
            f" {loss_cell(iperf.values['loss_pct'], iperf.values['lost'], iperf.truth[d])} |"
            f" {LOSS_PCT} % random (set) |"
        )
    rows += [
        f"| loss round trip | — | — | {p['loss_rt_pct']:.3f} % ({p['lost_rt']:.0f}) · router"
        f" {rt_truth:.3f} % ({rt['up'].dropped}+{rt['down'].dropped}/{rt['up'].seen}) | — |"
        f" ≈ {100 * (1 - (1 - LOSS_PCT / 100) ** 2):.3f} % |",
        f"| packets sent | {n['sent']:.0f} | {i['sent']:.0f} | {p['sent']:.0f} |"
        f" {up.values['packets']:.0f} up, {down.values['packets']:.0f} down | |",
    ]
    return rows


def invocation() -> str:
    """This script's command line as it was typed (`-m bench.voice_reference` or the path)."""
    spec = sys.modules["__main__"].__spec__
    how = ["-m", spec.name] if spec is not None else [sys.argv[0]]
    return shlex.join([sys.executable, *how, *sys.argv[1:]])


def render(
    lo: tuple[Run, Run], runs: list[Run], args: argparse.Namespace, wall: float, load: float
) -> str:
    """Tables, target checks, per-run details and the commands, as Markdown."""
    lines = [
        f"voice reference benchmark, {time.strftime('%Y-%m-%d %H:%M %Z')}: {os.cpu_count()} CPUs,"
        f" Linux {platform.release()}, Python {platform.python_version()},"
        f" 1-min load average {load:.2f} at the start, {os.getloadavg()[0]:.2f} at the end",
        f"command: {invocation()}",
        "",
        *loopback_table(*lo, args),
        "",
        *path_table(runs, args),
        "",
        "Targets:",
        *(c.line() for c in checks(lo[0], runs[0], runs[1], args)),
        "",
        f"Runs (host CPU: share of all {os.cpu_count()} CPUs busy during the run, this script's"
        " own processes included; emulator release lateness; drops of all traffic: lab"
        " counters = bench table):",
    ]
    for run in (*lo, *runs):
        late = "".join(
            f", emulator {d} late mean {emu.get('late_mean_us', math.nan):.0f} µs"
            f" max {emu.get('late_max_us', math.nan):.0f} µs"
            for d, emu in run.emulator.items()
        )
        drops = (
            f", drops up/down {run.lab_dropped.get('up')}/{run.lab_dropped.get('down')}"
            f" = {run.flows_dropped.get('up')}/{run.flows_dropped.get('down')}"
            if run.lab_dropped
            else ""
        )
        cpu = (
            f", host CPU busy {run.cpu['busy_pct']:.0f} % (steal {run.cpu['steal_pct']:.1f} %)"
            if run.cpu
            else ""
        )
        lines.append(f"- {run.label or run.tool}: {run.seconds:.1f} s{cpu}{late}{drops}")
        for note in run.notes:
            lines.append(f"  - note: {note}")
        lines += [f"  - `{c}`" for c in run.commands]
    lines.append(f"\ntotal wall time {wall:.0f} s")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Phase lengths (defaults: issue #3's, ping and iperf3 shortened to fit ~3 minutes)."""
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--loopback-s", type=float, default=30.0, help="netready on loopback")
    ap.add_argument("--irtt-loopback-s", type=float, default=10.0, help="irtt on loopback")
    ap.add_argument("--path-s", type=float, default=60.0, help="netready and irtt on the path")
    ap.add_argument("--ping-count", type=int, default=500, help="pings, 20 ms apart")
    ap.add_argument("--iperf-s", type=float, default=10.0, help="each iperf3 direction")
    ap.add_argument("--up-delay-ms", type=float, default=40.0, help="emulated, site -> platform")
    ap.add_argument("--up-jitter-ms", type=float, default=5.0, help="± uniform, FIFO")
    ap.add_argument("--down-delay-ms", type=float, default=0.0, help="0 and 0: no emulator")
    ap.add_argument("--down-jitter-ms", type=float, default=0.0)
    ap.add_argument("--json", type=Path, help="also write every raw number here")
    return ap.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run both phases in one lab; print the report; 0 when every target is met."""
    args = parse_args(argv)
    if os.geteuid() != 0:
        print("voice_reference: needs root (it builds network namespaces)", file=sys.stderr)
        return 2
    missing = [t for t in ("ip", "nft", "irtt", "iperf3", "ping") if shutil.which(t) is None]
    if missing:
        print(f"voice_reference: missing tools: {', '.join(missing)}", file=sys.stderr)
        return 2
    started, load = time.monotonic(), os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="voice-reference-") as tmp, Lab() as lab:
        work = Path(tmp)
        lo = loopback_phase(lab, args, work)
        runs = path_phase(lab, args, work)
    wall = time.monotonic() - started
    print(render(lo, runs, args, wall, load))
    if args.json:
        raw = [
            {k: v for k, v in vars(r).items() if k != "truth"}
            | {"truth": {d: vars(c) | {"pct": c.pct} for d, c in r.truth.items()}}
            for r in (*lo, *runs)
        ]
        args.json.write_text(json.dumps(raw, indent=1, default=str), "utf-8")
    return 0 if all(c.ok for c in checks(lo[0], runs[0], runs[1], args)) else 1


if __name__ == "__main__":
    sys.exit(main())
