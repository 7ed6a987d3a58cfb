"""Where the run screen's events come from: a real run, or a recorded events file.

Both deliver events as the dicts of `Event.to_dict()` (the JSON-lines form), so the app
has one code path for a live run and for a replay. The engine thread only puts dicts on
a queue; the app drains it on its own timer, so drawing never delays a send slot.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from netready.errors import NetreadyError, UsageError
from netready.events import Event
from netready.exitcodes import ExitCode, exit_code_for_verdict
from netready.model import Profile, Verdict
from netready.report.signing import SecretKey

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


@contextlib.contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    """Credentials typed into the form, in this process's environment for the run only."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update({k: v for k, v in values.items() if v})
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@dataclass
class RunSettings:
    """A validated start form."""

    profile: Profile
    out_dir: Path
    key: SecretKey
    site: dict[str, str]
    quick: bool = False
    duration_s: float | None = None
    local_responder: bool = False
    lang: str = "en"
    pdf: bool = True  # installers hand over a PDF; without WeasyPrint the HTML is still there
    credentials: dict[str, str] = field(default_factory=dict, repr=False)


class EngineSource(EventSource):
    """A real run through `session.run_and_report`, exactly as `netready check` does it."""

    def __init__(self, settings: RunSettings) -> None:
        super().__init__()
        from netready.session import RunControl

        self.settings = settings
        self.control = RunControl()

    def cancel(self) -> None:
        self.control.cancel()

    def _subscriber(self, event: Event) -> None:
        self.events.put(event.to_dict())

    def run(self) -> None:
        from netready.demo import local_responder
        from netready.session import RunRequest, run_and_report

        s = self.settings
        req = RunRequest(
            s.profile,
            s.out_dir,
            s.key,
            s.site,
            quick=s.quick,
            duration_s=s.duration_s,
            subscribers=[self._subscriber],
            control=self.control,
            lang=s.lang,
            pdf=s.pdf,
        )
        with _environment(s.credentials), contextlib.ExitStack() as stack:
            if s.local_responder:
                stack.enter_context(local_responder(s.profile, lambda _line: None))
            result = run_and_report(req)
        pub = s.key.public_key()
        verdict = result.outcome.verdict
        self.finished = Finished(
            document=result.document,
            report=result.files.report,
            signature=result.files.signature,
            html=result.files.html,
            public_key=result.files.public_key,
            pdf=result.files.pdf,
            key_id=pub.key_id_hex,
            fingerprint=pub.fingerprint(),
            exit_code=(
                ExitCode.INTERRUPTED
                if result.outcome.interrupted
                else exit_code_for_verdict(verdict)
            ),
        )


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


def finished_from_folder(folder: Path) -> Finished:
    """The result of a recorded run from its report folder (report.json next to its key)."""
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
    verdict = Verdict(document.get("verdict", "INCOMPLETE"))
    return Finished(
        document=document,
        report=report,
        signature=folder / (REPORT_NAME + ".minisig"),
        html=folder / "report.html",
        public_key=pub_path,
        pdf=pdf_path if pdf_path.is_file() else None,
        key_id=pub.key_id_hex,
        fingerprint=pub.fingerprint(),
        exit_code=exit_code_for_verdict(verdict),
    )
