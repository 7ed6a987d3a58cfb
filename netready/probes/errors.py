"""A network error in a few plain words, the same wording in every probe's reasons."""

from __future__ import annotations

import asyncio
import errno
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


#: errno names of a local network failure, in the words an installer meets them by.
NETWORK_ERRNO_WORDS = {
    "ENETUNREACH": "network unreachable: no route from this machine",
    "EHOSTUNREACH": "host unreachable: a router or this machine found no way there",
    "ENETDOWN": "network down: the interface toward it is down",
    "EHOSTDOWN": "host down",
    "EADDRNOTAVAIL": "address not available: this machine has no usable local address for it",
}
#: What to do about them.
NETWORK_REMEDIATION = (
    "Check this machine's network connection: its IP address, default route and gateway "
    "(e.g. `ip route` / `route print`), the cable or Wi-Fi and the VLAN of its switch port, "
    "then measure again from the port the phones will use"
)


def network_failure(exc: BaseException) -> str:
    """Words for an OSError that means "no way from here to there", '' for anything else."""
    if not isinstance(exc, OSError) or exc.errno is None:
        return ""
    return NETWORK_ERRNO_WORDS.get(errno.errorcode.get(exc.errno, ""), "")
