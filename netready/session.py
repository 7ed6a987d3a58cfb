"""One headless run from profile to signed report: shared by `check`, `demo` and the TUI."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any

from netready.engine.plan import build_plan
from netready.engine.runner import EngineThread, Runner, RunOutcome
from netready.errors import UsageError
from netready.events import Subscriber
from netready.model import Profile
from netready.report.document import build_report
from netready.report.environment import environment
from netready.report.files import REPORT_NAME, ReportFiles, write_signed_report
from netready.report.signing import SecretKey
from netready.run_stop import stop_signals


@dataclass
class RunRequest:
    """Everything a run needs, already validated."""

    profile: Profile
    out_dir: Path
    key: SecretKey
    site: dict[str, str] = field(default_factory=dict)
    only: Sequence[str] = ()
    quick: bool = False
    duration_s: float | None = None
    subscribers: Sequence[Subscriber] = ()
    lang: str = "en"  # of the HTML/PDF renderings (the signed JSON has no language)
    pdf: bool = False


@dataclass
class RunResult:
    """What a run produced on disk and in memory."""

    outcome: RunOutcome
    document: dict[str, Any]
    files: ReportFiles


def default_out_dir(base: Path) -> Path:
    """A new dated folder under `base`, e.g. netready-report-20261121-233900."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    candidate = base / f"netready-report-{stamp}"
    n = 1
    while candidate.exists():
        n += 1
        candidate = base / f"netready-report-{stamp}-{n}"
    return candidate


def check_out_dir(out_dir: Path) -> None:
    """Refuse before measuring if the folder already holds a report (nothing is overwritten)."""
    if (out_dir / REPORT_NAME).exists():
        raise UsageError(f"{out_dir}: already holds a {REPORT_NAME}; choose another --out")
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"{out_dir}: exists and is not a folder")


@contextmanager
def _stop_on_signals(engine: EngineThread) -> Iterator[list[int]]:
    """SIGINT/SIGTERM (and SIGBREAK on Windows) cancel the run (the partial report is still
    written and signed).

    The handlers stay until the report is written: a second ctrl+c (or a SIGINT that comes
    before the engine starts) must not cost the signed report.
    """
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received  # only the main thread can own signal handlers
        return

    def handler(signum: int, _frame: FrameType | None) -> None:
        received.append(signum)
        engine.cancel()

    old = {s: signal.signal(s, handler) for s in stop_signals()}
    try:
        yield received
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def run_and_report(req: RunRequest) -> RunResult:
    """Plan, run on the engine thread, then write the signed report (also when interrupted)."""
    check_out_dir(req.out_dir)
    plan = build_plan(req.profile, req.only)
    runner = Runner(
        plan, list(req.subscribers), req.profile.name, quick=req.quick, duration_s=req.duration_s
    )
    engine = EngineThread(runner)
    with _stop_on_signals(engine) as received:
        outcome = engine.start().wait()
        outcome.interrupted = outcome.interrupted or bool(received)
        document = build_report(req.profile, req.site, outcome, environment())
        files = write_signed_report(document, req.out_dir, req.key, req.lang, req.pdf)
    return RunResult(outcome, document, files)
