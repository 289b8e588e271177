"""The insight job: each new hour of fleet time, every station's figures, stored and alerted on.

Fleet time is the newest reading stored; every figure at hour H uses readings up to H only,
so a backlog that lands late gives the same figures as the same data live. After a jump
(a backlog, a restart) the hours missed are computed too, up to `backfill_hours`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from collector.ingest.readings import Reading
from collector.insight.completeness import DayCompleteness, day_bounds, expected_readings
from collector.insight.fetch import (
    StationData,
    fetch_fleet,
    newest_reading,
    readings_per_device,
)
from collector.insight.figures import HISTORY_MS, Figures, Silence, compute
from collector.insight.influxql import InfluxQL, quote_ident
from collector.insight.points import completeness_line, forecast_line
from collector.insight.samples import DAY_MS, HOUR_MS
from collector.insight.settings import InsightSettings
from collector.insight.silence_cause import Cause, PowerSample, classify
from devices import insight as insight_kind
from devices import schema
from devices.chemistry import facts_of
from devices.stations import Fleet, Station

log = logging.getLogger(__name__)
BEFORE_SILENCE_MS = 2 * HOUR_MS  # what a station said before it went quiet
KEEP_DAYS = 14  # completeness days held per station
DIAGNOSE_SPAN_MS = 8 * HOUR_MS  # what a silence check between hours reads

Write = Callable[[list[str]], Awaitable[None]]
Observe = Callable[[list[Reading]], None]
Days = dict[str, dict[date, DayCompleteness]]
# Called once per finished local week (its Monday) with every station's days of it.
OnWeek = Callable[[date, Days], Awaitable[None]]


class InsightJob:
    """Computes, writes and hands to the alert engine; keeps the latest figures for the API."""

    def __init__(
        self,
        settings: InsightSettings,
        fleet: Fleet,
        query: InfluxQL,
        write: Write,
        observe: Observe | None = None,
        on_week: OnWeek | None = None,
    ) -> None:
        self.settings = settings
        self.fleet = fleet
        self.query = query
        self.write = write
        self.observe = observe
        self.on_week = on_week
        self.tz = ZoneInfo(settings.timezone)
        self.done_ms: int | None = None  # the last hour computed
        self.latest: dict[str, Figures] = {}
        self.completeness: dict[str, dict[date, DayCompleteness]] = {}
        # per station: why it is (or, were it to go quiet now, would be) silent
        self.causes: dict[str, Cause] = {}
        self.runs = 0

    def cause_of(self, station: str) -> str | None:
        """The silence cause the alert engine stores with a station_silent alert."""
        return self.causes.get(station)

    async def fleet_now(self) -> int | None:
        """The newest reading time of the fleet, or None before any reading."""
        return await newest_reading(self.query)

    async def catch_up(self, now_ms: int | None = None) -> list[int]:
        """Compute every whole hour of fleet time not yet done up to `now_ms` (default: the
        fleet's newest reading); the hours computed."""
        if now_ms is None:
            now_ms = await self.fleet_now()
            if now_ms is None:
                return []
        last_hour = now_ms - now_ms % HOUR_MS
        first = last_hour - (self.settings.backfill_hours - 1) * HOUR_MS
        if self.done_ms is not None:
            first = max(first, self.done_ms + HOUR_MS)
        hours = list(range(first, last_hour + 1, HOUR_MS))
        if hours:
            await self.run_hours(hours, now_ms)
            self.done_ms = hours[-1]
        else:
            # between hours, the silences only: a cause ready when station_silent fires
            stations = list(self.fleet.stations)
            since = now_ms - DIAGNOSE_SPAN_MS
            self.diagnose(await fetch_fleet(self.query, stations, since, now_ms), now_ms)
        return hours

    async def run_hours(self, hours: list[int], now_ms: int | None = None) -> None:
        """The figures at each of `hours` (and the silences at `now_ms`), from one fetch."""
        stations = list(self.fleet.stations)
        end = max([*hours, now_ms or 0])
        data = await fetch_fleet(self.query, stations, hours[0] - HISTORY_MS, end)
        # the figures are plain arithmetic over thousands of samples: off the event loop
        lines, readings, latest = await asyncio.to_thread(self._compute, stations, data, hours)
        self.latest.update(latest)
        self.diagnose(data, now_ms if now_ms is not None else hours[-1])
        lines += await self._completeness(stations, hours)
        if lines:
            await self.write(lines)
        if readings and self.observe is not None:
            self.observe(readings)
        if self.on_week is not None:
            for h in hours:
                local = datetime.fromtimestamp(h / 1000, self.tz)
                if local.weekday() == 0 and local.hour == 0 and local.minute == 0:
                    monday = local.date() - timedelta(days=7)
                    days = await self.week_days(monday)
                    # a week before any station reported is no news
                    if any(c.received for d in days.values() for c in d.values()):
                        await self.on_week(monday, days)
        self.runs += 1

    async def week_days(self, monday: date) -> Days:
        """Each station's completeness of the week: as computed, else as stored."""
        start, _ = day_bounds(monday, self.tz)
        end = start + 7 * DAY_MS
        out: Days = {}
        for row in await self.query.rows(
            f"SELECT expected, received FROM {quote_ident(schema.COMPLETENESS)} "
            f"WHERE time >= {start}ms AND time < {end}ms "
            f"GROUP BY {quote_ident(schema.STATION)}, {quote_ident(schema.DAY)}"
        ):
            sid, day = str(row.get(schema.STATION, "")), date.fromisoformat(row[schema.DAY])
            out.setdefault(sid, {})[day] = DayCompleteness(
                sid, day, int(row["expected"]), int(row["received"])
            )
        for sid, days in self.completeness.items():
            for day, c in days.items():
                if monday <= day < monday + timedelta(days=7):
                    out.setdefault(sid, {})[day] = c
        return out

    def _compute(
        self, stations: list[Station], data: dict[str, StationData], hours: list[int]
    ) -> tuple[list[str], list[Reading], dict[str, Figures]]:
        lines: list[str] = []
        readings: list[Reading] = []
        latest: dict[str, Figures] = {}
        for h in hours:
            for st in stations:
                d = data.get(st.id)
                if d is None:
                    continue
                fig = latest[st.id] = compute(st, d, h, self.settings, self.tz)
                line = forecast_line(st.id, h, fig.forecast_fields())
                if line is not None:
                    lines.append(line)
                fields = fig.rule_fields()
                if fields:
                    kind, device = insight_kind.KIND.name, insight_kind.DEVICE
                    readings.append(Reading(st.id, st.district, kind, device, h, None, fields))
        return lines, readings, latest

    def diagnose(self, data: dict[str, StationData], now_ms: int) -> None:
        """Each station's silence cause: for the quiet ones, and in advance for the others."""
        quiet_after = int(self.settings.quiet_after * 1000)
        # quiet for three reporting intervals: not yet paged, but what a district shares
        missing: dict[str, int] = {}
        for st in self.fleet.stations:
            d = data.get(st.id)
            gap = 3 * st.report_interval_s * 1000
            if d is not None and d.last_ms is not None and now_ms - d.last_ms >= gap:
                missing[st.id] = d.last_ms
        quiet = {s: t for s, t in missing.items() if now_ms - t >= quiet_after}
        for st in self.fleet.stations:
            d = data.get(st.id)
            if d is None or d.last_ms is None:
                continue
            since = missing.get(st.id, now_ms)
            before = [p for p in d.power if since - BEFORE_SILENCE_MS <= p.ts_ms <= since]
            peers = {s: t for s, t in missing.items() if self.fleet.district_of(s) == st.district}
            if st.id not in missing:
                peers = {}  # in advance: no one has gone quiet with it yet
            cause = self._classify(st, since, before, peers)
            self.causes[st.id] = cause
            fig = self.latest.get(st.id)
            if fig is not None:
                silence = Silence(since, cause) if st.id in quiet else None
                self.latest[st.id] = Figures(
                    fig.station, fig.ts_ms, fig.battery, fig.water, fig.leak, fig.storm, silence
                )

    def _classify(
        self, st: Station, since: int, before: list[PowerSample], peers: dict[str, int]
    ) -> Cause:
        chem = st.size("battery_chemistry")
        facts = facts_of(chem)
        nominal = st.size("battery_voltage")
        return classify(
            st.id,
            since,
            before,
            facts,
            self.settings.low_soc(str(chem)),
            float(nominal) if isinstance(nominal, float | int) else 24.0,
            peers,
        )

    async def _completeness(self, stations: list[Station], hours: list[int]) -> list[str]:
        days: set[date] = set()
        for h in hours:
            local = datetime.fromtimestamp(h / 1000, self.tz).date()
            days.update((local, local - timedelta(days=1)))
        now = hours[-1]
        lines = []
        for day in sorted(days):
            start, end = day_bounds(day, self.tz)
            counted = await readings_per_device(self.query, start, min(end, now + 1))
            for st in stations:
                counts = counted.get(st.id, {})
                c = self.day_completeness(st, day, start, end, now, counts)
                days_kept = self.completeness.setdefault(st.id, {})
                days_kept[day] = c
                if len(days_kept) > KEEP_DAYS:  # bounded: the API and the digest need a week
                    del days_kept[min(days_kept)]
                lines.append(completeness_line(c, start))
        return lines

    @staticmethod
    def day_completeness(
        st: Station,
        day: date,
        start: int,
        end: int,
        now: int,
        counts: dict[tuple[str, str], int],
    ) -> DayCompleteness:
        """A day of a station: the registry's devices, each at the station's interval."""
        expected = expected_readings(len(st.devices), st.report_interval_s, start, end, now)
        per_device = [counts.get((d.kind, d.id), 0) for d in st.devices]
        # a device sending faster than registered cannot make up for a silent one
        cap = expected // max(1, len(st.devices))
        received = sum(min(n, cap) for n in per_device)
        return DayCompleteness(st.id, day, expected, received)
