"""The test guard refuses traffic to the platform's real servers, here and in child processes."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

REAL = ("46.189.64.189", 443)  # stimme's pbx: refused before a packet leaves


def test_this_process_cannot_reach_the_real_platform() -> None:
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with udp, pytest.raises(RuntimeError, match="netready test guard"):
        udp.sendto(b"x", REAL)
    with socket.socket() as s:
        s.settimeout(0.1)
        with pytest.raises(RuntimeError, match="real address of the platform"):
            s.connect(REAL)
        with pytest.raises(RuntimeError):
            s.connect_ex(REAL)


def test_loopback_is_allowed() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(b"x", ("127.0.0.1", 9))  # discard port: nobody listens, nothing breaks


def test_a_child_python_is_guarded_too() -> None:
    code = (
        "import socket\n"
        "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
        "try:\n"
        "    s.sendto(b'x', ('46.189.64.249', 3478))\n"
        "except RuntimeError as e:\n"
        "    print('refused:', e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert "refused: netready test guard" in out.stdout, out.stderr
