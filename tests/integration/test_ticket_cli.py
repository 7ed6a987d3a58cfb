"""`netready ticket` and `netready csv` on real signed reports from runs against loopback."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from netready.metrics.stats import percentile
from netready.report.csv_export import HEADER
from tests.conftest import run_cli
from tests.integration.loopback import loopback_platform
from tests.unit.test_csv_export import GERMAN, NUMBER, german_locale_env


@dataclass(frozen=True)
class Reports:
    """A PASS and a FAIL report, each alone in its folder, and the config dir that signed them."""

    passed: Path
    failed: Path
    config: Path


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> Reports:
    """Two quick `netready check` runs against a real responder on loopback (1 s voice); the
    FAIL one (TCP port not served) runs only the voice and firewall checks."""
    tmp = tmp_path_factory.mktemp("ticket")
    config = tmp / "config"
    found = {}
    for name, serve_tcp, code in (("pass", True, 0), ("fail", False, 1)):
        (tmp / name).mkdir()
        only = [] if serve_tcp else ["--only", "media.voice,firewall."]
        with loopback_platform(tmp / name, duration=1.0, serve_tcp=serve_tcp) as plat:
            out = tmp / name / "report"
            proc = run_cli(
                "check", "--profile", str(plat.profile), *only, "--out", str(out), config=config
            )
        assert proc.returncode == code, proc.stderr
        found[name] = out / "report.json"
    return Reports(found["pass"], found["fail"], config)


def _doc(report: Path) -> dict[str, object]:
    doc: dict[str, object] = json.loads(report.read_bytes())
    return doc


def _voice(report: Path) -> dict[str, dict[str, object]]:
    checks = _doc(report)["checks"]
    assert isinstance(checks, list)
    voice: dict[str, dict[str, object]] = next(c for c in checks if c["id"] == "media.voice")
    return voice


def _cli(
    *args: str, config: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    """The CLI as a subprocess, output as bytes (CRLF kept), with extra environment variables."""
    return subprocess.run(
        [sys.executable, "-m", "netready", *args],
        capture_output=True,
        env=dict(os.environ, NETREADY_CONFIG_DIR=str(config), **(env or {})),
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def test_ticket_for_a_pass_report(reports: Reports) -> None:
    proc = run_cli("ticket", str(reports.passed), config=reports.config)
    assert proc.returncode == 0, proc.stderr
    archive = Path(proc.stdout.strip())
    assert proc.stdout == f"{archive}\n" and proc.stderr == ""
    date = str(_doc(reports.passed)["finished_at"])[:10]
    assert archive == reports.passed.with_name(f"ticket-site-{date}.zip")  # no site given
    with zipfile.ZipFile(archive) as zf:
        root = archive.name.removesuffix(".zip")
        names = [n.removeprefix(root + "/") for n in zf.namelist()]
        assert names == [
            "netready.pub",
            "report.html",
            "report.json",
            "report.json.minisig",
            "ticket.de.txt",
            "ticket.txt",
        ]
        assert zf.read(f"{root}/report.json") == reports.passed.read_bytes()
        ticket = zf.read(f"{root}/ticket.txt").decode("utf-8")
    assert "Verdict:             PASS (every requirement met)" in ticket
    assert "Suggested priority: 3 (non-critical or sporadic fault)" in ticket
    assert "1. Description of the incident" in ticket
    assert "5. Steps already taken to fix the problem" in ticket
    assert "delay (p95)" in ticket and "<= 150 ms" in ticket
    again = run_cli("ticket", str(reports.passed), config=reports.config)
    assert again.returncode == 0 and Path(again.stdout.strip()).read_bytes() == archive.read_bytes()


def test_ticket_for_a_fail_report_in_german(reports: Reports, tmp_path: Path) -> None:
    out = tmp_path / "t.zip"
    proc = run_cli(
        "ticket", str(reports.failed), "--lang", "de", "--out", str(out), config=reports.config
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"{out}\n"
    checks = _doc(reports.failed)["checks"]
    assert isinstance(checks, list)
    https = next(c for c in checks if c["id"] == "firewall.https")
    blocked = https["evidence"]["ports"]["blocked"]
    with zipfile.ZipFile(out) as zf:
        german = zf.read("t/ticket.txt").decode("utf-8")
        english = zf.read("t/ticket.en.txt").decode("utf-8")
    assert "Ergebnis:               FAIL (eine Anforderung ist nicht erfüllt)" in german
    assert "Vorgeschlagene Priorität: 2 (Kritischer Fehler)" in german
    assert f"firewall.https: alle Ports gesperrt ({blocked})" in german
    assert f"gesperrt: {blocked}" in german
    assert "Suggested priority: 2 (critical fault)" in english
    assert f"port {blocked}" in english  # the firewall rule line to apply


def test_tampered_report_is_refused_like_verify_refuses_it(
    reports: Reports, tmp_path: Path
) -> None:
    folder = tmp_path / "copy"
    folder.mkdir()
    for name in ("report.json", "report.json.minisig", "netready.pub"):
        (folder / name).write_bytes(reports.passed.with_name(name).read_bytes())
    report = folder / "report.json"
    report.write_bytes(report.read_bytes().replace(b'"PASS"', b'"FAIL"', 1))
    proc = run_cli("ticket", str(report), config=reports.config)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"netready: error: {report}: does not verify")
    assert proc.stdout == "" and not list(folder.glob("ticket-*"))
    assert run_cli("verify", str(report), config=reports.config).returncode == 1


@pytest.mark.parametrize(
    "args, needle",
    [
        (["ticket", "/nonexistent/report.json"], "/nonexistent/report.json: cannot read"),
        (["ticket", "REPORT", "--out", "x.txt"], "x.txt: --out must end in .zip"),
        (["ticket", "REPORT", "--lang", "fr"], "invalid choice: 'fr'"),
        (["csv", "/nonexistent/report.json"], "/nonexistent/report.json: cannot read"),
    ],
)
def test_bad_input_is_one_line_exit_2(args: list[str], needle: str, reports: Reports) -> None:
    argv = [str(reports.passed) if a == "REPORT" else a for a in args]
    proc = run_cli(*argv, config=reports.config)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], proc.stderr


def test_csv_under_a_german_locale(reports: Reports, tmp_path: Path) -> None:
    env = german_locale_env(tmp_path)
    if env is None:
        pytest.fail("no de_DE.UTF-8 locale and localedef could not make one")
    out = tmp_path / "s.csv"
    proc = _cli(
        "csv",
        str(reports.passed),
        "--out",
        str(out),
        config=reports.config,
        env={**env, "LC_ALL": GERMAN, "LANG": GERMAN},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"{out}\n".encode()
    data = out.read_bytes()
    assert data.startswith(",".join(HEADER).encode() + b"\r\n")
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))
    voice = _voice(reports.passed)
    metrics = voice["metrics"]
    assert len(rows) == metrics["packets_sent"]
    numeric = [v for r in rows for k, v in r.items() if k.endswith(("_ms", "_ns")) and v]
    assert numeric and all(NUMBER.match(v) for v in numeric)
    rtts = sorted(float(r["rtt_ms"]) for r in rows if r["lost"] == "0")
    assert percentile(rtts, 95) == metrics["rtt_p95_ms"]
    assert {r["delay_method"] for r in rows} == {voice["evidence"]["delay_method"]}


def test_csv_to_stdout_and_default_path(reports: Reports) -> None:
    proc = _cli("csv", str(reports.passed), "--out", "-", config=reports.config)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(",".join(HEADER).encode() + b"\r\n")
    default = run_cli("csv", str(reports.passed), config=reports.config)
    assert default.stdout == f"{reports.passed.with_name('samples.csv')}\n"
    assert reports.passed.with_name("samples.csv").read_bytes() == proc.stdout


def test_csv_of_a_report_without_samples(reports: Reports, tmp_path: Path) -> None:
    doc = _doc(reports.passed)
    checks = doc["checks"]
    assert isinstance(checks, list)
    voice = next(c for c in checks if c["id"] == "media.voice")
    voice["status"], voice["reason"], voice["evidence"] = "not_tested", "no responder given", {}
    report = tmp_path / "report.json"
    report.write_text(json.dumps(doc))
    proc = run_cli("csv", str(report), config=reports.config)
    assert proc.returncode == 2
    assert proc.stderr == (
        f"netready: error: {report}: checks[0] (media.voice) evidence.samples: "
        "no samples recorded (no responder given)\n"
    )
    assert not (tmp_path / "samples.csv").exists()
