"""`[profile] responder_stands_in_for`: which hosts the responder serves UDP ports for.

Loading (`Profile.responder_stands_in`), every malformed case as a ProfileError naming
`profile.responder_stands_in_for`, `extends`, the shipped stimme profile, and how the
planner hands it to each firewall check (`stands_in`, `host_probe_ports`).
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from netready.checks.firewall_params import FirewallParams
from netready.engine.plan import build_plan, echo_probe_ports
from netready.errors import ProfileError
from netready.model import Profile
from netready.profile import find_profile, load_profile

KEY = "profile.responder_stands_in_for"

BODY = """
[hosts]
pbx = "127.0.0.1"
stun = "127.0.0.3"

[targets.delay_ms]
max = 150.0
statistic = "p95"

[[rules]]
name = "https"
protocol = "HTTPS"
transport = "tcp"
ports = 18443
host = "pbx"
function = "myPBX client"

[[rules]]
name = "rtp"
protocol = "RTP"
transport = "udp"
ports = "26384-26483"
host = "pbx"
function = "voice"
verify = "echo"

[[rules]]
name = "video"
protocol = "Video"
transport = "udp"
ports = "25000-25010"
host = "pbx"
function = "video"
verify = "echo"

[[rules]]
name = "stun-udp"
protocol = "STUN"
transport = "udp"
ports = 23478
host = "stun"
function = "STUN/TURN"
verify = "stun"
"""


def write(tmp_path: Path, stands_in: str | None, name: str = "site") -> Path:
    head = f'[profile]\nname = "{name}"\ntitle = "t"\nresponder = "127.0.0.2:18620"\n'
    if stands_in is not None:
        head += f"responder_stands_in_for = {stands_in}\n"
    path = tmp_path / f"{name}.toml"
    path.write_text(head + BODY, encoding="utf-8")
    return path


def load(tmp_path: Path, stands_in: str | None) -> Profile:
    return load_profile(write(tmp_path, stands_in))


def error(tmp_path: Path, stands_in: str) -> ProfileError:
    path = write(tmp_path, stands_in)
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    assert info.value.file == str(path)
    assert info.value.key == KEY
    assert "\n" not in str(info.value)
    return info.value


def test_stands_in_for_one_host(tmp_path: Path) -> None:
    assert load(tmp_path, '["pbx"]').responder_stands_in == ("pbx",)


def test_stands_in_for_two_hosts_in_order(tmp_path: Path) -> None:
    assert load(tmp_path, '["stun", "pbx"]').responder_stands_in == ("stun", "pbx")


def test_absent_or_empty_is_no_host(tmp_path: Path) -> None:
    assert load(tmp_path, None).responder_stands_in == ()
    assert load(tmp_path, "[]").responder_stands_in == ()


def test_unknown_host_with_did_you_mean(tmp_path: Path) -> None:
    exc = error(tmp_path, '["pbxx"]')
    assert exc.reason == "no host 'pbxx' in [hosts] (hosts: pbx, stun); did you mean 'pbx'?"


def test_unknown_host_without_a_close_match(tmp_path: Path) -> None:
    exc = error(tmp_path, '["pbx", "media"]')
    assert exc.reason == "no host 'media' in [hosts] (hosts: pbx, stun)"


@pytest.mark.parametrize(
    ("value", "type_word"),
    [('"pbx"', "string"), ("1", "integer"), ("true", "boolean"), ('{ pbx = "x" }', "table")],
)
def test_not_a_list_is_an_error(tmp_path: Path, value: str, type_word: str) -> None:
    exc = error(tmp_path, value)
    assert exc.reason.startswith('expected host names like ["pbx", "stun"], not ')
    assert type_word in exc.reason


def test_a_list_of_non_strings_is_an_error(tmp_path: Path) -> None:
    exc = error(tmp_path, '["pbx", 7]')
    assert exc.reason.startswith('expected host names like ["pbx", "stun"], not ')


def test_an_invalid_host_key_is_an_error(tmp_path: Path) -> None:
    exc = error(tmp_path, '["PBX!"]')
    assert exc.reason == "'PBX!' is not a valid host key"


def test_a_child_profile_may_name_a_host_of_its_parent(tmp_path: Path) -> None:
    write(tmp_path, None, name="parent")
    child = tmp_path / "child.toml"
    child.write_text(
        '[profile]\nname = "child"\ntitle = "c"\nextends = "parent.toml"\n'
        'responder_stands_in_for = ["stun"]\n',
        encoding="utf-8",
    )
    profile = load_profile(child)
    assert profile.responder_stands_in == ("stun",)


# ---- the shipped stimme profile ----


def test_stimme_loads_with_what_it_declares() -> None:
    path = find_profile("stimme")
    declared = tomllib.loads(path.read_text(encoding="utf-8"))["profile"].get(
        "responder_stands_in_for", []
    )
    profile = load_profile(path, require_hosts=False)
    assert profile.responder_stands_in == tuple(declared)
    assert set(profile.responder_stands_in) <= set(profile.hosts)


def test_stimme_echo_probe_ports_of_the_pbx() -> None:
    """The pbx's echo rules (rtp, video, app-sharing): first, middle and last of each range."""
    profile = load_profile(find_profile("stimme"), require_hosts=False)
    assert echo_probe_ports(profile, "pbx") == (
        16384,
        24575,
        32767,
        50000,
        50050,
        50100,
        60000,
        60050,
        60100,
    )
    assert echo_probe_ports(profile, "stun") == ()  # its only UDP rule is verified by STUN


# ---- the planner hands it to every firewall check ----


def firewall_params(profile: Profile) -> dict[str, FirewallParams]:
    return {p.id: p.params for p in build_plan(profile) if p.id.startswith("firewall.")}


def test_plan_marks_the_rules_of_a_stood_in_host(tmp_path: Path) -> None:
    params = firewall_params(load(tmp_path, '["pbx"]'))
    assert {k: v.stands_in for k, v in params.items()} == {
        "firewall.https": True,
        "firewall.rtp": True,
        "firewall.video": True,
        "firewall.stun-udp": False,
    }
    assert {v.responder for v in params.values()} == {"127.0.0.2:18620"}
    pbx_probe = (25000, 25005, 25010, 26384, 26433, 26483)
    assert params["firewall.rtp"].host_probe_ports == pbx_probe
    assert params["firewall.video"].host_probe_ports == pbx_probe
    assert params["firewall.stun-udp"].host_probe_ports == ()
    assert params["firewall.rtp"].address == "127.0.0.1"


def test_plan_without_stand_in(tmp_path: Path) -> None:
    params = firewall_params(load(tmp_path, None))
    assert not any(v.stands_in for v in params.values())
