"""The start form's values turned into a run, with the CLI's own checks and messages."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from netready.errors import UsageError
from netready.model import Profile
from netready.profile import find_profile, load_profile, shipped_profiles
from netready.report import keys
from netready.session import check_out_dir, default_out_dir
from netready.tui.sources import RunSettings

TURN_ENV = ("NETREADY_TURN_USERNAME", "NETREADY_TURN_PASSWORD")
LDAP_ENV = ("NETREADY_LDAP_BIND_DN", "NETREADY_LDAP_PASSWORD")


@dataclass
class FormValues:
    """What the start screen holds, as plain strings."""

    profile: str
    site: dict[str, str] = field(default_factory=dict)
    hosts: dict[str, str] = field(default_factory=dict)
    responder: str = ""
    duration: str = ""
    quick: bool = False
    local_responder: bool = False
    credentials: dict[str, str] = field(default_factory=dict, repr=False)


def user_profile_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Where an installer's own profiles live: <config dir>/profiles."""
    return keys.config_dir(environ or os.environ) / "profiles"


def available_profiles(environ: Mapping[str, str] | None = None) -> list[str]:
    """Shipped profiles first, then the user's own (by name, no duplicates)."""
    names = list(shipped_profiles())
    folder = user_profile_dir(environ)
    if folder.is_dir():
        names += sorted(p.stem for p in folder.glob("*.toml") if p.stem not in names)
    return names


def profile_as_shipped(name: str, environ: Mapping[str, str] | None = None) -> Profile:
    """The profile with its own hosts, no overrides (for prefilling the form)."""
    path = find_profile(name, user_profile_dir(environ))
    return load_profile(path, require_hosts=False)


def needs_credentials(profile: Profile) -> tuple[bool, bool]:
    """(TURN, LDAP): whether the profile has rules whose checks ask for credentials."""
    words = [f"{r.name} {r.protocol} {r.function}".lower() for r in profile.rules]
    return any("turn" in w for w in words), any("ldap" in w for w in words)


def parse_duration(text: str) -> float | None:
    """Empty = the profile's length; else 1..3600 s with the CLI's message."""
    if not text.strip():
        return None
    try:
        value = float(text.replace(",", "."))
    except ValueError:
        raise UsageError("--duration: give 1 to 3600 seconds") from None
    if not 1.0 <= value <= 3600.0:
        raise UsageError("--duration: give 1 to 3600 seconds")
    return value


def host_overrides(values: FormValues, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The hosts the form changed from the profile's own: the `--host NAME=ADDR` options."""
    shipped = profile_as_shipped(values.profile, environ)
    overrides = {k: v.strip() for k, v in values.hosts.items() if k in shipped.hosts}
    return {k: v for k, v in overrides.items() if v != shipped.hosts.get(k, "")}


def validate(values: FormValues, environ: Mapping[str, str] | None = None) -> Profile:
    """The profile with the form's hosts and responder; UsageError as the CLI words it."""
    path = find_profile(values.profile, user_profile_dir(environ))
    responder = values.responder.strip() or None
    return load_profile(path, host_overrides(values, environ), responder)


def settings_from(
    values: FormValues, out_base: Path, environ: Mapping[str, str] | None = None
) -> RunSettings:
    """Everything checked, the signing key loaded (or made), a new report folder chosen."""
    path = find_profile(values.profile, user_profile_dir(environ))
    profile = validate(values, environ)
    duration = parse_duration(values.duration)
    out_dir = default_out_dir(out_base)
    check_out_dir(out_dir)
    keys.load_or_create(keys.config_dir(environ or os.environ))  # a key problem shows here
    return RunSettings(
        profile=profile,
        profile_path=path,
        out_dir=out_dir,
        site={k: v.strip() for k, v in values.site.items()},
        host_overrides=host_overrides(values, environ),
        responder=values.responder.strip() or None,
        quick=values.quick,
        duration_s=duration,
        local_responder=values.local_responder,
        credentials={k: v for k, v in values.credentials.items() if v},
    )
