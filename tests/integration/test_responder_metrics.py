"""`netready responder --metrics` scraped by a real Prometheus server, all on 127.0.0.1.

The responder runs as `python -m netready responder` (the real command line); the test
sends it real STAMP packets and UDP port probes, starts Debian's `prometheus` with one
static 127.0.0.1 target scraped every second (no alerting, no remote write, no other
discovery) and polls Prometheus' HTTP API until PromQL sees the counts, with a deadline.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from netready.probes.stamp import ErrorEstimate, SenderPacket, pack_sender, unpack_reflector
from netready.probes.udp_probe import pack_probe
from tests.conftest import free_port, free_port_block, require_tool

STAMP_PACKETS = 5
PROBES_PER_PORT = 3
DEADLINE_S = 60.0  # a loaded 2-core VM: Prometheus' first start can take a while


def wait_for(what: str, check: Callable[[], Any], deadline_s: float = DEADLINE_S) -> Any:
    """Poll `check` until it returns something truthy; fail naming `what` after the deadline."""
    end = time.monotonic() + deadline_s
    last: Any = None
    while time.monotonic() < end:
        try:
            result = check()
        except OSError as exc:  # not listening yet
            last = exc
        else:
            if result:
                return result
            last = result
        time.sleep(0.2)
    pytest.fail(f"{what}: not seen within {deadline_s:.0f} s (last: {last!r})")


def http_get(url: str, accept: str = "") -> bytes:
    """GET from loopback only."""
    assert url.startswith("http://127.0.0.1:")
    request = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    with urllib.request.urlopen(request, timeout=5) as reply:
        body: bytes = reply.read()
        return body


def stop(proc: subprocess.Popen[bytes]) -> int:
    """SIGTERM, then the exit code (killed after 20 s)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail(f"{proc.args!r} did not stop on SIGTERM")


@pytest.fixture
def responder(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """`netready responder --metrics 127.0.0.1:PORT` with a STAMP port and 2 UDP ports."""
    first = free_port_block(3)
    metrics_port = free_port()
    log = tmp_path / "responder.log"
    with log.open("wb") as log_file:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "netready",
                "responder",
                "--listen",
                "127.0.0.1",
                "--stamp-port",
                str(first),
                "--udp-ports",
                f"{first + 1}-{first + 2}",
                "--clock-synchronised",
                "no",
                "--metrics",
                f"127.0.0.1:{metrics_port}",
            ],
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=dict(os.environ, NETREADY_CONFIG_DIR=str(tmp_path / "config")),
        )
    run = {"proc": proc, "log": log, "stamp": first, "udp": [first + 1, first + 2]}
    run["metrics"] = f"http://127.0.0.1:{metrics_port}/metrics"
    run["metrics_port"] = metrics_port
    try:
        wait_for(
            "the responder's listening line",
            lambda: proc.poll() is None and b"netready responder listening" in log.read_bytes(),
        )
        yield run
    finally:
        run["exit"] = stop(proc)


def send_traffic(run: dict[str, Any]) -> None:
    """STAMP_PACKETS STAMP packets (each answered) and PROBES_PER_PORT probes per UDP port."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as c:
        c.settimeout(5)
        c.bind(("127.0.0.1", 0))
        ee = ErrorEstimate.for_error(1_000_000, False)
        for seq in range(STAMP_PACKETS):
            c.sendto(
                pack_sender(SenderPacket(seq, time.time_ns(), ee, ssid=7)),
                ("127.0.0.1", run["stamp"]),
            )
            assert unpack_reflector(c.recvfrom(200)[0]).sender_seq == seq
        for port in run["udp"]:
            for _ in range(PROBES_PER_PORT):
                c.sendto(pack_probe(os.urandom(16), port), ("127.0.0.1", port))
                c.recvfrom(200)


def prometheus_config(path: Path, target_port: int) -> Path:
    """One static 127.0.0.1 target every second; nothing else Prometheus could reach out to."""
    path.write_text(
        "global:\n"
        "  scrape_interval: 1s\n"
        "  scrape_timeout: 1s\n"
        "  evaluation_interval: 1s\n"
        "scrape_configs:\n"
        "  - job_name: netready_responder\n"
        "    static_configs:\n"
        f"      - targets: ['127.0.0.1:{target_port}']\n",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def prometheus(tmp_path: Path, responder: dict[str, Any]) -> Iterator[str]:
    """A real Prometheus on 127.0.0.1 scraping the responder; yields its base URL."""
    binary = require_tool("prometheus", "Debian package prometheus; ./run test installs it")
    port = free_port()
    config = prometheus_config(tmp_path / "prometheus.yml", responder["metrics_port"])
    log = tmp_path / "prometheus.log"
    with log.open("wb") as log_file:
        proc = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for("Prometheus ready", lambda: proc.poll() is None and http_get(base + "/-/ready"))
        yield base
    finally:
        code = stop(proc)
        assert code == 0, log.read_text(errors="replace")[-2000:]


def query(base: str, promql: str) -> list[dict[str, Any]]:
    """The instant vector of a PromQL query (empty while nothing is scraped yet)."""
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    answer = json.loads(http_get(url))
    assert answer["status"] == "success", answer
    result: list[dict[str, Any]] = answer["data"]["result"]
    return result


def value_of(base: str, promql: str, expected: float) -> bool:
    """True once the query's single value equals `expected`."""
    result = query(base, promql)
    return len(result) == 1 and float(result[0]["value"][1]) == expected


def test_prometheus_scrapes_the_responder_counts(
    responder: dict[str, Any], prometheus: str
) -> None:
    # the exposition itself, as Prometheus asks for it
    text = http_get(responder["metrics"], "application/openmetrics-text; version=1.0.0")
    assert text.rstrip().endswith(b"# EOF")
    send_traffic(responder)
    expectations = {
        "netready_responder_stamp_reflected_total": STAMP_PACKETS,
        "sum(netready_responder_udp_echoed_total)": 2 * PROBES_PER_PORT,
        "netready_responder_stamp_sessions_total": 1,
        "netready_responder_stamp_sessions_active": 1,
        'sum(netready_responder_stamp_dropped_total{job="netready_responder"})': 0,
        "netready_responder_internal_errors_total": 0,
        'count(netready_responder_build_info{version!=""})': 1,
        'up{job="netready_responder"}': 1,
    }
    for promql, expected in expectations.items():
        wait_for(f"{promql} == {expected}", lambda q=promql, e=expected: value_of(prometheus, q, e))
    # the labels Prometheus stored: the reason label on drops, the build info's version
    drops = query(prometheus, "netready_responder_stamp_dropped_total")
    assert drops and all("reason" in d["metric"] for d in drops)
    # Prometheus saw only the one loopback target
    targets = json.loads(http_get(prometheus + "/api/v1/targets"))["data"]["activeTargets"]
    assert [t["scrapeUrl"] for t in targets] == [responder["metrics"]]


def test_metrics_stop_with_the_responder(responder: dict[str, Any]) -> None:
    assert b"netready_responder_stamp_reflected_total" in http_get(responder["metrics"])
    assert stop(responder["proc"]) == 0
    log = responder["log"].read_text()
    assert f"netready responder metrics on {responder['metrics']}" in log
    assert "netready responder stopped:" in log
    with pytest.raises(OSError):
        http_get(responder["metrics"])


def test_metrics_port_in_use_is_one_line_and_nothing_else_binds(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        stamp_port = free_port()
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "netready",
                "responder",
                "--stamp-port",
                str(stamp_port),
                "--metrics",
                f"127.0.0.1:{port}",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
            env=dict(os.environ, NETREADY_CONFIG_DIR=str(tmp_path)),
        )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1
    assert proc.stderr.startswith(f"netready: error: --metrics 127.0.0.1:{port}: cannot listen")
    assert "listening" not in proc.stderr  # refused before the responder bound anything


@pytest.mark.parametrize("bad", ["9862", "localhost:9862", "127.0.0.1:", "127.0.0.1:99999", "[::1"])
def test_bad_metrics_value_is_one_line_exit_2(bad: str, tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "netready", "responder", "--metrics", bad],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        env=dict(os.environ, NETREADY_CONFIG_DIR=str(tmp_path)),
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1
    assert proc.stderr.startswith("netready: error: --metrics: ")
