"""The field-topology run (issue 10): wall time and the method chosen per rule (root only).

Builds the lab of tests/netns/field.py (real nginx, slapd, coturn and kamailio on the
platform's host addresses, `netready responder --profile stimme` on an address of its own,
a site firewall by address and port, a router beyond it) and runs the real stimme profile
(extended only to shorten the NAT idle test) three times: an open network, the blocked set of
tests/netns/test_field_topology.py, and without a responder. Prints per run the wall time,
the verdict and per firewall rule its status, method, destination and blocked ports.

    .venv/bin/python bench/field_topology.py [--duration S]
    .venv/bin/python bench/field_topology.py --full   # stimme as shipped: 60 s stream, NAT 90 s
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.netns.field import FieldLab

FULL_PROFILE = """[profile]
name = "field-site-full"
extends = "stimme"
"""


def _run(
    lab: FieldLab,
    work: Path,
    name: str,
    duration: float,
    responder: bool,
    text: str = "",
    only: str = "",
) -> None:
    started = time.monotonic()
    kwargs: dict[str, str] = {"profile_text": text} if text else {}
    proc, out = lab.site_check(
        work, name, responder=responder, duration=duration, only=only, **kwargs
    )
    wall = time.monotonic() - started
    doc = json.loads((out / "report.json").read_text())
    print(f"\n## {name}: verdict {doc['verdict']} (exit {proc.returncode}), wall {wall:.1f} s")
    print(f"{'rule':<30} {'status':<11} {'method':<58} {'destination':<14} blocked")
    for check in doc["checks"]:
        if not check["id"].startswith("firewall."):
            continue
        ev = check["evidence"]
        blocked = ev.get("ports", {}).get("blocked", "")
        print(
            f"{check['id']:<30} {check['status']:<11} {check['method']:<58} "
            f"{ev.get('destination', ''):<14} {blocked}"
        )
    voice = next(c for c in doc["checks"] if c["id"] == "media.voice")["metrics"]
    if "send_late_p99_ms" in voice:
        print(
            f"media.voice send lateness: p99 {voice['send_late_p99_ms']:.4f} ms, "
            f"max {voice['send_late_max_ms']:.3f} ms, mean {voice['send_late_mean_ms']:.4f} ms"
        )
    slow = sorted(doc["checks"], key=lambda c: _seconds(c), reverse=True)[:5]
    print("slowest checks: " + ", ".join(f"{c['id']} {_seconds(c):.1f} s" for c in slow))


def _seconds(check: dict[str, str]) -> float:
    from datetime import datetime

    if not check.get("started_at") or not check.get("finished_at"):
        return 0.0
    begin = datetime.fromisoformat(check["started_at"].replace("Z", "+00:00"))
    end = datetime.fromisoformat(check["finished_at"].replace("Z", "+00:00"))
    return (end - begin).total_seconds()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=3.0, help="voice stream seconds")
    parser.add_argument(
        "--full",
        action="store_true",
        help="one open-network run of stimme as shipped (60 s stream, NAT gaps up to 90 s)",
    )
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("field_topology: needs root (network namespaces)")
    with tempfile.TemporaryDirectory(prefix="nr-field-") as tmp, FieldLab(Path(tmp)) as lab:
        work = Path(tmp)
        if args.full:
            _run(lab, work, "full stimme run", 60.0, responder=True, text=FULL_PROFILE)
            _run(lab, work, "the voice stream alone", 60.0, True, FULL_PROFILE, "media.voice")
            return
        _run(lab, work, "open network", args.duration, responder=True)
        lab.block_the_set()
        _run(lab, work, "blocked set", args.duration, responder=True)
        lab.clear()
        _run(lab, work, "no responder", args.duration, responder=False)


if __name__ == "__main__":
    main()
