"""LDAPS probe with ldap3: bind (anonymous or simple) and one paged search with a time limit.

The TLS handshake and the certificate are captured beforehand by `netready.probes.tls`
(the same probe as the TLS checks, so the interception pins work alike); this session
therefore does not verify the certificate itself. The search is one paged search (RFC 2696,
page size `page_size`): the time to the first result is the time until the first entry
arrives; servers without paging send everything at once. Blocking: run it on a thread.
The bind password is passed to ldap3 only; errors are ldap3's result names, never the input.
"""

from __future__ import annotations

import contextlib
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import ldap3
from ldap3.core.exceptions import LDAPException


@dataclass
class LdapSearchResult:
    """What the LDAP session did after TLS."""

    bind_as: str  # "anonymous" or the bind DN
    stage: str = "connect"  # connect, bind, search, done
    bound: bool = False
    error: str = ""  # ldap3's result description or exception type, in words
    result_code: str = ""  # of the search, e.g. "success", "noSuchObject"
    entries: int = 0
    first_result_ms: float | None = None
    search_ms: float | None = None
    bind_ms: float | None = None
    sample: list[str] = field(default_factory=list)  # a few DNs found


def _describe(conn: ldap3.Connection) -> str:
    res: Any = conn.result or {}
    desc, msg = str(res.get("description", "")), str(res.get("message", ""))
    return f"{desc} ({msg})" if msg else desc or "no answer"


def ldap_search(
    address: str,
    port: int,
    *,
    bind_dn: str = "",
    password: str = "",
    base_dn: str = "",
    search_filter: str = "(objectClass=*)",
    attributes: Sequence[str] = (),
    time_limit_s: int = 5,
    size_limit: int = 100,
    page_size: int = 10,
    timeout_s: float = 5.0,
) -> LdapSearchResult:
    """Open LDAPS, bind, search once under `base_dn` (the root DSE when empty)."""
    r = LdapSearchResult(bind_as=bind_dn or "anonymous")
    tls = ldap3.Tls(validate=ssl.CERT_NONE)  # the certificate is judged by the TLS probe
    server = ldap3.Server(
        address, port=port, use_ssl=True, tls=tls, get_info=ldap3.NONE, connect_timeout=timeout_s
    )
    conn = ldap3.Connection(
        server,
        user=bind_dn or None,
        password=password or None,
        authentication=ldap3.SIMPLE if bind_dn else ldap3.ANONYMOUS,
        receive_timeout=max(1, round(timeout_s)),
        raise_exceptions=False,
        read_only=True,
    )
    try:
        conn.open()
        r.stage = "bind"
        began = time.perf_counter()
        r.bound = bool(conn.bind())
        r.bind_ms = (time.perf_counter() - began) * 1000.0
        if not r.bound:
            r.error = _describe(conn)
            return r
        r.stage = "search"
        _search(conn, r, base_dn, search_filter, attributes, time_limit_s, size_limit, page_size)
    except LDAPException as exc:
        r.error = f"{type(exc).__name__}: {exc}"
    finally:
        with contextlib.suppress(LDAPException):
            conn.unbind()
    return r


def _search(
    conn: ldap3.Connection,
    r: LdapSearchResult,
    base_dn: str,
    search_filter: str,
    attributes: Sequence[str],
    time_limit_s: int,
    size_limit: int,
    page_size: int,
) -> None:
    scope = ldap3.SUBTREE if base_dn else ldap3.BASE
    began = time.perf_counter()
    for entry in conn.extend.standard.paged_search(
        base_dn,
        search_filter,
        search_scope=scope,
        attributes=list(attributes) or ldap3.NO_ATTRIBUTES,
        paged_size=page_size,
        time_limit=time_limit_s,
        size_limit=size_limit,
        generator=True,
    ):
        if entry.get("type") != "searchResEntry":
            continue
        if r.first_result_ms is None:
            r.first_result_ms = (time.perf_counter() - began) * 1000.0
        r.entries += 1
        if len(r.sample) < 5:
            r.sample.append(str(entry.get("dn", "")))
    r.search_ms = (time.perf_counter() - began) * 1000.0
    res: Any = conn.result or {}
    r.result_code = str(res.get("description", ""))
    if r.result_code not in ("success", "sizeLimitExceeded"):
        r.error = _describe(conn)
        return
    r.stage = "done"
