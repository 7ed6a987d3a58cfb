"""Writes the report folder: canonical report.json, its minisign signature, the public key, HTML."""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import rfc8785

from netready.report.html import render_html
from netready.report.pdf import PdfUnavailable, render_pdf
from netready.report.signing import SecretKey, sign

REPORT_NAME = "report.json"
SIGNATURE_NAME = "report.json.minisig"
PUBLIC_KEY_NAME = "netready.pub"
HTML_NAME = "report.html"
PDF_NAME = "report.pdf"


@dataclass(frozen=True)
class ReportFiles:
    """Where the files of one report are."""

    report: Path
    signature: Path
    public_key: Path
    html: Path
    pdf: Path | None = None  # written only when asked for and WeasyPrint is installed
    notes: tuple[str, ...] = ()  # e.g. why no PDF was written


def canonical_bytes(document: dict[str, Any]) -> bytes:
    """RFC 8785 canonical JSON: the exact bytes that are written and signed."""
    data: bytes = rfc8785.dumps(document)
    return data


def write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write via a temporary file in the same folder, fsync, rename: never a half file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def trusted_comment(document: dict[str, Any]) -> str:
    """One printable line binding verdict, site, time and profile hash to the signature."""
    site = document["site"]
    where = " / ".join(v for v in (site.get("customer", ""), site.get("site", "")) if v) or "-"
    text = (
        f"netready report verdict:{document['verdict']} site:{where} "
        f"time:{document['finished_at']} profile:{document['profile']['name']} "
        f"profile_sha256:{document['profile']['sha256']} file:{REPORT_NAME}"
    )
    return "".join(ch if ch.isprintable() else " " for ch in text)


def write_signed_report(
    document: dict[str, Any], out_dir: Path, key: SecretKey, lang: str = "en", pdf: bool = False
) -> ReportFiles:
    """Write the canonical report, sign it, copy the public key next to it, render HTML/PDF.

    The renderings are made from the signed bytes read back, never from other data.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    files = ReportFiles(
        report=out_dir / REPORT_NAME,
        signature=out_dir / SIGNATURE_NAME,
        public_key=out_dir / PUBLIC_KEY_NAME,
        html=out_dir / HTML_NAME,
    )
    data = canonical_bytes(document)
    write_atomic(files.report, data)
    minisig = sign(
        data,
        key,
        trusted_comment(document),
        untrusted_comment=f"netready signature of {REPORT_NAME}",
    )
    write_atomic(files.signature, minisig.encode())
    write_atomic(files.public_key, key.public_key().to_text().encode())
    signed = json.loads(data)
    html = render_html(signed, key.public_key(), lang)
    write_atomic(files.html, html.encode())
    if not pdf:
        return files
    try:
        write_atomic(out_dir / PDF_NAME, render_pdf(html))
    except PdfUnavailable as exc:
        return dataclasses.replace(files, notes=(f"no PDF: {exc}",))
    return dataclasses.replace(files, pdf=out_dir / PDF_NAME)
