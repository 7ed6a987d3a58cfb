"""`netready verify`: checks a report's signature and its document, and says exactly what failed."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import rfc8785

from netready.errors import SignatureError, UsageError
from netready.report.files import PUBLIC_KEY_NAME, trusted_comment
from netready.report.signing import PublicKey, verify
from netready.resources import data_dir

SCHEMA_FILE = "netready.report-1.schema.json"


@dataclass
class VerifyOutcome:
    """Per-part results; the report is good only if every part is."""

    signature_ok: bool = False
    document_ok: bool = False
    lines: list[str] = field(default_factory=list)
    key_id: str = ""  # of the public key checked against
    fingerprint: str = ""
    trusted_comment: str = ""  # "" unless the signature holds
    verdict: str | None = None  # as the document says; trust it only if `ok`
    problems: list[str] = field(default_factory=list)  # what failed, one sentence each

    @property
    def ok(self) -> bool:
        return self.signature_ok and self.document_ok

    def as_json(self) -> dict[str, Any]:
        """The machine-readable verdict of `netready verify --json`."""
        return {
            "ok": self.ok,
            "signature_ok": self.signature_ok,
            "document_ok": self.document_ok,
            "verdict": self.verdict,
            "key_id": self.key_id,
            "fingerprint": self.fingerprint,
            "trusted_comment": self.trusted_comment,
            "problems": list(self.problems),
        }


def _document_verdict(data: bytes) -> str | None:
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    verdict = doc.get("verdict") if isinstance(doc, dict) else None
    return verdict if isinstance(verdict, str) else None


@cache
def report_schema() -> dict[str, Any]:
    """The report JSON Schema shipped in reports/schema/."""
    path = data_dir("reports") / "schema" / SCHEMA_FILE
    schema: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return schema


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the {what}: {exc.strerror}") from None


def document_problems(data: bytes) -> list[str]:
    """Everything wrong with the report bytes as a document (empty list = fine)."""
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        return [f"not valid JSON: {exc}"]
    problems = []
    try:
        if rfc8785.dumps(doc) != data:
            problems.append("not in RFC 8785 canonical form (the file was re-written)")
    except Exception as exc:  # rfc8785 raises its own error types for out-of-domain values
        problems.append(f"cannot be canonicalised: {exc}")
    validator = jsonschema.Draft202012Validator(report_schema())
    for err in sorted(validator.iter_errors(doc), key=lambda e: list(e.path)):
        where = "/".join(str(p) for p in err.path) or "(top level)"
        problems.append(f"schema: {where}: {err.message}")
    return problems


def verify_report(report: Path, public_key: Path | None = None) -> VerifyOutcome:
    """Check signature (minisign format) and document (canonical form, schema, comment)."""
    data = _read(report, "report")
    sig_path = report.with_name(report.name + ".minisig")
    key_path = public_key or report.with_name(PUBLIC_KEY_NAME)
    minisig = _read(sig_path, "signature").decode("utf-8", errors="replace")
    key = PublicKey.from_text(
        _read(key_path, "public key").decode("utf-8", "replace"), str(key_path)
    )
    out = VerifyOutcome(key_id=key.key_id_hex, fingerprint=key.fingerprint())
    out.verdict = _document_verdict(data)
    comment = ""
    try:
        verified = verify(data, minisig, key)
        comment = verified.trusted_comment
        out.signature_ok = True
        out.trusted_comment = comment
        out.lines.append(f"signature: ok (key ID {key.key_id_hex}, {key.fingerprint()})")
        out.lines.append(f"trusted comment: {comment}")
    except SignatureError as exc:
        out.lines.append(f"signature: FAILED: {exc}")
        out.problems.append(f"signature: {exc}")
    problems = document_problems(data)
    if not problems and out.signature_ok:
        expected = trusted_comment(json.loads(data))
        if comment != expected:
            problems.append(
                "the trusted comment does not match the document's verdict, site, time or profile"
            )
    out.document_ok = not problems
    out.problems.extend(f"document: {p}" for p in problems)
    if problems:
        out.lines.extend(f"document: FAILED: {p}" for p in problems)
    else:
        out.lines.append("document: ok (canonical JSON, schema netready.report/1)")
    return out
