"""The scheduler: quiet checks run alone and first, idle waits beside everything, bursts and
light exchanges overlap within their bounds, and results come back in plan order."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from netready.checks.base import BURST, IDLE, LIGHT, QUIET, Check, PlannedCheck, RunContext
from netready.engine import scheduler
from netready.engine.runner import Runner
from netready.model import CheckResult, Status


@dataclass(frozen=True)
class Params:
    seconds: float = 0.05


class Tracker:
    """Who runs at the same time as whom: a log of (event, check id) in order."""

    def __init__(self) -> None:
        self.log: list[tuple[str, str]] = []
        self.running: set[str] = set()
        self.peak: dict[str, int] = {}
        self.beside: dict[str, set[str]] = {}

    def enter(self, check_id: str) -> None:
        for other in self.running:
            self.beside.setdefault(check_id, set()).add(other)
            self.beside.setdefault(other, set()).add(check_id)
        self.running.add(check_id)
        self.log.append(("start", check_id))

    def leave(self, check_id: str) -> None:
        self.running.discard(check_id)
        self.log.append(("end", check_id))


def kind(load: str, tracker: Tracker) -> Check:
    class Fake(Check):
        kind = f"test.{load}"
        Params = Params
        title = load

        async def run(self, check_id: str, params: Any, ctx: RunContext) -> CheckResult:
            tracker.enter(check_id)
            try:
                await asyncio.sleep(params.seconds)
            finally:
                tracker.leave(check_id)
            return CheckResult(check_id, load, Status.PASS)

    Fake.load = load
    return Fake()


def planned(tracker: Tracker, *loads: str, seconds: float = 0.05) -> list[PlannedCheck]:
    return [
        PlannedCheck(f"{load}.{i}", load, kind(load, tracker), Params(seconds))
        for i, load in enumerate(loads)
    ]


def run(plan: list[PlannedCheck]) -> list[CheckResult]:
    return asyncio.run(Runner(plan, [], "test").run()).results


def test_results_come_back_in_plan_order() -> None:
    tracker = Tracker()
    plan = planned(tracker, LIGHT, QUIET, BURST, IDLE, LIGHT, QUIET)
    assert [r.id for r in run(plan)] == [p.id for p in plan]


def test_quiet_checks_run_first_and_alone_but_for_idle_waits() -> None:
    tracker = Tracker()
    plan = planned(tracker, LIGHT, BURST, QUIET, IDLE, QUIET, LIGHT)
    run(plan)
    for quiet in ("quiet.2", "quiet.4"):
        assert tracker.beside.get(quiet, set()) <= {"idle.3"}, tracker.beside.get(quiet)
    starts = [check for event, check in tracker.log if event == "start"]
    assert starts.index("quiet.4") < starts.index("light.0")  # quiet before the rest
    assert starts.index("quiet.4") < starts.index("burst.1")
    assert "quiet.2" in tracker.beside["idle.3"]  # the idle wait runs beside the quiet ones


def test_light_and_burst_checks_overlap_within_their_bounds() -> None:
    tracker = Tracker()
    loads = [LIGHT] * 10 + [BURST] * 8
    plan = planned(tracker, *loads, seconds=0.1)
    run(plan)
    most_light = most_burst = 0
    running: set[str] = set()
    for event, check in tracker.log:
        (running.add if event == "start" else running.discard)(check)
        most_light = max(most_light, sum(c.startswith("light") for c in running))
        most_burst = max(most_burst, sum(c.startswith("burst") for c in running))
    assert most_light == scheduler.LIGHT_AT_ONCE
    assert most_burst == scheduler.BURST_AT_ONCE
    assert any(c.startswith("burst") for c in tracker.beside["light.0"])  # side by side


def test_a_planned_skip_or_an_unknown_load_counts_as_light() -> None:
    tracker = Tracker()
    check = kind("weird", tracker)
    skip = PlannedCheck("skip.0", "s", kind(QUIET, tracker), Params(), skip_reason="no host")
    assert scheduler.load_of(PlannedCheck("w.0", "w", check, Params())) == LIGHT
    assert scheduler.load_of(skip) == LIGHT


def test_a_stop_leaves_the_checks_not_yet_started_not_run() -> None:
    tracker = Tracker()
    plan = planned(tracker, QUIET, LIGHT, LIGHT, seconds=0.3)
    runner = Runner(plan, [], "test")

    async def stop_soon(go: Callable[[], None]) -> None:
        await asyncio.sleep(0.1)
        go()

    async def main() -> list[CheckResult]:
        stopper = asyncio.ensure_future(stop_soon(runner.cancel))
        outcome = await runner.run()
        await stopper
        return outcome.results

    results = asyncio.run(main())
    assert [r.status for r in results[1:]] == [Status.NOT_TESTED, Status.NOT_TESTED]
    assert all("interrupted" in r.reason for r in results[1:])


def test_the_expected_wall_time_follows_the_overlap_rules() -> None:
    tracker = Tracker()
    plan = planned(tracker, QUIET, QUIET, IDLE, *([BURST] * 8), *([LIGHT] * 12))
    seconds = {QUIET: 10.0, IDLE: 30.0, BURST: 2.0, LIGHT: 1.0}

    def estimate(p: PlannedCheck) -> float:
        return seconds[p.check.load]

    # quiet 20 s, then max(8 bursts / 4 = 4 s, 12 light / 6 = 2 s): 24 s; the idle 30 s wins
    assert scheduler.expected_wall_s(plan, estimate) == 30.0
    seconds[IDLE] = 5.0
    assert scheduler.expected_wall_s(plan, estimate) == 24.0
    skipped = [PlannedCheck("q.s", "q", kind(QUIET, tracker), Params(), skip_reason="no host")]
    assert scheduler.expected_wall_s(skipped, estimate) == 0.0


def test_the_run_announces_its_expected_time() -> None:
    from netready.events import Event, RunStarted

    tracker = Tracker()
    events: list[Event] = []
    asyncio.run(Runner(planned(tracker, QUIET, LIGHT), [events.append], "test").run())
    started = next(e for e in events if isinstance(e, RunStarted))
    assert started.expected_s == 2.0  # the default 1 s estimate, quiet then light
    assert started.to_dict()["expected_s"] == 2.0
