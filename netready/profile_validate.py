"""Validation of one parsed profile file, section by section, into a `Layer` (no I/O, no DNS)."""

from __future__ import annotations

import ipaddress
import itertools
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from netready.errors import ProfileError
from netready.model import Limit, PortRange, Rule, Target
from netready.params import (
    check_keys,
    read_bool,
    read_choice,
    read_str,
    sub_table,
    toml_type,
    unknown_key,
    validate_table,
)

NAME_RE = re.compile(r"[a-z0-9][a-z0-9_-]*\Z")
SECTIONS = ("profile", "hosts", "targets", "rules", "checks")
PROFILE_KEYS = ("name", "title", "source", "extends", "responder", "responder_stands_in_for")
RULE_KEYS = (
    "name",
    "protocol",
    "transport",
    "ports",
    "host",
    "function",
    "verify",
    "tls",
    "optional",
    "condition",
)
TRANSPORTS = ("tcp", "udp")
VERIFY = ("connect", "tls", "https", "echo", "stun", "sip", "ldaps", "h323")
TLS_VERIFY = frozenset({"tls", "https", "ldaps"})  # these always speak TLS
TCP_ONLY_VERIFY = frozenset({"connect", "tls", "https", "ldaps", "h323"})
STATISTICS = {
    "delay_ms": ("p50", "p95", "p99", "max", "mean"),
    "jitter_ms": ("running_max", "final", "ipdv_p95", "ipdv_p99"),
    "loss_pct": ("whole_run", "worst_window"),
}
DEFAULT_STATISTIC = {"delay_ms": "p95", "jitter_ms": "running_max", "loss_pct": "whole_run"}
TARGET_KEYS = ("max", "below", "statistic")
PORTS_HINT = 'expected e.g. 443, "5060,5061", "16384-32767" or [5060, "16384-32767"]'
_NO_BOUND = "missing the bound: give max = N (<=) or below = N (<)"
_LABEL_RE = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\Z")
_RANGE_RE = re.compile(r"\s*([0-9]+)\s*(?:-\s*([0-9]+)\s*)?\Z")


@dataclass(frozen=True)
class PlacedRule:
    """A validated rule and where it was written (for errors found after merging)."""

    rule: Rule
    file: str
    label: str  # "rules[3] (sip-udp)"


@dataclass
class Layer:
    """The validated contents of one profile file, before `extends` merging."""

    file: str
    meta: dict[str, str] = field(default_factory=dict)  # the [profile] keys given
    hosts: dict[str, str] = field(default_factory=dict)
    targets: dict[str, Target] = field(default_factory=dict)
    rules: list[PlacedRule] = field(default_factory=list)
    checks: dict[str, dict[str, object]] = field(default_factory=dict)


# ---- addresses (syntax only: nothing here resolves a name) ----


def address_problem(address: str) -> str:
    """Why `address` is not an IPv4/IPv6 address or RFC 1123 host name ('' when it is one)."""
    try:
        ipaddress.ip_address(address)
        return ""
    except ValueError:
        pass
    if ":" in address:
        return f"'{address}' is not a valid IPv6 address"
    if re.fullmatch(r"[0-9.]+", address):
        return f"'{address}' is not a valid IPv4 address"
    return _hostname_problem(address)


def _hostname_problem(name: str) -> str:
    """Why `name` is not an RFC 1123 host name ('' when it is one)."""
    bare = name[:-1] if name.endswith(".") else name
    if not bare or len(bare) > 253:
        return f"'{name}' is not a valid host name (1 to 253 characters)"
    labels = bare.split(".")
    bad = [label for label in labels if not _LABEL_RE.match(label)]
    if bad:
        return (
            f"'{name}' is not a valid host name (label '{bad[0]}': letters, digits and '-' only,"
            " 1 to 63 characters, no '-' at either end)"
        )
    if labels[-1].isdigit():
        return f"'{name}' is not a valid host name or IPv4 address"
    return ""


def split_endpoint(value: str) -> tuple[str, int | None, str]:
    """'ADDR[:PORT]' (IPv6 as '[ADDR]:PORT' or bare) -> (addr, port or None, problem or '')."""
    port_text: str | None = None
    if value.startswith("["):
        addr, sep, rest = value[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")) or ":" not in addr:
            return "", None, f"'{value}' is not ADDR[:PORT] (IPv6 is written [ADDR]:PORT)"
        port_text = rest[1:] if rest else None
    elif value.count(":") == 1:
        addr, _, port_text = value.partition(":")
    else:
        addr = value
    problem = address_problem(addr) if addr else f"'{value}' has no address"
    if problem or port_text is None:
        return addr, None, problem
    port = int(port_text) if re.fullmatch(r"[0-9]{1,5}", port_text) else 0
    if not 1 <= port <= 65535:
        return addr, None, f"port '{port_text}' in '{value}' is not a number from 1 to 65535"
    return addr, port, ""


def read_name(table: Mapping[str, object], key: str, file: str, where: str) -> str:
    """A required identifier: lower-case letters, digits, '_' and '-', not starting with _ or -."""
    value = read_str(table, key, file, where)
    if not NAME_RE.match(value):
        raise ProfileError(
            file,
            where,
            f"'{value}' is not a valid name (use a-z, 0-9, '_', '-'; start with a-z/0-9)",
        )
    return value


# ---- ports ----


def _port(number: int, text: object) -> int:
    if not 1 <= number <= 65535:
        raise ValueError(f"port {text} is out of range 1-65535")
    return number


def _one_item(item: object) -> list[PortRange]:
    """Port ranges from one int or one string ('443', '16384-32767', '5060,5061')."""
    if isinstance(item, bool) or not isinstance(item, int | str):
        raise ValueError(f"{PORTS_HINT}; got {toml_type(item)}")
    if isinstance(item, int):
        return [PortRange(_port(item, item), item)]
    ranges: list[PortRange] = []
    for part in item.split(","):
        match = _RANGE_RE.match(part)
        if not match:
            raise ValueError(f"'{part.strip()}' is not a port or range ({PORTS_HINT})")
        first = _port(int(match[1]), match[1])
        last = _port(int(match[2]), match[2]) if match[2] else first
        if first > last:
            raise ValueError(f"range '{part.strip()}' is reversed (first port above last)")
        ranges.append(PortRange(first, last))
    return ranges


def parse_ports(value: object) -> tuple[PortRange, ...]:
    """A rule's `ports` value -> ranges in the order given; ValueError(reason) if malformed."""
    items = value if isinstance(value, list) else [value]
    if not items:
        raise ValueError(f"empty list ({PORTS_HINT})")
    ranges = [r for item in items for r in _one_item(item)]
    ordered = sorted(ranges, key=lambda r: r.first)
    for before, after in itertools.pairwise(ordered):
        if after.first <= before.last:
            raise ValueError(f"ports overlap: {before} and {after}")
    return tuple(ranges)


# ---- sections ----


def _profile_meta(data: Mapping[str, Any], file: str) -> dict[str, str]:
    table = sub_table(data.get("profile", {}), file, "profile", "[profile]")
    check_keys(table, PROFILE_KEYS, file, "profile")
    meta = {"name": read_name(table, "name", file, "profile.name")}
    for key in ("title", "source", "extends", "responder"):
        if key in table:
            meta[key] = read_str(table, key, file, f"profile.{key}")
    if meta.get("responder"):
        problem = split_endpoint(meta["responder"])[2]
        if problem:
            raise ProfileError(file, "profile.responder", problem)
    if "extends" in meta and not meta["extends"]:
        raise ProfileError(file, "profile.extends", "must not be empty")
    if "responder_stands_in_for" in table:
        meta["responder_stands_in_for"] = _host_list(
            table["responder_stands_in_for"], file, "profile.responder_stands_in_for"
        )
    return meta


def _host_list(value: Any, file: str, where: str) -> str:
    """A list of host keys (["pbx", "stun"]), kept comma-joined; checked against [hosts] later."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ProfileError(
            file, where, f'expected host names like ["pbx", "stun"], not {toml_type(value)}'
        )
    for name in value:
        if not NAME_RE.match(name):
            raise ProfileError(file, where, f"'{name}' is not a valid host key")
    return ",".join(value)


def _hosts(data: Mapping[str, Any], file: str) -> dict[str, str]:
    table = sub_table(data.get("hosts", {}), file, "hosts", "[hosts]")
    hosts: dict[str, str] = {}
    for name, address in table.items():
        where = f"hosts.{name}"
        if not NAME_RE.match(name):
            raise ProfileError(
                file, where, f"'{name}' is not a valid host key (use a-z, 0-9, '_', '-')"
            )
        if not isinstance(address, str):
            raise ProfileError(
                file, where, f'expected a string (an address, or ""), got {toml_type(address)}'
            )
        problem = address_problem(address) if address else ""
        if problem:
            raise ProfileError(file, where, problem)
        hosts[name] = address
    return hosts


def _target(metric: str, table: dict[str, Any], file: str) -> Target:
    prefix = f"targets.{metric}"
    check_keys(table, TARGET_KEYS, file, prefix)
    given = [k for k in ("max", "below") if k in table]
    if len(given) != 1:
        reason = "give either max (<=) or below (<), not both" if given else _NO_BOUND
        raise ProfileError(file, prefix, reason)
    value = table[given[0]]
    where = f"{prefix}.{given[0]}"
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ProfileError(file, where, f"expected a number, got {toml_type(value)}")
    if value < 0 or (metric == "loss_pct" and value > 100):
        high = " or above 100" if metric == "loss_pct" else ""
        raise ProfileError(file, where, f"must not be negative{high}, got {value}")
    statistic = read_choice(
        table,
        "statistic",
        STATISTICS[metric],
        file,
        f"{prefix}.statistic",
        DEFAULT_STATISTIC[metric],
    )
    op = "<=" if given[0] == "max" else "<"
    return Target(metric=metric, limit=Limit(op, float(value)), statistic=statistic)


def _targets(data: Mapping[str, Any], file: str) -> dict[str, Target]:
    table = sub_table(data.get("targets", {}), file, "targets", "[targets.METRIC]")
    targets: dict[str, Target] = {}
    for metric, value in table.items():
        if metric not in STATISTICS:
            raise ProfileError(file, f"targets.{metric}", unknown_key(metric, STATISTICS, "metric"))
        how = f"[targets.{metric}]"
        targets[metric] = _target(metric, sub_table(value, file, f"targets.{metric}", how), file)
    return targets


def _rule_label(index: int, table: Mapping[str, object]) -> str:
    name = table.get("name")
    label = f"rules[{index}]"
    return f"{label} ({name})" if isinstance(name, str) and NAME_RE.match(name) else label


def _rule_ports(table: Mapping[str, object], file: str, where: str) -> tuple[PortRange, ...]:
    if "ports" not in table:
        raise ProfileError(file, where, f"missing (this key is required; {PORTS_HINT})")
    try:
        return parse_ports(table["ports"])
    except ValueError as exc:
        raise ProfileError(file, where, str(exc)) from exc


def _rule_consistency(rule: Rule, file: str, label: str) -> None:
    if rule.transport == "udp" and rule.verify in TCP_ONLY_VERIFY:
        raise ProfileError(file, f"{label}.verify", f"'{rule.verify}' needs transport = \"tcp\"")
    if rule.tls and rule.transport != "tcp":
        raise ProfileError(file, f"{label}.tls", 'TLS needs transport = "tcp"')
    if not rule.tls and rule.verify in TLS_VERIFY:
        raise ProfileError(file, f"{label}.tls", f"verify = '{rule.verify}' always uses TLS")
    if not rule.protocol.strip():
        raise ProfileError(file, f"{label}.protocol", "must not be empty")


def _rule(index: int, value: object, file: str) -> PlacedRule:
    table = sub_table(value, file, f"rules[{index}]", "[[rules]]")
    label = _rule_label(index, table)
    check_keys(table, RULE_KEYS, file, label)
    name = read_name(table, "name", file, f"{label}.name")
    transport = read_choice(table, "transport", TRANSPORTS, file, f"{label}.transport")
    verify_default = "connect" if transport == "tcp" else "echo"
    verify = read_choice(table, "verify", VERIFY, file, f"{label}.verify", verify_default)
    rule = Rule(
        name=name,
        protocol=read_str(table, "protocol", file, f"{label}.protocol"),
        transport=transport,
        ports=_rule_ports(table, file, f"{label}.ports"),
        host=read_name(table, "host", file, f"{label}.host"),
        function=read_str(table, "function", file, f"{label}.function", ""),
        verify=verify,
        tls=read_bool(table, "tls", file, f"{label}.tls", verify in TLS_VERIFY),
        optional=read_bool(table, "optional", file, f"{label}.optional", False),
        condition=read_str(table, "condition", file, f"{label}.condition", ""),
    )
    _rule_consistency(rule, file, label)
    return PlacedRule(rule, file, label)


def _rules(data: Mapping[str, Any], file: str) -> list[PlacedRule]:
    value = data.get("rules", [])
    if not isinstance(value, list):
        raise ProfileError(
            file, "rules", f"expected an array of tables ([[rules]]), got {toml_type(value)}"
        )
    placed: list[PlacedRule] = []
    seen: dict[str, str] = {}
    for index, item in enumerate(value, start=1):
        rule = _rule(index, item, file)
        if rule.rule.name in seen:
            where = f"{rule.label}.name"
            reason = f"duplicate rule name '{rule.rule.name}' (also {seen[rule.rule.name]})"
            raise ProfileError(file, where, reason)
        seen[rule.rule.name] = rule.label
        placed.append(rule)
    return placed


def _checks(
    data: Mapping[str, Any], file: str, known: Mapping[str, type[Any]]
) -> dict[str, dict[str, object]]:
    table = sub_table(data.get("checks", {}), file, "checks", '[checks."KIND"]')
    checks: dict[str, dict[str, object]] = {}
    for kind, value in table.items():
        where = f'checks."{kind}"'
        if kind not in known:
            raise ProfileError(file, where, unknown_key(kind, known, "check kind"))
        params = sub_table(value, file, where, f"[{where}]")
        checks[kind] = validate_table(known[kind], params, file, where)
    return checks


def validate_layer(file: str, data: Mapping[str, Any], known: Mapping[str, type[Any]]) -> Layer:
    """Validate one parsed profile file; `known` maps check kind ids to their Params types.

    Everything that can be checked within the file is checked here; rule hosts are
    checked after `extends` merging (a rule may use a host of the parent).
    """
    for key in data:
        if key not in SECTIONS:
            raise ProfileError(file, key, unknown_key(key, SECTIONS, "section"))
    return Layer(
        file=file,
        meta=_profile_meta(data, file),
        hosts=_hosts(data, file),
        targets=_targets(data, file),
        rules=_rules(data, file),
        checks=_checks(data, file, known),
    )
