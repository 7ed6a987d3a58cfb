"""Replay protection for authenticated STAMP: a captured packet is answered once.

An HMAC proves who made a packet, not that it is new: without more, a packet captured
on the wire can be sent again, from any forged source, and the reflector answers it
every time (the reply goes to the forged source). Three rules stop that:

* freshness: the sender's own timestamp (T1, covered by the HMAC) must lie within
  `window_s` of the reflector's clock. Both clocks must agree to within that window,
  as for Kerberos (0 switches the rule off);
* `ReplayCache`: the HMAC tags of the packets answered in the last 2 x `window_s`,
  over every source, so a fresh packet replayed from another (forged) address is
  recognised. A replay accepted by the freshness rule is at most 2 x window_s younger
  than the original, and a tag is remembered at least that long. Two generations of
  tags rotate; memory is bounded by `max_tags` per generation (when one fills early
  it rotates early, so under an authenticated flood the memory shrinks, never grows);
* `SeqWindow`: per session, a sliding window over the sender's sequence numbers
  (like IPsec's anti-replay window, RFC 4303 §3.4.3): a number already seen, or one
  older than the window, is refused.
"""

from __future__ import annotations

#: Sequence numbers remembered behind the highest one (a bitmap of this many bits).
SEQ_WINDOW = 256
SEQ_MODULUS = 2**32
#: Clock agreement asked of authenticated senders, and tags remembered per generation.
DEFAULT_WINDOW_S = 30.0
MAX_TAGS = 262_144
NS_PER_S = 1_000_000_000


class SeqWindow:
    """Which sequence numbers of one session were already accepted (wrapping at 2**32)."""

    __slots__ = ("_highest", "_seen")

    def __init__(self) -> None:
        self._highest = -1
        self._seen = 0  # bit i: highest - i was accepted

    def accept(self, seq: int) -> bool:
        """True (and remembered) the first time `seq` is seen; False for a repeat or an
        number that fell out of the window."""
        if self._highest < 0:
            self._highest, self._seen = seq, 1
            return True
        ahead = (seq - self._highest) % SEQ_MODULUS
        if 0 < ahead < SEQ_MODULUS // 2:
            self._seen = ((self._seen << ahead) | 1) & ((1 << SEQ_WINDOW) - 1)
            self._highest = seq
            return True
        behind = (self._highest - seq) % SEQ_MODULUS
        if behind >= SEQ_WINDOW or self._seen >> behind & 1:
            return False
        self._seen |= 1 << behind
        return True


class ReplayCache:
    """HMAC tags answered recently, over all sources, and the freshness window."""

    def __init__(self, window_s: float = DEFAULT_WINDOW_S, max_tags: int = MAX_TAGS) -> None:
        self.window_ns = int(window_s * NS_PER_S)
        self.max_tags = max_tags
        # a generation lasts 2 x window (at least a second when freshness is off)
        self._period_ns = max(2 * self.window_ns, NS_PER_S)
        self._current: set[bytes] = set()
        self._previous: set[bytes] = set()
        self._rotated_ns = 0

    def fresh(self, sender_ns: int, now_ns: int) -> bool:
        """True when the sender's timestamp is within the window of our clock (or it is off)."""
        return self.window_ns <= 0 or abs(now_ns - sender_ns) <= self.window_ns

    def first_time(self, tag: bytes, now_ns: int) -> bool:
        """True (and remembered) when `tag` was not seen in the last two generations."""
        if now_ns - self._rotated_ns >= self._period_ns or len(self._current) >= self.max_tags:
            self._previous, self._current = self._current, set()
            self._rotated_ns = now_ns
        if tag in self._current or tag in self._previous:
            return False
        self._current.add(tag)
        return True

    def __len__(self) -> int:
        return len(self._current) + len(self._previous)
