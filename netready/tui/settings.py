"""The start form remembered between runs (config dir, `tui.json`); never any password."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

SETTINGS_NAME = "tui.json"
SITE_KEYS = ("customer", "site", "address", "installer", "ticket")


@dataclass
class FormMemory:
    """What the installer typed last time. Passwords are deliberately not a field."""

    profile: str = ""
    customer: str = ""
    site: str = ""
    address: str = ""
    installer: str = ""
    ticket: str = ""
    responder: str = ""
    duration: str = ""
    quick: bool = False
    # ticked on a first run: the lab profile's hosts are 127.0.0.1, so without its local
    # responder every check would fail with firewall advice for loopback (issue 15)
    local_responder: bool = True
    hosts: dict[str, dict[str, str]] = field(default_factory=dict)  # profile -> host -> addr
    lang: str = ""


def load_memory(config_dir: Path) -> FormMemory:
    """The remembered form; a missing or damaged file gives an empty form (never an error)."""
    try:
        raw: Any = json.loads((config_dir / SETTINGS_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return FormMemory()
    if not isinstance(raw, dict):
        return FormMemory()
    memory = FormMemory()
    for f in fields(FormMemory):
        value = raw.get(f.name)
        default = getattr(memory, f.name)
        if f.name == "hosts":
            if isinstance(value, dict):
                memory.hosts = {
                    str(p): {str(k): str(v) for k, v in h.items()}
                    for p, h in value.items()
                    if isinstance(h, dict)
                }
        elif isinstance(value, type(default)):
            setattr(memory, f.name, value)
    return memory


def save_memory(config_dir: Path, memory: FormMemory) -> None:
    """Write atomically, mode 0600 (it names customers); a failure only loses the memory."""
    with contextlib.suppress(OSError):
        config_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        data = json.dumps(asdict(memory), indent=2, ensure_ascii=False, sort_keys=True)
        fd, tmp = tempfile.mkstemp(dir=config_dir, prefix=".tui-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(data + "\n")
            os.chmod(tmp, 0o600)
            os.replace(tmp, config_dir / SETTINGS_NAME)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
