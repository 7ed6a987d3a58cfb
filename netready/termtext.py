"""Text from the network, made safe for a terminal: control characters shown, never obeyed.

A SIP reason phrase, a TLS issuer, an LDAP or TURN error text is chosen by the server. Printed
as is, ESC[2K, a carriage return or an OSC 8 hyperlink in it would rewrite the installer's
screen (a fake "PASS" line was shown). `visible()` replaces every C0 and C1 control
character, DEL and the Unicode controls that reorder or break lines with a visible escape
such as `\\x1b`; plain text, including non-ASCII letters, stays as it is. An escape
sequence loses its ESC and so prints as harmless text.
"""

from __future__ import annotations

_NAMED = {0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r"}
#: bidirectional overrides and isolates, marks, line and paragraph separators
_UNICODE_CONTROLS = (
    0x061C,
    0x200E,
    0x200F,
    *range(0x202A, 0x202F),
    *range(0x2066, 0x206A),
    0x2028,
    0x2029,
)


def _escape(code: int) -> str:
    return _NAMED.get(code) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


_TABLE: dict[int, str] = {
    code: _escape(code)
    for code in (*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0), *_UNICODE_CONTROLS)
}


_JSON_TABLE: dict[int, str] = {
    code: f"\\u{code:04x}" for code in (0x7F, *range(0x80, 0xA0), *_UNICODE_CONTROLS)
}


def visible(text: str) -> str:
    """`text` with every terminal control character shown as an escape (e.g. `\\x1b`)."""
    return text.translate(_TABLE)


def json_visible(json_text: str) -> str:
    """JSON text (C0 controls already escaped by `json.dumps`) with DEL, the C1 controls
    and the Unicode controls written as \\u escapes too: the same JSON value, safe on a
    terminal."""
    return json_text.translate(_JSON_TABLE)
