"""Texts of the human report in English and German, and check texts in the reader's language.

The report document stores each check's `title` and `remediation` in the language of the run.
The same sentences come from templates in checks/*.toml (netready.checktexts); matching a stored
sentence against its template recovers the fields, and the other language's template gives the
translation. Where nothing matches, the stored text is shown as it is.
"""

from __future__ import annotations

import re
import string
from functools import cache
from typing import Any

from netready.checktexts import texts
from netready.resources import data_dir

LANGS = ("en", "de")

LABELS: dict[str, tuple[str, str]] = {
    # key: (English, German)
    "doc_title": ("Network readiness report", "Prüfbericht Netzwerkbereitschaft"),
    "verdict": ("Verdict", "Ergebnis"),
    "verdict_PASS": (
        "The network meets every requirement of the profile that was measured.",
        "Das Netzwerk erfüllt alle gemessenen Anforderungen des Profils.",
    ),
    "verdict_FAIL": (
        "At least one requirement is not met: see “What to change” below.",
        "Mindestens eine Anforderung ist nicht erfüllt: siehe „Was zu ändern ist“ unten.",
    ),
    "verdict_INCOMPLETE": (
        "Something could not be measured; nothing that was measured failed.",
        "Etwas konnte nicht gemessen werden; nichts Gemessenes ist durchgefallen.",
    ),
    "verdict_word_PASS": ("passed", "bestanden"),
    "verdict_word_FAIL": ("failed", "nicht bestanden"),
    "verdict_word_INCOMPLETE": ("incomplete", "unvollständig"),
    "interrupted": (
        "The run was interrupted: the report holds the partial measurements.",
        "Die Messung wurde abgebrochen: der Bericht enthält die Teilergebnisse.",
    ),
    "summary": ("Checks", "Prüfungen"),
    "site": ("Site", "Standort"),
    "customer": ("Customer", "Kunde"),
    "site_name": ("Site", "Standort"),
    "address": ("Address", "Adresse"),
    "installer": ("Measured by", "Messung durch"),
    "ticket": ("Ticket", "Ticket"),
    "when": ("When", "Zeitraum"),
    "measured_from": ("Measuring computer", "Messrechner"),
    "tool": ("Tool", "Werkzeug"),
    "profile": ("Profile", "Profil"),
    "profile_sha": ("Profile SHA-256", "Profil-SHA-256"),
    "key": ("Signing key", "Signaturschlüssel"),
    "key_id": ("key ID", "Schlüssel-ID"),
    "fingerprint": ("fingerprint", "Fingerabdruck"),
    "to_change": ("What to change", "Was zu ändern ist"),
    "targets": ("Targets", "Zielwerte"),
    "targets_intro": (
        "Measured end to end between this site and the platform's responder, per direction.",
        "Gemessen Ende zu Ende zwischen diesem Standort und dem Responder der Plattform, "
        "je Richtung.",
    ),
    "voice": ("Voice path", "Sprachpfad"),
    "metric": ("Metric", "Messgröße"),
    "up": ("upstream (site → platform)", "aufwärts (Standort → Plattform)"),
    "down": ("downstream (platform → site)", "abwärts (Plattform → Standort)"),
    "up_short": ("up", "auf"),
    "down_short": ("down", "ab"),
    "target": ("Target", "Zielwert"),
    "result": ("Result", "Ergebnis"),
    "round_trip": ("round trip", "Hin und zurück"),
    "delay": ("Delay", "Verzögerung"),
    "jitter": ("Jitter (RFC 3550)", "Jitter (RFC 3550)"),
    "loss": ("Packet loss", "Paketverlust"),
    "mos": ("MOS (E-model, G.107)", "MOS (E-Modell, G.107)"),
    "r_factor": ("R factor", "R-Faktor"),
    "rtt": ("Round-trip time", "Umlaufzeit (RTT)"),
    "ipdv": ("IPDV p99 (RFC 3393)", "IPDV p99 (RFC 3393)"),
    "pdv": ("PDV p99 (RFC 5481)", "PDV p99 (RFC 5481)"),
    "worst_window": ("Loss, worst 15 s window", "Verlust, schlechtestes 15-s-Fenster"),
    "burst": ("Longest loss burst (packets)", "Längste Verlustfolge (Pakete)"),
    "packets": ("Packets sent / answered", "Pakete gesendet / beantwortet"),
    "reordered": ("Reordered / duplicates", "Vertauscht / doppelt"),
    "estimated_note": (
        "One-way delay is estimated as RTT/2: the clocks of both ends were not both "
        "synchronised, so the directions cannot be told apart for delay.",
        "Die Einweg-Verzögerung ist als RTT/2 geschätzt: die Uhren beider Seiten waren nicht "
        "beide synchronisiert, daher lässt sich die Verzögerung nicht nach Richtung trennen.",
    ),
    "measured_note": (
        "One-way delay is measured per direction (both clocks synchronised).",
        "Die Einweg-Verzögerung ist je Richtung gemessen (beide Uhren synchronisiert).",
    ),
    "stun_note": (
        "No responder answered: round-trip figures from a paced STUN stream to the platform's "
        "STUN server; the directions cannot be separated.",
        "Kein Responder hat geantwortet: Umlaufwerte aus einem getakteten STUN-Strom zum "
        "STUN-Server der Plattform; die Richtungen lassen sich nicht trennen.",
    ),
    "chart_delay": ("Delay over time", "Verzögerung über die Zeit"),
    "chart_delay_est": (
        "Delay over time (RTT/2, estimated)",
        "Verzögerung über die Zeit (RTT/2, geschätzt)",
    ),
    "chart_jitter": ("RFC 3550 jitter over time", "RFC-3550-Jitter über die Zeit"),
    "series_up": ("upstream", "aufwärts"),
    "series_down": ("downstream", "abwärts"),
    "series_rtt_half": ("RTT/2 (both directions)", "RTT/2 (beide Richtungen)"),
    "series_rtt": ("round trip", "Hin und zurück"),
    "loss_up": ("lost ↑", "Verlust ↑"),
    "loss_down": ("lost ↓", "Verlust ↓"),
    "loss_rt": ("lost", "Verlust"),
    "loss_unknown": ("unknown", "unbekannt"),
    "axis_ms": ("ms", "ms"),
    "axis_s": ("seconds since start", "Sekunden seit Beginn"),
    "target_line": ("target {op} {value} ms", "Zielwert {op} {value} ms"),
    "off_scale": ("{label}: above this scale", "{label}: oberhalb dieser Skala"),
    "warmup": ("warm-up (not judged)", "Einschwingen (nicht bewertet)"),
    "no_data": ("no answered packets", "keine beantworteten Pakete"),
    "no_samples": (
        "The report holds no samples for charts.",
        "Der Bericht enthält keine Messpunkte für Diagramme.",
    ),
    "bad_samples": (
        "The samples in the report could not be read: {why}",
        "Die Messpunkte im Bericht sind nicht lesbar: {why}",
    ),
    "chart_note": (
        "Charts recomputed from the signed samples ({count} probes); at most {max} points "
        "per line (lowest and highest of each slice kept). Red ticks under the delay chart: "
        "lost packets, shaded by the share attributed to that direction.",
        "Diagramme aus den signierten Messpunkten neu berechnet ({count} Pakete); höchstens "
        "{max} Punkte je Linie (Minimum und Maximum jedes Abschnitts bleiben erhalten). "
        "Rote Striche unter dem Verzögerungsdiagramm: verlorene Pakete, abgestuft nach dem "
        "Anteil, der dieser Richtung zugeordnet ist.",
    ),
    "ports": ("Port plan (firewall rules)", "Portplan (Firewall-Regeln)"),
    "rule": ("Rule", "Regel"),
    "protocol": ("Protocol", "Protokoll"),
    "ports_planned": ("Ports", "Ports"),
    "destination": ("Destination", "Ziel"),
    "function": ("Function", "Funktion"),
    "open": ("open", "offen"),
    "blocked": ("blocked", "gesperrt"),
    "not_tested": ("not tested", "nicht getestet"),
    "status": ("Status", "Status"),
    "optional": ("optional", "optional"),
    "not_in_run": ("not part of this run", "nicht Teil dieser Messung"),
    "services": ("Service checks", "Dienstprüfungen"),
    "check": ("Check", "Prüfung"),
    "findings": ("Findings and evidence", "Befund und Belege"),
    "remediation": ("Remediation", "Abhilfe"),
    "fix": ("Fix", "Abhilfe"),
    "english_only": ("(in English)", "(auf Englisch)"),
    "method": ("Method and instrument error", "Methode und Messfehler des Werkzeugs"),
    "method_used": ("Method", "Methode"),
    "delay_method": ("Delay method", "Verzögerung ermittelt als"),
    "delay_measured": ("measured one way (T2−T1, T4−T3)", "einweg gemessen (T2−T1, T4−T3)"),
    "delay_estimated": ("estimated as RTT/2", "geschätzt als RTT/2"),
    "timestamp_source": ("Timestamp source", "Zeitstempelquelle"),
    "clocks": ("Clocks synchronised (local / remote)", "Uhren synchronisiert (lokal / entfernt)"),
    "send_late": ("Send lateness p99 / max", "Sendeverspätung p99 / max"),
    "send_late_mean": ("Send lateness mean", "Sendeverspätung Mittel"),
    "pacing": ("Real-time pacing (SCHED_FIFO)", "Echtzeit-Taktung (SCHED_FIFO)"),
    "stream": ("Stream", "Strom"),
    "stream_value": (
        "{rate} packets/s each way, {payload}-byte payload, DSCP {dscp}, {duration} s",
        "{rate} Pakete/s je Richtung, {payload} Byte Nutzlast, DSCP {dscp}, {duration} s",
    ),
    "authenticated": ("Authenticated (HMAC)", "Authentisiert (HMAC)"),
    "replies_ignored": (
        "Ignored / late replies, send errors",
        "Ignorierte / späte Antworten, Sendefehler",
    ),
    "definitions": ("Definitions (as signed)", "Definitionen (wie signiert, englisch)"),
    "yes": ("yes", "ja"),
    "no": ("no", "nein"),
    "unknown": ("unknown", "unbekannt"),
    "environment": ("Environment", "Umgebung"),
    "local_addresses": ("Local addresses", "Lokale Adressen"),
    "gateways": ("Gateways", "Gateways"),
    "dns_servers": ("DNS servers", "DNS-Server"),
    "public_address": ("Public address", "Öffentliche Adresse"),
    "nat_behaviour": ("NAT behaviour", "NAT-Verhalten"),
    "os": ("Operating system", "Betriebssystem"),
    "verify": ("How to verify this report", "So prüfen Sie diesen Bericht"),
    "verify_intro": (
        "This page is a rendering. The evidence is report.json; its signature "
        "report.json.minisig is made with the key below. Check it with the stock minisign tool "
        "or with netready:",
        "Diese Seite ist nur eine Darstellung. Der Beleg ist report.json; die Signatur "
        "report.json.minisig ist mit dem unten genannten Schlüssel erstellt. Prüfen Sie sie "
        "mit dem Standardwerkzeug minisign oder mit netready:",
    ),
    "verify_key": (
        "The public key netready.pub must show key ID {key_id} and fingerprint {fp}; compare "
        "them with the key the installer's company published.",
        "Der öffentliche Schlüssel netready.pub muss die Schlüssel-ID {key_id} und den "
        "Fingerabdruck {fp} zeigen; vergleichen Sie beides mit dem Schlüssel, den die Firma "
        "des Installateurs veröffentlicht hat.",
    ),
    "verify_trusted": (
        "The signature's trusted comment repeats verdict, site, time and the profile's SHA-256.",
        "Der vertrauenswürdige Kommentar der Signatur wiederholt Ergebnis, Standort, Zeit und "
        "den SHA-256 des Profils.",
    ),
    "status_pass": ("pass", "bestanden"),
    "status_fail": ("fail", "nicht bestanden"),
    "status_error": ("error", "Fehler"),
    "status_skipped": ("skipped", "übersprungen"),
    "status_not_tested": ("not tested", "nicht getestet"),
    "none": ("—", "—"),
    "stat_p50": ("median", "Median"),
    "stat_p95": ("95th percentile", "95. Perzentil"),
    "stat_p99": ("99th percentile", "99. Perzentil"),
    "stat_max": ("maximum", "Maximum"),
    "stat_min": ("minimum", "Minimum"),
    "stat_mean": ("mean", "Mittelwert"),
    "stat_running_max": (
        "highest running value after 16 packets",
        "höchster laufender Wert nach 16 Paketen",
    ),
    "stat_final": ("value at the end", "Wert am Ende"),
    "stat_whole_run": ("whole run", "gesamte Messung"),
    "stat_worst_window": ("worst 15 s window", "schlechtestes 15-s-Fenster"),
    "per_direction": ("per direction", "je Richtung"),
    "delay_stats": ("Delay p50 / p99 / max", "Verzögerung p50 / p99 / max"),
    "not_measured": ("not measured", "nicht gemessen"),
    "page": ("page", "Seite"),
}


def label(key: str, lang: str, **fields: object) -> str:
    """A label in `lang` (English when the language is unknown)."""
    en, de = LABELS[key]
    out = de if lang == "de" else en
    return out.format(**fields) if fields else out


def status_label(status: str, lang: str) -> str:
    """The word for a check status; the raw status when it is not a known one."""
    key = f"status_{status}"
    return label(key, lang) if key in LABELS else status


@cache
def _kinds() -> tuple[str, ...]:
    """Every check kind with a text file (checks/<kind>.toml)."""
    folder = data_dir("checks")
    return tuple(sorted(p.stem for p in folder.glob("*.toml"))) if folder.is_dir() else ()


MAX_TRANSLATED_CHARS = 2000  # netready's own titles and fixes are far shorter


@cache
def _pattern(template: str) -> re.Pattern[str] | None:
    """A regex matching what `template.format(**fields)` produces, one group per field."""
    parts: list[str] = []
    seen: set[str] = set()
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError:
        return None
    for literal, name, _spec, _conv in parsed:
        parts.append(re.escape(literal))
        if name is None:
            continue
        if not name.isidentifier():
            return None
        parts.append(f"(?P={name})" if name in seen else f"(?P<{name}>.+?)")
        seen.add(name)
    return re.compile("^" + "".join(parts) + "$", re.DOTALL)


def _kind_order(check_id: str) -> list[str]:
    """Text kinds to try for a check id: the likely ones first (firewall.x -> firewall)."""
    first = check_id.split(".", 1)[0]
    aliases = {"media": "media.voice", "path": "mtu", "nat": "nat.lifetime"}
    likely = [k for k in (check_id, first, aliases.get(first, "")) if k in _kinds()]
    return likely + [k for k in _kinds() if k not in likely]


def translate(check_id: str, prefix: str, stored: str, lang: str) -> str | None:
    """`stored` (a title or remediation of the check) in `lang`, or None when no template fits.

    `prefix` is "title" or "remediation": every key of a kind's toml starting with it is tried
    (title, title_options, remediation_proxy, ...), in either language as the source.
    """
    if not stored or len(stored) > MAX_TRANSLATED_CHARS:
        return None  # a template match costs more than linear time: long texts stay as they are
    for kind in _kind_order(check_id):
        for key, entry in texts(kind).items():
            if not key.startswith(prefix) or not isinstance(entry, dict):
                continue
            wanted = entry.get(lang)
            if not isinstance(wanted, str):
                continue
            for source in LANGS:
                template = entry.get(source)
                pattern = _pattern(template) if isinstance(template, str) else None
                match = pattern.match(stored) if pattern else None
                if match is None:
                    continue
                try:
                    return wanted.format(**match.groupdict())
                except (KeyError, IndexError, ValueError):
                    continue
    return None


def check_title(check: dict[str, Any], lang: str) -> str:
    """The check's title in `lang` from checks/*.toml, else the stored one."""
    stored = str(check.get("title", ""))
    return translate(str(check.get("id", "")), "title", stored, lang) or stored


def check_remediation(check: dict[str, Any], lang: str) -> tuple[str, bool]:
    """(remediation in `lang`, True when it is) -- else the stored text and False.

    A German copy in evidence `remediation_de` (firewall, qos, path.mtu) wins for German.
    """
    stored = str(check.get("remediation", ""))
    if not stored:
        return "", True
    evidence = check.get("evidence")
    if lang == "de" and isinstance(evidence, dict):
        german = evidence.get("remediation_de")
        if isinstance(german, str) and german:
            return german, True
    found = translate(str(check.get("id", "")), "remediation", stored, lang)
    if found is not None:
        return found, True
    return stored, lang == "en"
