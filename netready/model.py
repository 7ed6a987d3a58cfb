"""Plain data shared by every part of netready: statuses, results, profile contents."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    """Outcome of one check. Only PASS is a pass; NOT_TESTED is never a pass."""

    PASS = "pass"
    FAIL = "fail"
    ERROR = "error"
    SKIPPED = "skipped"
    NOT_TESTED = "not_tested"


class Verdict(StrEnum):
    """Outcome of a whole run."""

    PASS = "PASS"
    FAIL = "FAIL"
    INCOMPLETE = "INCOMPLETE"


OPERATORS = ("<=", "<", ">=", ">")


@dataclass(frozen=True)
class Limit:
    """A bound a metric must satisfy, e.g. Limit("<=", 150.0)."""

    op: str
    value: float

    def holds(self, measured: float) -> bool:
        """True when `measured` satisfies the bound (150.0 <= 150.0 holds)."""
        if self.op == "<=":
            return measured <= self.value
        if self.op == "<":
            return measured < self.value
        if self.op == ">=":
            return measured >= self.value
        if self.op == ">":
            return measured > self.value
        raise ValueError(f"unknown operator {self.op!r}")

    def to_dict(self) -> dict[str, Any]:
        return {"op": self.op, "value": self.value}


@dataclass
class CheckResult:
    """What one check found. Raw samples go in evidence so anyone can re-check."""

    id: str
    title: str
    status: Status
    method: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    limits: dict[str, Limit] = field(default_factory=dict)
    evidence: dict[str, Any] = field(default_factory=dict)
    reason: str = ""
    remediation: str = ""
    started_at: str = ""
    finished_at: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "status": str(self.status),
            "method": self.method,
            "metrics": dict(self.metrics),
            "limits": {name: lim.to_dict() for name, lim in self.limits.items()},
            "evidence": self.evidence,
            "reason": self.reason,
            "remediation": self.remediation,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
        }


def reached_key(transport: str, address: str, port: int) -> str:
    """How evidence `reached` names an endpoint that answered: "udp/203.0.113.4:3478"."""
    return f"{transport}/{address}:{port}"


def verdict_for(results: list[CheckResult], interrupted: bool = False) -> Verdict:
    """FAIL if a requirement is not met, INCOMPLETE if something could not be measured."""
    if interrupted:
        return Verdict.INCOMPLETE
    statuses = {r.status for r in results}
    if Status.FAIL in statuses:
        return Verdict.FAIL
    if statuses & {Status.ERROR, Status.NOT_TESTED} or not results:
        return Verdict.INCOMPLETE
    if Status.PASS not in statuses:
        return Verdict.INCOMPLETE
    return Verdict.PASS


# ---- profile contents (produced by netready.profile.load_profile) ----


@dataclass(frozen=True)
class PortRange:
    """Inclusive port range; a single port has first == last."""

    first: int
    last: int

    def __len__(self) -> int:
        return self.last - self.first + 1

    def ports(self) -> range:
        return range(self.first, self.last + 1)

    def __str__(self) -> str:
        return str(self.first) if self.first == self.last else f"{self.first}-{self.last}"


@dataclass(frozen=True)
class Target:
    """A requirement on the voice path, e.g. delay p95 <= 150 ms."""

    metric: str  # "delay_ms" | "jitter_ms" | "loss_pct"
    limit: Limit
    statistic: str  # "p95" | "p99" | "max" | "mean" | "running_max" | "whole_run"


@dataclass(frozen=True)
class Rule:
    """One row of the platform's firewall table: what must be open outbound."""

    name: str
    protocol: str  # free text as in the customer's table: "HTTPS", "H.323/TLS", "RTP", ...
    transport: str  # "tcp" | "udp"
    ports: tuple[PortRange, ...]
    host: str  # a key of Profile.hosts
    function: str  # what the platform uses it for, in words
    verify: str  # "connect" | "tls" | "https" | "echo" | ...
    tls: bool = False
    optional: bool = False  # conditional rule: skipped (not failed) when its host is not given
    condition: str = ""  # why it is conditional, shown as the skip reason

    def port_count(self) -> int:
        return sum(len(r) for r in self.ports)


@dataclass(frozen=True)
class Profile:
    """A validated profile; `hosts` already has the --host overrides applied."""

    name: str
    title: str
    path: str
    sha256: str  # of the profile file bytes (and of each file it extends, chained)
    hosts: dict[str, str]  # name -> address ("" = must be given by the site)
    targets: tuple[Target, ...]
    rules: tuple[Rule, ...]
    responder: str  # "ADDR[:PORT]" of `netready responder`, "" if none
    checks: dict[str, dict[str, Any]]  # check id -> raw params table, validated by the loader
    source: str = ""  # where the requirements come from (document, section)
    # hosts whose UDP ports the responder serves on its own address (it "stands in" for them)
    responder_stands_in: tuple[str, ...] = ()
