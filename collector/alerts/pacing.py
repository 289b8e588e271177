"""Paging limits: flap damping per (station, rule) and a page budget per station."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

V = TypeVar("V")

OTHER = "_other"  # the metric label of stations beyond the tracked ones


class StationTable(Generic[V]):
    """Per-station values: registered stations always, others up to a bound (refusals counted)."""

    def __init__(self, registered: Callable[[str], bool], max_other: int) -> None:
        self.registered = registered
        self.max_other = max_other
        self.values: dict[str, V] = {}
        self.other = 0  # unregistered stations held
        self.refused = 0

    def get(self, station: str) -> V | None:
        return self.values.get(station)

    def put(self, station: str, value: V, expired: Callable[[V], bool]) -> bool:
        """Keep `value` for `station`; False (counted) when the table of others is full."""
        if station not in self.values and not self.registered(station):
            if self.other >= self.max_other:
                self.prune(expired)
            if self.other >= self.max_other:
                self.refused += 1
                return False
            self.other += 1
        self.values[station] = value
        return True

    def prune(self, expired: Callable[[V], bool]) -> None:
        """Forget the values that no longer limit anything."""
        for station in [s for s, v in self.values.items() if expired(v)]:
            del self.values[station]
            if not self.registered(station):
                self.other -= 1


class PageGate:
    """At most one round of pages per (station, rule) in each `interval_ms`."""

    def __init__(self, interval_ms: int, table: StationTable[dict[str, int]]) -> None:
        self.interval_ms = interval_ms
        self.table = table  # station -> rule -> wall ms of its last page

    def open(self, station: str, rule: str, now_ms: int) -> bool:
        last = (self.table.get(station) or {}).get(rule)
        return last is None or now_ms - last >= self.interval_ms

    def paged(self, station: str, rule: str, now_ms: int) -> None:
        if self.interval_ms <= 0:
            return
        rules = self.table.get(station)
        if rules is None:
            # a station the table cannot hold is not damped; its pages still meet the budget
            self.table.put(station, {rule: now_ms}, self._expired_at(now_ms))
        else:
            rules[rule] = now_ms

    def _expired_at(self, now_ms: int) -> Callable[[dict[str, int]], bool]:
        return lambda rules: all(now_ms - t >= self.interval_ms for t in rules.values())


@dataclass(slots=True)
class Window:
    """One station's budget window: pages sent, pages dropped, whether it was announced."""

    start_ms: int
    sent: int = 0
    dropped: int = 0
    announced: bool = False


class PageBudget:
    """At most `pages` pages per station in each window of `window_ms` (starting at its first)."""

    def __init__(self, pages: int, window_ms: int, table: StationTable[Window]) -> None:
        self.pages = pages
        self.window_ms = window_ms
        self.table = table
        self.over: dict[str, int] = {}  # station (or OTHER) -> pages dropped, for the metrics

    def take(self, station: str, now_ms: int) -> bool:
        """True: send the page (and count it); False: over the budget (counted)."""
        w = self.table.get(station)
        if w is None or now_ms - w.start_ms >= self.window_ms:
            w = Window(now_ms)
            if not self.table.put(station, w, lambda v: now_ms - v.start_ms >= self.window_ms):
                self._drop(station)  # no room to hold its budget: refused like an empty one
                return False
        if w.sent < self.pages:
            w.sent += 1
            return True
        w.dropped += 1
        self._drop(station)
        return False

    def _drop(self, station: str) -> None:
        known = station in self.over or self.table.registered(station)
        label = station if known or len(self.over) < self.table.max_other else OTHER
        self.over[label] = self.over.get(label, 0) + 1

    def to_announce(self, station: str) -> Window | None:
        """The station's window once, the first time it went over the budget."""
        w = self.table.get(station)
        if w is None or w.dropped == 0 or w.announced:
            return None
        w.announced = True
        return w
