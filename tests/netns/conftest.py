"""Fixtures for the namespace tests: one impairment lab per module, a responder in its platform
namespace, and `netready check` run from its site namespace against a profile of the test's own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import assert_valid_report, require_root, require_tool
from tests.netns.lab import Lab
from tests.netns.procs import stop_process

STAMP_PORT = 8620
PROFILE = """
[profile]
name = "impairment-lab"
title = "voice targets through the impairment lab"
responder = "{responder}"

[targets.delay_ms]
max = 150.0
statistic = "p95"
[targets.jitter_ms]
max = 20.0
statistic = "running_max"
[targets.loss_pct]
below = 1.0
statistic = "whole_run"

[checks."media.voice"]
duration_s = {duration}
reply_timeout_s = 1.0
# both ends run on one kernel, so they share one clock: one-way delay is exact
clock_synchronised = "yes"
{media_rule}"""


@dataclass
class VoiceResult:
    """One `netready check --only media.voice` run from the site namespace."""

    returncode: int
    doc: dict[str, Any]
    stderr: str
    seconds: float

    @property
    def check(self) -> dict[str, Any]:
        checks: list[dict[str, Any]] = self.doc["checks"]
        assert [c["id"] for c in checks] == ["media.voice"], checks
        return checks[0]

    @property
    def status(self) -> str:
        return str(self.check["status"])

    @property
    def metrics(self) -> dict[str, float]:
        return dict(self.check["metrics"])

    def failed_metrics(self) -> set[str]:
        """Per-direction metrics named in the verdict's reason ("m = v, limit ...; ...")."""
        reason = str(self.check.get("reason") or "")
        return {part.split(" = ")[0].strip() for part in reason.split(";") if " = " in part}

    def summary(self) -> str:
        m = self.metrics
        keys = [f"{k}_{d}_ms" for k in ("delay", "jitter") for d in ("up", "down")]
        keys += ["loss_up_pct", "loss_down_pct", "rtt_mean_ms"]
        return f"{self.status}: " + ", ".join(f"{k} {m.get(k, float('nan')):.3f}" for k in keys)


VoiceRunner = Callable[..., VoiceResult]


def _media_rule_line() -> str:
    """Send the stream to the responder's STAMP port (where the check can be told so)."""
    from dataclasses import fields

    from netready.checks.voice_params import VoiceParams

    return 'media_rule = ""\n' if "media_rule" in {f.name for f in fields(VoiceParams)} else ""


@pytest.fixture(scope="module")
def lab_module() -> Iterator[Lab]:
    """The three namespaces, built once per module and always torn down."""
    require_root()
    for tool in ("ip", "nft"):
        require_tool(tool, "iproute2 and nftables are needed for the lab")
    with Lab() as lab:
        yield lab


@pytest.fixture
def lab(lab_module: Lab) -> Iterator[Lab]:
    """The module's lab, with every impairment removed after the test."""
    try:
        yield lab_module
    finally:
        lab_module.clear()


@contextmanager
def lab_responder(
    lab: Lab, log_dir: Path, port: int, *options: str, start_s: float = 30.0
) -> Iterator[str]:
    """`netready responder OPTIONS` on the platform address; yields ADDR:PORT.

    Its log goes to a file, not a pipe nobody reads, so a chatty responder never blocks.
    It must exit cleanly (0) when stopped."""
    log = log_dir / "stderr.log"
    argv = [sys.executable, "-m", "netready", "responder", "--listen", lab.platform_ip]
    argv += ["--stamp-port", str(port), *options]
    with log.open("w", encoding="utf-8") as sink:
        proc = lab.popen_in("platform", argv, stdout=subprocess.DEVNULL, stderr=sink)
    deadline = time.monotonic() + start_s
    while "listening" not in log.read_text("utf-8") and proc.poll() is None:
        assert time.monotonic() < deadline, f"responder did not start: {log.read_text('utf-8')}"
        time.sleep(0.05)
    assert proc.poll() is None, f"responder exited: {log.read_text('utf-8')}"
    try:
        yield f"{lab.platform_ip}:{port}"
    finally:
        stop_process(proc)
        assert proc.returncode == 0, log.read_text("utf-8")


@pytest.fixture(scope="module")
def responder(lab_module: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The voice tests' responder: both ends share one kernel clock, so it says so."""
    log_dir = tmp_path_factory.mktemp("responder")
    with lab_responder(lab_module, log_dir, STAMP_PORT, "--clock-synchronised", "yes") as addr:
        yield addr


@pytest.fixture(scope="module")
def config_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One NETREADY_CONFIG_DIR for the module, so the signing key is made once."""
    return tmp_path_factory.mktemp("netready-config")


@pytest.fixture
def voice_check(
    lab: Lab, responder: str, config_home: Path, tmp_path: Path
) -> Iterator[VoiceRunner]:
    """Callable: run the voice check from the site namespace, return the parsed report."""
    runs = 0

    def run(duration: float = 5.0) -> VoiceResult:
        nonlocal runs
        runs += 1
        profile = tmp_path / f"lab-{runs}.toml"
        text = PROFILE.format(responder=responder, duration=duration, media_rule=_media_rule_line())
        profile.write_text(text, "utf-8")
        out = tmp_path / f"report-{runs}"
        argv = [sys.executable, "-m", "netready", "check", "--profile", str(profile)]
        argv += ["--only", "media.voice", "--responder", responder]
        argv += ["--duration", str(duration), "--out", str(out), "--quiet"]
        env = dict(os.environ, NETREADY_CONFIG_DIR=str(config_home))
        t0 = time.monotonic()
        proc = lab.run_in("site", argv, check=False, timeout=duration + 60, env=env)
        seconds = time.monotonic() - t0
        report = out / "report.json"
        assert report.exists(), f"no report (exit {proc.returncode}): {proc.stderr}"
        assert_valid_report(report)
        doc = json.loads(report.read_bytes())
        return VoiceResult(proc.returncode, doc, proc.stderr, seconds)

    yield run
