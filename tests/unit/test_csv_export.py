"""CSV of the voice samples: same numbers as metrics/stats.py, '.' decimals on every locale."""

from __future__ import annotations

import csv
import io
import json
import locale
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from netready.errors import UsageError
from netready.metrics.stats import NS_PER_MS, percentile, summary, voice_metrics
from netready.metrics.stun_stats import stun_metrics
from netready.probes.stun_stream import StunRun, StunSample
from netready.probes.voice import VoiceRun, VoiceSample
from netready.report.csv_export import (
    HEADER,
    csv_text,
    ms,
    read_document,
    report_csv,
    sample_rows,
)

MS = 1_000_000
BASE_NS = 1_795_000_000 * 10**9  # above 2^53: kept exact through strings
NUMBER = re.compile(r"^-?\d+(\.\d{6})?$")
GERMAN = "de_DE.UTF-8"


def german_locale_env(folder: Path) -> dict[str, str] | None:
    """Environment variables that make de_DE.UTF-8 (decimal comma) available, or None.

    Uses the system's locale if installed, else compiles one into `folder` with localedef
    (LOCPATH), so nothing on the machine changes.
    """
    before = locale.setlocale(locale.LC_NUMERIC)
    try:
        locale.setlocale(locale.LC_NUMERIC, GERMAN)
        return {}
    except locale.Error:
        pass
    finally:
        locale.setlocale(locale.LC_NUMERIC, before)
    localedef = shutil.which("localedef")
    if localedef is None:
        return None
    target = folder / GERMAN
    proc = subprocess.run(
        [localedef, "-i", "de_DE", "-f", "UTF-8", str(target)], capture_output=True, timeout=60
    )
    return {"LOCPATH": str(folder)} if proc.returncode == 0 and target.is_dir() else None


@pytest.fixture
def german_numbers(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """LC_ALL=de_DE.UTF-8 in this process ("locale"), or a patched localeconv ("patched")."""
    env = german_locale_env(tmp_path_factory.mktemp("locale"))
    if env is None:  # no locale can be made here: at least any localeconv() use would show
        conv = dict(locale.localeconv(), decimal_point=",", thousands_sep=".")
        monkeypatch.setattr(locale, "localeconv", lambda: conv)
        yield "patched"
        return
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("LC_ALL", GERMAN)
    before = locale.setlocale(locale.LC_ALL)  # every category, restored exactly afterwards
    locale.setlocale(locale.LC_ALL, GERMAN)
    try:
        assert locale.localeconv()["decimal_point"] == ","
        assert locale.str(1.5) == "1,5"  # the locale really is in effect
        yield "locale"
    finally:
        locale.setlocale(locale.LC_ALL, before)
    assert locale.setlocale(locale.LC_ALL) == before  # later tests decode with the same codec


def stamp_run(synchronised: bool, lost_up: set[int], lost_down: set[int]) -> VoiceRun:
    """200 probes with varying delays; the reflector clock is 7 ms ahead when unsynchronised."""
    offset = 0 if synchronised else 7 * MS
    samples, reflected = [], 0
    for i in range(200):
        t1 = BASE_NS + i * 20 * MS + (i * 7919) % 1000
        s = VoiceSample(i, t1, t1)
        samples.append(s)
        if i in lost_up:
            continue
        s.reflector_seq, reflected = reflected, reflected + 1
        s.t2_ns = t1 + 20 * MS + (i * 104729) % (3 * MS) + offset
        s.t3_ns = s.t2_ns + 40_000 + i
        if i not in lost_down:
            s.t4_ns = s.t3_ns + 25 * MS + (i * 1299709) % (2 * MS) - offset
    got = sorted((s for s in samples if s.t4_ns is not None), key=lambda s: s.t4_ns or 0)
    for index, s in enumerate(got):
        s.arrival_index = index
    end = samples[-1].t1_ns + 3 * 10**9
    return VoiceRun(samples, 50, 172, 46, synchronised, synchronised, "kernel", BASE_NS, end)


def document(metrics_evidence: tuple[dict[str, float], dict[str, object]]) -> dict[str, Any]:
    """A report document holding this voice check, through JSON as a report file would be."""
    metrics, evidence = metrics_evidence
    check = {"id": "media.voice", "status": "pass", "metrics": metrics, "evidence": evidence}
    doc: dict[str, Any] = json.loads(json.dumps({"checks": [{"id": "dns"}, check]}))
    return doc


def parse(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_ms_is_exact_and_locale_free() -> None:
    assert ms(1_234_567) == "1.234567"
    assert ms(0) == "0.000000"
    assert ms(-5) == "-0.000005"
    assert ms(10**15 + 1) == "1000000000.000001"


def test_stamp_rows_match_stats_definitions_measured() -> None:
    run = stamp_run(True, lost_up={5, 6}, lost_down={50})
    doc = document(voice_metrics(run))
    m = doc["checks"][1]["metrics"]
    rows = parse(csv_text(sample_rows(doc, "r.json")))
    assert len(rows) == len(run.samples) == m["packets_sent"]
    got = [r for r in rows if r["lost"] == "0"]
    assert len(got) == m["packets_received"]
    for r, s in zip(rows, run.samples, strict=True):
        assert (r["method"], int(r["seq"]), int(r["t1_ns"])) == ("stamp", s.seq, s.t1_ns)
        assert r["delay_method"] == "measured"
        if r["lost"] == "1":
            assert r["rtt_ms"] == r["delay_up_ms"] == r["delay_down_ms"] == ""
            continue
        assert s.t2_ns and s.t3_ns and s.t4_ns
        rtt_ns = (s.t4_ns - s.t1_ns) - (s.t3_ns - s.t2_ns)
        assert float(r["rtt_ms"]) == rtt_ns / NS_PER_MS
        assert float(r["delay_up_ms"]) == (s.t2_ns - s.t1_ns) / NS_PER_MS
        assert float(r["delay_down_ms"]) == (s.t4_ns - s.t3_ns) / NS_PER_MS
    # the summaries stats.py wrote into the report come back exactly from the CSV
    as_ns = {k: [round(float(r[k]) * NS_PER_MS) for r in got] for k in ("rtt_ms", "delay_up_ms")}
    for name, value in summary("rtt", as_ns["rtt_ms"], NS_PER_MS).items():
        assert value == m[name], name
    assert sorted(float(r["rtt_ms"]) for r in got)[-1] == m["rtt_max_ms"]
    p95 = percentile(sorted(float(r["delay_up_ms"]) for r in got), 95)
    assert p95 == m["delay_up_p95_ms"]
    assert 100 * sum(r["lost"] == "1" for r in rows) / len(rows) == m["loss_rt_pct"]


def test_unsynchronised_clocks_leave_delay_empty_and_say_estimated() -> None:
    run = stamp_run(False, lost_up=set(), lost_down=set())
    doc = document(voice_metrics(run))
    m = doc["checks"][1]["metrics"]
    rows = parse(csv_text(sample_rows(doc, "r.json")))
    assert {r["delay_method"] for r in rows} == {"estimated_rtt_half"}
    assert {r["delay_up_ms"] for r in rows} == {r["delay_down_ms"] for r in rows} == {""}
    halves = sorted(float(r["rtt_ms"]) / 2 for r in rows)  # the report's estimate, exactly
    assert percentile(halves, 95) == m["delay_up_p95_ms"] == m["delay_down_p95_ms"]


def stun_run(interrupted: bool) -> StunRun:
    samples = []
    for i in range(120):
        t1 = BASE_NS + i * 20 * MS
        s = StunSample(i, t1, t1, arrival_index=i)
        if i % 17 != 3 and not (interrupted and i >= 118):
            s.t4_ns = t1 + 30 * MS + (i * 7919) % MS
        samples.append(s)
    samples[10].duplicates, samples[11].error_code = 2, 420
    last = samples[-1].t1_ns
    return StunRun(
        samples=samples,
        server="127.0.0.1:3478",
        local_address="127.0.0.1:40000",
        rate_pps=50,
        dscp=46,
        request_bytes=20,
        reply_timeout_s=1.0,
        timestamp_source="kernel",
        started_ns=BASE_NS,
        finished_ns=last + (MS if interrupted else 10**9),
        interrupted=interrupted,
    )


@pytest.mark.parametrize("interrupted", [False, True])
def test_stun_fallback_rows(interrupted: bool) -> None:
    doc = document(stun_metrics(stun_run(interrupted)))
    m = doc["checks"][1]["metrics"]
    rows = parse(csv_text(sample_rows(doc, "r.json")))
    assert len(rows) == 120
    assert {r["method"] for r in rows} == {"stun-rtt"}
    assert {r["t2_ns"] + r["t3_ns"] + r["reflector_seq"] + r["delay_up_ms"] for r in rows} == {""}
    assert {r["delay_method"] for r in rows} == {"estimated_rtt_half"}
    assert (rows[10]["duplicates"], rows[11]["error_code"]) == ("2", "420")
    answered = [r for r in rows if r["lost"] == "0"]
    settled = [r for r in rows if r["lost"] != ""]
    assert len(settled) == 120 - m["loss_unknown_count"]
    assert 100 * (len(settled) - len(answered)) / len(settled) == m["loss_rt_pct"]
    rtts = sorted(float(r["rtt_ms"]) for r in answered)
    assert percentile(rtts, 95) == m["rtt_p95_ms"]
    for r in answered:
        assert float(r["rtt_ms"]) == (int(r["t4_ns"]) - int(r["t1_ns"])) / NS_PER_MS


def test_rfc4180_text_crlf_header_utf8() -> None:
    doc = document(voice_metrics(stamp_run(True, set(), set())))
    text = csv_text(sample_rows(doc, "r.json"))
    lines = text.split("\r\n")
    assert lines[0] == ",".join(HEADER) and lines[-1] == ""
    assert "\n" not in text.replace("\r\n", "")
    text.encode("ascii")  # numbers and names only: plain UTF-8 without a BOM


def test_numbers_ignore_a_german_locale(german_numbers: str) -> None:
    doc = document(voice_metrics(stamp_run(True, {3}, {9})))
    rows = list(csv.reader(io.StringIO(csv_text(sample_rows(doc, "r.json")), newline="")))
    numeric = [c for row in rows[1:] for c in row if c and c[0] in "-0123456789"]
    assert numeric and all(NUMBER.match(c) for c in numeric), german_numbers
    assert all(len(row) == len(HEADER) for row in rows)


def test_no_voice_check_is_one_line_naming_file_and_field() -> None:
    with pytest.raises(UsageError) as err:
        sample_rows({"checks": [{"id": "dns"}]}, "x/report.json")
    assert str(err.value) == "x/report.json: checks: no media.voice check, so there are no samples"


def test_voice_without_samples_names_the_field_and_the_reason() -> None:
    check = {"id": "media.voice", "status": "not_tested", "reason": "no responder given"}
    check["evidence"] = {}
    with pytest.raises(UsageError) as err:
        sample_rows({"checks": [check]}, "r.json")
    assert str(err.value) == (
        "r.json: checks[0] (media.voice) evidence.samples: no samples recorded (no responder given)"
    )


def test_malformed_sample_names_its_index() -> None:
    doc = document(voice_metrics(stamp_run(True, set(), set())))
    doc["checks"][1]["evidence"]["samples"][3][2] = "12,5"
    with pytest.raises(UsageError, match=r"evidence\.samples\[3\]\[2\] \(t2_ns\): expected an"):
        sample_rows(doc, "r.json")
    doc["checks"][1]["evidence"]["samples"][4] = [1, 2]
    doc["checks"][1]["evidence"]["samples"][3][2] = None
    with pytest.raises(UsageError, match=r"samples\[4\]: expected \[seq, t1_ns"):
        sample_rows(doc, "r.json")


def test_unreadable_and_non_json_reports(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=f"{tmp_path}/none.json: cannot read the report"):
        read_document(tmp_path / "none.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    with pytest.raises(UsageError, match=f"{bad}: not valid JSON"):
        report_csv(bad)
    bad.write_text("[]")
    with pytest.raises(UsageError, match=r"\(top level\): not a JSON object"):
        report_csv(bad)
    bad.write_text('{"checks": 1}')
    with pytest.raises(UsageError, match="checks: missing or not a list"):
        report_csv(bad)


def test_report_file_round_trip(tmp_path: Path) -> None:
    doc = document(voice_metrics(stamp_run(True, set(), set())))
    path = tmp_path / "report.json"
    path.write_text(json.dumps(doc))
    assert report_csv(path) == csv_text(sample_rows(doc, str(path)))
