"""Parameters of the `tls` check kind: one planned check `tls.<rule>` per rule with tls = true."""

from __future__ import annotations

from dataclasses import dataclass, field

from netready.checks.base import PLANNER_ONLY
from netready.model import Rule


@dataclass(frozen=True)
class TlsParams:
    """What the site must see on the platform's TLS ports; rule and address come from the planner.

    `expect_issuer`: text that must occur in the issuer of the leaf certificate (case-
    insensitive), e.g. the platform CA's CN. `expect_sha256`: accepted SHA-256 fingerprints
    of the leaf (hex, colons optional). Either pin failing on a port is reported as TLS
    interception with the issuer that was seen. `proxy`: handshake through an HTTP CONNECT
    tunnel (`netready.probes.proxy`); empty = the environment's HTTPS_PROXY / NO_PROXY.
    """

    expect_issuer: str = ""
    expect_sha256: tuple[str, ...] = ()
    timeout_s: float = 5.0
    proxy: str = ""  # explicit HTTP proxy ("http://host:port"); "" = HTTPS_PROXY etc., NO_PROXY
    rule: Rule | None = field(default=None, metadata={PLANNER_ONLY: True})
    address: str = field(default="", metadata={PLANNER_ONLY: True})
