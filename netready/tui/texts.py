"""Every word the app shows, in English and German (no textual import: testable alone)."""

from __future__ import annotations

from netready.lang import LANGS, default_lang

__all__ = ["LANGS", "default_lang", "keys", "t"]

_TEXTS: dict[str, tuple[str, str]] = {
    # start screen
    "app_title": (
        "netready: is this site ready for cloud telephony?",
        "netready: ist dieser Standort bereit für Cloud-Telefonie?",
    ),
    "profile": ("Profile", "Profil"),
    "customer": ("Customer", "Kunde"),
    "site": ("Site", "Standort"),
    "address": ("Address", "Adresse"),
    "installer": ("Installer", "Techniker"),
    "ticket": ("Ticket no.", "Ticket-Nr."),
    "hosts": (
        "Hosts of the profile (address or name; empty = not used)",
        "Hosts des Profils (Adresse oder Name; leer = nicht genutzt)",
    ),
    "responder": ("Responder ADDR[:PORT]", "Responder ADDR[:PORT]"),
    "duration": ("Stream length (s)", "Messdauer (s)"),
    "quick": (
        "Quick mode (15 s streams, sampled ranges)",
        "Schnellmodus (15 s, Stichproben der Bereiche)",
    ),
    "local_responder": (
        "Start a local responder (lab demo on 127.0.0.1)",
        "Lokalen Responder starten (Labor-Demo auf 127.0.0.1)",
    ),
    "credentials": (
        "Credentials (kept in memory for this run only, never saved or reported)",
        "Zugangsdaten (nur für diesen Lauf im Speicher, nie gespeichert oder berichtet)",
    ),
    "turn_user": ("TURN user", "TURN-Benutzer"),
    "turn_password": ("TURN password", "TURN-Passwort"),
    "ldap_dn": ("LDAP bind DN", "LDAP-Bind-DN"),
    "ldap_password": ("LDAP password", "LDAP-Passwort"),
    "start_hint": (
        "Fill in the site, then press ctrl+r to measure.",
        "Standort ausfüllen, dann mit Strg+R messen.",
    ),
    "needs_host": ("needed by {rules}", "benötigt für {rules}"),
    # run screen
    "checks": ("Checks", "Prüfungen"),
    "delay_up": ("Delay ↑", "Laufzeit ↑"),
    "delay_down": ("Delay ↓", "Laufzeit ↓"),
    "jitter_up": ("Jitter ↑", "Jitter ↑"),
    "jitter_down": ("Jitter ↓", "Jitter ↓"),
    "estimated": ("RTT/2", "RTT/2"),
    "loss_line": (
        "sent {sent}, back {received}, lost {lost} ({pct:.2f} %)",
        "gesendet {sent}, zurück {received}, verloren {lost} ({pct:.2f} %)",
    ),
    "ports": ("Port plan", "Portplan"),
    "waiting": ("waiting for the first check", "warte auf die erste Prüfung"),
    "cancel_q": (
        "Stop the measurement? A signed report marked INCOMPLETE is still written.",
        "Messung abbrechen? Ein signierter Bericht mit UNVOLLSTÄNDIG wird trotzdem geschrieben.",
    ),
    "yes": ("Yes, stop", "Ja, abbrechen"),
    "no": ("No, go on", "Nein, weiter"),
    "stopping": (
        "stopping: the current check hands back what it measured",
        "breche ab: die laufende Prüfung gibt ihre Messwerte zurück",
    ),
    "run_failed": (
        "the run could not be completed: {why}",
        "der Lauf konnte nicht beendet werden: {why}",
    ),
    # result screen
    "verdict_PASS": (
        "PASS: the network meets the requirements",
        "BESTANDEN: das Netz erfüllt die Anforderungen",
    ),
    "verdict_FAIL": (
        "FAIL: a requirement is not met",
        "NICHT BESTANDEN: eine Anforderung ist nicht erfüllt",
    ),
    "verdict_INCOMPLETE": (
        "INCOMPLETE: something could not be measured",
        "UNVOLLSTÄNDIG: etwas konnte nicht gemessen werden",
    ),
    "to_fix": ("What to look at", "Was zu tun ist"),
    "all_passed": ("Every check passed.", "Alle Prüfungen bestanden."),
    "fix": ("Fix", "Abhilfe"),
    "files": ("Signed files", "Signierte Dateien"),
    "key": (
        "Key ID {key_id}, fingerprint {fingerprint}",
        "Schlüssel-ID {key_id}, Fingerabdruck {fingerprint}",
    ),
    "verify_with": (
        "Verify: minisign -Vm {report} -p {pub}",
        "Prüfen: minisign -Vm {report} -p {pub}",
    ),
    "opened": ("opened {path}", "geöffnet: {path}"),
    "no_browser": (
        "no browser here: open {path} on another machine",
        "kein Browser hier: {path} auf einem anderen Rechner öffnen",
    ),
    # statuses
    "status_pass": ("pass", "ok"),
    "status_fail": ("FAIL", "FEHLER"),
    "status_error": ("error", "Fehler"),
    "status_skipped": ("skipped", "übersprungen"),
    "status_not_tested": ("not tested", "nicht getestet"),
    "status_running": ("running", "läuft"),
    "status_planned": ("…", "…"),
    # bindings
    "b_run": ("Run", "Messen"),
    "b_help": ("Help", "Hilfe"),
    "b_quit": ("Quit", "Beenden"),
    "b_cancel": ("Stop", "Abbrechen"),
    "b_open": ("Open HTML", "HTML öffnen"),
    "b_new": ("New run", "Neuer Lauf"),
    "b_lang": ("Deutsch/English", "Deutsch/English"),
    "b_close": ("Close", "Schließen"),
    "help_title": ("Keys", "Tasten"),
    "help_text": (
        "Start:   ctrl+r measure · tab/shift+tab next/previous field · ctrl+l language\n"
        "Run:     escape stop (asks first; the report is still written and signed)\n"
        "Result:  o open the HTML report · n new run · ctrl+q quit\n"
        "Always:  f1 this help · ctrl+t light/dark colours · ctrl+q quit\n\n"
        "The same checks run headless: netready check --profile NAME --host NAME=ADDR",
        "Start:    Strg+R messen · Tab/Umschalt+Tab nächstes/voriges Feld · Strg+L Sprache\n"
        "Messung:  Esc abbrechen (fragt zuerst; der Bericht wird\n"
        "          trotzdem geschrieben und signiert)\n"
        "Ergebnis: o HTML-Bericht öffnen · n neuer Lauf · Strg+Q beenden\n"
        "Immer:    F1 diese Hilfe · Strg+T hell/dunkel · Strg+Q beenden\n\n"
        "Dieselben Prüfungen ohne Oberfläche: netready check --profile NAME --host NAME=ADDR",
    ),
}


def t(key: str, lang: str, **fields: object) -> str:
    """The text `key` in `lang` (English when the language is unknown)."""
    en, de = _TEXTS[key]
    chosen = de if lang == "de" else en
    return chosen.format(**fields) if fields else chosen


def keys() -> list[str]:
    """Every text key (for the test that both languages are complete)."""
    return list(_TEXTS)
