"""Process exit codes: the CLI contract of ARCHITECTURE.md section 4."""

from __future__ import annotations

from enum import IntEnum

from netready.model import Verdict


class ExitCode(IntEnum):
    """What `netready` returns to the shell."""

    PASS = 0
    FAIL = 1
    USAGE = 2
    INCOMPLETE = 3
    INTERNAL = 4
    INTERRUPTED = 130


def exit_code_for_verdict(verdict: Verdict) -> ExitCode:
    """Map a report verdict to the exit code of `netready check`."""
    return {
        Verdict.PASS: ExitCode.PASS,
        Verdict.FAIL: ExitCode.FAIL,
        Verdict.INCOMPLETE: ExitCode.INCOMPLETE,
    }[verdict]
