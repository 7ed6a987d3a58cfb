"""Does the app disturb the send schedule? The voice stream's send lateness, headless vs app.

The same 20 s media.voice stream (lab profile, local responder on 127.0.0.1) runs
alternately under `netready check` conditions (no display) and under the Textual app (its
real screens in Textual's headless driver at 80x24, redrawing the live trends), N times
each. Printed: send lateness mean/p99/max per run and the medians per mode; the app must not
move p99 (the engine runs on its own thread, the app only drains a queue every 0.1 s).

    .venv/bin/python bench/tui_pacing.py [RUNS] [SECONDS]
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from netready.demo import lab_profile, local_responder
from netready.profile import find_profile
from netready.report import keys
from netready.session import RunRequest, run_and_report
from netready.tui.app import NetreadyApp
from netready.tui.result import ResultScreen
from netready.tui.sources import ProcessSource, RunSettings

METRICS = ("send_late_mean_ms", "send_late_p99_ms", "send_late_max_ms")


def _voice(report: Path) -> dict[str, float]:
    doc = json.loads(report.read_text())
    voice = next(c for c in doc["checks"] if c["id"] == "media.voice")
    return {m: float(voice["metrics"][m]) for m in METRICS}


def headless(out: Path, seconds: float) -> dict[str, float]:
    key, _ = keys.load_or_create(keys.config_dir())
    req = RunRequest(lab_profile(), out, key, {}, only=["media.voice"], duration_s=seconds)
    return _voice(run_and_report(req).files.report)


def in_app(out: Path, seconds: float) -> dict[str, float]:
    settings = RunSettings(
        lab_profile(),
        find_profile("lab"),
        out,
        {},
        duration_s=seconds,
        only=("media.voice",),
        pdf=False,
    )

    async def drive() -> None:
        app = NetreadyApp(replay=ProcessSource(settings))
        async with app.run_test(size=(80, 24)) as pilot:
            deadline = time.monotonic() + seconds + 60
            while not isinstance(app.screen, ResultScreen) and time.monotonic() < deadline:
                await pilot.pause(0.2)

    asyncio.run(drive())
    return _voice(out / "report.json")


def main() -> int:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 20.0
    os.environ.setdefault("NETREADY_CONFIG_DIR", tempfile.mkdtemp(prefix="nr-bench-"))
    results: dict[str, list[dict[str, float]]] = {"headless": [], "app": []}
    with tempfile.TemporaryDirectory() as tmp, local_responder(lab_profile(), print):
        for i in range(runs):
            for mode, fn in (("headless", headless), ("app", in_app)):
                m = fn(Path(tmp) / f"{mode}-{i}", seconds)
                results[mode].append(m)
                print(f"run {i + 1} {mode:8}: " + ", ".join(f"{k} {v:.4f}" for k, v in m.items()))
    for mode, rows in results.items():
        med = {k: statistics.median(r[k] for r in rows) for k in METRICS}
        print(f"median {mode:8}: " + ", ".join(f"{k} {v:.4f}" for k, v in med.items()))
    ratio = statistics.median(r["send_late_p99_ms"] for r in results["app"]) / max(
        1e-9, statistics.median(r["send_late_p99_ms"] for r in results["headless"])
    )
    print(f"send lateness p99, app / headless: {ratio:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
