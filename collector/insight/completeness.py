"""Data completeness: readings received against those expected, per station and local day.

Expected: each of the station's devices reports once per `report_interval_s` (the
registry), over the part of the day up to now. Received: the points stored with a
timestamp in that day (InfluxDB keeps one point per device and time, so a repeated
backlog counts once), the field most readings carry counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo


@dataclass(frozen=True, slots=True)
class DayCompleteness:
    station: str
    day: date
    expected: int
    received: int

    @property
    def pct(self) -> float:
        if self.expected <= 0:
            return 100.0
        return round(min(100.0, 100.0 * self.received / self.expected), 2)


def day_bounds(day: date, tz: tzinfo) -> tuple[int, int]:
    """[start, end) of a local day in epoch ms."""
    start = datetime(day.year, day.month, day.day, tzinfo=tz)
    end = start + timedelta(days=1)
    return int(start.timestamp() * 1000), int(end.timestamp() * 1000)


def expected_readings(
    devices: int, interval_s: int, start_ms: int, end_ms: int, now_ms: int
) -> int:
    """Readings due from `devices` devices in [start, min(end, now)]."""
    until = min(end_ms, now_ms + 1)
    if until <= start_ms:
        return 0
    return devices * ((until - start_ms + interval_s * 1000 - 1) // (interval_s * 1000))
