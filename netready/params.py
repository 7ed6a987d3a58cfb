"""Validation of a profile table against a check's frozen Params dataclass (keys, types, bounds)."""

from __future__ import annotations

import dataclasses
import difflib
import math
import sys
import types
import typing
from collections.abc import Collection, Iterable, Mapping
from typing import Any, TypeVar

from netready.checks.base import profile_fields
from netready.errors import ProfileError

T = TypeVar("T")

# Field metadata keys a Params dataclass may use to bound a number: {"min": 1, "max": 63}.
MIN = "min"
MAX = "max"


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """'; did you mean 'x'?' when a choice is close to `word`, else ''."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def unknown_key(word: str, choices: Iterable[str], what: str = "key") -> str:
    """The one-line reason for an unknown name: what is known and the closest match."""
    known = list(choices)
    listing = ", ".join(known) if known else "none"
    return f"unknown {what} '{word}' (known: {listing}){did_you_mean(word, known)}"


def toml_type(value: object) -> str:
    """How TOML calls the type of a parsed value, for error messages."""
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, int):
        return f"an integer ({value})"
    if isinstance(value, float):
        return f"a float ({value})"
    if isinstance(value, str):
        return f"a string ({value!r})"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return f"a {type(value).__name__}"


def field_types(params_type: type[Any]) -> dict[str, object]:
    """Resolved annotations of the profile-settable fields of a Params dataclass."""
    module_globals = vars(sys.modules[params_type.__module__])
    resolved: dict[str, object] = {}
    for f in profile_fields(params_type):
        annotation = f.type
        if isinstance(annotation, str):
            annotation = eval(annotation, module_globals)  # a dataclass annotation string
        resolved[f.name] = annotation
    return resolved


def _strip_optional(annotation: object) -> object:
    """`X | None` -> X (TOML has no null: leaving the key out keeps the default None)."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(members) == 1:
            return members[0]
    return annotation


def _scalar(value: object, kind: object) -> tuple[object, str]:
    """(coerced value, '') or (None, reason) for one scalar of type int/float/str/bool."""
    if kind is bool:
        return (value, "") if isinstance(value, bool) else (None, "expected a boolean")
    if kind is str:
        return (value, "") if isinstance(value, str) else (None, "expected a string")
    if isinstance(value, bool) or not isinstance(value, int | float):
        wanted = "an integer" if kind is int else "a number"
        return None, f"expected {wanted}"
    if kind is int:
        return (value, "") if isinstance(value, int) else (None, "expected an integer")
    if kind is float:
        if not math.isfinite(value):
            return None, "expected a finite number"
        return float(value), ""
    raise TypeError(f"unsupported Params field type {kind!r}")


def coerce(value: object, annotation: object) -> tuple[object, str]:
    """Check `value` against a field annotation: (coerced value, '') or (None, reason).

    Arrays become tuples, so `ParamsType(**table)` works on the result.
    """
    kind = _strip_optional(annotation)
    if typing.get_origin(kind) is tuple:
        args = typing.get_args(kind)
        if len(args) != 2 or args[1] is not Ellipsis:
            raise TypeError(f"unsupported Params field type {kind!r}")
        if not isinstance(value, list):
            return None, "expected an array"
        items: list[object] = []
        for i, item in enumerate(value):
            good, reason = _scalar(item, args[0])
            if reason:
                return None, f"item {i + 1}: {reason}, got {toml_type(item)}"
            items.append(good)
        return tuple(items), ""
    good, reason = _scalar(value, kind)
    return (good, "") if not reason else (None, f"{reason}, got {toml_type(value)}")


def _bounds_reason(value: object, f: dataclasses.Field[Any]) -> str:
    """Why a number is out of bounds ('' when fine); numbers are >= 0 unless metadata says."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return ""
    low = f.metadata.get(MIN, 0)
    high = f.metadata.get(MAX)
    if value < low:
        return f"must be at least {low}, got {value}"
    if high is not None and value > high:
        return f"must be at most {high}, got {value}"
    return ""


# ---- typed readers for hand-written sections ----


def check_keys(table: Mapping[str, object], known: Collection[str], file: str, prefix: str) -> None:
    """Refuse any key of `table` not in `known`, with a "did you mean"."""
    for key in table:
        if key not in known:
            where = f"{prefix}.{key}" if prefix else key
            raise ProfileError(file, where, unknown_key(key, known))


def read_str(
    table: Mapping[str, object], key: str, file: str, where: str, default: str | None = None
) -> str:
    """A string value; `default=None` makes the key required."""
    value = table.get(key, default)
    if value is None:
        raise ProfileError(file, where, "missing (this key is required)")
    if not isinstance(value, str):
        raise ProfileError(file, where, f"expected a string, got {toml_type(value)}")
    return value


def read_bool(table: Mapping[str, object], key: str, file: str, where: str, default: bool) -> bool:
    """A boolean value with a default."""
    value = table.get(key, default)
    if not isinstance(value, bool):
        raise ProfileError(file, where, f"expected a boolean (true/false), got {toml_type(value)}")
    return value


def read_choice(
    table: Mapping[str, object],
    key: str,
    choices: tuple[str, ...],
    file: str,
    where: str,
    default: str | None = None,
) -> str:
    """A string that must be one of `choices`."""
    value = read_str(table, key, file, where, default)
    if value not in choices:
        raise ProfileError(file, where, unknown_key(value, choices, "value"))
    return value


def sub_table(value: object, file: str, where: str, how: str) -> dict[str, Any]:
    """`value` if it is a TOML table, else a ProfileError saying how to write it."""
    if not isinstance(value, dict):
        raise ProfileError(file, where, f"expected a table ({how}), got {toml_type(value)}")
    return value


# ---- Params tables ----


def validate_table(
    params_type: type[Any], table: Mapping[str, object], file: str, key_prefix: str
) -> dict[str, object]:
    """Check a profile table against `params_type`; returns the given keys, values coerced.

    Unknown and planner-only keys are refused (with a "did you mean"); floats accept
    integers; booleans are never integers; numbers are finite and >= 0 unless the
    field's metadata sets "min"/"max". Raises ProfileError(file, "PREFIX.KEY", reason).
    """
    fields = {f.name: f for f in profile_fields(params_type)}
    annotations = field_types(params_type)
    clean: dict[str, object] = {}
    for key, value in table.items():
        where = f"{key_prefix}.{key}"
        if key not in fields:
            raise ProfileError(file, where, unknown_key(key, fields))
        good, reason = coerce(value, annotations[key])
        reason = reason or _bounds_reason(good, fields[key])
        if reason:
            raise ProfileError(file, where, reason)
        clean[key] = good
    return clean


def params_from_table(
    params_type: type[T], table: Mapping[str, object], file: str, key_prefix: str
) -> T:
    """Validate `table` (see validate_table) and build the frozen Params instance.

    Missing keys take the dataclass defaults. A ValueError raised by the dataclass
    itself (e.g. in __post_init__) becomes a ProfileError on `key_prefix`.
    """
    clean = validate_table(params_type, table, file, key_prefix)
    try:
        return params_type(**clean)
    except ValueError as exc:
        raise ProfileError(file, key_prefix, str(exc)) from exc
