"""Where the shipped data folders (checks/, profiles/, reports/) are, installed or in a checkout."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """Path of a shipped data folder: `checks`, `profiles` or `reports`."""
    if name not in ("checks", "profiles", "reports"):
        raise ValueError(f"unknown data folder {name!r}")
    installed = _PACKAGE / "_data" / name
    if installed.is_dir():
        return installed
    return _PACKAGE.parent / name  # a source checkout or an editable install
