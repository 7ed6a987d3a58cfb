"""Where the shipped data folders (checks/, profiles/, reports/) and the config folder are."""

from __future__ import annotations

import os
from collections.abc import Mapping
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


def config_dir(env: Mapping[str, str] | None = None) -> Path:
    """$NETREADY_CONFIG_DIR, else $XDG_CONFIG_HOME/netready, else ~/.config/netready."""
    env = os.environ if env is None else env
    if env.get("NETREADY_CONFIG_DIR"):
        return Path(env["NETREADY_CONFIG_DIR"]).expanduser()
    xdg = env.get("XDG_CONFIG_HOME", "")
    if xdg and Path(xdg).is_absolute():  # the XDG spec says to ignore relative paths
        return Path(xdg) / "netready"
    home = env.get("HOME")
    return (Path(home) if home else Path.home()) / ".config" / "netready"
