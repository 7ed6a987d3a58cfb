"""Start screen: which profile, which site, which hosts; validated in place, remembered."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Checkbox, Footer, Header, Input, Label, Select, Static

from netready.errors import NetreadyError
from netready.profile import missing_hosts
from netready.tui.form import (
    LDAP_ENV,
    TURN_ENV,
    FormValues,
    available_profiles,
    needs_credentials,
    parse_duration,
    profile_as_shipped,
    settings_from,
    validate,
)
from netready.tui.keys import COMMON
from netready.tui.settings import SITE_KEYS, save_memory
from netready.tui.texts import t

if TYPE_CHECKING:
    from netready.tui.app import NetreadyApp

CREDENTIAL_FIELDS = (
    ("turn_user", TURN_ENV[0], False),
    ("turn_password", TURN_ENV[1], True),
    ("ldap_dn", LDAP_ENV[0], False),
    ("ldap_password", LDAP_ENV[1], True),
)


def _row(label: str, widget: Any) -> Horizontal:
    return Horizontal(Label(label, classes="label"), widget, classes="row")


class StartScreen(Screen[None]):
    """The form. ctrl+r validates everything and starts the run."""

    BINDINGS = [  # noqa: RUF012 (textual's idiom)
        Binding("ctrl+r", "run", "b_run", priority=True),
        Binding("ctrl+l", "toggle_lang", "b_lang", priority=True),
        *COMMON,
    ]

    @property
    def nr(self) -> NetreadyApp:
        from netready.tui.app import NetreadyApp

        assert isinstance(self.app, NetreadyApp)
        return self.app

    def compose(self) -> ComposeResult:
        lang, memory = self.nr.lang, self.nr.memory
        names = available_profiles(self.nr.environ)
        chosen = memory.profile if memory.profile in names else (names[0] if names else "")
        yield Header()
        with VerticalScroll(id="form"):
            yield Static(Text(t("start_hint", lang)), id="hint")
            yield _row(
                t("profile", lang),
                Select(
                    [(n, n) for n in names],
                    value=chosen,
                    allow_blank=False,
                    id="profile",
                    compact=True,
                ),
            )
            for key in SITE_KEYS:
                yield _row(
                    t(key, lang), Input(getattr(memory, key), id=f"site-{key}", compact=True)
                )
            yield Label(t("hosts", lang), classes="section")
            yield Vertical(id="hosts")
            yield _row(
                t("responder", lang),
                Input(
                    memory.responder, id="responder", placeholder="127.0.0.1:18620", compact=True
                ),
            )
            yield _row(t("duration", lang), Input(memory.duration, id="duration", compact=True))
            yield Checkbox(t("quick", lang), memory.quick, id="quick", compact=True)
            yield Checkbox(
                t("local_responder", lang),
                memory.local_responder,
                id="local_responder",
                compact=True,
            )
            with Vertical(id="credentials"):
                yield Label(t("credentials", lang), classes="section")
                for key, env, secret in CREDENTIAL_FIELDS:
                    yield _row(
                        t(key, lang),
                        Input(
                            self.nr.credentials.get(env, ""),
                            password=secret,
                            id=f"cred-{key}",
                            compact=True,
                        ),
                    )
            yield Static("", id="error")
        yield Footer()

    def on_mount(self) -> None:
        self.title = t("app_title", self.nr.lang)
        self._show_hosts()

    def _profile_name(self) -> str:
        value = self.query_one("#profile", Select).value
        return value if isinstance(value, str) else ""

    def _show_hosts(self) -> None:
        """One input per host of the chosen profile, prefilled from memory or the profile."""
        box = self.query_one("#hosts", Vertical)
        box.remove_children()
        name = self._profile_name()
        try:
            profile = profile_as_shipped(name, self.nr.environ)
        except NetreadyError as exc:
            self._error(str(exc))
            return
        remembered = self.nr.memory.hosts.get(name, {})
        needed = missing_hosts({}, profile.rules)
        rows = []
        for host, address in profile.hosts.items():
            hint = t("needs_host", self.nr.lang, rules=", ".join(needed.get(host, [])[:3]))
            rows.append(
                _row(
                    host,
                    Input(
                        remembered.get(host, address),
                        id=f"host-{host}",
                        placeholder=hint if host in needed else "",
                        compact=True,
                    ),
                )
            )
        box.mount_all(rows)
        turn, ldap = needs_credentials(profile)
        self.query_one("#credentials").display = turn or ldap
        lab = name == "lab"
        self.query_one("#local_responder").display = lab

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "profile":
            self._show_hosts()
            self._error("")

    def on_input_changed(self, event: Input.Changed) -> None:
        name = event.input.id or ""
        if name.startswith("host-") or name in ("responder", "duration"):
            values = self.values()
            try:
                validate(values, self.nr.environ)
                parse_duration(values.duration)
            except NetreadyError as exc:
                self._error(str(exc))
            else:
                self._error("")

    def _error(self, text: str) -> None:
        self.query_one("#error", Static).update(Text(f"netready: error: {text}" if text else ""))

    def values(self) -> FormValues:
        """The form as plain values."""
        hosts = {
            w.id.removeprefix("host-"): w.value
            for w in self.query("#hosts Input").results(Input)
            if w.id
        }
        creds = {
            env: self.query_one(f"#cred-{key}", Input).value for key, env, _ in CREDENTIAL_FIELDS
        }
        return FormValues(
            profile=self._profile_name(),
            site={k: self.query_one(f"#site-{k}", Input).value for k in SITE_KEYS},
            hosts=hosts,
            responder=self.query_one("#responder", Input).value,
            duration=self.query_one("#duration", Input).value,
            quick=self.query_one("#quick", Checkbox).value,
            local_responder=self.query_one("#local_responder", Checkbox).value
            and self._profile_name() == "lab",
            credentials=creds,
        )

    def _remember(self, values: FormValues) -> None:
        memory = self.nr.memory
        memory.profile = values.profile
        for k in SITE_KEYS:
            setattr(memory, k, values.site.get(k, ""))
        memory.responder, memory.duration = values.responder, values.duration
        memory.quick, memory.local_responder = values.quick, values.local_responder
        memory.hosts[values.profile] = dict(values.hosts)
        memory.lang = self.nr.lang
        self.nr.credentials = dict(values.credentials)  # memory only, never written
        save_memory(self.nr.config_dir, memory)

    def action_run(self) -> None:
        values = self.values()
        self._remember(values)
        try:
            settings = settings_from(values, self.nr.out_base, self.nr.environ)
            settings.lang = self.nr.lang
        except NetreadyError as exc:
            self._error(str(exc))
            return
        self._error("")
        self.nr.start_run(settings)

    def action_toggle_lang(self) -> None:
        self._remember(self.values())
        self.nr.lang = "en" if self.nr.lang == "de" else "de"
        self.nr.new_run()
