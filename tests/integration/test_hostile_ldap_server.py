"""A hostile LDAPS server on 127.0.0.1 (issue 12, finding 10c): endless paging cookies or
one endless page cannot hold the LDAPS probe (and the thread it runs on).

The server is a few lines of BER over TLS (no ldap3 on this side): it answers a bind
with success and a search with entries and, always, a new paging cookie.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from netready.probes.ldaps import PAGED_RESULTS_OID, ldap_search, max_pages
from netready.responder.tls_ports import self_signed_pem

Serve = Callable[[ssl.SSLSocket, int, threading.Event], None]


def tlv(tag: int, content: bytes) -> bytes:
    """One BER element (definite length)."""
    n = len(content)
    if n < 0x80:
        return bytes([tag, n]) + content
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + content


def message(msg_id: int, op: bytes, controls: bytes = b"") -> bytes:
    encoded_id = msg_id.to_bytes(msg_id.bit_length() // 8 + 1, "big")  # a positive INTEGER
    return tlv(0x30, tlv(0x02, encoded_id) + op + controls)


def ldap_result(tag: int) -> bytes:
    """bindResponse / searchResDone: success, no matched DN, no message."""
    return tlv(tag, tlv(0x0A, b"\0") + tlv(0x04, b"") + tlv(0x04, b""))


def entry(n: int) -> bytes:
    return tlv(0x64, tlv(0x04, f"cn=hostile{n},dc=example".encode()) + tlv(0x30, b""))


def paged_cookie(cookie: bytes) -> bytes:
    value = tlv(0x30, tlv(0x02, b"\0") + tlv(0x04, cookie))
    control = tlv(0x30, tlv(0x04, PAGED_RESULTS_OID.encode()) + tlv(0x04, value))
    return tlv(0xA0, control)


def read_message(conn: ssl.SSLSocket) -> tuple[int, int] | None:
    """(message ID, operation tag) of the next request, None when the client has gone."""
    data = b""
    while True:
        if len(data) >= 2:
            length, start = data[1], 2
            if length & 0x80:
                start = 2 + (length & 0x7F)
                length = int.from_bytes(data[2:start], "big") if len(data) >= start else -1
            if length >= 0 and len(data) >= start + length:
                body = data[start : start + length]
                id_len = body[1]
                return int.from_bytes(body[2 : 2 + id_len], "big"), body[2 + id_len]
        chunk = conn.recv(4096)
        if not chunk or len(data) > 1 << 20:
            return None
        data += chunk


@contextmanager
def hostile_ldaps(tmp_path: Path, on_search: Serve) -> Iterator[int]:
    """LDAPS on 127.0.0.1: binds succeed, searches go to `on_search`; one connection."""
    cert, key = self_signed_pem("ldap.hostile.test")
    (tmp_path / "cert.pem").write_bytes(cert)
    (tmp_path / "key.pem").write_bytes(key)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(10)
    stop = threading.Event()

    def serve() -> None:
        try:
            raw, _peer = listener.accept()
            conn = ctx.wrap_socket(raw, server_side=True)
        except OSError:
            return
        conn.settimeout(10)
        with conn:
            for _ in range(1000):  # requests, bounded
                try:
                    request = read_message(conn)
                    if request is None or stop.is_set():
                        return
                    msg_id, op = request
                    if op == 0x60:  # bindRequest
                        conn.sendall(message(msg_id, ldap_result(0x61)))
                    elif op == 0x63:  # searchRequest
                        on_search(conn, msg_id, stop)
                    else:  # unbind, abandon: done
                        return
                except OSError:
                    return

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        listener.close()
        thread.join(15)


def test_endless_paging_cookies_stop_after_the_page_bound(tmp_path: Path) -> None:
    pages: list[int] = []

    def one_entry_and_a_cookie(conn: ssl.SSLSocket, msg_id: int, _stop: threading.Event) -> None:
        pages.append(msg_id)
        conn.sendall(message(msg_id, entry(len(pages))))
        cookie = paged_cookie(f"page-{len(pages)}".encode())
        conn.sendall(message(msg_id, ldap_result(0x65), cookie))

    with hostile_ldaps(tmp_path, one_entry_and_a_cookie) as port:
        started = time.monotonic()
        r = ldap_search("127.0.0.1", port, base_dn="dc=example", size_limit=50, page_size=5)
        elapsed = time.monotonic() - started
    assert len(pages) == max_pages(50, 5) == 11
    assert r.stage == "search" and r.entries == 11
    assert r.error == "the server kept sending paging cookies: stopped after 11 pages (11 entries)"
    assert elapsed < 10


def test_more_entries_than_the_size_limit_are_not_read(tmp_path: Path) -> None:
    def a_hundred_entries(conn: ssl.SSLSocket, msg_id: int, _stop: threading.Event) -> None:
        conn.sendall(b"".join(message(msg_id, entry(n)) for n in range(100)))
        conn.sendall(message(msg_id, ldap_result(0x65), paged_cookie(b"more")))

    with hostile_ldaps(tmp_path, a_hundred_entries) as port:
        r = ldap_search("127.0.0.1", port, base_dn="dc=example", size_limit=10, page_size=5)
    assert (r.stage, r.entries, len(r.sample)) == ("done", 10, 5)


def test_one_endless_page_is_cut_at_the_session_deadline(tmp_path: Path) -> None:
    def entries_forever(conn: ssl.SSLSocket, msg_id: int, stop: threading.Event) -> None:
        end = time.monotonic() + 30  # the server's own bound
        n = 0
        while not stop.is_set() and time.monotonic() < end:
            n += 1
            conn.sendall(message(msg_id, entry(n)))
            time.sleep(0.01)

    with hostile_ldaps(tmp_path, entries_forever) as port:
        started = time.monotonic()
        r = ldap_search("127.0.0.1", port, base_dn="dc=example", timeout_s=1.0, time_limit_s=1)
        elapsed = time.monotonic() - started
    assert r.stage == "search" and r.entries == 0
    assert r.error == "the LDAP session took longer than 4 s and was cut off"
    assert 3.5 < elapsed < 10  # 3 x timeout_s + time_limit_s, not the server's 30 s
