"""STAMP test sessions on the reflector: one per (peer address, peer port, SSID).

A session starts with its first accepted packet and ends when it has been idle for
`idle_s`, when the responder stops, or when the table is full and a new session needs
room. A session is *unconfirmed* until its second packet: a forged flood of made-up
sessions sends one packet per session, an honest stream many. Room is taken from the
oldest unconfirmed session first, so newcomers (an honest stream's first packet among
them) compete only with the flood's one-packet sessions; then from the least recently
active confirmed session, but only if it has been quiet for `protect_s` (a session that
keeps sending is never pushed out by a newcomer: the newcomer is refused instead,
`table-full`). One source address may hold
at most `per_source` sessions and one /24 (IPv4) or /64 (IPv6) `per_network`, so a
flood of made-up SSIDs or ports cannot fill the table from a few addresses. Finding
room looks at the least recently active session only: O(1) per newcomer. Each start
and each end is logged as one line; the end line sums up the session (packets
reflected, dropped by reason, duration).
Session lines are rate-limited, so a flood of new sources cannot flood the log.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from netready.responder.limits import LineBudget, burst_for, prefix_of, take_token
from netready.responder.replay import SeqWindow

SessionKey = tuple[str, int, int]  # peer address, peer port, SSID
#: Session lines logged when the responder stops; the rest are only counted.
STOP_LINES = 50
#: A session active this recently is never forgotten to make room for a newcomer.
PROTECT_S = 5.0
#: Sessions one source address, and one /24 or /64, may hold at once.
SESSIONS_PER_SOURCE = 64
SESSIONS_PER_NETWORK = 256


@dataclass(slots=True)
class Session:
    """One session's state: its own sequence counter, rate bucket and counters."""

    number: int
    key: SessionKey
    authenticated: bool
    started_ns: int
    last_seen_ns: int
    tokens: float
    next_seq: int = 0
    reflected: int = 0
    rate_drops: int = 0
    time_drops: int = 0
    replay_drops: int = 0
    window: SeqWindow | None = None  # authenticated sessions: sequence numbers seen

    def admit(self, now_ns: int, rate_per_s: float, burst: float) -> bool:
        """Take a token from the session's bucket (`rate_per_s` 0: no limit)."""
        if rate_per_s <= 0:
            return True
        ok, self.tokens = take_token(self.tokens, self.last_seen_ns, now_ns, rate_per_s, burst)
        return ok


def _peer_text(key: SessionKey) -> str:
    host, port, _ssid = key
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class SessionTable:
    """The reflector's sessions, bounded by `max_sessions`, with their log lines."""

    def __init__(
        self,
        max_sessions: int,
        idle_s: float,
        rate_per_s: float,
        log: Callable[[str], None] | None,
        protect_s: float = PROTECT_S,
        per_source: int = SESSIONS_PER_SOURCE,
        per_network: int = SESSIONS_PER_NETWORK,
    ) -> None:
        self.max_sessions = max_sessions
        self.idle_ns = int(idle_s * 1e9)
        self.protect_ns = int(protect_s * 1e9)
        self.per_source = per_source
        self.per_network = per_network
        self._by_source: dict[str, int] = {}
        self._by_network: dict[str, int] = {}
        self.rate = rate_per_s
        self.burst = burst_for(rate_per_s)
        self._log = log
        self._budget = LineBudget()
        # least recently active first: sessions seen twice or more, and seen once
        self._sessions: OrderedDict[SessionKey, Session] = OrderedDict()
        self._unconfirmed: OrderedDict[SessionKey, Session] = OrderedDict()
        self.started = 0
        self.evicted = 0  # confirmed sessions forgotten for room before their idle time
        self.unconfirmed_evicted = 0  # one-packet sessions forgotten for room

    def __len__(self) -> int:
        return len(self._sessions) + len(self._unconfirmed)

    def get(self, key: SessionKey, now_ns: int, authenticated: bool) -> Session | str:
        """The session for `key` (now the most recent one), started now if new; or the
        reason (a drop reason name) why no new session may start now."""
        session = self._sessions.get(key)
        if session is not None:
            self._sessions.move_to_end(key)
            return session
        session = self._unconfirmed.pop(key, None)
        if session is not None:  # its second packet: confirmed, and the most recent
            self._sessions[key] = session
            return session
        host = key[0]
        network = prefix_of(host)
        if self._by_source.get(host, 0) >= self.per_source:
            return "sessions-per-source"
        if self._by_network.get(network, 0) >= self.per_network:
            return "sessions-per-network"
        if len(self) >= self.max_sessions:
            refused = self._make_room(now_ns)
            if refused:
                return refused
        self.started += 1
        session = Session(self.started, key, authenticated, now_ns, now_ns, self.burst)
        if authenticated:
            session.window = SeqWindow()
        self._unconfirmed[key] = session
        self._by_source[host] = self._by_source.get(host, 0) + 1
        self._by_network[network] = self._by_network.get(network, 0) + 1
        self.log(
            f"STAMP session {session.number} from {_peer_text(key)} SSID {key[2]}, "
            f"authenticated: {'yes' if authenticated else 'no'}",
            now_ns,
        )
        return session

    def _make_room(self, now_ns: int) -> str:
        """Forget one session for a newcomer (O(1)); or the reason the newcomer is refused."""
        if self._unconfirmed:
            oldest = next(iter(self._unconfirmed.values()))
            self._forget(oldest)
            idle = now_ns - oldest.last_seen_ns > self.idle_ns
            self.unconfirmed_evicted += not idle
            self._end(oldest, "idle" if idle else "evicted: one packet, table full", now_ns, now_ns)
            return ""
        oldest = next(iter(self._sessions.values()))
        quiet_ns = now_ns - oldest.last_seen_ns
        if quiet_ns <= self.protect_ns:
            return "table-full"  # every session is in use: the newcomer waits
        self._forget(oldest)
        idle = quiet_ns > self.idle_ns
        self.evicted += not idle
        self._end(oldest, "idle" if idle else "evicted: session table full", now_ns, now_ns)
        return ""

    def _forget(self, session: Session) -> None:
        """Take `session` out of the table and its per-source and per-network counts."""
        if self._sessions.pop(session.key, None) is None:
            self._unconfirmed.pop(session.key, None)
        host = session.key[0]
        for table, name in ((self._by_source, host), (self._by_network, prefix_of(host))):
            left = table.get(name, 0) - 1
            if left > 0:
                table[name] = left
            else:
                table.pop(name, None)

    def expire(self, now_ns: int) -> list[SessionKey]:
        """End sessions idle for longer than the idle time; returns their keys."""
        idle = [
            s
            for table in (self._sessions, self._unconfirmed)
            for s in table.values()
            if now_ns - s.last_seen_ns > self.idle_ns
        ]
        for session in idle:
            self._forget(session)
            self._end(session, "idle", now_ns, now_ns)
        return [s.key for s in idle]

    def close(self, now_ns: int, why: str = "responder stopped") -> None:
        """End every session (the first STOP_LINES are logged, the rest only counted)."""
        sessions = list(self._sessions.values()) + list(self._unconfirmed.values())
        self._sessions.clear()
        self._unconfirmed.clear()
        self._by_source.clear()
        self._by_network.clear()
        for i, session in enumerate(sessions):
            if i < STOP_LINES:
                self._end(session, why, now_ns, None)
        if len(sessions) > STOP_LINES:
            self.log(f"{len(sessions) - STOP_LINES} more STAMP sessions ended ({why})", None)

    def log(self, line: str, now_ns: int | None) -> None:
        """Log a session line unless over the line budget (None: always log)."""
        if self._log is None or (now_ns is not None and not self._budget.allow(now_ns)):
            return
        skipped, self._budget.suppressed = self._budget.suppressed, 0
        suffix = f" ({skipped} session log lines suppressed before this one)" if skipped else ""
        self._log(line + suffix)

    def _end(self, session: Session, why: str, now_ns: int, budget_ns: int | None) -> None:
        counts = (
            (session.rate_drops, "session-rate"),
            (session.time_drops, "session-time"),
            (session.replay_drops, "replayed"),
        )
        drops = [f"{n} {reason}" for n, reason in counts if n]
        dropped = session.rate_drops + session.time_drops + session.replay_drops
        seconds = max(0, session.last_seen_ns - session.started_ns) / 1e9
        self.log(
            f"STAMP session {session.number} from {_peer_text(session.key)} SSID "
            f"{session.key[2]} ended ({why}): {session.reflected} reflected, {dropped} dropped"
            + (f" ({', '.join(drops)})" if drops else "")
            + f", {seconds:.1f} s",
            budget_ns,
        )
