"""Simulated runs written straight to InfluxDB, and the insight job over them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from collector.ingest.readings import Reading
from collector.insight.influxql import InfluxQL
from collector.insight.job import InsightJob
from collector.insight.settings import InsightSettings
from devices.stations import Fleet, Station, load_fleet
from devstack import Influxd
from simulator.offline import OfflineRun, simulate
from simulator.summary import RecordedReading
from simulator.timefmt import epoch_of, parse_rfc3339

FLEET = load_fleet()
START = epoch_of(parse_rfc3339("2025-06-10T00:00:00+02:00"))  # dry season: no rain
START_MS = int(START * 1000)
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


def stations(*ids: str) -> list[Station]:
    found = [FLEET.get(i) for i in ids]
    assert all(s is not None for s in found)
    return [s for s in found if s is not None]


def run(scenario: str, ids: Iterable[str], days: float, target: str | None = None) -> OfflineRun:
    return simulate(stations(*ids), scenario, START, int(days * 288), target=target)


def to_reading(r: RecordedReading) -> Reading:
    return Reading(
        r.station, FLEET.district_of(r.station), r.kind, r.device, r.ts_ms, None, r.fields
    )


def write(influxd: Influxd, db: str, readings: Iterable[RecordedReading]) -> int:
    """Write in batches of 5000 lines; the number written."""
    batch: list[str] = []
    n = 0
    for r in readings:
        batch.append(to_reading(r).to_line())
        if len(batch) >= 5000:
            influxd.write(batch, db)
            n += len(batch)
            batch = []
    if batch:
        influxd.write(batch, db)
        n += len(batch)
    return n


def ms_of(text: str | None) -> int:
    assert text is not None
    return int(epoch_of(parse_rfc3339(text)) * 1000)


@dataclass
class Written:
    """The job's points, kept and written to the database as the collector's sink would."""

    influxd: Influxd
    db: str
    lines: list[str] = field(default_factory=list)

    async def __call__(self, lines: list[str]) -> None:
        self.lines.extend(lines)
        self.influxd.write(lines, self.db)


def job(
    influxd: Influxd, db: str, ids: Iterable[str], settings: InsightSettings | None = None
) -> tuple[InsightJob, Written]:
    fleet = Fleet(stations=tuple(stations(*ids)))
    out = Written(influxd, db)
    return InsightJob(settings or InsightSettings(), fleet, InfluxQL(influxd.url, db), out), out
