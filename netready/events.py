"""Events a run emits; every front end (console, JSON lines, TUI) is just a subscriber."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from netready.model import CheckResult


@dataclass(frozen=True)
class Event:
    """Base class; `to_dict()` gives the serialisable form written as JSON lines."""

    def to_dict(self) -> dict[str, Any]:
        raise NotImplementedError


@dataclass(frozen=True)
class RunStarted(Event):
    profile: str
    checks: tuple[tuple[str, str], ...]  # (id, title) in run order
    started_at: str
    expected_s: float = 0.0  # about how long the run takes (engine.scheduler), 0 = unknown

    def to_dict(self) -> dict[str, Any]:
        return {
            "event": "run_started",
            "profile": self.profile,
            "checks": [{"id": i, "title": t} for i, t in self.checks],
            "started_at": self.started_at,
            "expected_s": round(self.expected_s, 1),
        }


@dataclass(frozen=True)
class CheckStarted(Event):
    id: str
    title: str

    def to_dict(self) -> dict[str, Any]:
        return {"event": "check_started", "id": self.id, "title": self.title}


@dataclass(frozen=True)
class Progress(Event):
    id: str
    fraction: float  # 0.0 .. 1.0
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "event": "progress",
            "id": self.id,
            "fraction": self.fraction,
            "message": self.message,
        }


@dataclass(frozen=True)
class Live(Event):
    """Running figures of a stream while it runs (for live charts; never judged)."""

    id: str
    values: dict[str, float] = field(compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {"event": "live", "id": self.id, "values": dict(self.values)}


@dataclass(frozen=True)
class CheckFinished(Event):
    result: CheckResult = field(compare=False)

    def to_dict(self) -> dict[str, Any]:
        summary = self.result.to_dict()
        summary["evidence"] = {k: v for k, v in summary["evidence"].items() if k != "samples"}
        return {"event": "check_finished", "result": summary}


@dataclass(frozen=True)
class RunFinished(Event):
    verdict: str
    interrupted: bool
    finished_at: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "event": "run_finished",
            "verdict": self.verdict,
            "interrupted": self.interrupted,
            "finished_at": self.finished_at,
        }


Subscriber = Callable[[Event], None]
