"""Tests of netready.params: a profile table validated against a frozen Params dataclass."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pytest

from netready.checks.base import PLANNER_ONLY
from netready.checks.firewall_params import FirewallParams
from netready.checks.voice_params import VoiceParams
from netready.errors import ProfileError
from netready.params import did_you_mean, params_from_table, validate_table

FILE = "site.toml"
PREFIX = 'checks."demo"'


@dataclass(frozen=True)
class DemoParams:
    """A Params dataclass with one field of every supported kind."""

    duration_s: float = 60.0
    count: int = 3
    codec: str = "g711"
    enabled: bool = True
    codecs: tuple[str, ...] = ("g711",)
    limit: int | None = None
    dscp: int = field(default=46, metadata={"max": 63})
    offset: float = field(default=0.0, metadata={"min": -10.0})
    address: str = field(default="", metadata={PLANNER_ONLY: True})

    def __post_init__(self) -> None:
        if self.count > 1000:
            raise ValueError("count must be at most 1000")


def build(table: dict[str, object]) -> DemoParams:
    return params_from_table(DemoParams, table, FILE, PREFIX)


def error_of(table: dict[str, object]) -> ProfileError:
    with pytest.raises(ProfileError) as info:
        build(table)
    return info.value


def test_missing_keys_take_the_defaults() -> None:
    assert build({}) == DemoParams()


def test_given_keys_are_used_and_the_instance_is_frozen() -> None:
    params = build({"duration_s": 10.5, "count": 7, "codec": "opus", "enabled": False})
    assert (params.duration_s, params.count, params.codec, params.enabled) == (
        10.5,
        7,
        "opus",
        False,
    )
    with pytest.raises(AttributeError):
        params.count = 8  # type: ignore[misc]


def test_a_float_field_accepts_an_integer_and_stores_a_float() -> None:
    params = build({"duration_s": 10})
    assert params.duration_s == 10.0
    assert isinstance(params.duration_s, float)


def test_an_int_field_refuses_a_float() -> None:
    err = error_of({"count": 1.5})
    assert str(err) == f"{FILE}: {PREFIX}.count: expected an integer, got a float (1.5)"


@pytest.mark.parametrize(("key", "value"), [("count", True), ("duration_s", False)])
def test_a_boolean_is_not_a_number(key: str, value: bool) -> None:
    err = error_of({key: value})
    assert err.key == f"{PREFIX}.{key}"
    assert "got a boolean" in err.reason


def test_a_bool_field_refuses_an_integer() -> None:
    err = error_of({"enabled": 1})
    assert err.reason == "expected a boolean, got an integer (1)"


def test_a_str_field_refuses_a_number() -> None:
    assert error_of({"codec": 711}).reason == "expected a string, got an integer (711)"


def test_a_number_field_refuses_a_string() -> None:
    assert error_of({"duration_s": "60"}).reason == "expected a number, got a string ('60')"


def test_a_tuple_field_takes_an_array() -> None:
    assert build({"codecs": ["g711", "g722"]}).codecs == ("g711", "g722")
    assert error_of({"codecs": "g711"}).reason == "expected an array"
    assert error_of({"codecs": ["g711", 722]}).reason.startswith("item 2: expected a string")


def test_an_optional_field_takes_its_inner_type() -> None:
    assert build({"limit": 5}).limit == 5
    assert "expected an integer" in error_of({"limit": "5"}).reason


def test_unknown_key_names_the_known_keys_and_the_closest() -> None:
    err = error_of({"duraton_s": 1.0})
    assert err.key == f"{PREFIX}.duraton_s"
    assert "unknown key 'duraton_s'" in err.reason
    assert err.reason.endswith("did you mean 'duration_s'?")


def test_planner_only_fields_are_unknown_to_a_profile() -> None:
    err = error_of({"address": "192.0.2.1"})
    assert "unknown key 'address'" in err.reason
    assert "address" not in err.reason.split("(known:")[1]


def test_numbers_are_not_negative_unless_the_field_says_so() -> None:
    assert error_of({"count": -1}).reason == "must be at least 0, got -1"
    assert build({"offset": -5}).offset == -5.0
    assert error_of({"offset": -11}).reason == "must be at least -10.0, got -11.0"


def test_metadata_max_bounds_a_number() -> None:
    assert build({"dscp": 63}).dscp == 63
    assert error_of({"dscp": 64}).reason == "must be at most 63, got 64"


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan])
def test_non_finite_floats_are_refused(value: float) -> None:
    assert error_of({"duration_s": value}).reason.startswith("expected a finite number")


def test_a_value_error_of_the_dataclass_becomes_a_profile_error() -> None:
    err = error_of({"count": 5000})
    assert str(err) == f"{FILE}: {PREFIX}: count must be at most 1000"


def test_validate_table_returns_only_the_given_keys_coerced() -> None:
    clean = validate_table(DemoParams, {"duration_s": 5, "codecs": ["a"]}, FILE, PREFIX)
    assert clean == {"duration_s": 5.0, "codecs": ("a",)}
    assert DemoParams(**clean) == build({"duration_s": 5, "codecs": ["a"]})  # type: ignore[arg-type]


def test_the_real_params_of_the_built_in_kinds() -> None:
    voice = params_from_table(VoiceParams, {"duration_s": 10, "dscp": 0}, FILE, "v")
    assert voice == VoiceParams(duration_s=10.0, dscp=0)
    assert params_from_table(FirewallParams, {}, FILE, "f") == FirewallParams()
    with pytest.raises(ProfileError, match="unknown key 'rule'"):
        params_from_table(FirewallParams, {"rule": "x"}, FILE, "f")


def test_did_you_mean() -> None:
    assert did_you_mean("stime", ["lab", "stimme"]) == "; did you mean 'stimme'?"
    assert did_you_mean("zzz", ["lab", "stimme"]) == ""
