"""Where the run screen's events come from: a real run, or a recorded events file.

Both deliver events as the dicts of `Event.to_dict()` (the JSON-lines form), so the app
has one code path for a live run and for a replay. A live run is `netready check` in a
child process whose events arrive on a pipe; a reader thread puts them on a queue that the
app drains on its own timer, so drawing never delays a send slot.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from netready.errors import NetreadyError, UsageError
from netready.exitcodes import exit_code_for_verdict
from netready.model import Profile, Verdict
from netready.run_stop import child_popen_options, child_stop_signal

EventDict = dict[str, Any]


@dataclass
class Finished:
    """What the result screen shows: the signed document and where its files are."""

    document: dict[str, Any]
    report: Path
    signature: Path
    html: Path
    public_key: Path
    key_id: str
    fingerprint: str
    exit_code: int
    pdf: Path | None = None


class EventSource:
    """Base: a thread fills `events`; `finished` or `error` is set when it ends."""

    def __init__(self) -> None:
        self.events: queue.SimpleQueue[EventDict] = queue.SimpleQueue()
        self.finished: Finished | None = None
        self.error: str = ""
        self.done = threading.Event()
        self._thread = threading.Thread(target=self._main, name="netready-tui-source", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def cancel(self) -> None:
        """Ask the run to stop (the report is still written); no-op for a replay."""

    def drain(self, limit: int = 1000) -> list[EventDict]:
        """Up to `limit` queued events, without blocking."""
        out: list[EventDict] = []
        with contextlib.suppress(queue.Empty):
            while len(out) < limit:
                out.append(self.events.get_nowait())
        return out

    def _main(self) -> None:
        try:
            self.run()
        except Exception as exc:  # shown on the screen; the engine's own errors are results
            self.error = f"{type(exc).__name__}: {exc}" if not str(exc) else str(exc)
        finally:
            self.done.set()

    def run(self) -> None:
        raise NotImplementedError


@dataclass
class RunSettings:
    """A validated start form, and the `netready check` command line it stands for."""

    profile: Profile
    profile_path: Path
    out_dir: Path
    site: dict[str, str]
    host_overrides: dict[str, str] = field(default_factory=dict)
    responder: str | None = None
    quick: bool = False
    duration_s: float | None = None
    local_responder: bool = False
    lang: str = "en"
    only: tuple[str, ...] = ()  # check ids / families, as `netready check --only`
    pdf: bool = True  # installers hand over a PDF; without WeasyPrint the HTML is still there
    credentials: dict[str, str] = field(default_factory=dict, repr=False)

    def argv(self) -> list[str]:
        """`netready check ...` for these settings; events as JSON lines on stderr."""
        argv = [sys.executable, "-m", "netready", "check", "--profile", str(self.profile_path)]
        for name, address in self.host_overrides.items():
            argv += ["--host", f"{name}={address}"]
        if self.responder is not None:
            argv.append(f"--responder={self.responder}")
        for name, value in self.site.items():
            argv.append(f"--{name}={value}")  # one word: a value may start with '-'
        if self.quick:
            argv.append("--quick")
        if self.duration_s is not None:
            argv += ["--duration", f"{self.duration_s:g}"]
        if self.only:
            argv += ["--only", ",".join(self.only)]
        if self.pdf:
            argv.append("--pdf")
        argv += ["--lang", self.lang, "--out", str(self.out_dir), "--quiet", "--events", "-"]
        return argv


class ProcessSource(EventSource):
    """A real run: `netready check` in a child process, its events read from a pipe.

    A process of its own, not a thread: Python's GIL let the app's screen redraws delay the
    voice stream's send slots by milliseconds (bench/tui_pacing.py). Credentials reach the
    child through its environment only, never its command line.
    """

    def __init__(self, settings: RunSettings, environ: Mapping[str, str] | None = None) -> None:
        super().__init__()
        self.settings = settings
        self.environ = dict(os.environ if environ is None else environ)
        self._proc: subprocess.Popen[str] | None = None
        self._lock = threading.Lock()
        self._cancel_asked = False
        self._signalled = False
        self._child_ready = False  # it has spoken: its SIGINT handler is in place

    def cancel(self) -> None:
        """Stop the run the way ctrl+c stops `netready check`: one SIGINT, then it signs an
        INCOMPLETE report. Sent once, and only after the child's first event (a SIGINT
        during its start-up would end it before it could write anything)."""
        with self._lock:
            self._cancel_asked = True
            self._signal_if_due()

    def _signal_if_due(self) -> None:
        proc = self._proc
        if not self._cancel_asked or self._signalled or not self._child_ready or proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(child_stop_signal())
            self._signalled = True

    def run(self) -> None:
        from netready.demo import local_responder

        s = self.settings
        env = {**self.environ, **s.credentials}
        diagnostics: list[str] = []
        with contextlib.ExitStack() as stack:
            if s.local_responder:
                stack.enter_context(local_responder(s.profile, lambda _line: None))
            proc = subprocess.Popen(
                s.argv(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
                errors="replace",
                env=env,
                **child_popen_options(),  # its own session / process group, per OS
            )
            with self._lock:
                self._proc = proc
            try:
                assert proc.stderr is not None
                for line in proc.stderr:
                    self._line(line.rstrip("\n"), diagnostics)
            finally:
                code = _reap(proc)
        self.finished = self._result(code, diagnostics)

    def _result(self, code: int, diagnostics: list[str]) -> Finished | None:
        folder = self.settings.out_dir
        if not (folder / "report.json").is_file():
            self.error = diagnostics[-1] if diagnostics else f"netready check exited {code}"
            return None
        try:
            finished = finished_from_folder(folder, verify=True)
        except NetreadyError as exc:
            self.error = str(exc)
            return None
        return dataclasses.replace(finished, exit_code=code)

    def _line(self, line: str, diagnostics: list[str]) -> None:
        if line.startswith("{"):
            with contextlib.suppress(ValueError):
                event = json.loads(line)
                if isinstance(event, dict) and isinstance(event.get("event"), str):
                    self.events.put(event)
                    with self._lock:
                        self._child_ready = True
                        self._signal_if_due()
                    return
        if line.strip():
            diagnostics.append(line)
            self.events.put({"event": "log", "text": line})


def _reap(proc: subprocess.Popen[str], grace_s: float = 30.0) -> int:
    """Wait for the child; one that hangs after its output ended is killed."""
    try:
        return proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


def read_events(path: Path) -> list[EventDict]:
    """A `--events` JSON-lines file; a bad line is a one-line UsageError naming file and line."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise UsageError(f"{path}: cannot read events: {exc.strerror}") from None
    events: list[EventDict] = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UsageError(f"{path}: line {n}: not JSON ({exc.msg})") from None
        if not isinstance(value, dict) or not isinstance(value.get("event"), str):
            raise UsageError(f"{path}: line {n}: not a netready event (no 'event' field)")
        events.append(value)
    return events


class ReplaySource(EventSource):
    """Plays recorded events with `pace_s` between them; the result from a report folder."""

    def __init__(
        self, events: list[EventDict], finished: Finished | None = None, pace_s: float = 0.0
    ) -> None:
        super().__init__()
        self._recorded = events
        self._finished = finished
        self.pace_s = pace_s
        self._stop = threading.Event()

    def cancel(self) -> None:
        self._stop.set()

    def run(self) -> None:
        for event in self._recorded:
            if self._stop.is_set():
                break
            self.events.put(event)
            if self.pace_s:
                time.sleep(self.pace_s)
        self.finished = self._finished


def finished_from_folder(folder: Path, verify: bool = False) -> Finished:
    """The result of a run from its report folder (report.json next to its key).

    With `verify`, the folder must hold a report whose signature and document hold; the
    renderings are listed only when they exist.
    """
    from netready.report.files import REPORT_NAME
    from netready.report.signing import PublicKey

    report = folder / REPORT_NAME
    pub_path = folder / "netready.pub"
    pdf_path = folder / "report.pdf"
    try:
        document = json.loads(report.read_text(encoding="utf-8"))
        pub = PublicKey.from_text(pub_path.read_text(encoding="utf-8"), str(pub_path))
    except OSError as exc:
        raise UsageError(f"{exc.filename}: cannot read: {exc.strerror}") from None
    except (ValueError, NetreadyError) as exc:
        raise UsageError(f"{report}: not a report: {exc}") from None
    if verify:
        from netready.report.verify import verify_report

        outcome = verify_report(report)
        if not outcome.ok:
            raise UsageError(f"{report}: does not verify: " + "; ".join(outcome.lines))
    try:
        verdict = Verdict(str(document.get("verdict")) if isinstance(document, dict) else "")
    except ValueError:
        raise UsageError(f"{report}: verdict: not PASS, FAIL or INCOMPLETE") from None
    return Finished(
        document=document,
        report=report,
        signature=folder / (REPORT_NAME + ".minisig"),
        html=folder / "report.html",  # shown as the path to open even when it is missing
        public_key=pub_path,
        pdf=pdf_path if pdf_path.is_file() else None,
        key_id=pub.key_id_hex,
        fingerprint=pub.fingerprint(),
        exit_code=exit_code_for_verdict(verdict),
    )
