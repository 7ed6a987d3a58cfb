"""Memory and start-up time of `netready responder` with a full media port set (target <= 100 MB).

Starts `python -m netready responder` on 127.0.0.1 with the stimme profile's UDP port
set (16384-32767, 50000-50100, 60000-60100: 16,586 sockets, each also reflecting STAMP)
plus the STAMP port, and prints its resident memory (VmRSS and peak VmHWM from
/proc/PID/status) next to that of a responder with no media ports.

As root the responder runs in a network namespace of its own (`ip netns add`, loopback
up), where every port is free; the namespace is deleted afterwards. Otherwise it runs on
127.0.0.1 directly, if those ports are free there. A few datagrams (a port probe and a
STAMP packet to a media port) check that it answers before memory is read again.

Usage: .venv/bin/python bench/responder_memory.py
Exit status 0 when the target is met, 1 when not, 2 when it could not be measured.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

MEDIA = "16384-32767,50000-50100,60000-60100"
MEDIA_COUNT = 16_586
STAMP_PORT = 8620
TARGET_MB = 100.0

CHECK = textwrap.dedent(
    """
    import os, socket, time
    from netready.probes import stamp
    from netready.probes.stamp import ErrorEstimate, SenderPacket
    from netready.probes.udp_probe import pack_echo, pack_probe
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    probe = pack_probe(os.urandom(16), 50050)
    s.sendto(probe, ("127.0.0.1", 50050))
    assert s.recv(100) == pack_echo(probe)
    ee = ErrorEstimate.for_error(10**6, False)
    tlvs = stamp.sender_tlvs(172, 46)
    for port in (16384, 24000, 32767, 60100):
        packet = stamp.pack_sender(SenderPacket(1, time.time_ns(), ee, 9, tlvs))
        s.sendto(packet, ("127.0.0.1", port))
        assert stamp.unpack_reflector(s.recv(400)).sender_seq == 1
    print("ok")
    """
)


def status_kib(pid: int, field: str) -> int:
    """A field of /proc/PID/status in KiB (VmRSS, VmHWM)."""
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/{pid}/status")


@contextmanager
def namespace() -> Iterator[list[str]]:
    """The command prefix that runs inside a fresh namespace (root), or [] (not root)."""
    ip = shutil.which("ip")
    if os.geteuid() != 0 or ip is None:
        yield []
        return
    name = f"nr-mem-{uuid.uuid4().hex[:8]}"
    subprocess.run([ip, "netns", "add", name], check=True)
    try:
        subprocess.run([ip, "-n", name, "link", "set", "lo", "up"], check=True)
        yield [ip, "netns", "exec", name]
    finally:
        subprocess.run([ip, "netns", "del", name], check=False)


def ports_free_here() -> bool:
    """True if every port of the set (and the STAMP port) is free on 127.0.0.1."""
    socks: list[socket.socket] = []
    try:
        for first, last in (
            (16384, 32767),
            (50000, 50100),
            (60000, 60100),
            (STAMP_PORT, STAMP_PORT),
        ):
            for port in range(first, last + 1):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(s)
                s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        for s in socks:
            s.close()


def measure(prefix: list[str], udp_ports: str, check: bool) -> dict[str, float]:
    """Start the responder, wait until it listens, read its memory, stop it."""
    cmd = [*prefix, sys.executable, "-m", "netready", "responder", "--listen", "127.0.0.1",
           "--stamp-port", str(STAMP_PORT)]  # fmt: skip
    if udp_ports:
        cmd += ["--udp-ports", udp_ports]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        ready_s = time.perf_counter() - started
        bound = re.search(r"bound in ([0-9.]+) s", line)
        if not bound:
            raise SystemExit(f"the responder did not start: {line}{proc.stderr.read()}")
        result = {
            "ready_s": ready_s,
            "bind_s": float(bound[1]),
            "rss_mb": status_kib(proc.pid, "VmRSS") / 1024,
        }
        if check:
            out = subprocess.run(
                [*prefix, sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=30
            )
            if out.stdout.strip() != "ok":
                raise SystemExit(f"the responder did not answer: {out.stderr.strip()[-500:]}")
            result["rss_after_traffic_mb"] = status_kib(proc.pid, "VmRSS") / 1024
        result["hwm_mb"] = status_kib(proc.pid, "VmHWM") / 1024
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=10)
        if proc.returncode != 0:
            raise SystemExit(f"the responder exited with {proc.returncode}: {err[-500:]}")
        return result
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def main() -> int:
    """Measure with and without the media ports; 0 if the target is met."""
    with namespace() as prefix:
        where = "in a network namespace of its own" if prefix else "on 127.0.0.1"
        if not prefix and not ports_free_here():
            print("cannot measure: not root (no namespace) and the media ports are busy here")
            return 2
        base = measure(prefix, "", check=False)
        full = measure(prefix, MEDIA, check=True)
    print(f"netready responder {where}, Python {sys.version.split()[0]}:")
    print(f"  STAMP port only: VmRSS {base['rss_mb']:.1f} MB, ready {base['ready_s']:.2f} s")
    print(
        f"  STAMP + {MEDIA_COUNT} UDP media ports ({MEDIA}), each echoing probes and reflecting "
        f"STAMP: bound in {full['bind_s']:.2f} s, ready {full['ready_s']:.2f} s after start;\n"
        f"  VmRSS {full['rss_mb']:.1f} MB "
        f"(+{full['rss_mb'] - base['rss_mb']:.1f} MB for the ports), "
        f"{full['rss_after_traffic_mb']:.1f} MB after answering, peak VmHWM {full['hwm_mb']:.1f} MB"
    )
    ok = full["hwm_mb"] <= TARGET_MB
    print(f"  target <= {TARGET_MB:.0f} MB: {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
