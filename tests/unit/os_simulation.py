"""Windows or macOS as netready's own code sees it, simulated in a Linux Python process.

`apply(os_name)` must run before netready is imported. It removes what that system's
Python lacks and sets `sys.platform`. Both: `os.sched_*`, `select.epoll` and the socket
options only Linux has. Windows also: `socket.CMSG_SPACE`, `socket.socket.recvmsg` and
`sendmsg`, `select.poll`, `os.O_NONBLOCK`, `os.getuid`, `os.fork`, ..., `resource`,
`fcntl`, `termios`, `signal.SIGKILL`, .... macOS keeps recvmsg and poll but gets its own
socket option numbers (IP_TOS 3, IP_RECVTOS 27, ...), so code that took Linux's would show.

What is not simulated: the standard library and third-party packages, which are tested on
those systems by their maintainers. They are imported before the switch, so their own
`sys.platform` branches take the Linux path (e.g. dnspython would import `winreg`).

Run as `python -m tests.unit.os_simulation OS import-all` (prints each netready module that
failed to import, one per line, and exits 1 if any did) or `... OS cli ARGS` (runs
`netready ARGS` and exits with its code).
"""

from __future__ import annotations

import os
import select
import signal
import socket
import sys
from typing import NoReturn

OS_NAMES = ("win32", "darwin")

#: macOS's values (<netinet/in.h>, <netinet6/in6.h>); Linux has other numbers for these names.
MACOS_SOCKET_OPTIONS = {
    "IP_TOS": 3,
    "IP_TTL": 4,
    "IP_RECVTOS": 27,
    "IPV6_UNICAST_HOPS": 4,
    "IPV6_RECVHOPLIMIT": 37,
    "IPV6_HOPLIMIT": 47,
    "IPV6_RECVTCLASS": 35,
    "IPV6_TCLASS": 36,
    "IPV6_RECVPKTINFO": 61,
    "IPV6_PKTINFO": 46,
}

#: Modules netready or its libraries import, loaded before `sys.platform` changes.
_PRELOAD = (
    "asyncio",
    "ctypes",
    "ctypes.util",
    "locale",
    "mimetypes",
    "platform",
    "shutil",
    "ssl",
    "subprocess",
    "tempfile",
    "uuid",
    "webbrowser",
    "zipfile",
    "tarfile",
    "dns.resolver",
    "cryptography.hazmat.primitives.asymmetric.ed25519",
    "jsonschema",
    "urllib.request",  # imports _scproxy on macOS
    "prometheus_client",
    "textual.app",  # picks its Windows driver (msvcrt) by sys.platform ...
    "textual.drivers.linux_driver",  # ... else this one (termios); run_test() uses neither
)

#: Removed on both: Linux-only names (the socket ones are absent from Python 3.11 on Linux
#: too; netready's own Linux numbers for them must not be used elsewhere).
_LINUX_ONLY_SOCKET = ("SO_TIMESTAMPNS", "IP_RECVTTL", "IP_PKTINFO", "IP_MTU_DISCOVER", "IP_MTU")
_LINUX_ONLY_OS = (
    "sched_setscheduler",
    "sched_get_priority_max",
    "sched_getaffinity",
    "sched_setaffinity",
    "sched_param",
    "SCHED_FIFO",
    "SCHED_OTHER",
)
#: Removed on Windows only: what its Python has not.
_WINDOWS_MISSING_SOCKET = ("CMSG_SPACE", "CMSG_LEN")
_WINDOWS_MISSING_OS = ("O_NONBLOCK", "getuid", "geteuid", "getgid", "fork", "setsid", "killpg")
_WINDOWS_MISSING_MODULES = ("resource", "fcntl", "termios", "pwd", "grp")
_WINDOWS_MISSING_SIGNALS = ("SIGKILL", "SIGHUP", "SIGALRM", "SIGUSR1", "SIGUSR2")


class _Missing:
    """A method this OS's Python lacks: hasattr() is False on the class and its instances."""

    def __get__(self, instance: object, owner: type | None = None) -> NoReturn:
        raise AttributeError("not available on this OS (simulated)")


def _remove(owner: object, names: tuple[str, ...]) -> None:
    for name in names:
        if hasattr(owner, name):
            delattr(owner, name)


def apply(os_name: str) -> None:
    """Make this process look like `os_name` ('win32' or 'darwin') to netready's code."""
    if os_name not in OS_NAMES:
        raise ValueError(f"unknown OS {os_name!r}; one of {OS_NAMES}")
    if "netready" in sys.modules:
        raise RuntimeError("apply() must run before netready is imported")
    for module in _PRELOAD:
        __import__(module)
    _remove(socket, _LINUX_ONLY_SOCKET)
    _remove(os, _LINUX_ONLY_OS)
    _remove(select, ("epoll",))
    if os_name == "win32":
        _remove(socket, _WINDOWS_MISSING_SOCKET)
        # Windows' socket has no recvmsg/sendmsg
        attrs = {"recvmsg": _Missing(), "sendmsg": _Missing()}
        socket.socket = type("socket", (socket.socket,), attrs)  # type: ignore[misc]
        _remove(select, ("poll", "POLLIN"))
        _remove(os, _WINDOWS_MISSING_OS)
        _remove(signal, _WINDOWS_MISSING_SIGNALS)
        for name in _WINDOWS_MISSING_MODULES:
            sys.modules[name] = None  # type: ignore[assignment]  # `import name` fails
    else:
        for name, value in MACOS_SOCKET_OPTIONS.items():
            setattr(socket, name, value)
    sys.platform = os_name


def portable_modules() -> list[str]:
    """Every netready module (the entry point `netready.__main__` excepted)."""
    import pkgutil

    import netready

    found = pkgutil.walk_packages(netready.__path__, "netready.")
    return sorted(m.name for m in found if not m.name.endswith("__main__"))


def _import_all() -> int:
    import importlib

    failed = 0
    for name in portable_modules():
        try:
            importlib.import_module(name)
        except Exception as exc:
            print(f"{name}: {type(exc).__name__}: {exc}")
            failed += 1
    return 1 if failed else 0


def main(argv: list[str]) -> int:
    """`OS import-all` or `OS cli ARGS...`."""
    os_name, action, *rest = argv
    apply(os_name)
    if action == "import-all":
        return _import_all()
    if action == "cli":
        from netready.cli import main as netready_main

        return netready_main(rest)
    raise SystemExit(f"unknown action {action!r}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
