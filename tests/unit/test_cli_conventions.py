"""The command line's conventions: every option and argument explains itself in --help, and
`netready verify --json` gives a machine-readable verdict with the usual exit codes."""

from __future__ import annotations

import argparse
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from netready.cli import build_parser, main
from netready.env import Env
from netready.report.files import trusted_comment
from netready.report.signing import SecretKey
from tests.unit.test_ticket import pass_doc, write_signed


def _parsers(
    parser: argparse.ArgumentParser, name: str = "netready"
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                yield from _parsers(sub, f"{name} {sub_name}")


def test_every_option_and_argument_has_help() -> None:
    missing = []
    commands = 0
    for name, parser in _parsers(build_parser()):
        assert parser.format_help()  # renders (a stray % in a help text would raise here)
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                described = {a.dest for a in action._choices_actions if a.help}
                commands += len(action.choices)
                missing += [f"{name} {c}" for c in action.choices if c not in described]
                continue
            label = "/".join(action.option_strings) or action.dest
            if not (action.help or "").strip() or action.help == argparse.SUPPRESS:
                missing.append(f"{name} {label}")
    assert commands >= 8  # the walk really reached the subcommands
    assert not missing, f"no help text: {missing}"


def test_the_walk_would_see_a_missing_help() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    sub.choices["verify"].add_argument("--undocumented")
    found = [
        a.option_strings
        for _n, p in _parsers(parser)
        for a in p._actions
        if a.option_strings and not a.help
    ]
    assert found == [["--undocumented"]]


@pytest.fixture
def report(tmp_path: Path) -> Path:
    return write_signed(pass_doc(), tmp_path / "r", SecretKey.generate())


def _verify_json(*args: str) -> tuple[int, dict[str, object], str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["verify", "--json", *args], Env(stdout=out, stderr=err, environ={}))
    lines = out.getvalue().splitlines()
    assert len(lines) == 1, out.getvalue()  # one JSON object, nothing else on stdout
    verdict: dict[str, object] = json.loads(lines[0])
    return code, verdict, err.getvalue()


def test_verify_json_on_a_good_report(report: Path) -> None:
    code, verdict, err = _verify_json(str(report))
    key_text = (report.parent / "netready.pub").read_text()
    assert code == 0 and err == ""
    assert verdict["ok"] is verdict["signature_ok"] is verdict["document_ok"] is True
    assert verdict["verdict"] == json.loads(report.read_bytes())["verdict"]
    assert isinstance(verdict["key_id"], str) and len(verdict["key_id"]) == 16
    assert verdict["key_id"] in key_text and verdict["problems"] == []
    assert verdict["trusted_comment"] == trusted_comment(json.loads(report.read_bytes()))


def test_verify_json_on_a_changed_report(report: Path) -> None:
    doc = json.loads(report.read_bytes())
    report.write_bytes(report.read_bytes().replace(b'"site":"', b'"site":"X', 1))
    code, verdict, _err = _verify_json(str(report))
    assert code == 1
    assert verdict["ok"] is verdict["signature_ok"] is False
    assert verdict["verdict"] == doc["verdict"]  # what the document claims, not trusted
    assert verdict["trusted_comment"] == ""
    problems = verdict["problems"]
    assert isinstance(problems, list) and problems[0].startswith("signature: ")


def test_verify_json_without_a_report_is_a_usage_error(tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    code = main(["verify", "--json", str(tmp_path / "nope.json")], Env(out, err, {}))
    assert code == 2 and out.getvalue() == ""
    assert err.getvalue().startswith(f"netready: error: {tmp_path / 'nope.json'}: cannot read")
