"""The full stimme firewall plan through the impairment lab, and nmap on the same path (root).

Builds the lab of tests/netns/lab.py (site -- router -- platform namespaces), starts
`netready responder --profile stimme` on the platform address and gives the router the
firewall of tests/netns/test_firewall_topology.py (UDP 50000-50100 drop, UDP 20000 and
30001-30010 drop, UDP 60050 reject, TCP 8636 drop, TCP 1300 reject with tcp reset). Then,
from the site namespace, with every stimme host remapped to the platform:

1. `netready check --profile stimme --only firewall.` on the clean path, and again
   with no router rules at all: wall time (targets: 16,586 UDP ports + all TCP rules in
   <= 10 s);
2. the same with 1 % random loss in both directions, RUNS times: wall time of each
   (target <= 20 s) and how many ports were wrongly reported blocked (target 0), i.e.
   any difference from the exact blocked set of each rule;
3. nmap -sS (TCP SYN scan) of the stimme TCP ports: wall time and state per port;
   and nmap -sU on a slice of the UDP ranges, to show why it cannot decide them.

Prints one JSON object per measurement and a summary. Bounded: each run has a timeout,
the whole benchmark takes about a minute (at most ~5 minutes).

Usage: .venv/bin/python bench/firewall_sweep.py [--runs N]
Exit status 0 when every target is met, 1 when not, 2 when it could not be measured.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.netns.lab import Lab
from tests.netns.procs import stop_process

STAMP_PORT = 8620
TCP_PORTS = "443,8443,4443,1300,636,8636,3478"
NMAP_UDP_SLICE = "50095-50100,60045-60055"
EXPECTED_BLOCKED = {
    "firewall.rtp": "20000,30001-30010",
    "firewall.video": "50000-50100",
    "firewall.app-sharing": "60050",
    "firewall.ldaps-internal": "8636",
    "firewall.h323-tls": "1300",
}


def expand(ranges: str) -> set[int]:
    """ "1-3,5" -> {1, 2, 3, 5}."""
    ports: set[int] = set()
    for part in filter(None, ranges.split(",")):
        first, _, last = part.partition("-")
        ports.update(range(int(first), int(last or first) + 1))
    return ports


def router_rules(lab: Lab) -> None:
    """The firewall the test topology uses (upstream)."""
    lab.block("udp", "50000-50100", action="drop")
    lab.block("udp", [20000, "30001-30010"], action="drop")
    lab.block("udp", 60050, action="reject")
    lab.block("tcp", 8636, action="drop")
    lab.block("tcp", 1300, action="reject")


def start_responder(lab: Lab, log: Path) -> None:
    argv = [sys.executable, "-m", "netready", "responder", "--listen", lab.platform_ip]
    argv += ["--stamp-port", str(STAMP_PORT), "--profile", "stimme"]
    with log.open("w", encoding="utf-8") as sink:
        proc = lab.popen_in("platform", argv, stdout=subprocess.DEVNULL, stderr=sink)
    deadline = time.monotonic() + 30.0
    while "listening" not in log.read_text("utf-8"):
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_process(proc)
            raise RuntimeError(f"responder did not start: {log.read_text('utf-8')}")
        time.sleep(0.05)


def run_plan(lab: Lab, out: Path, config: Path) -> dict[str, Any]:
    """One `netready check --only firewall.` from the site; time, blocked sets, retries."""
    argv = [sys.executable, "-m", "netready", "check", "--profile", "stimme"]
    for name in ("pbx", "services", "stun"):
        argv += ["--host", f"{name}={lab.platform_ip}"]
    argv += ["--responder", f"{lab.platform_ip}:{STAMP_PORT}", "--only", "firewall."]
    argv += ["--out", str(out), "--quiet"]
    env = dict(os.environ, NETREADY_CONFIG_DIR=str(config))
    t0 = time.monotonic()
    proc = lab.run_in("site", argv, check=False, timeout=120, env=env)
    seconds = time.monotonic() - t0
    doc = json.loads((out / "report.json").read_bytes())
    blocked = {
        c["id"]: c["evidence"]["ports"]["blocked"]
        for c in doc["checks"]
        if "ports" in c["evidence"]
    }
    retried = sum(int(c["evidence"].get("probes_retried", 0)) for c in doc["checks"])
    sent = sum(int(c["evidence"].get("probes_sent", 0)) for c in doc["checks"])
    return {
        "seconds": round(seconds, 2),
        "exit": proc.returncode,
        "blocked": blocked,
        "probes_sent": sent,
        "probes_retried": retried,
    }


def wrongly_blocked(blocked: dict[str, str], expected: dict[str, str]) -> int:
    """Ports reported blocked that the router lets through."""
    return sum(len(expand(r) - expand(expected.get(cid, ""))) for cid, r in blocked.items())


def missed(blocked: dict[str, str], expected: dict[str, str]) -> int:
    """Ports the router blocks that the run did not report."""
    return sum(len(expand(r) - expand(blocked.get(cid, ""))) for cid, r in expected.items())


def nmap(lab: Lab, args: list[str], timeout: float) -> dict[str, Any]:
    """nmap from the site namespace; wall time and {port/proto: state (reason)}."""
    argv = ["nmap", "-n", "-Pn", *args, "-oX", "-", lab.platform_ip]
    t0 = time.monotonic()
    proc = lab.run_in("site", argv, check=False, timeout=timeout)
    seconds = time.monotonic() - t0
    states: dict[str, str] = {}
    if proc.returncode == 0:
        for port in ET.fromstring(proc.stdout).iter("port"):
            state = port.find("state")
            if state is not None:
                key = f"{port.get('portid')}/{port.get('protocol')}"
                states[key] = f"{state.get('state')} ({state.get('reason')})"
    return {
        "argv": " ".join([*argv[:-3], argv[-1]]),
        "seconds": round(seconds, 2),
        "exit": proc.returncode,
        "states": states,
        "stderr": proc.stderr.strip()[-300:],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10, help="runs with 1 %% random loss")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("needs root (network namespaces, nftables)", file=sys.stderr)
        return 2
    ok = True
    with tempfile.TemporaryDirectory() as tmp, Lab() as lab:
        work = Path(tmp)
        start_responder(lab, work / "responder.log")
        config = work / "config"
        no_rules = run_plan(lab, work / "open", config)
        no_rules["case"] = "clean path, no router rules"
        print(json.dumps(no_rules))
        ok &= no_rules["seconds"] <= 10.0 and wrongly_blocked(no_rules["blocked"], {}) == 0
        router_rules(lab)
        clean = run_plan(lab, work / "clean", config)
        clean["case"] = "clean path, router rules"
        clean["wrongly_blocked"] = wrongly_blocked(clean["blocked"], EXPECTED_BLOCKED)
        clean["missed"] = missed(clean["blocked"], EXPECTED_BLOCKED)
        print(json.dumps(clean))
        ok &= clean["seconds"] <= 10.0 and clean["wrongly_blocked"] == clean["missed"] == 0
        for i in range(args.runs):
            lab.set_loss("up", 1.0, deterministic=False)  # reload: counters start at 0
            lab.set_loss("down", 1.0, deterministic=False)
            r = run_plan(lab, work / f"loss-{i}", config)
            r["case"] = f"1 % random loss both ways, run {i + 1}"
            r["dropped"] = lab.dropped()
            r["wrongly_blocked"] = wrongly_blocked(r["blocked"], EXPECTED_BLOCKED)
            r["missed"] = missed(r["blocked"], EXPECTED_BLOCKED)
            del r["blocked"]
            print(json.dumps(r))
            ok &= r["seconds"] <= 20.0 and r["wrongly_blocked"] == r["missed"] == 0
        lab.set_loss("up", 0.0)
        lab.set_loss("down", 0.0)
        if shutil.which("nmap") is None:
            print("nmap not installed (apt-get install nmap)", file=sys.stderr)
            return 2
        for case, nargs in (
            ("nmap TCP SYN scan", ["-sS", "-p", TCP_PORTS, "--max-retries", "1"]),
            ("nmap TCP connect scan", ["-sT", "-p", TCP_PORTS, "--max-retries", "1"]),
            ("nmap UDP scan, slice", ["-sU", "-p", NMAP_UDP_SLICE, "--max-retries", "1"]),
        ):
            res = nmap(lab, nargs, timeout=120)
            res["case"] = case
            print(json.dumps(res))
    print("targets met" if ok else "targets NOT met", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
