"""Server-side sessions: a random id in the cookie, the technician and a CSRF token here.

Bounded (the oldest goes when full, counted) and expiring; kept in memory, so a restart
signs everyone out, which costs a technician one paste of their token.
"""

from __future__ import annotations

import hmac
import secrets
from collections import OrderedDict
from dataclasses import dataclass

from collector.alerts.technicians import Identity

COOKIE = "sw_session"


@dataclass(slots=True)
class Session:
    """One signed-in technician."""

    id: str
    who: Identity
    token_sha256: str  # the token signed in with: rotated or removed, the session ends
    csrf: str
    expires_s: float

    def csrf_ok(self, given: object) -> bool:
        return isinstance(given, str) and hmac.compare_digest(self.csrf.encode(), given.encode())


class Sessions:
    """At most `limit` sessions, each ending `ttl_s` after sign-in."""

    def __init__(self, limit: int, ttl_s: float) -> None:
        self.limit = limit
        self.ttl_s = ttl_s
        self._by_id: OrderedDict[str, Session] = OrderedDict()
        self.evicted = 0

    def __len__(self) -> int:
        return len(self._by_id)

    def open(self, who: Identity, token_sha256: str, now_s: float) -> Session:
        self._expire(now_s)
        while len(self._by_id) >= self.limit:
            self._by_id.popitem(last=False)
            self.evicted += 1
        s = Session(
            secrets.token_urlsafe(32), who, token_sha256, secrets.token_urlsafe(24),
            now_s + self.ttl_s,
        )  # fmt: skip
        self._by_id[s.id] = s
        return s

    def get(self, sid: str | None, now_s: float) -> Session | None:
        if not sid:
            return None
        s = self._by_id.get(sid)
        if s is None:
            return None
        if now_s >= s.expires_s:
            del self._by_id[sid]
            return None
        return s

    def close(self, sid: str) -> None:
        self._by_id.pop(sid, None)

    def _expire(self, now_s: float) -> None:
        # insertion order is expiry order: every session lives ttl_s
        while self._by_id:
            first = next(iter(self._by_id.values()))
            if now_s < first.expires_s:
                return
            self._by_id.popitem(last=False)
