"""LDAPS probe with ldap3: bind (anonymous or simple) and one paged search with a time limit.

The TLS handshake and the certificate are captured beforehand by `netready.probes.tls`
(the same probe as the TLS checks, so the interception pins work alike); this session
therefore does not verify the certificate itself. The search is one paged search (RFC 2696,
page size `page_size`): the time to the first result is the time until the first entry
arrives; servers without paging send everything at once. Blocking: run it on a thread.
The bind password is passed to ldap3 only; errors are ldap3's result names, never the input.

A hostile server cannot keep the session (and the thread running it) forever: at most
`size_limit` entries are read and `max_pages(size_limit, page_size)` pages asked for,
whatever cookies come back, and a watchdog shuts the socket when `session_deadline_s`
is over, which ends a blocked read (a server streaming one endless page included).
"""

from __future__ import annotations

import contextlib
import math
import socket
import ssl
import threading
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


#: the paged results control (RFC 2696)
PAGED_RESULTS_OID = "1.2.840.113556.1.4.319"


def max_pages(size_limit: int, page_size: int) -> int:
    """Pages asked for at most: enough for `size_limit` entries, and one more."""
    return math.ceil(size_limit / max(1, page_size)) + 1


def session_deadline_s(timeout_s: float, time_limit_s: int) -> float:
    """The whole session's time: connect, bind and search each get `timeout_s`, plus the
    server-side search time limit."""
    return 3 * timeout_s + time_limit_s


class _Watchdog:
    """Shuts the connection's socket once the session's deadline passes."""

    def __init__(self, conn: ldap3.Connection, seconds: float) -> None:
        self.conn = conn
        self.fired = False
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True

    def __enter__(self) -> _Watchdog:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()

    def _fire(self) -> None:
        self.fired = True
        sock = getattr(self.conn, "socket", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


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
    search = (base_dn, search_filter, attributes, time_limit_s, size_limit, page_size)
    deadline_s = session_deadline_s(timeout_s, time_limit_s)
    watchdog = _Watchdog(conn, deadline_s)
    try:
        with watchdog:
            _session(conn, r, search)
    except LDAPException as exc:
        r.error = f"{type(exc).__name__}: {exc}"
    finally:
        with contextlib.suppress(LDAPException, OSError):
            conn.unbind()
    if watchdog.fired and r.stage != "done":
        r.error = f"the LDAP session took longer than {deadline_s:g} s and was cut off"
    return r


#: _search's arguments after the result: base DN, filter, attributes, time limit, size
#: limit, page size
SearchArgs = tuple[str, str, Sequence[str], int, int, int]


def _session(conn: ldap3.Connection, r: LdapSearchResult, search: SearchArgs) -> None:
    """Open, bind, search."""
    conn.open()
    r.stage = "bind"
    began = time.perf_counter()
    r.bound = bool(conn.bind())
    r.bind_ms = (time.perf_counter() - began) * 1000.0
    if not r.bound:
        r.error = _describe(conn)
        return
    r.stage = "search"
    _search(conn, r, *search)


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
    cookie: bytes | None = None
    for _page in range(max_pages(size_limit, page_size)):
        conn.search(
            base_dn,
            search_filter,
            search_scope=scope,
            attributes=list(attributes) or ldap3.NO_ATTRIBUTES,
            paged_size=page_size,
            paged_cookie=cookie,
            time_limit=time_limit_s,
            size_limit=size_limit,
        )
        for entry in conn.response or []:
            if entry.get("type") != "searchResEntry":
                continue
            if r.entries >= size_limit:
                break  # the server ignored our size limit: read no more
            if r.first_result_ms is None:
                r.first_result_ms = (time.perf_counter() - began) * 1000.0
            r.entries += 1
            if len(r.sample) < 5:
                r.sample.append(str(entry.get("dn", "")))
        res: Any = conn.result or {}
        control = (res.get("controls") or {}).get(PAGED_RESULTS_OID) or {}
        cookie = (control.get("value") or {}).get("cookie") or None
        if not cookie or r.entries >= size_limit or res.get("description") != "success":
            break
    else:
        r.search_ms = (time.perf_counter() - began) * 1000.0
        r.result_code = "tooManyPages"
        r.error = (
            f"the server kept sending paging cookies: stopped after "
            f"{max_pages(size_limit, page_size)} pages ({r.entries} entries)"
        )
        return
    r.search_ms = (time.perf_counter() - began) * 1000.0
    res = conn.result or {}
    r.result_code = str(res.get("description", ""))
    if r.result_code not in ("success", "sizeLimitExceeded"):
        r.error = _describe(conn)
        return
    r.stage = "done"
