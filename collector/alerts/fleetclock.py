"""Fleet time: the newest reading timestamp seen, carried on by the wall clock when all is quiet."""

from __future__ import annotations


class FleetClock:
    """Judges silence in device time, so accelerated simulation and backfill stay correct."""

    def __init__(self) -> None:
        self.newest_ms: int | None = None
        self.wall_at_newest: float | None = None
        self._advanced = False
        self._last_now: int | None = None

    def see(self, ts_ms: int) -> None:
        """Note a reading timestamp (hot path: no clock call here)."""
        if self.newest_ms is None or ts_ms > self.newest_ms:
            self.newest_ms = ts_ms
            self._advanced = True

    def now(self, wall_s: float, link_up: bool = True) -> int | None:
        """Fleet time in ms, or None before anything was seen; never goes backwards.

        While our own link to the broker is down, fleet time holds still: silence we
        cannot hear is our outage, not the stations'.
        """
        if self.newest_ms is None:
            return None
        if self._advanced or self.wall_at_newest is None:
            # stamped at evaluation, not per reading: off by at most one evaluation interval
            self.wall_at_newest = wall_s
            self._advanced = False
        if not link_up and self._last_now is not None:
            self.wall_at_newest = wall_s - (self._last_now - self.newest_ms) / 1000
            return self._last_now
        quiet_ms = max(0, int((wall_s - self.wall_at_newest) * 1000))
        now = self.newest_ms + quiet_ms
        if self._last_now is not None and now < self._last_now:
            now = self._last_now
        self._last_now = now
        return now

    def snapshot(self) -> dict[str, float | int | None]:
        return {"newest_ms": self.newest_ms, "wall_at_newest": self.wall_at_newest}

    def restore(self, snap: dict[str, float | int | None]) -> None:
        newest, wall = snap.get("newest_ms"), snap.get("wall_at_newest")
        self.newest_ms = int(newest) if newest is not None else None
        self.wall_at_newest = float(wall) if wall is not None else None
