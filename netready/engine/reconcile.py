"""One report never contradicts itself: a port any check reached is never "blocked".

Checks that got an answer from a port record it in evidence `reached` as "udp/ADDR:PORT"
or "tcp/ADDR:PORT" (`netready.model.reached_key`). After the run, every `firewall.*`
result that calls such a port blocked (at its `destination` or at its host's `address`)
gets it moved to `open`: an answer is the strongest evidence there is, and a probe that
went unanswered (lost, rate-limited) cannot outweigh it. Each move is named in evidence
`reconciled` (port -> the check that reached it), and the rule's status, reason and
remediation are judged anew from what is left blocked.

This is the one place that enforces it; the firewall check's own ladder (the service's own
protocol first) keeps such moves rare.
"""

from __future__ import annotations

from collections.abc import Iterable

from netready.checktexts import text
from netready.model import CheckResult, Status
from netready.probes.tcp import CLOSED, FILTERED, STATE_WORDS
from netready.probes.udp_sweep import compact_ranges

FIREWALL_PREFIX = "firewall."


def parse_ranges(text: str) -> list[int]:
    """ "1-3,5" -> [1, 2, 3, 5]; "" -> []."""
    ports: list[int] = []
    for part in filter(None, text.split(",")):
        first, _, last = part.partition("-")
        ports.extend(range(int(first), int(last or first) + 1))
    return ports


def reached_by(results: Iterable[CheckResult]) -> dict[str, str]:
    """ "udp/ADDR:PORT" -> the id of the first check that reached it."""
    reached: dict[str, str] = {}
    for result in results:
        for key in result.evidence.get("reached", []):
            reached.setdefault(str(key), result.id)
    return reached


def reconcile(results: list[CheckResult]) -> list[CheckResult]:
    """Correct every firewall result that calls a reached port blocked; returns those changed."""
    reached = reached_by(results)
    changed: list[CheckResult] = []
    for result in results:
        if result.id.startswith(FIREWALL_PREFIX) and _reconcile_one(result, reached):
            changed.append(result)
    return changed


def _words_by_state(blocked: list[int], states: dict[str, dict[str, str]]) -> str:
    """ "8636 no answer: a firewall drops it; 4443 refused (reset): ..." from `port_states`."""
    groups: dict[str, list[int]] = {}
    for port in blocked:
        groups.setdefault(states.get(str(port), {}).get("state", FILTERED), []).append(port)
    return "; ".join(
        f"{compact_ranges(ports)} {STATE_WORDS.get(state, state)}"
        for state, ports in sorted(groups.items())
    )


def _reconcile_one(result: CheckResult, reached: dict[str, str]) -> bool:
    ports = result.evidence.get("ports")
    transport = result.evidence.get("transport", "")
    if not isinstance(ports, dict) or not ports.get("blocked") or not transport:
        return False
    # where the ports were tested, and the host they stand for (the same but for a stand-in)
    ev = result.evidence
    addresses = {str(a) for a in (ev.get("destination"), ev.get("host_address")) if a}
    moved: dict[str, str] = {}
    for port in parse_ranges(ports["blocked"]):
        for address in addresses:
            by = reached.get(f"{transport}/{address}:{port}")
            if by and by != result.id:
                moved[str(port)] = by
                break
    if not moved:
        return False
    blocked = [p for p in parse_ranges(ports["blocked"]) if str(p) not in moved]
    opened = parse_ranges(ports.get("open", "")) + [int(p) for p in moved]
    ports["blocked"], ports["open"] = compact_ranges(blocked), compact_ranges(opened)
    result.evidence["reconciled"] = {
        port: f"reached by {by}: an answer proves the port open" for port, by in moved.items()
    }
    if "ports_blocked" in result.metrics:
        result.metrics["ports_blocked"] = float(len(blocked))
        result.metrics["ports_open"] = float(len(set(opened)))
    note = (
        f"port(s) {compact_ranges(int(p) for p in moved)} answered "
        f"{', '.join(sorted(set(moved.values())))} in this run and count as open"
    )
    states: dict[str, dict[str, str]] = result.evidence.get("port_states", {})
    for moved_port in moved:
        states.pop(moved_port, None)
    if blocked:
        words = _words_by_state(blocked, states) if transport == "tcp" else ""
        result.reason = (
            f"{len(blocked)} {transport.upper()} port(s) not reachable: "
            f"{words or compact_ranges(blocked) + ' did not answer'}; {note}"
        )
        fields = {
            "transport": transport,
            "transport_upper": transport.upper(),
            "address": result.evidence.get("host_address", ""),
            "ports": compact_ranges(blocked),
            "function": result.evidence.get("function", ""),
        }
        resets = transport == "tcp" and {states.get(str(p), {}).get("state") for p in blocked} == {
            CLOSED
        }
        key = "remediation_reset" if resets else "remediation"
        result.remediation = text("firewall", key, **fields)
        result.evidence["remediation_de"] = text("firewall", key, "de", **fields)
    else:
        untested = ports.get("not_tested", "")
        result.status = Status.NOT_TESTED if untested else Status.PASS
        result.reason = note if not untested else f"{note}; not tested: {untested}"
        result.remediation = ""
        result.evidence.pop("remediation_de", None)
    return True
