"""Profiles: find a profile file, load it with its `extends` chain, validate it, apply overrides."""

from __future__ import annotations

import hashlib
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from netready.checks.base import registry
from netready.checks.firewall_params import FirewallParams
from netready.checks.voice_params import VoiceParams
from netready.errors import ProfileError, UsageError
from netready.model import Profile, Rule
from netready.params import did_you_mean, params_from_table, unknown_key
from netready.profile_validate import (
    STATISTICS,
    Layer,
    PlacedRule,
    address_problem,
    split_endpoint,
    validate_layer,
)
from netready.resources import data_dir

ADDRESS_HINT = "an IPv4/IPv6 address or a DNS name"


def known_check_params() -> dict[str, type[Any]]:
    """Check kind id -> Params dataclass: the built-in kinds merged with the registry."""
    import netready.checks  # noqa: F401  (importing it registers the built-in check kinds)

    known: dict[str, type[Any]] = {"media.voice": VoiceParams, "firewall": FirewallParams}
    known.update({kind: cls.Params for kind, cls in registry().items()})
    return known


def check_params(profile: Profile, kind: str) -> object:
    """The Params instance of check `kind` for `profile` (the defaults if it sets none)."""
    known = known_check_params()
    if kind not in known:
        raise ValueError(unknown_key(kind, known, "check kind"))
    table = profile.checks.get(kind, {})
    return params_from_table(known[kind], table, profile.path, f'checks."{kind}"')


# ---- finding profile files ----


def _names_in(folder: Path | None) -> list[str]:
    if folder is None or not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.toml"))


def shipped_profiles() -> list[str]:
    """Names of the profiles that ship with netready (e.g. ['lab', 'stimme'])."""
    return _names_in(data_dir("profiles"))


def find_profile(name_or_path: str, user_dir: Path | None = None) -> Path:
    """The file of a profile given as a path (has '/' or ends in .toml) or as a NAME.

    A NAME is looked up in the shipped profiles, then in `user_dir`. Raises UsageError
    when nothing matches, listing the available names and the closest one.
    """
    if "/" in name_or_path or name_or_path.endswith(".toml"):
        path = Path(name_or_path)
        if not path.is_file():
            raise UsageError(f"{name_or_path}: no such profile file")
        return path
    for folder in (data_dir("profiles"), user_dir):
        if folder is not None and (folder / f"{name_or_path}.toml").is_file():
            return folder / f"{name_or_path}.toml"
    names = sorted({*shipped_profiles(), *_names_in(user_dir)})
    listing = ", ".join(names) if names else "none"
    hint = did_you_mean(name_or_path, names)
    raise UsageError(f"no profile named '{name_or_path}' (available: {listing}){hint}")


# ---- reading and merging the extends chain ----


def _read_layer(path: Path, known: Mapping[str, type[Any]]) -> tuple[Layer, bytes]:
    file = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ProfileError(file, "file", f"cannot read it: {exc.strerror}") from exc
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ProfileError(file, "toml", f"not UTF-8 text (byte {exc.start})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(file, "toml", " ".join(str(exc).split())) from exc
    return validate_layer(file, data, known), raw


def _extends_path(layer: Layer, current: Path) -> Path:
    """The parent file named by `extends`: a path relative to `current`, or a shipped name."""
    extends = layer.meta["extends"]
    if "/" in extends or extends.endswith(".toml"):
        parent = Path(os.path.normpath(current.parent / extends))
        if not parent.is_file():
            raise ProfileError(layer.file, "profile.extends", f"no such file '{parent}'")
        return parent
    parent = data_dir("profiles") / f"{extends}.toml"
    if not parent.is_file():
        names = shipped_profiles()
        reason = unknown_key(extends, names, "shipped profile").replace("known:", "shipped:")
        raise ProfileError(layer.file, "profile.extends", reason)
    return parent


def _read_chain(path: Path, known: Mapping[str, type[Any]]) -> list[tuple[Layer, bytes]]:
    """The file and every file it extends, parent first; an extends cycle is an error."""
    chain: list[tuple[Layer, bytes]] = []
    seen: list[Path] = []
    current: Path | None = path
    while current is not None:
        layer, raw = _read_layer(current, known)
        chain.append((layer, raw))
        seen.append(current.resolve())
        current = _extends_path(layer, current) if "extends" in layer.meta else None
        if current is not None and current.resolve() in seen:
            names = " -> ".join(p.name for p in [*seen, current.resolve()])
            raise ProfileError(layer.file, "profile.extends", f"extends cycle: {names}")
    return chain[::-1]


def _merge(layers: list[Layer]) -> Layer:
    """Child over parent: hosts, targets (per metric), rules (by name), checks (per key)."""
    merged = Layer(file=layers[-1].file)
    rules: dict[str, PlacedRule] = {}
    for layer in layers:
        merged.meta.update(layer.meta)
        merged.hosts.update(layer.hosts)
        merged.targets.update(layer.targets)
        rules.update({placed.rule.name: placed for placed in layer.rules})
        for kind, table in layer.checks.items():
            merged.checks.setdefault(kind, {}).update(table)
    merged.meta.pop("extends", None)
    merged.rules = list(rules.values())
    return merged


def _check_rule_hosts(merged: Layer) -> None:
    for placed in merged.rules:
        if placed.rule.host not in merged.hosts:
            reason = unknown_key(placed.rule.host, merged.hosts, "host")
            raise ProfileError(placed.file, f"{placed.label}.host", reason)


# ---- command-line overrides ----


def parse_host_overrides(items: list[str]) -> dict[str, str]:
    """["NAME=ADDR", ...] from repeated --host options -> {NAME: ADDR}; ADDR may be empty."""
    overrides: dict[str, str] = {}
    for item in items:
        name, sep, address = item.partition("=")
        name, address = name.strip(), address.strip()
        if not sep or not name:
            raise UsageError(f"--host expects NAME=ADDR, got '{item}'")
        if name in overrides:
            raise UsageError(f"--host {name} is given twice")
        overrides[name] = address
    return overrides


def _apply_hosts(hosts: dict[str, str], overrides: Mapping[str, str]) -> dict[str, str]:
    result = dict(hosts)
    for name, address in overrides.items():
        if name not in hosts:
            listing = ", ".join(hosts) if hosts else "none"
            hint = did_you_mean(name, hosts)
            raise UsageError(
                f"--host {name}: the profile has no host '{name}' (hosts: {listing}){hint}"
            )
        problem = address_problem(address) if address else ""
        if problem:
            raise UsageError(
                f"--host {name}: {problem}; give --host {name}=ADDR with {ADDRESS_HINT}"
            )
        result[name] = address
    return result


def _no_address(name: str, users: str) -> UsageError:
    return UsageError(f"host '{name}' has no address, but {users} need it: give --host {name}=ADDR")


def _resolve_responder(value: str, hosts: Mapping[str, str], from_cli: bool, strict: bool) -> str:
    """Check ADDR[:PORT]; an ADDR that names a profile host is replaced by its address.

    With `strict`, a responder on a host that has no address is a UsageError; without,
    the value is returned unchanged.
    """
    if not value:
        return ""
    addr, port, problem = split_endpoint(value)
    if problem and from_cli:
        raise UsageError(
            f"--responder {value}: {problem}; give --responder ADDR[:PORT] ([ADDR]:PORT for IPv6)"
        )
    if addr not in hosts or not (hosts[addr] or strict):
        return value
    if not hosts[addr]:
        raise _no_address(addr, "the responder")
    real = hosts[addr]
    shown = f"[{real}]" if ":" in real and port is not None else real
    return shown if port is None else f"{shown}:{port}"


def missing_hosts(hosts: Mapping[str, str], rules: tuple[Rule, ...]) -> dict[str, list[str]]:
    """Host name -> the non-optional rules that need it, for hosts that have no address."""
    missing: dict[str, list[str]] = {}
    for rule in rules:
        if not rule.optional and not hosts.get(rule.host):
            missing.setdefault(rule.host, []).append(rule.name)
    return missing


# ---- the loader ----


def _profile(merged: Layer, digest: str, hosts: dict[str, str], responder: str) -> Profile:
    return Profile(
        name=merged.meta["name"],
        title=merged.meta.get("title", ""),
        path=merged.file,
        sha256=digest,
        hosts=hosts,
        targets=tuple(merged.targets[m] for m in STATISTICS if m in merged.targets),
        rules=tuple(placed.rule for placed in merged.rules),
        responder=responder,
        checks=merged.checks,
        source=merged.meta.get("source", ""),
        responder_stands_in=_stands_in(merged),
    )


def _stands_in(merged: Layer) -> tuple[str, ...]:
    """`responder_stands_in_for`, each name checked against the merged [hosts]."""
    names = tuple(n for n in merged.meta.get("responder_stands_in_for", "").split(",") if n)
    for name in names:
        if name not in merged.hosts:
            hint = did_you_mean(name, merged.hosts)
            raise ProfileError(
                merged.file,
                "profile.responder_stands_in_for",
                f"no host '{name}' in [hosts] (hosts: {', '.join(merged.hosts)}){hint}",
            )
    return names


def load_profile(
    path: Path,
    host_overrides: Mapping[str, str] | None = None,
    responder: str | None = None,
    *,
    require_hosts: bool = True,
) -> Profile:
    """Load, validate and merge a profile file (and what it extends); apply the overrides.

    Raises ProfileError(file, key, reason) for anything wrong in a file, and UsageError
    for a bad --host/--responder or (with `require_hosts`) a host without an address
    that a non-optional rule or the responder needs. Nothing is resolved or contacted.
    """
    chain = _read_chain(Path(path), known_check_params())
    merged = _merge([layer for layer, _ in chain])
    _check_rule_hosts(merged)
    digest = hashlib.sha256(b"".join(raw for _, raw in chain)).hexdigest()
    hosts = _apply_hosts(merged.hosts, host_overrides or {})
    from_cli = responder is not None
    chosen = responder if responder is not None else merged.meta.get("responder", "")
    address = _resolve_responder(chosen, hosts, from_cli, require_hosts)
    profile = _profile(merged, digest, hosts, address)
    missing = missing_hosts(hosts, profile.rules) if require_hosts else {}
    if missing:
        name, rules = next(iter(missing.items()))
        raise _no_address(name, f"rule(s) {', '.join(rules)}")
    return profile
