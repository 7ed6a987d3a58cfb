"""What a check is: a class registered by id with a frozen Params dataclass and an async run()."""

from __future__ import annotations

import dataclasses
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from netready.model import CheckResult

ProgressFn = Callable[[float, str], None]
LiveFn = Callable[[dict[str, float]], None]


def _no_live(values: dict[str, float]) -> None:
    """The default live sink: nobody is watching."""


# Field metadata key: fields marked {PLANNER_ONLY: True} are filled in by the planner from
# the profile's hosts/rules and cannot be set in a profile's [checks."ID"] table.
PLANNER_ONLY = "planner_only"


@dataclass
class RunContext:
    """What a running check may use besides its params."""

    progress: ProgressFn
    quick: bool = False
    duration_s: float | None = None  # --duration, overrides the check's own default
    cancelled: threading.Event = dataclasses.field(default_factory=threading.Event)
    live: LiveFn = _no_live  # running figures of a stream, for live charts
    # facts one check found that later checks of the same run may reuse (e.g. "a responder
    # echoes at this address"); one dict per run, never shared between runs
    shared: dict[str, Any] = dataclasses.field(default_factory=dict)


#: What a check needs of the path, for the scheduler (netready.engine.scheduler).
QUIET = "quiet"  # a measurement others would disturb: runs alone
IDLE = "idle"  # mostly waiting: runs alongside everything
BURST = "burst"  # many packets in a short time: bounded, after the quiet ones
LIGHT = "light"  # a few exchanges: bounded, after the quiet ones


class Check(ABC):
    """A kind of check. `kind` is its registry id; instances are per planned check."""

    kind: ClassVar[str]
    Params: ClassVar[type[Any]]
    title: ClassVar[str]
    load: ClassVar[str] = LIGHT

    @abstractmethod
    async def run(self, check_id: str, params: Any, ctx: RunContext) -> CheckResult:
        """Measure and return a result. Raising is allowed: the runner turns it into `error`."""

    def timeout_s(self, params: Any, ctx: RunContext) -> float:
        """How long the runner waits before it stops the check and reports a timeout."""
        return 60.0

    def expected_s(self, params: Any, ctx: RunContext) -> float:
        """About how long the check takes on a sound network (the run's time-left estimate)."""
        return 1.0


@dataclass(frozen=True)
class PlannedCheck:
    """One check of a run: which kind, with which params; skip_reason plans it as skipped."""

    id: str
    title: str
    check: Check
    params: Any
    skip_reason: str = ""


_REGISTRY: dict[str, type[Check]] = {}


def register(cls: type[Check]) -> type[Check]:
    """Class decorator: make a check kind known by its `kind` id."""
    if not dataclasses.is_dataclass(cls.Params):
        raise TypeError(f"{cls.__name__}.Params must be a dataclass")
    if cls.kind in _REGISTRY and _REGISTRY[cls.kind] is not cls:
        raise ValueError(f"check kind {cls.kind!r} registered twice")
    _REGISTRY[cls.kind] = cls
    return cls


def registry() -> dict[str, type[Check]]:
    """All registered check kinds (importing netready.checks registers the built-in ones)."""
    return dict(_REGISTRY)


def profile_fields(params_type: type[Any]) -> list[dataclasses.Field[Any]]:
    """The fields of a Params dataclass that a profile may set."""
    return [f for f in dataclasses.fields(params_type) if not f.metadata.get(PLANNER_ONLY, False)]
