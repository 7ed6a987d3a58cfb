"""Which checks of a plan may run at the same time, from what each needs of the path.

Every check kind declares its `load` (netready.checks.base):

* ``quiet``: a measurement that others would disturb (the voice stream, DSCP, path MTU):
  run one at a time, first, with nothing beside it but idle waits;
* ``idle``: mostly waiting, a packet now and then (the NAT binding lifetime): started at
  once and left to run alongside everything;
* ``burst``: many packets in a short time (firewall sweeps): after the quiet checks, at
  most BURST_AT_ONCE at a time;
* ``light``: a few exchanges (TLS, LDAPS, SIP, DNS, STUN, TURN, ALG echoes): after the
  quiet checks, at most LIGHT_AT_ONCE at a time, alongside the bursts.

Results come back in plan order whatever order they finished in; each keeps its own start
and end time. Why quiet checks run alone: on a 2-core machine a firewall sweep beside the
voice stream raised its send lateness (bench/RESULTS.md, the scheduler section).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from netready.checks.base import BURST, IDLE, LIGHT, QUIET, PlannedCheck
from netready.model import CheckResult

#: Firewall rules decided at the same time (each sweep keeps its own probe window).
BURST_AT_ONCE = 4
#: Light exchanges at the same time.
LIGHT_AT_ONCE = 6

LOADS = (QUIET, IDLE, BURST, LIGHT)

RunOne = Callable[[PlannedCheck], Awaitable[CheckResult]]


def load_of(planned: PlannedCheck) -> str:
    """The check's declared load; a planned skip is light (it sends nothing)."""
    load = str(getattr(planned.check, "load", LIGHT))
    return LIGHT if planned.skip_reason or load not in LOADS else load


def expected_wall_s(
    plan: Sequence[PlannedCheck], estimate: Callable[[PlannedCheck], float]
) -> float:
    """About how long `plan` takes under these rules: the quiet checks one after another,
    then the bursts and light exchanges side by side within their bounds, with the idle
    waits beside everything."""
    spent: dict[str, list[float]] = {load: [] for load in LOADS}
    for planned in plan:
        spent[load_of(planned)].append(0.0 if planned.skip_reason else estimate(planned))
    side_by_side = max(  # a group takes at least its share per slot, and its longest check
        sum(spent[BURST]) / BURST_AT_ONCE,
        max(spent[BURST], default=0.0),
        sum(spent[LIGHT]) / LIGHT_AT_ONCE,
        max(spent[LIGHT], default=0.0),
    )
    return max(sum(spent[QUIET]) + side_by_side, max(spent[IDLE], default=0.0))


async def run_scheduled(plan: Sequence[PlannedCheck], run_one: RunOne) -> list[CheckResult]:
    """Run `plan` with the overlap rules of the module doc; results in plan order."""
    results: dict[int, CheckResult] = {}

    async def one(index: int, gate: asyncio.Semaphore | None = None) -> None:
        if gate is None:
            results[index] = await run_one(plan[index])
            return
        async with gate:
            results[index] = await run_one(plan[index])

    by_load: dict[str, list[int]] = {load: [] for load in LOADS}
    for index, planned in enumerate(plan):
        by_load[load_of(planned)].append(index)
    idle = [asyncio.ensure_future(one(i)) for i in by_load[IDLE]]
    try:
        for index in by_load[QUIET]:
            await one(index)
        bursts, lights = asyncio.Semaphore(BURST_AT_ONCE), asyncio.Semaphore(LIGHT_AT_ONCE)
        rest = [one(i, bursts) for i in by_load[BURST]] + [one(i, lights) for i in by_load[LIGHT]]
        await asyncio.gather(*rest)
        await asyncio.gather(*idle)
    finally:
        for task in idle:
            task.cancel()
    return [results[i] for i in range(len(plan))]
