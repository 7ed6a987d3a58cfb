"""Suggests a support priority 1/2/3 (seed 000's definitions) from a report document.

A measurement can only suggest: it sees the network, not what the users see. The mapping:

* 1 (total outage, "general loss of connectivity"): at least two firewall rules were
  measured, not one of their ports is open, and the voice path did not pass.
* 2 (critical fault, "an important function down, use still possible with limits"): a rule
  with every port (or most of them) blocked, voice targets not met, or another check failed.
* 3 (non-critical or sporadic): only a minority of a rule's ports blocked (a call fails only
  when it picks one of them), nothing failed but something was not measured, or every
  requirement was met (then the measurement gives no ground for a higher priority).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

VOICE_ID = "media.voice"
FIREWALL_PREFIX = "firewall."
MIN_RULES_FOR_OUTAGE = 2  # one blocked rule alone (e.g. --only) is not a general outage


@dataclass(frozen=True)
class Finding:
    """One fact behind the suggestion; `kind` selects the sentence in ticket_texts.FINDINGS."""

    kind: str
    check: str = ""
    detail: str = ""


@dataclass(frozen=True)
class Suggestion:
    """The suggested priority level and the findings that led to it."""

    level: int
    findings: tuple[Finding, ...]


def port_count(ranges: str) -> int:
    """How many ports a compact range string like "5060,16384-32767" names."""
    total = 0
    for part in filter(None, (p.strip() for p in ranges.split(","))):
        first, _, last = part.partition("-")
        total += int(last or first) - int(first) + 1
    return total


def firewall_ports(check: dict[str, Any]) -> dict[str, str] | None:
    """The {open, blocked, not_tested} range strings of a firewall check, else None."""
    if not str(check.get("id", "")).startswith(FIREWALL_PREFIX):
        return None
    ports = check.get("evidence", {}).get("ports")
    if not isinstance(ports, dict):
        return None
    return {k: str(ports.get(k) or "") for k in ("open", "blocked", "not_tested")}


def _outage(checks: list[dict[str, Any]]) -> Finding | None:
    measured = [
        (c["id"], p) for c in checks if (p := firewall_ports(c)) and (p["open"] or p["blocked"])
    ]
    voice_ok = any(c.get("id") == VOICE_ID and c.get("status") == "pass" for c in checks)
    if len(measured) < MIN_RULES_FOR_OUTAGE or voice_ok or any(p["open"] for _, p in measured):
        return None
    return Finding("no_connectivity", detail=", ".join(cid for cid, _ in measured))


def _failed(check: dict[str, Any]) -> tuple[int, Finding]:
    """The level one failing check suggests on its own."""
    cid = str(check.get("id", ""))
    reason = str(check.get("reason") or check.get("status", ""))
    ports = firewall_ports(check)
    if ports is not None and ports["blocked"]:
        if not ports["open"]:
            return 2, Finding("function_down", cid, ports["blocked"])
        blocked, open_ = port_count(ports["blocked"]), port_count(ports["open"])
        detail = f"{ports['blocked']}: {blocked}/{blocked + open_}"
        if 2 * blocked >= blocked + open_:
            return 2, Finding("mostly_blocked", cid, detail)
        return 3, Finding("partly_blocked", cid, detail)
    if cid == VOICE_ID:
        return 2, Finding("voice_targets", cid, reason)
    return 2, Finding("check_failed", cid, reason)


def _not_measured(doc: dict[str, Any]) -> Finding:
    missing = [
        f"{c.get('id')} ({c.get('status')})"
        for c in doc.get("checks", [])
        if c.get("status") in ("error", "not_tested")
    ]
    if doc.get("interrupted"):
        missing.insert(0, "the run was interrupted")
    return Finding("not_measured", detail="; ".join(missing) or "no check ran")


def suggest_priority(doc: dict[str, Any]) -> Suggestion:
    """The priority this report suggests, with its reasons (most severe first)."""
    checks: list[dict[str, Any]] = list(doc.get("checks", []))
    failing = [c for c in checks if c.get("status") == "fail"]
    if failing and (outage := _outage(checks)):
        return Suggestion(1, (outage,))
    if failing:
        judged = sorted((_failed(c) for c in failing), key=lambda lf: lf[0])
        return Suggestion(judged[0][0], tuple(f for _, f in judged))
    if doc.get("verdict") == "PASS":
        return Suggestion(3, (Finding("all_met"),))
    return Suggestion(3, (_not_measured(doc),))
