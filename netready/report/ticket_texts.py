"""The fixed wording of the support ticket in English and German (seed 000's fault report)."""

from __future__ import annotations

LANGS = ("en", "de")

# The five items a fault report must give (seed 000, "Fehlermeldung"), in the document's order.
FIELDS = {
    "en": (
        "Description of the incident",
        "Time and duration of the incident",
        "Kind (user, line, device) and scope (number, sites, servers) of the affected objects",
        "Reproducibility (whether and how the incident reproduces)",
        "Steps already taken to fix the problem",
    ),
    "de": (
        "Aussagekräftige Beschreibung des Vorfalls",
        "Zeitpunkt und Dauer des Vorfalls",
        "Art (z. B. Benutzer, Leitung, Gerät) und Umfang (z. B. Anzahl, Standorte, Server)"
        " der betroffenen Objekte",
        "Reproduzierbarkeit des Vorfalls",
        "Bereits unternommene Schritte zur Behebung des Problems",
    ),
}

# Priorities and response times (seed 000): level -> (name, response time in hours).
PRIORITIES = {
    "en": {
        1: ("total outage", 4),
        2: ("critical fault", 16),
        3: ("non-critical or sporadic fault", 32),
    },
    "de": {
        1: ("Totalausfall", 4),
        2: ("Kritischer Fehler", 16),
        3: ("Unkritischer oder sporadischer Fehler", 32),
    },
}

# Why a priority is suggested: one template per finding kind; {check} and {detail} are facts.
FINDINGS = {
    "en": {
        "no_connectivity": "no port of any measured firewall rule is open ({detail}) and the voice"
        " path did not pass: general loss of connectivity to the platform",
        "function_down": "{check}: every port blocked ({detail}): the function behind this rule"
        " is down",
        "mostly_blocked": "{check}: most ports blocked ({detail}): the function behind this rule"
        " fails nearly always",
        "partly_blocked": "{check}: some ports blocked ({detail}): the function fails only when"
        " one of them is used (sporadic)",
        "voice_targets": "{check}: {detail}: calls are possible but impaired",
        "check_failed": "{check} failed: {detail}",
        "not_measured": "nothing failed, but this could not be measured: {detail}",
        "all_met": "every requirement was met when measured: the measurement shows no network"
        " impairment, so it gives no ground for priority 1 or 2",
    },
    "de": {
        "no_connectivity": "kein Port einer gemessenen Firewall-Regel ist offen ({detail}) und der"
        " Sprachpfad hat nicht bestanden: genereller Verbindungsausfall zur Plattform",
        "function_down": "{check}: alle Ports gesperrt ({detail}): die Funktion hinter dieser Regel"
        " ist ausgefallen",
        "mostly_blocked": "{check}: die meisten Ports gesperrt ({detail}): die Funktion hinter"
        " dieser Regel scheitert fast immer",
        "partly_blocked": "{check}: einige Ports gesperrt ({detail}): die Funktion scheitert nur,"
        " wenn einer davon benutzt wird (sporadisch)",
        "voice_targets": "{check}: {detail}: Telefonie ist möglich, aber beeinträchtigt",
        "check_failed": "{check} nicht bestanden: {detail}",
        "not_measured": "nichts ist durchgefallen, aber dies konnte nicht gemessen werden:"
        " {detail}",
        "all_met": "alle Anforderungen waren bei der Messung erfüllt: die Messung zeigt keine"
        " Beeinträchtigung des Netzes und begründet daher weder Priorität 1 noch 2",
    },
}

LABELS = {
    "en": {
        "title": "Fault report (support ticket) - prefilled from a netready measurement",
        "draft": "Lines marked [...] are for you to fill in; everything else comes from the"
        " signed report.",
        "customer": "Customer",
        "site": "Site",
        "address": "Address",
        "installer": "Installer / contact",
        "ticket": "Ticket",
        "report": "Report",
        "report_line": "report.json, netready {version}, profile {profile} (sha256 {sha}...)",
        "blocked": "blocked",
        "signature": "Signature",
        "verdict": "Verdict",
        "PASS": "PASS (every requirement met)",
        "FAIL": "FAIL (a requirement is not met)",
        "INCOMPLETE": "INCOMPLETE (something could not be measured, nothing failed)",
        "priority": "Suggested priority",
        "priority_line": "{level} ({name}), response time {hours} h within service hours",
        "why": "Why",
        "caveat": "A measurement can only suggest a priority: the support desk sets it by the"
        " impairment the users see, and a workaround can lower it.",
        "fill_description": "[what do the users see? e.g. no registration, calls drop,"
        " one-way audio, choppy audio, video or app sharing fails]",
        "measured_fail": "The measurement found that the site's network does not meet the"
        " platform's requirements:",
        "measured_pass": "The measurement found that the site's network met every requirement"
        " of profile {profile}.",
        "measured_incomplete": "The measurement could not tell: nothing failed, but not"
        " everything could be measured.",
        "not_measured": "Not measured",
        "fill_time": "[when did the incident start? is it ongoing? how long did it last?]",
        "measured_at": "Measured from {start} to {end} (UTC, {seconds} s)",
        "voice_stream": "voice stream {seconds} s",
        "deadline": "Faults must be reported within 10 calendar days of becoming known.",
        "kind": "Kind: line (the site's network path to the platform)",
        "fill_kind": "[which users and devices? how many? other sites affected?]",
        "scope_site": "Site: {site}",
        "servers": "Servers concerned",
        "hosts": "Profile hosts",
        "rules": "Firewall rules measured: {total}, with blocked ports: {blocked}",
        "fill_repro": "[always, sometimes, once? how to trigger it?]",
        "repro_run": "The measurement can be repeated with: {command}",
        "repro_bursty": "Voice loss was bursty: whole run {whole} %, worst 15 s window {worst} %"
        " (a sign of a sporadic fault).",
        "taken_measured": "The network was measured with netready (the attached signed report).",
        "fill_steps": "[what else was done? e.g. restarted devices, changed firewall rules]",
        "recommended": "Recommended by the measurement (not yet done)",
        "measurements": "Measurements",
        "voice_header": "{check} ({method})",
        "col_metric": "metric",
        "col_up": "up",
        "col_down": "down",
        "col_target": "target",
        "col_result": "result",
        "ok": "ok",
        "not_met": "NOT MET",
        "n/a": "n/a",
        "delay": "delay",
        "jitter": "jitter",
        "loss": "loss",
        "delay_measured": "One-way delay measured (both clocks synchronised).",
        "delay_estimated": "One-way delay estimated as RTT/2 (clocks not known to be"
        " synchronised).",
        "delay_stun": "Directions could not be separated (STUN round trip only): up and down"
        " are round-trip values or halves of them.",
        "voice_extra": "RTT mean {rtt_mean} ms, p95 {rtt_p95} ms; packets sent {sent}, received"
        " {received}; MOS {mos}",
        "voice_none": "{check}: {status}: {reason}",
        "firewall": "Firewall rules",
        "ports_line": "open: {open}; blocked: {blocked}; not tested: {not_tested}",
        "other": "Other checks",
        "assessment": "Network assessment and SLA",
        "assess_FAIL": "The site's network did not meet the platform's requirements. The SLA"
        " excludes faults caused by the customer's network, third-party infrastructure or"
        " insufficient bandwidth: fix the items above, then measure again.",
        "assess_PASS": "The site's network met every requirement when measured, so it is"
        " unlikely to be the cause; please analyse the fault on the platform side.",
        "assess_INCOMPLETE": "Whether the network is the cause could not be decided: measure"
        " again with the missing parts (e.g. with a responder) before escalating.",
        "attached": "Attached",
        "verify_hint": "Check the report with: minisign -Vm report.json -p netready.pub (or"
        " netready verify report.json). Only report.json is signed; report.html is a rendering.",
        "none": "-",
    },
    "de": {
        "title": "Fehlermeldung (Support-Ticket) - vorausgefüllt aus einer netready-Messung",
        "draft": "Zeilen in [...] füllen Sie selbst aus; alles andere stammt aus dem signierten"
        " Bericht.",
        "customer": "Kunde",
        "site": "Standort",
        "address": "Adresse",
        "installer": "Installateur / Kontakt",
        "ticket": "Ticket",
        "report": "Bericht",
        "report_line": "report.json, netready {version}, Profil {profile} (sha256 {sha}...)",
        "blocked": "gesperrt",
        "signature": "Signatur",
        "verdict": "Ergebnis",
        "PASS": "PASS (alle Anforderungen erfüllt)",
        "FAIL": "FAIL (eine Anforderung ist nicht erfüllt)",
        "INCOMPLETE": "INCOMPLETE (nicht alles messbar, nichts durchgefallen)",
        "priority": "Vorgeschlagene Priorität",
        "priority_line": "{level} ({name}), Antwortzeit {hours} Stunden innerhalb der"
        " Servicezeiten",
        "why": "Begründung",
        "caveat": "Eine Messung kann eine Priorität nur vorschlagen: der Support legt sie nach"
        " der Beeinträchtigung fest, die die Benutzer sehen; ein Workaround kann sie senken.",
        "fill_description": "[Was sehen die Benutzer? z. B. keine Anmeldung, Gespräche brechen"
        " ab, einseitige oder abgehackte Sprache, Video oder App-Sharing geht nicht]",
        "measured_fail": "Die Messung hat ergeben, dass das Netz des Standorts die Anforderungen"
        " der Plattform nicht erfüllt:",
        "measured_pass": "Die Messung hat ergeben, dass das Netz des Standorts alle Anforderungen"
        " des Profils {profile} erfüllt hat.",
        "measured_incomplete": "Die Messung ist ohne Ergebnis: nichts ist durchgefallen, aber"
        " nicht alles konnte gemessen werden.",
        "not_measured": "Nicht gemessen",
        "fill_time": "[Seit wann besteht der Vorfall? Dauert er an? Wie lange dauerte er?]",
        "measured_at": "Gemessen von {start} bis {end} (UTC, {seconds} s)",
        "voice_stream": "Sprachstrom {seconds} s",
        "deadline": "Fehler sind spätestens zehn Kalendertage nach Bekanntwerden zu melden.",
        "kind": "Art: Leitung (der Netzweg vom Standort zur Plattform)",
        "fill_kind": "[Welche Benutzer und Geräte? Wie viele? Weitere Standorte betroffen?]",
        "scope_site": "Standort: {site}",
        "servers": "Betroffene Server",
        "hosts": "Hosts des Profils",
        "rules": "Gemessene Firewall-Regeln: {total}, davon mit gesperrten Ports: {blocked}",
        "fill_repro": "[Immer, manchmal, einmalig? Wie lässt er sich auslösen?]",
        "repro_run": "Die Messung lässt sich wiederholen mit: {command}",
        "repro_bursty": "Der Sprachverlust trat gehäuft auf: gesamter Lauf {whole} %,"
        " schlechtestes 15-s-Fenster {worst} % (Hinweis auf einen sporadischen Fehler).",
        "taken_measured": "Das Netz wurde mit netready gemessen (beiliegender signierter Bericht).",
        "fill_steps": "[Was wurde noch getan? z. B. Geräte neu gestartet, Firewall-Regeln"
        " geändert]",
        "recommended": "Von der Messung empfohlen (noch nicht erledigt)",
        "measurements": "Messwerte",
        "voice_header": "{check} ({method})",
        "col_metric": "Größe",
        "col_up": "hin",
        "col_down": "zurück",
        "col_target": "Ziel",
        "col_result": "Ergebnis",
        "ok": "ok",
        "not_met": "NICHT ERFÜLLT",
        "n/a": "k. A.",
        "delay": "Verzögerung",
        "jitter": "Jitter",
        "loss": "Verlust",
        "delay_measured": "Einweg-Verzögerung gemessen (beide Uhren synchronisiert).",
        "delay_estimated": "Einweg-Verzögerung als RTT/2 geschätzt (Uhren nicht sicher"
        " synchronisiert).",
        "delay_stun": "Richtungen nicht trennbar (nur STUN-Umlaufzeit): hin und zurück sind"
        " Umlaufwerte oder deren Hälfte.",
        "voice_extra": "RTT Mittel {rtt_mean} ms, p95 {rtt_p95} ms; Pakete gesendet {sent},"
        " empfangen {received}; MOS {mos}",
        "voice_none": "{check}: {status}: {reason}",
        "firewall": "Firewall-Regeln",
        "ports_line": "offen: {open}; gesperrt: {blocked}; nicht getestet: {not_tested}",
        "other": "Weitere Prüfungen",
        "assessment": "Bewertung des Netzes und SLA",
        "assess_FAIL": "Das Netz des Standorts erfüllte die Anforderungen der Plattform nicht."
        " Das SLA schließt Fehler aus, die auf das Netz des Kunden, Infrastruktur Dritter oder"
        " unzureichende Bandbreite zurückgehen: bitte die Punkte oben beheben und erneut messen.",
        "assess_PASS": "Das Netz des Standorts erfüllte bei der Messung alle Anforderungen und"
        " ist daher wahrscheinlich nicht die Ursache; bitte den Fehler auf Seiten der Plattform"
        " untersuchen.",
        "assess_INCOMPLETE": "Ob das Netz die Ursache ist, ließ sich nicht entscheiden: vor einer"
        " Eskalation die fehlenden Teile nachmessen (z. B. mit einem Responder).",
        "attached": "Anlagen",
        "verify_hint": "Bericht prüfen mit: minisign -Vm report.json -p netready.pub (oder"
        " netready verify report.json). Nur report.json ist signiert; report.html ist eine"
        " Darstellung davon.",
        "none": "-",
    },
}
