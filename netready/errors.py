"""Exceptions that end a command with a one-line message (never a traceback)."""

from __future__ import annotations


class NetreadyError(Exception):
    """Base of all errors netready reports to the user as one line."""


class UsageError(NetreadyError):
    """Bad command line or input file: exit code 2, nothing was sent."""


class ProfileError(UsageError):
    """A profile file is invalid; the message names the file and the key."""

    def __init__(self, file: str, key: str, reason: str) -> None:
        self.file = file
        self.key = key
        self.reason = reason
        super().__init__(f"{file}: {key}: {reason}")


class SignatureError(NetreadyError):
    """A signature or key file is malformed or does not verify."""
