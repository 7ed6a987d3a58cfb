"""Command line: `netready [tui]|check|responder|verify|ticket|csv|keys|demo` (ARCHITECTURE §4)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import NoReturn

from netready import __version__
from netready.env import Env as Env  # re-exported: tests and callers build their own
from netready.errors import NetreadyError, UsageError
from netready.exitcodes import ExitCode


class _Parser(argparse.ArgumentParser):
    """argparse that raises UsageError (one line, exit 2) instead of printing usage."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message} (see `{self.prog} --help`)")


def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--host",
        action="append",
        default=[],
        metavar="NAME=ADDR",
        help="override a named host of the profile (repeatable)",
    )
    p.add_argument(
        "--responder",
        metavar="ADDR[:PORT]",
        help="where `netready responder` runs (overrides the profile)",
    )
    p.add_argument("--duration", type=float, metavar="SECONDS", help="length of the media streams")
    p.add_argument("--quick", action="store_true", help="short streams (15 s), sampled ranges")
    p.add_argument(
        "--only",
        metavar="ID[,ID]",
        default="",
        help="run only these checks (a trailing dot selects a family: firewall.)",
    )
    p.add_argument("--out", metavar="DIR", help="report folder (default: a new dated folder)")
    p.add_argument(
        "--json",
        action="store_true",
        help="print the report document on stdout (diagnostics stay on stderr)",
    )
    p.add_argument(
        "--events", metavar="FILE", help="write every event as JSON lines to FILE ('-' = stderr)"
    )
    p.add_argument("--quiet", "-q", action="store_true", help="no progress lines on stderr")
    for name in ("customer", "site", "address", "installer", "ticket"):
        p.add_argument(f"--{name}", default="", help=f"{name} written into the report")
    _add_rendering_options(p)


def _add_rendering_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--lang",
        choices=["en", "de"],
        help="language of report.html / report.pdf (default: the locale)",
    )
    p.add_argument(
        "--pdf",
        action="store_true",
        help="also write report.pdf (needs the `pdf` extra: WeasyPrint)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The whole command line."""
    parser = _Parser(
        prog="netready",
        description="Is this site's network ready for cloud "
        "telephony? Measures, checks every firewall rule, writes a signed report.",
    )
    parser.add_argument("--version", action="version", version=f"netready {__version__}")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    check = sub.add_parser("check", help="run all checks headless and write a signed report")
    check.add_argument(
        "--profile",
        required=True,
        metavar="NAME|PATH",
        help="the profile to check against: a shipped or own name (stimme, lab) or a TOML file",
    )
    _add_run_options(check)
    resp = sub.add_parser("responder", help="run the far end (STAMP reflector, port echo)")
    resp.add_argument(
        "--listen",
        default="127.0.0.1",
        metavar="ADDR",
        help="IP address to bind every socket to (default 127.0.0.1; 0.0.0.0 or :: for all)",
    )
    resp.add_argument(
        "--stamp-port",
        type=int,
        default=862,
        metavar="PORT",
        help="the STAMP port (default 862; 0 picks a free one)",
    )
    resp.add_argument(
        "--udp-ports",
        default="",
        metavar="RANGES",
        help="UDP probe ports, e.g. 5060,10000-10100: port echo and STAMP",
    )
    resp.add_argument(
        "--tcp-ports",
        default="",
        metavar="RANGES",
        help="TCP ports that greet with a banner and close",
    )
    resp.add_argument(
        "--tls-ports",
        default="",
        metavar="RANGES",
        help="serve TLS on these TCP ports (then the banner, or 200 OK to an HTTP request)",
    )
    resp.add_argument(
        "--sip-echo-ports",
        default="",
        metavar="RANGES",
        help="answer SIP requests on these UDP and TCP ports with 200 OK carrying the "
        "request as received (SIP ALG detection)",
    )
    resp.add_argument(
        "--h323-echo-ports",
        default="",
        metavar="RANGES",
        help="answer an H.225 SETUP on these TCP ports with RELEASE COMPLETE carrying the "
        "SETUP as received (H.323 ALG detection; ALGs act on port 1720)",
    )
    resp.add_argument("--tls-cert", default="", metavar="PEM", help="certificate (chain) file")
    resp.add_argument(
        "--tls-key", default="", metavar="PEM", help="private key file (default: self-signed)"
    )
    resp.add_argument(
        "--key",
        metavar="FILE",
        help="HMAC keys for authenticated STAMP: one 'SSID HEXKEY' per line or a single "
        "hex key (16+ bytes; file mode 600); then only authenticated packets are answered",
    )
    resp.add_argument(
        "--max-session-s",
        type=float,
        metavar="SECONDS",
        help="stop answering a STAMP session after this long (default 600; 0 = no limit)",
    )
    resp.add_argument(
        "--min-interval-ms",
        type=float,
        metavar="MS",
        help="a session's smallest average packet interval (default 5; 0 = no limit)",
    )
    resp.add_argument(
        "--max-packet",
        type=int,
        metavar="BYTES",
        help="drop larger STAMP datagrams (default 1472)",
    )
    resp.add_argument(
        "--max-pps-per-source",
        type=int,
        metavar="N",
        help="STAMP packets/s one source address may send over all its sessions "
        "(default 500; 0 = no limit)",
    )
    resp.add_argument(
        "--max-sessions",
        type=int,
        metavar="N",
        help="STAMP sessions tracked at once; a new one replaces the least recently "
        "active if that one has been quiet for 5 s, else it is dropped (default 4096)",
    )
    resp.add_argument(
        "--replay-window-s",
        type=float,
        metavar="SECONDS",
        help="authenticated STAMP: answer only packets whose sender timestamp is within "
        "this of the responder's clock, each once (default 30; 0 = no timestamp check)",
    )
    resp.add_argument(
        "--max-reply-bytes-per-s",
        type=int,
        metavar="BYTES",
        help="all UDP replies together (STAMP, port probes, SIP echo), against spoofed "
        "floods from many sources (default 20000000; 0 = no limit)",
    )
    resp.add_argument(
        "--allow",
        action="append",
        default=[],
        metavar="CIDR",
        help="answer only these source networks (repeatable; default: everyone)",
    )
    resp.add_argument(
        "--clock-synchronised",
        choices=["auto", "yes", "no"],
        default="auto",
        help="the S bit of STAMP replies: auto = the kernel's clock state (default); yes "
        "only when this clock is known to be synchronised with the senders'",
    )
    resp.add_argument(
        "--profile",
        metavar="NAME|PATH",
        help="also serve every UDP and TCP port of this profile's rules, and the SIP "
        "and H.323 echoes its ALG checks use",
    )
    resp.add_argument(
        "--metrics",
        metavar="ADDR:PORT",
        help="serve OpenMetrics (Prometheus) counters on http://ADDR:PORT/metrics, bound to "
        "that address only (e.g. 127.0.0.1:9862; default: off)",
    )
    ver = sub.add_parser("verify", help="check a report's signature and document")
    ver.add_argument("report", metavar="REPORT", help="the report.json to check")
    ver.add_argument(
        "--public-key",
        metavar="FILE",
        help="trusted public key (default: netready.pub next to the report)",
    )
    ver.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object instead of lines: ok, signature_ok, document_ok, "
        "verdict, key_id, fingerprint, trusted_comment, problems (same exit codes)",
    )
    ticket = sub.add_parser(
        "ticket", help="verify a report, then bundle a prefilled support ticket with it (zip)"
    )
    ticket.add_argument("report", metavar="REPORT", help="the report.json to verify and bundle")
    ticket.add_argument(
        "--out",
        metavar="FILE",
        help="archive to write, .zip or .tar.gz (default: ticket-<site>-<date>.zip next to "
        "the report)",
    )
    ticket.add_argument(
        "--lang",
        choices=["en", "de"],
        default="en",
        help="language of ticket.txt (the other language goes in as well; default: en)",
    )
    ticket.add_argument(
        "--public-key",
        metavar="FILE",
        help="trusted public key (default: netready.pub next to the report)",
    )
    samples = sub.add_parser("csv", help="the voice stream's raw samples as CSV")
    samples.add_argument("report", metavar="REPORT", help="the report.json to read")
    samples.add_argument(
        "--out", metavar="FILE", help="CSV file ('-' = stdout; default: samples.csv next to it)"
    )
    keys = sub.add_parser("keys", help="manage the signing key")
    keys.add_argument(
        "action",
        choices=["init", "show"],
        help="init: create the key (once); show: print the public key and its fingerprint",
    )
    keys.add_argument("--force", action="store_true", help="with init: replace an existing key")
    tui = sub.add_parser("tui", help="the installer's app (what `netready` alone opens)")
    tui.add_argument("--lang", choices=["en", "de"], help="language (default: the locale)")
    tui.add_argument(
        "--replay",
        metavar="EVENTS",
        help="show a recorded run: a JSON-lines file written by `check --events FILE`",
    )
    tui.add_argument(
        "--report-dir",
        metavar="DIR",
        help="with --replay: the run's report folder, for the result screen",
    )
    demo = sub.add_parser("demo", help="run the lab profile against a local responder")
    demo.add_argument("--out", metavar="DIR", help="report folder (default: a new dated folder)")
    demo.add_argument(
        "--duration", type=float, metavar="SECONDS", help="length of the media streams"
    )
    demo.add_argument(
        "--json",
        action="store_true",
        help="print the report document on stdout (diagnostics stay on stderr)",
    )
    demo.add_argument("--quiet", "-q", action="store_true", help="no progress lines on stderr")
    _add_rendering_options(demo)
    return parser


def _dispatch(args: argparse.Namespace, env: Env) -> int:
    if args.command == "tui":  # the only command that loads textual
        from netready.tui.command import cmd_tui

        return cmd_tui(args, env)
    from netready import commands  # keeps `netready --help` fast

    handlers = {
        "check": commands.cmd_check,
        "responder": commands.cmd_responder,
        "verify": commands.cmd_verify,
        "ticket": commands.cmd_ticket,
        "csv": commands.cmd_csv,
        "keys": commands.cmd_keys,
        "demo": commands.cmd_demo,
    }
    return handlers[args.command](args, env)


def main(argv: Sequence[str] | None = None, env: Env | None = None) -> int:
    """Run a command; every error becomes one stderr line and an exit code."""
    env = env or Env()
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            if env.stdin_isatty and env.stdout_isatty:
                args = parser.parse_args(["tui"])  # on a terminal: the installer's app
                return _dispatch(args, env)
            raise UsageError("no command given (try `netready --help`)")
        return _dispatch(args, env)
    except NetreadyError as exc:
        env.say(f"netready: error: {exc}")
        return ExitCode.USAGE  # bad input: a profile, an option, a key or report file
    except KeyboardInterrupt:
        env.say("netready: interrupted")
        return ExitCode.INTERRUPTED
    except Exception as exc:
        if env.environ.get("NETREADY_DEBUG"):
            raise
        env.say(
            f"netready: internal error: {type(exc).__name__}: {exc} "
            "(set NETREADY_DEBUG=1 for a traceback)"
        )
        return ExitCode.INTERNAL
