"""What each CLI command does, given parsed arguments and an Env."""

from __future__ import annotations

import argparse
import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from netready.engine.console import ConsolePrinter, JsonLinesWriter
from netready.engine.plan import build_plan
from netready.env import Env
from netready.errors import UsageError
from netready.events import Subscriber
from netready.exitcodes import ExitCode, exit_code_for_verdict
from netready.model import Verdict
from netready.profile import find_profile, load_profile, parse_host_overrides
from netready.report import keys
from netready.report.files import canonical_bytes
from netready.report.signing import SecretKey
from netready.session import (
    RunRequest,
    RunResult,
    check_out_dir,
    default_out_dir,
    run_and_report,
)
from netready.termtext import visible


def _signing_key(env: Env) -> SecretKey:
    directory = keys.config_dir(env.environ)
    key, created = keys.load_or_create(directory)
    if created:
        env.say(
            f"netready: created a signing key in {directory} "
            f"(key ID {key.public_key().key_id_hex}); keep it safe"
        )
    return key


@contextlib.contextmanager
def _subscribers(args: argparse.Namespace, env: Env) -> Iterator[list[Subscriber]]:
    subs: list[Subscriber] = [] if args.quiet else [ConsolePrinter(env.stderr)]
    events_file: IO[str] | None = None
    target = getattr(args, "events", None)
    if target == "-":
        subs.append(JsonLinesWriter(env.stderr))
    elif target:
        try:
            events_file = open(target, "w", encoding="utf-8")  # noqa: SIM115
        except OSError as exc:
            raise UsageError(f"{target}: cannot write events: {exc.strerror}") from None
        subs.append(JsonLinesWriter(events_file))
    try:
        yield subs
    finally:
        if events_file is not None:
            events_file.close()


def _lang(args: argparse.Namespace, env: Env) -> str:
    """--lang, else the locale's language."""
    from netready.lang import default_lang

    return str(args.lang) if args.lang else default_lang(env.environ)


def _finish(result: RunResult, args: argparse.Namespace, env: Env) -> int:
    files = result.files
    if args.quiet:  # otherwise the console printer has said it
        env.say(f"netready: verdict {result.outcome.verdict}")
    env.say(f"netready: report    {files.report}")
    env.say(f"netready: signature {files.signature}")
    env.say(f"netready: html      {files.html}")
    if files.pdf is not None:
        env.say(f"netready: pdf       {files.pdf}")
    for note in files.notes:
        env.say(f"netready: {note}")
    env.say(f"netready: verify with: minisign -Vm {files.report} -p {files.public_key}")
    if args.json:
        env.stdout.write(canonical_bytes(result.document).decode("utf-8") + "\n")
        env.stdout.flush()
    if result.outcome.interrupted:
        return ExitCode.INTERRUPTED
    return exit_code_for_verdict(result.outcome.verdict)


def cmd_check(args: argparse.Namespace, env: Env) -> int:
    """`netready check`: everything is validated before the first packet is sent."""
    if args.duration is not None and not 1.0 <= args.duration <= 3600.0:
        raise UsageError("--duration: give 1 to 3600 seconds")
    path = find_profile(args.profile, keys.config_dir(env.environ) / "profiles")
    profile = load_profile(path, parse_host_overrides(args.host), args.responder)
    site = {k: getattr(args, k) for k in ("customer", "site", "address", "installer", "ticket")}
    out_dir = Path(args.out) if args.out else default_out_dir(Path.cwd())
    only = [o.strip() for o in args.only.split(",") if o.strip()]
    check_out_dir(out_dir)
    build_plan(profile, only)  # refuses an unknown --only before a key or a packet is made
    key = _signing_key(env)
    with _subscribers(args, env) as subs:
        req = RunRequest(profile, out_dir, key, site, only, args.quick, args.duration, subs)
        req.lang, req.pdf = _lang(args, env), args.pdf
        result = run_and_report(req)
    return _finish(result, args, env)


def cmd_verify(args: argparse.Namespace, env: Env) -> int:
    """`netready verify [--json]`: exit 0 only if signature and document both hold."""
    from netready.report.verify import verify_report

    pub = Path(args.public_key) if args.public_key else None
    outcome = verify_report(Path(args.report), pub)
    if args.json:  # the report's own text is only escaped by json.dumps: no terminal codes
        env.stdout.write(json.dumps(outcome.as_json(), sort_keys=True) + "\n")
        return ExitCode.PASS if outcome.ok else ExitCode.FAIL
    for line in outcome.lines:  # may quote the report's own (untrusted) text
        env.stdout.write(visible(line) + "\n")
    env.stdout.write(("OK" if outcome.ok else "NOT VERIFIED") + "\n")
    return ExitCode.PASS if outcome.ok else ExitCode.FAIL


def cmd_ticket(args: argparse.Namespace, env: Env) -> int:
    """`netready ticket`: a report that does not verify is refused (exit 2); prints the path."""
    from netready.report.ticket_bundle import make_ticket_bundle

    out = Path(args.out) if args.out else None
    pub = Path(args.public_key) if args.public_key else None
    archive = make_ticket_bundle(Path(args.report), out, args.lang, pub)
    env.stdout.write(f"{archive}\n")
    return ExitCode.PASS


def cmd_csv(args: argparse.Namespace, env: Env) -> int:
    """`netready csv`: the voice samples as CSV, to a file (its path printed) or stdout."""
    from netready.report.csv_export import default_csv_path, report_csv, write_csv

    report = Path(args.report)
    text = report_csv(report)
    if args.out == "-":
        env.stdout.write(text)
        return ExitCode.PASS
    target = Path(args.out) if args.out else default_csv_path(report)
    write_csv(target, text)
    env.stdout.write(f"{target}\n")
    return ExitCode.PASS


def cmd_keys(args: argparse.Namespace, env: Env) -> int:
    """`netready keys init|show`: the secret key is never printed."""
    directory = keys.config_dir(env.environ)
    if args.action == "init":
        pub = keys.init_key(directory, force=args.force)
        env.say(f"netready: created a signing key in {directory}")
    else:
        pub = keys.load_public_key(directory)
    env.stdout.write(
        f"key ID      {pub.key_id_hex}\nfingerprint {pub.fingerprint()}\n"
        f"secret key  {directory / keys.SECRET_KEY_NAME} (never shown)\n"
        f"public key  {directory / keys.PUBLIC_KEY_NAME}:\n{pub.to_text()}"
    )
    return ExitCode.PASS


def cmd_responder(args: argparse.Namespace, env: Env) -> int:
    """`netready responder`: the far end, in the foreground until SIGTERM/SIGINT."""
    from netready.responder.cli import responder_config
    from netready.responder.server import Responder

    metrics_address = None
    if args.metrics is not None:
        from netready.responder.metrics import parse_metrics_address

        metrics_address = parse_metrics_address(args.metrics)
    config = responder_config(args, env.environ)
    responder = Responder(config, log=env.say)
    if metrics_address is None:
        responder.serve_forever()
        return ExitCode.PASS
    from netready.responder.metrics import MetricsServer

    metrics = MetricsServer(*metrics_address, responder)
    metrics.start()
    env.say(f"netready responder metrics on {metrics.url}")
    try:
        responder.serve_forever()
    finally:
        metrics.stop()
    return ExitCode.PASS


def cmd_demo(args: argparse.Namespace, env: Env) -> int:
    """`netready demo`: a local responder on 127.0.0.1 and the lab profile against it."""
    from netready.demo import run_demo

    key = _signing_key(env)
    out_dir = Path(args.out) if args.out else default_out_dir(Path.cwd())
    with _subscribers(args, env) as subs:
        result = run_demo(out_dir, key, args.duration, subs, env.say, _lang(args, env), args.pdf)
    code = _finish(result, args, env)
    if result.outcome.verdict is not Verdict.PASS:
        env.say(
            "netready: the demo did not pass on loopback: this machine is busy or "
            "something is wrong; see the reasons above"
        )
    return code
