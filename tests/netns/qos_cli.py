"""`python -m tests.netns.qos_cli check ...`: netready's CLI with `qos.dscp` and `path.mtu`
planned, for as long as the planner does not plan them itself (a no-op once it does)."""

from __future__ import annotations

from collections.abc import Iterable

import netready.commands
import netready.session
from netready.checks.mtu import plan_mtu
from netready.checks.qos import plan_qos
from netready.cli import main
from netready.engine import plan
from netready.engine.runner import PlannedCheck
from netready.model import Profile

_original = plan.build_plan


def build_plan(profile: Profile, only: Iterable[str] = ()) -> list[PlannedCheck]:
    """The planner's plan plus the two checks, selected by --only like the rest."""
    full = _original(profile)
    if not any(p.id in ("qos.dscp", "path.mtu") for p in full):
        full += plan_qos(profile) + plan_mtu(profile)
    wanted = list(only)
    if not wanted:
        return full
    return [
        p
        for p in full
        if any(p.id == o or (o.endswith(".") and p.id.startswith(o)) for o in wanted)
    ]


if __name__ == "__main__":
    netready.commands.build_plan = build_plan  # type: ignore[attr-defined]
    netready.session.build_plan = build_plan  # type: ignore[attr-defined]
    raise SystemExit(main())
