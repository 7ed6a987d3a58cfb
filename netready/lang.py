"""The language of what people read (reports, the app): English or German, from the locale."""

from __future__ import annotations

import os
from collections.abc import Mapping

LANGS = ("en", "de")


def default_lang(environ: Mapping[str, str] | None = None) -> str:
    """'de' when the locale says German (LC_ALL, LC_MESSAGES, LANG, first one set), else 'en'."""
    env = os.environ if environ is None else environ
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(name, "")
        if value:
            return "de" if value.lower().startswith("de") else "en"
    return "en"
