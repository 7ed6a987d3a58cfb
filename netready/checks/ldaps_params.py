"""Parameters of the `ldaps` check kind: one planned check `ldaps.<rule>` per LDAPS rule."""

from __future__ import annotations

from dataclasses import dataclass, field

from netready.checks.base import PLANNER_ONLY
from netready.model import Rule

#: Optional bind credentials (never from a file, never into a report); none = anonymous.
BIND_DN_ENV = "NETREADY_LDAP_BIND_DN"
PASSWORD_ENV = "NETREADY_LDAP_PASSWORD"


@dataclass(frozen=True)
class LdapsParams:
    """LDAPS phone book: TLS + certificate pins, bind, one search under `base_dn`.

    `base_dn` is the phone book's base (e.g. "ou=people,dc=example,dc=com"; "" = the root
    DSE); `search_filter` and `attributes` shape the one search, limited to `time_limit_s`
    on the server and `size_limit` entries. `expect_issuer` / `expect_sha256` pin the
    certificate as in `[checks."tls"]`: another issuer is reported as TLS interception.
    """

    base_dn: str = ""
    search_filter: str = "(objectClass=*)"
    attributes: tuple[str, ...] = ("cn", "telephoneNumber")
    time_limit_s: int = field(default=5, metadata={"min": 1, "max": 120})
    size_limit: int = field(default=100, metadata={"min": 1, "max": 10000})
    page_size: int = field(default=10, metadata={"min": 1, "max": 1000})
    timeout_s: float = field(default=5.0, metadata={"min": 0.1, "max": 60.0})
    expect_issuer: str = ""
    expect_sha256: tuple[str, ...] = ()
    rule: Rule | None = field(default=None, metadata={PLANNER_ONLY: True})
    address: str = field(default="", metadata={PLANNER_ONLY: True})
