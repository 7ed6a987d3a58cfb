"""Runs a plan of checks on its own thread and event loop; never lets an exception escape a run."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import sys
import threading
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from netready.checks.base import PlannedCheck, RunContext
from netready.engine.clocks import utc_now_iso
from netready.engine.reconcile import reconcile
from netready.engine.scheduler import expected_wall_s, run_scheduled
from netready.events import (
    CheckFinished,
    CheckStarted,
    Event,
    Live,
    Progress,
    RunFinished,
    RunStarted,
    Subscriber,
)
from netready.model import CheckResult, Status, Verdict, verdict_for
from netready.probes.errors import NETWORK_REMEDIATION, network_failure
from netready.termtext import visible

CANCEL_GRACE_S = 5.0  # a cancelled check gets this long to hand back what it measured


@dataclass
class RunOutcome:
    """Everything a run produced, also when it was interrupted."""

    results: list[CheckResult] = field(default_factory=list)
    interrupted: bool = False
    started_at: str = ""
    finished_at: str = ""

    @property
    def verdict(self) -> Verdict:
        return verdict_for(self.results, self.interrupted)


class Runner:
    """Runs planned checks (overlapping what can overlap: engine.scheduler) and tells every
    subscriber what happens."""

    def __init__(
        self,
        plan: Sequence[PlannedCheck],
        subscribers: Sequence[Subscriber],
        profile_name: str,
        quick: bool = False,
        duration_s: float | None = None,
    ) -> None:
        self.plan = list(plan)
        self.subscribers = list(subscribers)
        self.profile_name = profile_name
        self.quick = quick
        self.duration_s = duration_s
        self.cancelled = threading.Event()
        self.shared: dict[str, Any] = {}  # RunContext.shared: facts checks hand on within a run
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def emit(self, event: Event) -> None:
        """Deliver an event; a failing subscriber is reported once and then left out."""
        for sub in list(self.subscribers):
            try:
                sub(event)
            except Exception as exc:  # a front end must not break the measurement
                self.subscribers.remove(sub)
                with contextlib.suppress(OSError):  # stderr itself may be what failed
                    print(
                        "netready: warning: a display failed and was removed: " + visible(str(exc)),
                        file=sys.stderr,
                    )

    def cancel(self) -> None:
        """Thread-safe: stop the run; the current check gets a grace period to return."""
        self.cancelled.set()
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None:
            with contextlib.suppress(RuntimeError):  # the run already ended, its loop closed
                loop.call_soon_threadsafe(stop.set)

    async def run(self) -> RunOutcome:
        """Run the whole plan; always returns an outcome, partial when interrupted."""
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        if self.cancelled.is_set():
            self._stop.set()
        outcome = RunOutcome(started_at=utc_now_iso())
        checks = tuple((p.id, p.title) for p in self.plan)
        expected = expected_wall_s(self.plan, self._expected_s)
        self.emit(RunStarted(self.profile_name, checks, outcome.started_at, expected))
        outcome.results = await run_scheduled(self.plan, lambda p: self._start(p, outcome))
        for corrected in reconcile(outcome.results):  # one report never contradicts itself
            self.emit(CheckFinished(corrected))
        outcome.interrupted = outcome.interrupted or self.cancelled.is_set()
        outcome.finished_at = utc_now_iso()
        self.emit(RunFinished(str(outcome.verdict), outcome.interrupted, outcome.finished_at))
        return outcome

    def _expected_s(self, planned: PlannedCheck) -> float:
        """The check's own estimate of its duration; 1 s if it cannot tell."""
        ctx = RunContext(progress=lambda f, m: None, quick=self.quick, duration_s=self.duration_s)
        try:
            return max(0.0, float(planned.check.expected_s(planned.params, ctx)))
        except Exception:  # an estimate must never stop a run
            return 1.0

    async def _start(self, planned: PlannedCheck, outcome: RunOutcome) -> CheckResult:
        """Run one check when the scheduler says so, unless the run was stopped by then."""
        assert self._stop is not None
        if self._stop.is_set():
            outcome.interrupted = True
            result = _not_run(planned, "not run: the run was interrupted")
        else:
            result = await self._run_one(planned)
        self.emit(CheckFinished(result))
        return result

    async def _run_one(self, planned: PlannedCheck) -> CheckResult:
        self.emit(CheckStarted(planned.id, planned.title))
        if planned.skip_reason:
            return _stamped(_not_run(planned, planned.skip_reason, Status.SKIPPED), utc_now_iso())
        started_at = utc_now_iso()
        ctx = RunContext(
            progress=lambda f, m: self.emit(Progress(planned.id, max(0.0, min(1.0, f)), m)),
            quick=self.quick,
            duration_s=self.duration_s,
            cancelled=self.cancelled,
            live=lambda values: self.emit(Live(planned.id, values)),
            shared=self.shared,
        )
        try:
            timeout = planned.check.timeout_s(planned.params, ctx)
            result = await self._guarded(planned, ctx, timeout)
        except Exception as exc:  # the params themselves were unusable
            result = _error(planned, exc)
        return _stamped(result, started_at)

    async def _guarded(self, planned: PlannedCheck, ctx: RunContext, timeout: float) -> CheckResult:
        assert self._stop is not None
        task = asyncio.ensure_future(planned.check.run(planned.id, planned.params, ctx))
        stop_wait = asyncio.ensure_future(self._stop.wait())
        t0 = time.monotonic()
        try:
            done, _ = await asyncio.wait(
                {task, stop_wait}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
            if task not in done and stop_wait in done:
                done, _ = await asyncio.wait({task}, timeout=CANCEL_GRACE_S)
            if task in done:
                return _result_of(planned, task)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            if self._stop.is_set():
                return _not_run(planned, "interrupted before the check could finish")
            return _not_run(
                planned,
                f"did not finish within {timeout:.0f} s "
                f"(stopped after {time.monotonic() - t0:.1f} s)",
                Status.ERROR,
            )
        finally:
            stop_wait.cancel()


def _result_of(planned: PlannedCheck, task: asyncio.Future[CheckResult]) -> CheckResult:
    exc = task.exception()
    if exc is not None:
        return _error(planned, exc)
    result = task.result()
    if not isinstance(result, CheckResult):
        return _not_run(
            planned, f"check returned {type(result).__name__}, not a result", Status.ERROR
        )
    return result


def _error(planned: PlannedCheck, exc: BaseException) -> CheckResult:
    failure = network_failure(exc)
    if failure:  # no route, host unreachable, no local address: a finding, not a crash
        # nothing was measured, so not_tested (a fail needs its figures); the firewall
        # checks of the same run name the unreachable ports and fail the verdict
        result = _not_run(planned, f"{failure} ({exc})", Status.NOT_TESTED)
        result.remediation = NETWORK_REMEDIATION
        result.evidence["network_error"] = errno.errorcode.get(getattr(exc, "errno", 0) or 0, "")
        return result
    where = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    at = f" (at {where[0].name}:{where[0].lineno})" if where else ""
    reason = f"internal error in the check: {type(exc).__name__}: {exc}{at}"
    return _not_run(planned, reason, Status.ERROR)


def _not_run(planned: PlannedCheck, reason: str, status: Status = Status.NOT_TESTED) -> CheckResult:
    return CheckResult(id=planned.id, title=planned.title, status=status, reason=reason)


def _stamped(result: CheckResult, started_at: str) -> CheckResult:
    result.started_at = result.started_at or started_at
    result.finished_at = result.finished_at or utc_now_iso()
    return result


class EngineThread:
    """The runner on a thread of its own, so a UI or console never delays a send schedule."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        self.outcome: RunOutcome | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="netready-engine", daemon=True)

    def _main(self) -> None:
        # A selector loop on every OS: the UDP sweep waits with loop.add_reader, which
        # Windows' default (proactor) loop does not have; on Linux it is the default anyway.
        try:
            with asyncio.Runner(loop_factory=asyncio.SelectorEventLoop) as loop_runner:
                self.outcome = loop_runner.run(self.runner.run())
        except BaseException as exc:  # reported by wait()
            self.error = exc

    def start(self) -> EngineThread:
        self._thread.start()
        return self

    def cancel(self) -> None:
        self.runner.cancel()

    def wait(self, poll_s: float = 0.1) -> RunOutcome:
        """Block until the run ends; polls so that signal handlers run on the main thread."""
        while self._thread.is_alive():
            self._thread.join(poll_s)
        if self.outcome is None:
            raise RuntimeError(f"the engine stopped unexpectedly: {self.error!r}")
        return self.outcome
