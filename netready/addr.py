"""Parsing "ADDR[:PORT]" strings (IPv6 as [ADDR]:PORT)."""

from __future__ import annotations

STAMP_PORT = 862  # RFC 8762 default


def split_host_port(text: str, default_port: int = STAMP_PORT) -> tuple[str, int]:
    """ "127.0.0.1:18620" -> ("127.0.0.1", 18620); "[::1]" -> ("::1", default_port)."""
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
        if rest and not rest.startswith(":"):
            raise ValueError(f"{text!r}: expected [ADDR]:PORT")
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    else:
        host, port_text = text, ""
    if not host:
        raise ValueError(f"{text!r}: no address")
    if not port_text:
        return host, default_port
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"{text!r}: port must be 1-65535")
    return host, int(port_text)
