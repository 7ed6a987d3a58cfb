"""A hostile SIP server on 127.0.0.1 (issue 12, finding 10): its words cannot steer the
installer's terminal, and its Content-Length or a trickle cannot hold the client."""

from __future__ import annotations

import asyncio
import io
import socket
import threading
import time
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from netready.checks.base import RunContext
from netready.checks.sip import SipCheck
from netready.checks.sip_params import SipParams
from netready.engine.console import ConsolePrinter
from netready.events import CheckFinished, CheckStarted, RunStarted
from netready.model import CheckResult, Status
from netready.probes.sip_io import MAX_BODY

FAKE = "\x1b[2K\r[2/2] PASS       sip.options: \x1b]8;;https://x.example/\x1b\\ok\x1b]8;;\x1b\\"


def run_check(transport: str, port: int, timeout_s: float) -> CheckResult:
    params = SipParams(timeout_s=timeout_s, address="127.0.0.1", port=port, transport=transport)
    ctx = RunContext(progress=lambda _f, _m: None)
    return asyncio.run(asyncio.wait_for(SipCheck().run("sip.options", params, ctx), 30.0))


def answer_to(request: bytes, start_line: str, extra: str = "") -> bytes:
    """A response to `request`: its Via, From, To, Call-ID and CSeq, then `extra` headers."""
    keep = [
        line
        for line in request.split(b"\r\n")
        if line.split(b":")[0].lower() in (b"via", b"from", b"to", b"call-id", b"cseq")
    ]
    head = start_line.encode() + b"\r\n" + b"\r\n".join(keep) + b"\r\n" + extra.encode()
    return head + b"\r\n"


@contextmanager
def udp_server(reply: Callable[[bytes], bytes]) -> Iterator[int]:
    """Answers every datagram with reply(datagram) until the block ends (at most 20 s)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.1)
    stop = threading.Event()

    def serve() -> None:
        end = time.monotonic() + 20
        while not stop.is_set() and time.monotonic() < end:
            try:
                data, peer = sock.recvfrom(65535)
            except TimeoutError:
                continue
            sock.sendto(reply(data), peer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield sock.getsockname()[1]
    finally:
        stop.set()
        thread.join(5)
        sock.close()


@contextmanager
def tcp_server(serve_one: Callable[[socket.socket, threading.Event], None]) -> Iterator[int]:
    """Serves one connection with serve_one(conn, stop) until the block ends."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(10)
    stop = threading.Event()

    def serve() -> None:
        try:
            conn, _peer = listener.accept()
        except OSError:
            return
        with conn:
            serve_one(conn, stop)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        listener.close()
        thread.join(5)


def read_request(conn: socket.socket) -> bytes:
    conn.settimeout(5)
    data = b""
    while b"\r\n\r\n" not in data and len(data) < 65536:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def test_a_reason_phrase_cannot_rewrite_the_console() -> None:
    with udp_server(lambda req: answer_to(req, f"SIP/2.0 403 Forbidden{FAKE}")) as port:
        result = run_check("udp", port, 3.0)
    assert result.status == Status.PASS  # a SIP server answered: the reachability check
    assert "\x1b" in result.reason  # the check keeps the server's words as they came
    out = io.StringIO()
    printer = ConsolePrinter(out, tty=False)
    printer(RunStarted("stimme", (("sip.options", "SIP"),), "2026-12-04T15:00:00Z"))
    printer(CheckStarted("sip.options", "SIP"))
    printer(CheckFinished(result=result))
    printed = out.getvalue()
    controls = [c for c in printed if unicodedata.category(c) == "Cc" and c != "\n"]
    assert not controls, repr(printed)
    assert len(printed.splitlines()) == 2
    assert "Forbidden\\x1b[2K\\r[2/2] PASS" in printed


def test_a_huge_content_length_is_refused_at_once() -> None:
    def serve(conn: socket.socket, stop: threading.Event) -> None:
        request = read_request(conn)
        conn.sendall(answer_to(request, "SIP/2.0 200 OK", f"Content-Length: {10**12}\r\n"))
        for _ in range(200):  # then trickle, one byte every 50 ms (at most 10 s)
            if stop.wait(0.05):
                return
            try:
                conn.sendall(b"x")
            except OSError:
                return

    with tcp_server(serve) as port:
        started = time.monotonic()
        result = run_check("tcp", port, 5.0)
        elapsed = time.monotonic() - started
    assert result.status == Status.FAIL
    assert f"announces a {10**12}-byte body (at most {MAX_BODY} read)" in result.reason
    assert elapsed < 4.0  # refused on the head, not after the timeout


def test_a_trickling_server_is_cut_at_the_timeout() -> None:
    def serve(conn: socket.socket, stop: threading.Event) -> None:
        request = read_request(conn)
        answer = answer_to(request, "SIP/2.0 200 OK", "Content-Length: 60000\r\n")
        for i in range(400):  # the head, then the body one byte every 50 ms (at most 20 s)
            if stop.wait(0.05):
                return
            try:
                conn.sendall(answer if i == 0 else b"x")
            except OSError:
                return

    with tcp_server(serve) as port:
        started = time.monotonic()
        result = run_check("tcp", port, 1.5)
        elapsed = time.monotonic() - started
    assert result.status == Status.FAIL
    assert "no SIP answer within 1.5 s" in result.reason
    assert elapsed < 6.0  # the 1.5 s timeout held, not the 20 s trickle
