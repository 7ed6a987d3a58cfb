"""`netready csv`: the voice stream's raw samples as RFC 4180 CSV, the same on every locale.

One row per probe of `media.voice` (a STAMP stream, or the STUN round-trip stream it fell
back to). Timestamps are integer nanoseconds as recorded; milliseconds are written exactly
(integer arithmetic, '.' as decimal point, six decimals, no grouping). The figures follow the
definitions of netready.metrics.stats: RTT = (T4 - T1) - (T3 - T2); one-way delay T2 - T1 and
T4 - T3 only when both clocks were synchronised (delay_method "measured"), otherwise the
delay columns stay empty and delay_method says "estimated_rtt_half" (the report's estimate
is rtt_ms / 2). `lost` is 1 when no reply came back, 0 when one did, empty when unknown.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from netready.errors import UsageError
from netready.metrics.stats import NS_PER_MS
from netready.metrics.stun_stats import in_flight_cutoff_ns
from netready.report.files import write_atomic

VOICE_ID = "media.voice"
HEADER = (
    "method",
    "seq",
    "t1_ns",
    "t2_ns",
    "t3_ns",
    "t4_ns",
    "reflector_seq",
    "rtt_ms",
    "delay_up_ms",
    "delay_down_ms",
    "delay_method",
    "lost",
    "duplicates",
    "error_code",
)
STAMP_FORMAT = ("seq", "t1_ns", "t2_ns", "t3_ns", "t4_ns", "reflector_seq")
STUN_FORMAT = ("seq", "t1_ns", "t4_ns", "duplicates", "error_code")
MEASURED = "measured"
ESTIMATED = "estimated_rtt_half"
Row = list[str]


class SampleError(ValueError):
    """A sample that does not have the documented shape; the message names the field."""


def ms(ns: int) -> str:
    """Nanoseconds as exact milliseconds: 1234567 -> "1.234567", -5 -> "-0.000005"."""
    whole, frac = divmod(abs(ns), NS_PER_MS)
    return f"{'-' if ns < 0 else ''}{whole}.{frac:06d}"


def _int(value: object, field: str) -> int | None:
    """A recorded integer (JSON number, or decimal string for nanoseconds), or None."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise SampleError(f"{field}: expected an integer, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    raise SampleError(f"{field}: expected an integer, got {str(value)[:40]!r}")


def _cell(value: int | None) -> str:
    return "" if value is None else str(value)


def _fields(sample: object, names: tuple[str, ...], where: str) -> list[int | None]:
    if not isinstance(sample, list) or len(sample) != len(names):
        raise SampleError(f"{where}: expected [{', '.join(names)}], got {str(sample)[:60]}")
    return [
        _int(v, f"{where}[{i}] ({n})") for i, (v, n) in enumerate(zip(sample, names, strict=True))
    ]


def stamp_rows(evidence: dict[str, Any], where: str) -> list[Row]:
    """Rows of a STAMP stream: [seq, t1_ns, t2_ns, t3_ns, t4_ns, reflector_seq] per sample."""
    method = evidence.get("delay_method")
    if method not in (MEASURED, ESTIMATED):
        clocks = evidence.get("clocks", {})
        synced = clocks.get("local_synchronised") and clocks.get("remote_synchronised") is True
        method = MEASURED if synced else ESTIMATED
    rows = []
    for k, sample in enumerate(evidence["samples"]):
        seq, t1, t2, t3, t4, rseq = _fields(sample, STAMP_FORMAT, f"{where}[{k}]")
        if seq is None or t1 is None:
            raise SampleError(f"{where}[{k}]: seq and t1_ns must be given")
        got = t2 is not None and t3 is not None and t4 is not None and rseq is not None
        rtt = up = down = ""
        if t2 is not None and t3 is not None and t4 is not None and rseq is not None:
            rtt = ms((t4 - t1) - (t3 - t2))  # stats.DEFINITIONS["rtt"]
            if method == MEASURED:
                up, down = ms(t2 - t1), ms(t4 - t3)
        row = ["stamp", str(seq), str(t1), _cell(t2), _cell(t3), _cell(t4), _cell(rseq)]
        rows.append([*row, rtt, up, down, method, "0" if got else "1", "", ""])
    return rows


def _stun_in_flight_cutoff(evidence: dict[str, Any]) -> int | None:
    """The stream's in-flight cutoff (`stun_stats.in_flight_cutoff_ns`) from its evidence."""
    stream = evidence.get("stream", {})
    finished = _int(stream.get("finished_ns"), "evidence.stream.finished_ns")
    timeout = stream.get("reply_timeout_s")
    if finished is None or not isinstance(timeout, int | float):
        return None
    return in_flight_cutoff_ns(bool(stream.get("interrupted")), finished, float(timeout))


def stun_rows(evidence: dict[str, Any], where: str) -> list[Row]:
    """Rows of a STUN stream: [seq, t1_ns, t4_ns, duplicates, error_code] per sample."""
    cutoff = _stun_in_flight_cutoff(evidence)
    rows = []
    for k, sample in enumerate(evidence["samples"]):
        seq, t1, t4, dups, code = _fields(sample, STUN_FORMAT, f"{where}[{k}]")
        if seq is None or t1 is None:
            raise SampleError(f"{where}[{k}]: seq and t1_ns must be given")
        unknown = t4 is None and cutoff is not None and t1 > cutoff
        lost = "" if unknown else ("1" if t4 is None else "0")
        rtt = "" if t4 is None else ms(t4 - t1)
        row = ["stun-rtt", str(seq), str(t1), "", "", _cell(t4), "", rtt, "", "", ESTIMATED]
        rows.append([*row, lost, _cell(dups), _cell(code)])
    return rows


def sample_rows(doc: object, source: str) -> list[Row]:
    """Every sample row of the report's voice check; UsageError (one line) if there are none."""
    checks = doc.get("checks") if isinstance(doc, dict) else None
    if not isinstance(checks, list):
        raise UsageError(f"{source}: checks: missing or not a list (not a netready report?)")
    index = next(
        (i for i, c in enumerate(checks) if isinstance(c, dict) and c.get("id") == VOICE_ID), None
    )
    if index is None:
        raise UsageError(f"{source}: checks: no {VOICE_ID} check, so there are no samples")
    check = checks[index]
    evidence = check.get("evidence")
    where = f"checks[{index}] ({VOICE_ID}) evidence.samples"
    if not isinstance(evidence, dict) or not evidence.get("samples"):
        why = check.get("reason") or check.get("status")
        raise UsageError(f"{source}: {where}: no samples recorded ({why})")
    if not isinstance(evidence["samples"], list):
        raise UsageError(f"{source}: {where}: not a list")
    try:
        if evidence.get("method") == "stun-rtt":
            return stun_rows(evidence, where)
        return stamp_rows(evidence, where)
    except SampleError as exc:
        raise UsageError(f"{source}: {exc}") from None


def csv_text(rows: list[Row]) -> str:
    """Header and rows as RFC 4180 CSV (CRLF line ends, quotes only where needed)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(HEADER)
    writer.writerows(rows)
    return buf.getvalue()


def read_document(path: Path) -> dict[str, Any]:
    """The report's JSON document; UsageError naming the file if it is not readable JSON."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the report: {exc.strerror}") from None
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise UsageError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise UsageError(f"{path}: (top level): not a JSON object")
    return doc


def default_csv_path(report: Path) -> Path:
    """samples.csv next to the report."""
    return report.with_name("samples.csv")


def report_csv(report: Path) -> str:
    """The CSV text of a report file's voice samples."""
    return csv_text(sample_rows(read_document(report), str(report)))


def write_csv(path: Path, text: str) -> None:
    """Write the CSV atomically as UTF-8; UsageError naming the file if that fails."""
    try:
        write_atomic(path, text.encode("utf-8"))
    except OSError as exc:
        raise UsageError(f"{path}: cannot write the CSV: {exc.strerror}") from None
