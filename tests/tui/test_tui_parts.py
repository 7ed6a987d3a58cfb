"""The app's pure parts: texts in both languages, charts, form memory, events files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from netready.errors import UsageError
from netready.tui.charts import BAD, OK, TARGET, TARGET_MARK, parse_ranges, port_strip, trend
from netready.tui.settings import SETTINGS_NAME, FormMemory, load_memory, save_memory
from netready.tui.sources import read_events
from netready.tui.texts import default_lang, keys, t


def test_every_text_exists_in_both_languages_and_differs_where_it_should() -> None:
    for key in keys():
        assert t(key, "en").strip(), key
        assert t(key, "de").strip(), key
    assert t("verdict_FAIL", "de") != t("verdict_FAIL", "en")


@pytest.mark.parametrize(
    ("environ", "lang"),
    [
        ({"LANG": "de_DE.UTF-8"}, "de"),
        ({"LANG": "en_US.UTF-8"}, "en"),
        ({"LC_ALL": "de_AT.UTF-8", "LANG": "en_US.UTF-8"}, "de"),
        ({}, "en"),
    ],
)
def test_language_comes_from_the_locale(environ: dict[str, str], lang: str) -> None:
    assert default_lang(environ, system=lambda: "") == lang


@pytest.mark.parametrize(
    ("system", "lang"),
    [("de_DE", "de"), ("German_Germany", "de"), ("en_GB", "en"), ("", "en")],
)
def test_without_locale_variables_the_os_locale_decides(system: str, lang: str) -> None:
    """Windows sets no LANG: the user's locale as the OS reports it decides."""
    assert default_lang({}, system=lambda: system) == lang
    assert default_lang({"LANG": "en_US.UTF-8"}, system=lambda: system) == "en"


def _styles(text: object) -> list[str]:
    from rich.text import Text

    assert isinstance(text, Text)
    return [str(span.style) for span in text.spans]


def test_trend_draws_the_target_row_and_turns_bars_above_it_red() -> None:
    chart = trend([10.0, 200.0], target=150.0, width=4, height=3)
    rows = chart.plain.split("\n")
    assert len(rows) == 3 and all(len(r) == 4 for r in rows)
    # 150 ms of a 225 ms scale is two thirds up: the top row's bottom edge carries the mark
    assert rows[0][0] == rows[0][2] == TARGET_MARK and TARGET_MARK not in rows[1] + rows[2]
    assert rows[0][1] not in (" ", TARGET_MARK)  # only the 200 ms bar crosses the target
    styles = _styles(chart)
    assert BAD in styles and OK in styles and TARGET in styles


def test_trend_of_nothing_is_only_the_target_line() -> None:
    chart = trend([], target=20.0, width=5, height=2)
    assert chart.plain.replace(TARGET_MARK, "").strip() == ""
    assert TARGET_MARK * 5 in chart.plain


def test_one_blocked_port_shows_in_a_range_of_sixteen_thousand() -> None:
    strip = port_strip({"open": "16384-20000,20002-32767", "blocked": "20001"}, width=20)
    assert len(strip.plain) == 20
    assert _styles(strip).count(BAD) == 1
    clean = port_strip({"open": "16384-32767", "blocked": "", "not_tested": ""}, width=20)
    assert BAD not in _styles(clean)


def test_parse_ranges_ignores_junk() -> None:
    assert parse_ranges("1-3, 7,x,9-8") == [(1, 3), (7, 7), (8, 9)]


def test_form_memory_round_trips_and_has_no_password_field(tmp_path: Path) -> None:
    memory = FormMemory(profile="stimme", customer="ACME", hosts={"stimme": {"pbx": "10.1.1.1"}})
    save_memory(tmp_path, memory)
    assert load_memory(tmp_path) == memory
    saved = json.loads((tmp_path / SETTINGS_NAME).read_text())
    assert not any("pass" in k.lower() for k in saved)
    assert (tmp_path / SETTINGS_NAME).stat().st_mode & 0o077 == 0


def test_a_damaged_memory_file_gives_an_empty_form(tmp_path: Path) -> None:
    (tmp_path / SETTINGS_NAME).write_text('{"customer": 5, "hosts": []')
    assert load_memory(tmp_path) == FormMemory()
    (tmp_path / SETTINGS_NAME).write_text('{"customer": 5, "site": "B", "hosts": {"x": 1}}')
    assert load_memory(tmp_path) == FormMemory(site="B")


def test_a_bad_events_file_is_one_line_naming_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text('{"event": "run_started"}\n\n[1, 2]\n')
    with pytest.raises(UsageError, match=r"events\.jsonl: line 3: not a netready event"):
        read_events(path)
    path.write_text("{nope\n")
    with pytest.raises(UsageError, match=r"events\.jsonl: line 1: not JSON"):
        read_events(path)


def test_the_profile_list_has_the_shipped_ones_then_the_users_own(tmp_path: Path) -> None:
    from netready.tui.form import available_profiles

    own = tmp_path / "profiles"
    own.mkdir()
    (own / "acme-berlin.toml").write_text('[profile]\nname = "acme-berlin"\nextends = "stimme"\n')
    (own / "lab.toml").write_text("")  # a shipped name is listed once
    names = available_profiles({"NETREADY_CONFIG_DIR": str(tmp_path)})
    assert names == ["lab", "stimme", "acme-berlin"]
