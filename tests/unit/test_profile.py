"""Tests of netready.profile: the shipped profiles, extends, overrides and every malformed case."""

from __future__ import annotations

import hashlib
import shutil
import socket
from pathlib import Path

import pytest

from netready.checks.firewall_params import FirewallParams
from netready.checks.voice_params import VoiceParams
from netready.errors import ProfileError, UsageError
from netready.model import Limit, PortRange, Profile, Target
from netready.profile import (
    check_params,
    find_profile,
    known_check_params,
    load_profile,
    missing_hosts,
    parse_host_overrides,
)
from netready.resources import data_dir

DATA = Path(__file__).resolve().parent.parent / "data" / "profiles"
BAD = DATA / "bad"
GOOD = DATA / "good"
BAD_CASES = sorted(BAD.glob("*.toml"))

# Seed 002, section 6.1: rule name -> (transport, ports, host, verify, tls, optional).
STIMME_RULES = {
    "https-mypbx": ("tcp", "443", "pbx", "https", True, False),
    "https-reporting": ("tcp", "8443", "pbx", "https", True, False),
    "https-update-backup": ("tcp", "4443", "services", "https", True, False),
    "h323-tls": ("tcp", "1300", "pbx", "tls", True, False),
    "ldaps-external": ("tcp", "636", "services", "ldaps", True, False),
    "ldaps-internal": ("tcp", "8636", "pbx", "ldaps", True, False),
    "sip-udp": ("udp", "5060", "sip_provider", "sip", False, True),
    "sip-tcp": ("tcp", "5060", "sip_provider", "sip", False, True),
    "sip-tls": ("tcp", "5061", "sip_provider", "sip", True, True),
    "stun-udp": ("udp", "3478", "stun", "stun", False, False),
    "stun-tcp": ("tcp", "3478", "stun", "stun", False, False),
    "rtp": ("udp", "16384-32767", "pbx", "echo", False, False),
    "video": ("udp", "50000-50100", "pbx", "echo", False, False),
    "app-sharing": ("udp", "60000-60100", "pbx", "echo", False, False),
}
STIMME_HOSTS = {
    "pbx": "46.189.64.189",
    "services": "46.189.64.186",
    "stun": "46.189.64.249",
    "sip_provider": "",
}


def stimme(**overrides: str) -> Profile:
    return load_profile(find_profile("stimme"), host_overrides=overrides)


def ports_text(ranges: tuple[PortRange, ...]) -> str:
    return ",".join(str(r) for r in ranges)


# ---- malformed profiles: one file per failure mode ----


def expectation(path: Path) -> tuple[str, Path]:
    """The `# expect:` substring and the file the error must name (`# file:`, else itself)."""
    lines = path.read_bytes().decode("utf-8", "replace").splitlines()
    assert lines[0].startswith("# expect: "), f"{path.name} must start with '# expect: '"
    expected = lines[0].removeprefix("# expect: ").strip()
    blamed = path
    if len(lines) > 1 and lines[1].startswith("# file: "):
        blamed = path.parent / lines[1].removeprefix("# file: ").strip()
    return expected, blamed


def test_there_are_enough_bad_cases() -> None:
    assert len(BAD_CASES) >= 24


@pytest.mark.parametrize("path", BAD_CASES, ids=[p.stem for p in BAD_CASES])
def test_bad_profile_gives_one_line_naming_file_and_key(path: Path) -> None:
    expected, blamed = expectation(path)
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    message = str(info.value)
    assert "\n" not in message and "\r" not in message
    assert message.startswith(f"{blamed}: ")
    assert info.value.file == str(blamed)
    assert expected in message


def test_toml_syntax_error_names_line_and_column() -> None:
    with pytest.raises(ProfileError) as info:
        load_profile(BAD / "toml-syntax.toml")
    assert info.value.key == "toml"
    assert "line 10, column 13" in info.value.reason


def test_not_utf8_is_a_profile_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'[profile]\nname = "caf\xe9"\n')
    with pytest.raises(ProfileError, match=r"latin1\.toml: toml: not UTF-8 text"):
        load_profile(path)


def test_unreadable_path_is_a_profile_error(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match=r": file: cannot read it"):
        load_profile(tmp_path)


# ---- the shipped stimme profile ----


def test_stimme_has_every_row_of_the_requirement_table() -> None:
    profile = stimme()
    assert profile.name == "stimme"
    assert "seed 002" in profile.title and "6.1" in profile.title
    assert "6.1" in profile.source
    got = {
        r.name: (r.transport, ports_text(r.ports), r.host, r.verify, r.tls, r.optional)
        for r in profile.rules
    }
    assert got == STIMME_RULES
    assert len(profile.rules) == 14


def test_stimme_hosts_targets_and_no_responder() -> None:
    profile = stimme()
    assert profile.hosts == STIMME_HOSTS
    assert profile.targets == (
        Target("delay_ms", Limit("<=", 150.0), "p95"),
        Target("jitter_ms", Limit("<=", 20.0), "running_max"),
        Target("loss_pct", Limit("<", 1.0), "whole_run"),
    )
    assert profile.responder == ""
    assert profile.checks["media.voice"]["media_rule"] == "rtp"
    assert profile.checks["media.voice"]["stun_host"] == "stun"


def test_stimme_counts_by_protocol_and_media_ports() -> None:
    rules = stimme().rules
    assert sum(r.name.startswith("sip-") for r in rules) == 3
    assert sum(r.name.startswith("stun-") for r in rules) == 2
    media = [r for r in rules if r.transport == "udp" and r.verify == "echo"]
    assert sum(r.port_count() for r in media) == 16384 + 101 + 101 == 16586


def test_stimme_sip_rules_are_conditional_with_a_reason() -> None:
    for rule in stimme().rules:
        if rule.host == "sip_provider":
            assert rule.optional
            assert "SIP trunk" in rule.condition and "--host sip_provider=ADDR" in rule.condition
        else:
            assert not rule.optional


def test_stimme_functions_are_the_table_texts() -> None:
    functions = {r.name: r.function for r in stimme().rules}
    assert functions["https-mypbx"] == "myPBX client"
    assert functions["https-update-backup"] == "update & backup"
    assert functions["ldaps-external"] == "phone book, external"
    assert functions["stun-udp"] == "media negotiation"
    assert functions["app-sharing"] == "application sharing"


def test_stimme_sha256_is_the_file_hash() -> None:
    path = find_profile("stimme")
    assert stimme().sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


# ---- the shipped lab profile ----


def test_lab_is_loopback_and_high_ports_only() -> None:
    profile = load_profile(find_profile("lab"))
    assert profile.name == "lab"
    assert set(profile.hosts.values()) == {"127.0.0.1"}
    assert profile.responder == "127.0.0.1:18620"
    assert all(r.first >= 1024 for rule in profile.rules for r in rule.ports)
    assert profile.targets == stimme().targets
    by_name = {r.name: r for r in profile.rules}
    assert set(by_name) <= set(STIMME_RULES)
    assert by_name["rtp"].port_count() == 100
    assert ports_text(by_name["rtp"].ports) == "26384-26483"
    assert ports_text(by_name["video"].ports) == "25000-25010"
    assert ports_text(by_name["stun-udp"].ports) == "23478"
    assert [by_name[n].verify for n in ("https-mypbx", "ldaps-external", "h323-tls")] == [
        "https",
        "tls",
        "tls",
    ]
    assert all(by_name[n].tls for n in ("https-mypbx", "ldaps-external", "h323-tls"))


def test_lab_voice_params() -> None:
    profile = load_profile(find_profile("lab"))
    assert profile.checks == {
        "media.voice": {
            "duration_s": 10.0,
            "quick_duration_s": 5.0,
            "source_ports": "27000-27099",
            "stun_host": "stun",
        },
        "tls": {"expect_issuer": "netready responder"},
        "h323": {"echo_port": 11720},
    }
    assert check_params(profile, "media.voice") == VoiceParams(
        duration_s=10.0, quick_duration_s=5.0, source_ports="27000-27099", stun_host="stun"
    )


# ---- extends ----


def test_child_overrides_hosts_targets_rules_and_checks() -> None:
    profile = load_profile(GOOD / "child.toml")
    assert (profile.name, profile.title, profile.source) == (
        "child",
        "Child for extends tests",
        "tests",
    )
    assert profile.path == str(GOOD / "child.toml")
    assert profile.hosts == {
        "pbx": "pbx.example.net",
        "stun": "192.0.2.20",
        "services": "2001:db8::5",
    }
    assert [r.name for r in profile.rules] == ["https", "rtp", "stun", "ldaps"]
    rtp = profile.rules[1]
    assert rtp.protocol == "RTP (narrow)"
    assert ports_text(rtp.ports) == "16384-16393,16400"
    assert profile.targets == (
        Target("delay_ms", Limit("<", 100.0), "p99"),
        Target("loss_pct", Limit("<", 1.0), "whole_run"),
    )
    assert profile.checks == {"media.voice": {"duration_s": 20.0, "rate_pps": 50}}
    assert profile.responder == "192.0.2.50:18620"


def test_extends_sha256_chains_parent_then_child() -> None:
    raw = (GOOD / "parent.toml").read_bytes() + (GOOD / "child.toml").read_bytes()
    assert load_profile(GOOD / "child.toml").sha256 == hashlib.sha256(raw).hexdigest()


def test_sha256_changes_when_the_parent_changes(tmp_path: Path) -> None:
    for name in ("parent.toml", "child.toml"):
        shutil.copy(GOOD / name, tmp_path / name)
    before = load_profile(tmp_path / "child.toml").sha256
    parent = tmp_path / "parent.toml"
    parent.write_text(parent.read_text().replace("duration_s = 30.0", "duration_s = 31.0"))
    after = load_profile(tmp_path / "child.toml").sha256
    assert before != after
    assert load_profile(tmp_path / "child.toml").checks["media.voice"]["duration_s"] == 20.0


def test_extends_a_shipped_profile_by_name() -> None:
    profile = load_profile(GOOD / "site-on-stimme.toml")
    assert profile.name == "site-on-stimme"
    assert profile.hosts == {**STIMME_HOSTS, "sip_provider": "sip.example.net"}
    assert [r.name for r in profile.rules] == list(STIMME_RULES)
    assert profile.source == stimme().source


def test_a_child_rule_may_use_a_host_of_its_parent(tmp_path: Path) -> None:
    shutil.copy(GOOD / "parent.toml", tmp_path / "parent.toml")
    (tmp_path / "kid.toml").write_text(
        '[profile]\nname = "kid"\nextends = "parent.toml"\n\n[[rules]]\nname = "stun-tcp"\n'
        'protocol = "STUN"\ntransport = "tcp"\nports = 3478\nhost = "stun"\n'
    )
    assert load_profile(tmp_path / "kid.toml").rules[-1].host == "stun"


# ---- finding profiles ----


def test_find_profile_by_name_and_by_path(tmp_path: Path) -> None:
    assert find_profile("stimme") == data_dir("profiles") / "stimme.toml"
    assert find_profile(str(GOOD / "child.toml")) == GOOD / "child.toml"
    (tmp_path / "mysite.toml").write_text('[profile]\nname = "mysite"\n')
    assert find_profile("mysite", user_dir=tmp_path) == tmp_path / "mysite.toml"


def test_find_profile_missing_path() -> None:
    with pytest.raises(UsageError, match=r"^nowhere/x\.toml: no such profile file$"):
        find_profile("nowhere/x.toml")


def test_find_profile_unknown_name_lists_names_and_suggests(tmp_path: Path) -> None:
    (tmp_path / "mysite.toml").write_text('[profile]\nname = "mysite"\n')
    with pytest.raises(UsageError) as info:
        find_profile("stime", user_dir=tmp_path)
    message = str(info.value)
    assert message.startswith("no profile named 'stime' (available: ")
    assert "lab" in message and "mysite" in message and "stimme" in message
    assert message.endswith("did you mean 'stimme'?")


# ---- --host and --responder ----


def test_parse_host_overrides() -> None:
    assert parse_host_overrides(["pbx=192.0.2.1", "sip_provider=", "x=a=b"]) == {
        "pbx": "192.0.2.1",
        "sip_provider": "",
        "x": "a=b",
    }
    with pytest.raises(UsageError, match=r"^--host expects NAME=ADDR, got 'pbx'$"):
        parse_host_overrides(["pbx"])
    with pytest.raises(UsageError, match="given twice"):
        parse_host_overrides(["pbx=192.0.2.1", "pbx=192.0.2.2"])


def test_empty_pbx_names_the_option_to_give() -> None:
    with pytest.raises(UsageError) as info:
        stimme(pbx="")
    message = str(info.value)
    assert message.startswith("host 'pbx' has no address, but rule(s) https-mypbx, ")
    assert message.endswith("need it: give --host pbx=ADDR")


def test_unknown_host_override_suggests_the_closest() -> None:
    with pytest.raises(UsageError) as info:
        stimme(pxb="192.0.2.1")
    assert str(info.value) == (
        "--host pxb: the profile has no host 'pxb' (hosts: pbx, services, stun, sip_provider);"
        " did you mean 'pbx'?"
    )


def test_sip_provider_may_stay_empty_or_be_given() -> None:
    assert stimme().hosts["sip_provider"] == ""
    assert stimme(sip_provider="sip.example.net").hosts["sip_provider"] == "sip.example.net"
    assert stimme(sip_provider="2001:db8::1").hosts["sip_provider"] == "2001:db8::1"


@pytest.mark.parametrize("address", ["300.1.1.1", "bad_name.example", "2001:db8::zz", "-x.example"])
def test_invalid_override_address_is_refused(address: str) -> None:
    with pytest.raises(UsageError) as info:
        stimme(pbx=address)
    message = str(info.value)
    assert message.startswith(f"--host pbx: '{address}' is not a valid")
    assert "give --host pbx=ADDR" in message


def test_overrides_apply_before_the_missing_host_check() -> None:
    profile = stimme(pbx="192.0.2.1", services="services.example.net")
    assert profile.hosts["pbx"] == "192.0.2.1"
    assert profile.hosts["services"] == "services.example.net"
    assert profile.sha256 == stimme().sha256  # overrides are reported as hosts, not hashed


def test_require_hosts_false_loads_and_missing_hosts_tells() -> None:
    profile = load_profile(find_profile("stimme"), {"pbx": ""}, require_hosts=False)
    missing = missing_hosts(profile.hosts, profile.rules)
    assert list(missing) == ["pbx"]
    assert "rtp" in missing["pbx"] and "sip-udp" not in missing["pbx"]


@pytest.mark.parametrize(
    "value", ["192.0.2.7", "192.0.2.7:862", "[2001:db8::7]:862", "2001:db8::7", "r.example:1"]
)
def test_responder_option_overrides_the_profile(value: str) -> None:
    profile = load_profile(find_profile("lab"), responder=value)
    assert profile.responder == value


@pytest.mark.parametrize(
    "value", ["192.0.2.7:0", "192.0.2.7:x", "192.0.2.7:²", "[2001:db8::7", "300.1.1.1:862"]
)
def test_bad_responder_option_is_a_usage_error(value: str) -> None:
    with pytest.raises(UsageError, match=r"^--responder .*give --responder ADDR\[:PORT\]"):
        load_profile(find_profile("lab"), responder=value)


def test_responder_may_name_a_profile_host() -> None:
    path = GOOD / "responder-on-host.toml"
    assert load_profile(path, {"reflector": "192.0.2.9"}).responder == "192.0.2.9:18620"
    assert load_profile(path, {"reflector": "2001:db8::9"}).responder == "[2001:db8::9]:18620"
    with pytest.raises(UsageError, match=r"but the responder need it: give --host reflector=ADDR"):
        load_profile(path)


def test_no_name_is_ever_resolved(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the loader must not resolve names")

    for name in ("getaddrinfo", "gethostbyname", "gethostbyname_ex", "create_connection"):
        monkeypatch.setattr(socket, name, refuse)
    profile = load_profile(GOOD / "child.toml", {"stun": "stun.example.net"}, "r.example:862")
    assert profile.hosts["stun"] == "stun.example.net"


# ---- check params ----


def test_known_check_params_has_the_built_in_kinds() -> None:
    known = known_check_params()
    assert known["media.voice"] is VoiceParams
    assert known["firewall"] is FirewallParams


def test_check_params_defaults_and_unknown_kind() -> None:
    profile = stimme()
    assert check_params(profile, "media.voice") == VoiceParams(stun_host="stun")
    assert check_params(profile, "firewall") == FirewallParams()
    with pytest.raises(ValueError, match="did you mean 'firewall'"):
        check_params(profile, "firewal")
