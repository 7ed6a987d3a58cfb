"""Key bindings whose footer words follow the app's language.

Textual reads BINDINGS from the class, so a screen in German is a subclass made here
whose bindings carry the German descriptions. A description that is a text key
("b_run") is translated; anything else is kept.
"""

from __future__ import annotations

from typing import Any, TypeVar

from textual.binding import Binding
from textual.dom import DOMNode

from netready.tui.texts import keys, t

N = TypeVar("N", bound=DOMNode)

#: On every screen (so the footer shows them in the screen's language).
COMMON = (
    Binding("f1", "app.help", "b_help"),
    Binding("ctrl+q", "app.quit_app", "b_quit", priority=True),
)


def localized(cls: type[N], lang: str) -> type[N]:
    """`cls` with its own bindings' descriptions in `lang` (same keys, same actions)."""
    known = set(keys())
    own: list[Any] = list(cls.__dict__.get("BINDINGS", []))
    translated = [
        Binding(
            b.key,
            b.action,
            t(b.description, lang) if b.description in known else b.description,
            show=b.show,
            priority=b.priority,
        )
        if isinstance(b, Binding)
        else b
        for b in own
    ]
    return type(cls.__name__, (cls,), {"BINDINGS": translated, "__module__": cls.__module__})
