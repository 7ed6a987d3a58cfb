"""A deterministic recorded run (event dicts) and its result, for replay tests and snapshots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from netready.tui.sources import Finished

CHECKS = [
    ("media.voice", "Voice path"),
    ("firewall.rtp", "RTP media ports"),
    ("firewall.https-mypbx", "HTTPS myPBX"),
    ("tls.https-mypbx", "TLS myPBX"),
    ("sip.alg.udp", "SIP ALG (UDP)"),
]


def _result(check_id: str, status: str, reason: str = "", **extra: Any) -> dict[str, Any]:
    base = {
        "id": check_id,
        "title": dict(CHECKS)[check_id],
        "status": status,
        "method": "",
        "metrics": {},
        "limits": {},
        "evidence": {},
        "reason": reason,
        "remediation": "",
    }
    base.update(extra)
    return base


VOICE = _result(
    "media.voice",
    "fail",
    "delay_up_ms 182.4 is above the limit (<= 150)",
    metrics={"delay_up_ms": 182.4, "jitter_up_ms": 3.1, "mos": 3.9},
    remediation="Find the slow hop upstream: ask the provider for the line's latency.",
)
RTP = _result(
    "firewall.rtp",
    "fail",
    "UDP 20000,30001-30010 blocked outbound",
    evidence={
        "ports": {
            "open": "16384-19999,20001-30000,30011-32767",
            "blocked": "20000,30001-30010",
            "not_tested": "",
        }
    },
    remediation="Allow UDP 16384-32767 outbound to the PBX.",
)
HTTPS = _result(
    "firewall.https-mypbx",
    "pass",
    evidence={"ports": {"open": "443", "blocked": "", "not_tested": ""}},
)
TLS = _result("tls.https-mypbx", "pass", metrics={"handshake_ms": 12.5})
SIP = _result(
    "sip.alg.udp",
    "not_tested",
    "no SIP echo answered on 5060",
    remediation="Run the netready responder with --sip-echo-ports 5060.",
)
RESULTS = [VOICE, RTP, HTTPS, TLS, SIP]


def events() -> list[dict[str, Any]]:
    """run_started, 40 live steps with delay rising through the target, every check, the end."""
    out: list[dict[str, Any]] = [
        {
            "event": "run_started",
            "profile": "stimme",
            "checks": [{"id": i, "title": title} for i, title in CHECKS],
            "started_at": "2026-11-22T10:00:00.000Z",
        },
        {"event": "check_started", "id": "media.voice", "title": "Voice path"},
    ]
    for step in range(40):
        delay = 100.0 + step * 2.5
        out.append(
            {
                "event": "progress",
                "id": "media.voice",
                "fraction": step / 40,
                "message": f"{step * 10} of 400 sent",
            }
        )
        out.append(
            {
                "event": "live",
                "id": "media.voice",
                "values": {
                    "sent": float(step * 10),
                    "settled": float(step * 10),
                    "received": float(step * 10 - step // 10),
                    "lost": float(step // 10),
                    "rtt_ms": 2 * delay,
                    "delay_up_ms": delay,
                    "delay_down_ms": delay / 2,
                    "jitter_up_ms": 1.0 + (step % 5),
                    "jitter_down_ms": 0.5,
                    "delay_measured": 1.0,
                },
            }
        )
    out.append({"event": "check_finished", "result": VOICE})
    for result in RESULTS[1:]:
        out.append({"event": "check_started", "id": result["id"], "title": result["title"]})
        out.append({"event": "check_finished", "result": result})
    out.append(
        {
            "event": "run_finished",
            "verdict": "FAIL",
            "interrupted": False,
            "finished_at": "2026-11-22T10:01:05.000Z",
        }
    )
    return out


def finished() -> Finished:
    """The result screen's input for this run (fixed paths and key, so screens are stable)."""
    folder = Path("/reports/acme-berlin")
    document = {
        "verdict": "FAIL",
        "site": {
            "customer": "ACME GmbH",
            "site": "Berlin HQ",
            "address": "",
            "installer": "",
            "ticket": "T-1",
        },
        "finished_at": "2026-11-22T10:01:05.000Z",
        "checks": RESULTS,
    }
    return Finished(
        document=document,
        report=folder / "report.json",
        signature=folder / "report.json.minisig",
        html=folder / "report.html",
        public_key=folder / "netready.pub",
        key_id="0123456789ABCDEF",
        fingerprint="SHA256:abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
        exit_code=1,
    )
