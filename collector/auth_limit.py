"""Failure limits on what guesses a secret: sign-in, signed links, API tokens, SMS `OK <id>`.

Per client (an address over HTTP, a sender number by SMS): `failures` wrong attempts within
`window` lock the client out for `window`, each further lockout of that client twice as
long, up to `max_lockout`; a locked-out client's attempts are not even checked, so a script
learns nothing from them. Over all clients, `global_failures` within a window lock everyone
out for the rest of it (many guessing together). A success does not clear a client's
failures: a holder of one valid link must not be able to reset their count. The client
table is bounded (least recently seen goes, counted). Over HTTP, IPv6 is counted per /64,
as one subscriber holds a whole /64.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from collector.alerts.durations import Duration
from collector.logtext import safe


class FailureLimitSettings(BaseModel):
    """How many wrong secrets one client (an address, an SMS sender) may try, and for how long."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(True, description="Limit failed attempts")
    failures: int = Field(
        5, ge=1, le=10_000, description="Failures from one client within `window` that lock it out"
    )
    window: Duration = Field(
        900.0, gt=0, description="Failures are counted over this; the first lockout lasts as long"
    )
    max_lockout: Duration = Field(
        86400.0, gt=0, description="Each further lockout of a client doubles, up to this"
    )
    global_failures: int = Field(
        200, ge=1, le=1_000_000,
        description="Failures from all clients within `window` that lock everyone out",
    )  # fmt: skip


class AuthLimitSettings(FailureLimitSettings):
    """`http.auth_limit`: how many wrong secrets a client address may try, and for how long."""

    enabled: bool = Field(True, description="Limit failed sign-ins, signed links and API tokens")
    max_addresses: int = Field(
        10_000, ge=1, le=1_000_000, description="Addresses tracked; the least recent goes when full"
    )
    trusted_proxies: tuple[str, ...] = Field(
        (),
        description="Reverse proxies (addresses) whose X-Forwarded-For names the client",
    )


def client_key(remote: str | None, forwarded_for: str, trusted: frozenset[str]) -> str:
    """The address a request came from: the peer, or when the peer is a trusted proxy the
    nearest X-Forwarded-For hop that is not one; IPv6 as its /64."""
    addr = remote or "unknown"
    if addr in trusted:
        hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
        for hop in reversed(hops):  # the proxy appends: the rightmost hops are ours
            addr = hop
            if hop not in trusted:
                break
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return addr[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


@dataclass(slots=True)
class _Client:
    failures: int = 0
    window_start: float = 0.0
    strikes: int = 0  # lockouts so far: the next one lasts window * 2**strikes
    blocked_until: float = 0.0


@dataclass(frozen=True, slots=True)
class Wording:
    """What one limiter's counters are named and its log lines say."""

    prefix: str  # of the counters: `auth_` gives auth_failures, auth_lockouts, ...
    evicted: str  # the counter of clients dropped from the full table
    tries: str  # "failed sign-ins, links or tokens"
    everything: str  # what waits during a global lockout: "every sign-in, link and token"
    logger: str  # the lockouts' warnings go to this logger


HTTP = Wording(
    "auth_", "auth_addresses_evicted", "failed sign-ins, links or tokens",
    "every sign-in, link and token", "collector.http",
)  # fmt: skip


class FailureLimiter:
    """Counts failures per client key and overall; says how long a client must wait."""

    def __init__(
        self, s: FailureLimitSettings, max_clients: int, wording: Wording,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:  # fmt: skip
        self.s = s
        self.max_clients = max_clients
        self.wording = wording
        self.clock = clock
        self.log = logging.getLogger(wording.logger)
        self._by_key: OrderedDict[str, _Client] = OrderedDict()
        self._global_start = 0.0
        self._global_failures = 0
        self._global_until = 0.0
        p = wording.prefix
        names = (f"{p}failures", f"{p}limited", f"{p}lockouts", f"{p}global_lockouts")
        self._names = dict(zip(("failures", "limited", "lockouts", "global"), names, strict=True))
        self.counts = dict.fromkeys((*names, wording.evicted), 0)

    def __len__(self) -> int:
        return len(self._by_key)

    def wait_s(self, key: str) -> int | None:
        """Seconds `key` must wait before its next attempt is checked (counted), or None."""
        if not self.s.enabled:
            return None
        now = self.clock()
        until = self._global_until
        e = self._by_key.get(key)
        if e is not None:
            self._by_key.move_to_end(key)
            until = max(until, e.blocked_until)
        if until <= now:
            return None
        self.counts[self._names["limited"]] += 1
        return max(1, math.ceil(until - now))

    def failed(self, key: str) -> None:
        """A wrong secret from `key`: counted, and a lockout when it was one too many."""
        if not self.s.enabled:
            return
        now, window = self.clock(), self.s.window
        self.counts[self._names["failures"]] += 1
        self._global(now)
        e = self._by_key.get(key)
        if e is None:
            if len(self._by_key) >= self.max_clients:
                self._by_key.popitem(last=False)
                self.counts[self.wording.evicted] += 1
            e = self._by_key[key] = _Client(window_start=now)
        self._by_key.move_to_end(key)
        if now - e.window_start >= window:
            if e.strikes and now - e.blocked_until >= self.s.max_lockout:
                e.strikes = 0  # quiet for a long while: start over
            e.failures, e.window_start = 0, now
        e.failures += 1
        if e.failures < self.s.failures:
            return
        lock = min(window * 2**e.strikes, self.s.max_lockout)
        e.strikes += 1
        e.blocked_until = now + lock
        e.failures, e.window_start = 0, e.blocked_until
        self.counts[self._names["lockouts"]] += 1
        # once per client per lockout: a script's further tries are refused unlogged
        self.log.warning(
            "auth: %d %s from %s; locked out for %.0f s",
            self.s.failures, self.wording.tries, safe(key), lock,
        )  # fmt: skip

    def _global(self, now: float) -> None:
        if now - self._global_start >= self.s.window:
            self._global_start, self._global_failures = now, 0
        self._global_failures += 1
        if self._global_failures == self.s.global_failures:
            self._global_until = self._global_start + self.s.window
            self.counts[self._names["global"]] += 1
            self.log.warning(
                "auth: %d failures from all clients within %.0f s; %s waits %.0f s",
                self._global_failures, self.s.window, self.wording.everything,
                self._global_until - now,
            )  # fmt: skip

    def stats(self) -> dict[str, float]:
        return {k: float(v) for k, v in self.counts.items()}


class AuthLimiter(FailureLimiter):
    """The HTTP server's limiter: one client per address, past trusted reverse proxies."""

    def __init__(self, s: AuthLimitSettings, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(s, s.max_addresses, HTTP, clock)
        self.trusted = frozenset(s.trusted_proxies)

    def client(self, request: web.BaseRequest) -> str:
        """The client's key: its address (a /64 for IPv6), past trusted reverse proxies."""
        return client_key(request.remote, request.headers.get("X-Forwarded-For", ""), self.trusted)
