"""A network error in a few plain words, the same wording in every probe's reasons."""

from __future__ import annotations

import asyncio
import ssl

#: OpenSSL reason codes in words an IT admin can act on.
SSL_REASONS = {
    "WRONG_VERSION_NUMBER": "the server does not speak TLS (wrong version number)",
    "UNEXPECTED_EOF_WHILE_READING": "the server closed the connection during the handshake",
    "TLSV1_ALERT_PROTOCOL_VERSION": "no TLS version in common (protocol version alert)",
    "SSLV3_ALERT_HANDSHAKE_FAILURE": "the server refused the handshake (handshake failure alert)",
}


def error_words(exc: BaseException) -> str:
    """E.g. 'timed out', 'connection refused', 'certificate verify failed: ...'."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return exc.verify_message or str(exc)
    if isinstance(exc, ssl.SSLError):
        return SSL_REASONS.get(exc.reason or "", exc.reason or str(exc))
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ConnectionResetError):
        return "connection reset by the peer"
    if isinstance(exc, asyncio.IncompleteReadError):
        return "the connection closed before a whole answer arrived"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
