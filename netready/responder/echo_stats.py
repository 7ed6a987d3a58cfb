"""The echo services' counters (SIP, H.323, TLS), as one snapshot for `--metrics`."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EchoStats:
    """Counters since start of the threaded echo services (a snapshot)."""

    sip_echoed: int = 0  # SIP requests answered (UDP and TCP)
    sip_dropped: int = 0  # SIP requests not answered (refused, malformed, limits)
    h323_echoed: int = 0  # H.225 SETUPs answered
    h323_dropped: int = 0
    tls_handshakes: int = 0  # TLS handshakes completed
    tls_handshake_failures: int = 0
