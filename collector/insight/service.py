"""The insight job in the collector: a loop that catches up with fleet time, never fatal."""

from __future__ import annotations

import asyncio
import logging

from collector.insight.influxql import InfluxQL, QueryError
from collector.insight.job import InsightJob, Observe, OnWeek, Write
from collector.insight.settings import InsightSettings
from collector.store.sinks.base import SinkSettings
from collector.supervise import Spawn
from devices.stations import Fleet

log = logging.getLogger(__name__)


class InsightService:
    """Runs the job every `check_every` seconds; a failed query waits for the next round."""

    def __init__(
        self,
        settings: InsightSettings,
        fleet: Fleet,
        influx: SinkSettings,
        write: Write,
        observe: Observe | None,
        on_week: OnWeek | None = None,
    ) -> None:
        access = influx.influxql_access()
        self.enabled = access is not None
        db, headers = access or ("", {})
        self.query = InfluxQL(influx.url, db, headers=headers, timeout_s=influx.timeout_s)
        self.job = InsightJob(settings, fleet, self.query, write, observe, on_week)
        self.settings = settings
        self.errors = 0
        self._task: asyncio.Task[None] | None = None
        self._failing = False

    async def start(self, spawn: Spawn) -> None:
        if not self.enabled:
            log.warning("insight: the sink cannot be read with InfluxQL; no forecasts")
            return
        await self.query.start()
        self._task = spawn("insight", self._loop)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.query.close()

    async def _loop(self) -> None:
        while True:
            await self.tick()
            await asyncio.sleep(self.settings.check_every)

    async def tick(self) -> list[int]:
        """One round: the hours of fleet time computed (none when InfluxDB fails)."""
        try:
            hours = await self.job.catch_up()
        except QueryError as exc:
            self.errors += 1
            if not self._failing:  # once per failing streak, not every round
                log.warning(
                    "insight: %s; trying again every %.0f s", exc, self.settings.check_every
                )
            self._failing = True
            return []
        self._failing = False
        return hours
