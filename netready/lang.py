"""The language of what people read (reports, the app): English or German, from the locale."""

from __future__ import annotations

import locale
import os
from collections.abc import Callable, Mapping

LANGS = ("en", "de")


def system_locale() -> str:
    """The locale the OS reports, e.g. 'de_DE' (Windows: the user's locale); '' if none."""
    try:
        name = locale.getlocale()[0]
    except ValueError:  # a locale name Python cannot parse
        return ""
    return name or ""


def _lang_of(locale_name: str) -> str:
    name = locale_name.lower()
    return "de" if name.startswith(("de", "german")) else "en"


def default_lang(
    environ: Mapping[str, str] | None = None, system: Callable[[], str] = system_locale
) -> str:
    """'de' when the locale says German, else 'en'.

    The first of LC_ALL, LC_MESSAGES, LANG that is set decides (POSIX); without them, the
    locale the OS reports (`locale.getlocale()`: on Windows the user's locale).
    """
    env = os.environ if environ is None else environ
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(name, "")
        if value:
            return _lang_of(value)
    return _lang_of(system())
