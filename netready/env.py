"""What a command may touch: its streams, environment and terminal flags (httpie's pattern)."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import IO

from netready.termtext import visible


@dataclass
class Env:
    """What a command may touch; tests pass their own (httpie's pattern)."""

    stdout: IO[str] = field(default_factory=lambda: sys.stdout)
    stderr: IO[str] = field(default_factory=lambda: sys.stderr)
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    stdin_isatty: bool = field(default_factory=lambda: sys.stdin.isatty())
    stdout_isatty: bool = field(default_factory=lambda: sys.stdout.isatty())

    def say(self, text: str) -> None:
        """A diagnostic line: always stderr, never mixed into data on stdout; control
        characters in it (a server's words in an error) are shown, never obeyed."""
        with contextlib.suppress(OSError):  # a closed stderr must not cost the report
            self.stderr.write(visible(text) + "\n")
            self.stderr.flush()
