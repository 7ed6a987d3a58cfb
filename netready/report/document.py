"""Builds the report document (schema netready.report/1) from a run's outcome."""

from __future__ import annotations

from collections import Counter
from typing import Any

from netready import __version__
from netready.engine.runner import RunOutcome
from netready.model import Profile

SCHEMA_ID = "netready.report/1"
SITE_FIELDS = ("customer", "site", "address", "installer", "ticket")


def profile_section(profile: Profile) -> dict[str, Any]:
    """What the report says about the profile: enough to re-judge the numbers."""
    return {
        "name": profile.name,
        "title": profile.title,
        "source": profile.source,
        "sha256": profile.sha256,
        "hosts": dict(profile.hosts),
        "responder": profile.responder,
        "targets": [
            {
                "metric": t.metric,
                "op": t.limit.op,
                "value": t.limit.value,
                "statistic": t.statistic,
            }
            for t in profile.targets
        ],
        "rules": [
            {
                "name": r.name,
                "protocol": r.protocol,
                "transport": r.transport,
                "ports": ",".join(str(p) for p in r.ports),
                "host": r.host,
                "function": r.function,
                "optional": r.optional,
            }
            for r in profile.rules
        ],
    }


def build_report(
    profile: Profile,
    site: dict[str, str],
    outcome: RunOutcome,
    environment: dict[str, Any],
) -> dict[str, Any]:
    """The whole document, ready for canonical serialisation and signing."""
    counts = Counter(str(r.status) for r in outcome.results)
    return {
        "schema": SCHEMA_ID,
        "tool": {"name": "netready", "version": __version__},
        "verdict": str(outcome.verdict),
        "interrupted": outcome.interrupted,
        "site": {k: site.get(k, "") for k in SITE_FIELDS},
        "profile": profile_section(profile),
        "environment": environment,
        "started_at": outcome.started_at,
        "finished_at": outcome.finished_at,
        "summary": {
            s: counts.get(s, 0) for s in ("pass", "fail", "error", "skipped", "not_tested")
        },
        "checks": [r.to_dict() for r in outcome.results],
    }
