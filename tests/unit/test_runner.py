"""The runner: events in order, exceptions and timeouts become results, cancel keeps partials."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import dataclass
from typing import Any

from netready.checks.base import QUIET, Check, PlannedCheck, RunContext
from netready.engine.runner import EngineThread, Runner
from netready.events import CheckFinished, CheckStarted, Event, Progress, RunFinished, RunStarted
from netready.model import CheckResult, Status, Verdict, verdict_for


@dataclass(frozen=True)
class FakeParams:
    behaviour: str = "pass"  # pass | fail | raise | hang | slow | partial
    seconds: float = 0.0


class FakeCheck(Check):
    kind = "test.fake"
    Params = FakeParams
    title = "fake"

    def timeout_s(self, params: Any, ctx: RunContext) -> float:
        return 0.5 if params.behaviour == "hang" else 30.0

    async def run(self, check_id: str, params: Any, ctx: RunContext) -> CheckResult:
        b = params.behaviour
        ctx.progress(0.5, "half way")
        if b == "raise":
            raise ZeroDivisionError("boom")
        if b == "hang":
            await asyncio.sleep(3600)
        if b == "partial":  # measures until cancelled, then hands back what it has
            t0 = time.monotonic()
            while not ctx.cancelled.is_set() and time.monotonic() - t0 < 10:
                await asyncio.sleep(0.01)
            return CheckResult(
                check_id, "fake", Status.NOT_TESTED, metrics={"partial": 1.0}, reason="interrupted"
            )
        status = Status.PASS if b == "pass" else Status.FAIL
        return CheckResult(check_id, "fake", status, reason="" if b == "pass" else "bad")


def plan(*behaviours: str) -> list[PlannedCheck]:
    return [
        PlannedCheck(f"fake.c{i}", f"check {i}", FakeCheck(), FakeParams(b))
        for i, b in enumerate(behaviours)
    ]


def run(p: list[PlannedCheck], events: list[Event] | None = None) -> Any:
    subs = [events.append] if events is not None else []
    return asyncio.run(Runner(p, subs, "test").run())


class QuietFakeCheck(FakeCheck):
    load = QUIET  # runs alone: its events never interleave with another check's


def test_events_in_order_and_serialisable() -> None:
    events: list[Event] = []
    quiet = [PlannedCheck(f"fake.q{i}", "q", QuietFakeCheck(), FakeParams()) for i in range(2)]
    outcome = run(quiet, events)
    kinds = [type(e) for e in events]
    assert kinds == [
        RunStarted,
        CheckStarted,
        Progress,
        CheckFinished,
        CheckStarted,
        Progress,
        CheckFinished,
        RunFinished,
    ]
    for e in events:
        json.dumps(e.to_dict())
    assert outcome.verdict is Verdict.PASS


def test_exception_becomes_error_result_and_run_goes_on() -> None:
    outcome = run(plan("raise", "pass"))
    first, second = outcome.results
    assert first.status is Status.ERROR
    assert "ZeroDivisionError: boom" in first.reason
    assert second.status is Status.PASS
    assert outcome.verdict is Verdict.INCOMPLETE


def test_timeout_becomes_error_with_reason() -> None:
    t0 = time.monotonic()
    outcome = run(plan("hang"))
    assert time.monotonic() - t0 < 5
    assert outcome.results[0].status is Status.ERROR
    assert "did not finish within" in outcome.results[0].reason


def test_fail_wins_over_incomplete() -> None:
    outcome = run(plan("raise", "fail"))
    assert outcome.verdict is Verdict.FAIL


def test_skip_reason_plans_a_skipped_result() -> None:
    p = [PlannedCheck("fake.s", "s", FakeCheck(), FakeParams(), skip_reason="no SIP trunk")]
    outcome = run(p + plan("pass"))
    assert outcome.results[0].status is Status.SKIPPED
    assert outcome.results[0].reason == "no SIP trunk"
    assert outcome.verdict is Verdict.PASS


def test_failing_subscriber_is_removed_not_fatal() -> None:
    def broken(_e: Event) -> None:
        raise RuntimeError("ui died")

    outcome = asyncio.run(Runner(plan("pass"), [broken], "t").run())
    assert outcome.verdict is Verdict.PASS


def test_cancel_keeps_partial_and_marks_rest_not_run() -> None:
    quiet = [  # quiet: the second waits for the first, so the stop finds it not started
        PlannedCheck(f"fake.q{i}", "q", QuietFakeCheck(), FakeParams(b))
        for i, b in enumerate(("partial", "pass"))
    ]
    runner = Runner(quiet, [], "t")
    engine = EngineThread(runner).start()
    threading.Timer(0.3, engine.cancel).start()
    outcome = engine.wait()
    assert outcome.interrupted
    assert outcome.results[0].metrics == {"partial": 1.0}
    assert outcome.results[1].status is Status.NOT_TESTED
    assert "interrupted" in outcome.results[1].reason
    assert outcome.verdict is Verdict.INCOMPLETE


def test_verdict_rules() -> None:
    def r(s: Status) -> CheckResult:
        return CheckResult("x", "x", s)

    assert verdict_for([r(Status.PASS), r(Status.SKIPPED)]) is Verdict.PASS
    assert verdict_for([r(Status.PASS), r(Status.NOT_TESTED)]) is Verdict.INCOMPLETE
    assert verdict_for([r(Status.ERROR), r(Status.FAIL)]) is Verdict.FAIL
    assert verdict_for([r(Status.SKIPPED)]) is Verdict.INCOMPLETE
    assert verdict_for([]) is Verdict.INCOMPLETE
    assert verdict_for([r(Status.PASS)], interrupted=True) is Verdict.INCOMPLETE
