"""`netready ticket`: verify a report, then pack the ticket texts and its files into one archive.

The archive holds exactly the bytes that were verified, and an HTML page rendered anew from
them (a report.html lying next to the report is not signed, so it is never copied). Its
content is deterministic: entries in name order under one folder, every timestamp the
report's finish time, fixed modes.
"""

from __future__ import annotations

import gzip
import io
import json
import re
import tarfile
import unicodedata
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from netready.errors import UsageError
from netready.report.files import (
    HTML_NAME,
    PUBLIC_KEY_NAME,
    REPORT_NAME,
    SIGNATURE_NAME,
    write_atomic,
)
from netready.report.html import render_html
from netready.report.signing import PublicKey
from netready.report.ticket import build_ticket
from netready.report.verify import verify_report

ZIP_EPOCH = datetime(1980, 1, 1, tzinfo=UTC)  # the earliest time a zip entry can carry
_UMLAUTS = str.maketrans(
    {"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "ß": "ss"}
)


@dataclass(frozen=True)
class VerifiedReport:
    """A report whose signature and document hold, with the bytes that were checked."""

    document: dict[str, Any]
    files: dict[str, bytes]  # name in the archive -> content
    signature: str  # how it was verified, for the ticket header


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the {what}: {exc.strerror}") from None


def _snapshot(report: Path, key_path: Path) -> dict[str, bytes]:
    files = {
        REPORT_NAME: _read(report, "report"),
        SIGNATURE_NAME: _read(report.with_name(report.name + ".minisig"), "signature"),
        PUBLIC_KEY_NAME: _read(key_path, "public key"),
    }
    return files


def load_verified(report: Path, public_key: Path | None = None, lang: str = "en") -> VerifiedReport:
    """Verify like `netready verify`; refuse (UsageError, exit 2) a report that does not hold."""
    key_path = public_key or report.with_name(PUBLIC_KEY_NAME)
    before = _snapshot(report, key_path)
    outcome = verify_report(report, public_key)
    if not outcome.ok:
        failed = next((line for line in outcome.lines if "FAILED" in line), "not verified")
        raise UsageError(
            f"{report}: does not verify ({failed}); no ticket written "
            f"(`netready verify {report}` shows every problem)"
        )
    if _snapshot(report, key_path) != before:
        raise UsageError(f"{report}: changed while it was being verified; try again")
    key = PublicKey.from_text(before[PUBLIC_KEY_NAME].decode("utf-8", "replace"), str(key_path))
    document: dict[str, Any] = json.loads(before[REPORT_NAME])
    signature = f"verified, key ID {key.key_id_hex} ({key.fingerprint()})"
    files = dict(before)
    files[HTML_NAME] = render_html(document, key, lang).encode("utf-8")
    return VerifiedReport(document, files, signature)


def slug(text: str, fallback: str = "site") -> str:
    """A file-name-safe ASCII form: "Berlin HQ / Müller" -> "berlin-hq-mueller"."""
    ascii_text = unicodedata.normalize("NFKD", text.translate(_UMLAUTS))
    ascii_text = ascii_text.encode("ascii", "ignore").decode("ascii").lower()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text).strip("-")[:40].strip("-") or fallback


def report_time(doc: dict[str, Any]) -> datetime:
    """When the measurement finished (UTC); the zip epoch if the document has no usable time."""
    for key in ("finished_at", "started_at"):
        try:
            return datetime.fromisoformat(str(doc.get(key, ""))).astimezone(UTC)
        except ValueError:
            continue
    return ZIP_EPOCH


def default_archive(report: Path, doc: dict[str, Any]) -> Path:
    """ticket-<site>-<date>.zip next to the report."""
    site = doc.get("site", {})
    name = slug(str(site.get("site") or site.get("customer") or ""))
    return report.with_name(f"ticket-{name}-{report_time(doc):%Y-%m-%d}.zip")


def archive_kind(path: Path) -> str:
    """ "zip" or "tar.gz" from the file name; anything else is a usage error."""
    name = path.name.lower()
    if name.endswith(".zip"):
        return "zip"
    if name.endswith((".tar.gz", ".tgz")):
        return "tar.gz"
    raise UsageError(f"{path}: --out must end in .zip, .tar.gz or .tgz")


def archive_root(path: Path) -> str:
    """The folder inside the archive: the archive's name without its suffix, made safe."""
    name = path.name
    for suffix in (".zip", ".tar.gz", ".tgz"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip(".-")
    return safe or "ticket"


def _zip(entries: dict[str, bytes], root: str, when: datetime) -> bytes:
    stamp = max(when, ZIP_EPOCH).timetuple()[:6]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name in sorted(entries):
            info = zipfile.ZipInfo(f"{root}/{name}", date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # Unix, so the mode below is read back everywhere
            info.external_attr = 0o100644 << 16
            zf.writestr(info, entries[name], compresslevel=9)
    return buf.getvalue()


def _tar_gz(entries: dict[str, bytes], root: str, when: datetime) -> bytes:
    mtime = int(max(when, ZIP_EPOCH).timestamp())
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name in sorted(entries):
            info = tarfile.TarInfo(f"{root}/{name}")
            info.size, info.mtime, info.mode = len(entries[name]), mtime, 0o644
            tf.addfile(info, io.BytesIO(entries[name]))
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=mtime) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


def ticket_entries(verified: VerifiedReport, lang: str) -> dict[str, bytes]:
    """ticket.txt in `lang`, ticket.<other>.txt in the other language, and the report files."""
    other = "de" if lang == "en" else "en"
    names = sorted([*verified.files, "ticket.txt", f"ticket.{other}.txt"])
    entries = dict(verified.files)
    for name, language in (("ticket.txt", lang), (f"ticket.{other}.txt", other)):
        text = build_ticket(verified.document, language, verified.signature, names)
        entries[name] = text.encode("utf-8")
    return entries


def make_ticket_bundle(
    report: Path, out: Path | None = None, lang: str = "en", public_key: Path | None = None
) -> Path:
    """Verify `report`, write the archive (default next to the report) and return its path."""
    if out is not None:
        archive_kind(out)  # a bad name is refused before anything is read
        if not out.parent.is_dir():
            raise UsageError(f"{out}: --out: the folder {out.parent} does not exist")
    verified = load_verified(report, public_key, lang)
    target = out or default_archive(report, verified.document)
    entries = ticket_entries(verified, lang)
    when = report_time(verified.document)
    root = archive_root(target)
    pack = _zip if archive_kind(target) == "zip" else _tar_gz
    try:
        write_atomic(target, pack(entries, root, when))
    except OSError as exc:
        raise UsageError(f"{target}: cannot write the ticket archive: {exc.strerror}") from None
    return target
