"""The digest: what fired and cleared while a station was silent, told once when it is back.

A station's digest opens when it goes silent and collects the alerts its backlog shows to
have come and gone (never paged: they were not true by the time anyone could act). It
closes `wait` after the station's return, so the rest of a backlog flushed in several
batches still joins it, and goes out as at most one notification, only if it holds anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DIGEST_RULE = "alert_digest"  # the rule name digest notifications carry


@dataclass(frozen=True, slots=True)
class Entry:
    """One alert that came and went unseen."""

    device: str
    rule: str
    severity: str
    since_ms: int
    cleared_ms: int


@dataclass(slots=True)
class StationDigest:
    """A silent (or just returned) station's entries."""

    closes_ms: int | None = None  # None while the station is silent
    entries: list[Entry] = field(default_factory=list)
    more: int = 0  # entries beyond the bound, counted in the text


class DigestBook:
    """Open digests per station (bounded in stations and entries)."""

    def __init__(self, wait_ms: int, max_stations: int, max_entries: int = 20) -> None:
        self.wait_ms = wait_ms
        self.max_stations = max_stations
        self.max_entries = max_entries
        self.open: dict[str, StationDigest] = {}
        self.refused = 0  # stations not given a digest: the table was full
        self.changed = False

    def silent(self, station: str) -> None:
        """A station went silent: collect from now on."""
        d = self.open.get(station)
        if d is not None:
            d.closes_ms = None
        elif len(self.open) >= self.max_stations:
            self.refused += 1
        else:
            self.open[station] = StationDigest()
        self.changed = True

    def back(self, station: str, now_ms: int) -> None:
        """A station reports again: its digest closes after the wait."""
        d = self.open.get(station)
        if d is not None:
            d.closes_ms = now_ms + self.wait_ms
            self.changed = True

    def add(self, station: str, entry: Entry) -> bool:
        """Note `entry` if the station has an open digest."""
        d = self.open.get(station)
        if d is None:
            return False
        if len(d.entries) < self.max_entries:
            d.entries.append(entry)
        else:
            d.more += 1
        self.changed = True
        return True

    def due(self, now_ms: int) -> list[tuple[str, StationDigest]]:
        """Digests closed by now, with something to tell (empty ones are dropped)."""
        out = []
        for station in [s for s, d in self.open.items() if d.closes_ms is not None]:
            d = self.open[station]
            if d.closes_ms is not None and d.closes_ms <= now_ms:
                del self.open[station]
                self.changed = True
                if d.entries:
                    d.entries.sort(key=lambda e: e.since_ms)
                    out.append((station, d))
        return out

    def snapshot(self) -> dict[str, Any]:
        return {
            s: [d.closes_ms, d.more, [[e.device, e.rule, e.severity, e.since_ms, e.cleared_ms]
                                      for e in d.entries]]
            for s, d in self.open.items()
        }  # fmt: skip

    def restore(self, snap: dict[str, Any]) -> None:
        for station, (closes, more, entries) in snap.items():
            self.open[station] = StationDigest(
                closes,
                [Entry(str(a), str(b), str(c), int(d), int(e)) for a, b, c, d, e in entries],
                int(more),
            )
