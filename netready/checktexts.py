"""Texts of a check kind (titles en/de, rationale, remediation) from the checks/ data folder."""

from __future__ import annotations

import tomllib
from functools import cache
from typing import Any

from netready.resources import data_dir


@cache
def texts(kind: str) -> dict[str, Any]:
    """The parsed checks/<kind>.toml; {} when the kind has no text file."""
    path = data_dir("checks") / f"{kind}.toml"
    if not path.is_file():
        return {}
    with path.open("rb") as fh:
        return tomllib.load(fh)


def text(kind: str, key: str, lang: str = "en", **fields: object) -> str:
    """One text, e.g. text("firewall", "remediation", ports="443"); falls back to English."""
    entry = texts(kind).get(key, "")
    if isinstance(entry, dict):
        entry = entry.get(lang) or entry.get("en", "")
    return str(entry).format(**fields) if fields else str(entry)
