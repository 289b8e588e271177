"""The collector: MQTT in, decode and validate, enrich, batch to InfluxDB (or the spool), alerts."""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import time
from collections.abc import Callable
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
from aiohttp import web

from collector.alerts import AlertService
from collector.alerts.api import AlertApi
from collector.auth_limit import AuthLimiter
from collector.broker.client import make_source
from collector.broker.intake import Inbound
from collector.broker.keepalive import keep_alive
from collector.broker.link import Feed, Source
from collector.config import ConfigError, Settings
from collector.health import HealthParts, health
from collector.http_api import HttpParts, build_app, device_rows
from collector.ingest import clockstore
from collector.ingest.clockstore import ClockStore
from collector.ingest.pipeline import Ingest, Outcome
from collector.ingest.quarantine import Quarantine
from collector.insight.api import InsightApi
from collector.insight.digest import digests
from collector.insight.job import Days
from collector.insight.service import InsightService
from collector.logtext import safe
from collector.metrics import Metrics
from collector.private_files import private_dir
from collector.stats_points import collector_point, station_info_lines
from collector.store.sinks import Sink, make_sink
from collector.store.spool import Spool
from collector.store.writer import Writer
from collector.supervise import Supervisor
from collector.web.app import mount_web
from collector.web.influxql import InfluxQL
from devices.stations import EMPTY_FLEET, Fleet, load_fleet

log = logging.getLogger("collector")
EVENTS_SPOOL = "spool-events"  # under data_dir: the alert transitions' spool
GATEWAY_FLUSH_S = 0.25  # how often held gateway values are looked at (a window is ~1 s)


def load_registry(settings: Settings) -> Fleet:
    """The station registry: the configured fleet file, or the shipped sample fleet."""
    if settings.fleet is not None and str(settings.fleet) in ("", "none"):
        return EMPTY_FLEET
    return load_fleet(settings.fleet)


class Collector:
    """Owns every part; `run()` until `stop()` or a signal, then flushes and exits."""

    def __init__(
        self,
        settings: Settings,
        fleet: Fleet | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        # Receive time, gateway windows and alert evaluation read this clock: a test steps it
        # to judge Venus values (stamped at receive time) against a rule's `for` in seconds.
        self.clock = clock
        self.fleet = fleet if fleet is not None else load_registry(settings)
        self.metrics = Metrics()
        self.supervisor = Supervisor(on_restart=self.metrics.task_restart)
        data = private_dir(Path(settings.data_dir))
        self.spool = self._spool("spool")
        q = settings.quarantine
        self.quarantine = Quarantine(
            data / "quarantine",
            q.max_bytes,
            q.keep_recent,
            q.payload_excerpt_bytes,
            on_write_error=lambda: self.metrics.inc("quarantine_write_errors"),
        )
        self.sink = make_sink(settings.influx)
        # Alert transitions have a writer, a spool and a target of their own (the events
        # policy, kept longer than readings); only the process that runs the engine needs them.
        self.events_sink: Sink | None = None
        self.events_spool: Spool | None = None
        self.events_writer: Writer | None = None
        self.ingest = Ingest(settings, self.fleet, self.metrics, self.quarantine)
        self.clock_store = ClockStore(
            data, settings.ingest.clock_max_age, self.ingest.clock.max_devices
        )
        # the ingest parts the gauges, the HTTP views and the tests read
        self.admission, self.seq, self.status = (
            self.ingest.admission,
            self.ingest.seq,
            self.ingest.status,
        )
        self.stations_seen = self.ingest.stations_seen
        self.started_at = time.time()
        self._stop = asyncio.Event()
        self.source: Source | None = None
        self.writer: Writer | None = None
        # role alerts: the engine on its own subscription; it writes alert points, no readings
        self.writes_readings = settings.role != "alerts"
        self.alerts = self._make_alerts()
        self.insight = self._make_insight()
        self.http_runner: web.AppRunner | None = None
        self.web_reader: InfluxQL | None = None
        self.http_port: int | None = None

    # --- life cycle -------------------------------------------------------------------
    def stop(self) -> None:
        """Ask `run()` to flush and return."""
        self._stop.set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        self.source, intake = make_source(
            self.settings.mqtt,
            loop,
            self.settings.ingest.queue_max_messages,
            Path(self.settings.data_dir),
            [f for gw in self.ingest.gateways for f in gw.filters()],
            self.clock,
        )
        await self.sink.start()
        await self.sink.prepare()
        self.writer = self._writer(self.sink, self.spool, self.source.ack)
        if self.alerts is not None:
            self.events_sink = self.sink.events_sink()
            await self.events_sink.start()
            await self.events_sink.prepare()
            self.events_spool = self._spool(EVENTS_SPOOL)
            # its batches carry no acknowledgements: nothing of MQTT waits on them
            self.events_writer = self._writer(self.events_sink, self.events_spool, lambda _: True)
        self._register_gauges(intake)
        spawn = self.supervisor.spawn
        self.quarantine.start(spawn)
        if self.alerts is not None:
            await self.alerts.start(spawn)
        await self._restore_clocks()
        await self._start_http()
        if not self.spool.empty:
            log.info("spool holds %d readings from before: replaying first", self.spool.readings)
        self.writer.start(spawn)
        if self.events_writer is not None:
            self.events_writer.start(spawn)
        await self._replay_first()
        self.source.start()
        if self.insight is not None:
            await self.insight.start(spawn)
        tasks = [
            spawn("consume", lambda: self._consume(intake)),
            spawn("stats", self._stats_loop),
            spawn("clock-save", self._clock_save_loop),
        ]
        for gw in self.ingest.gateways:
            # the process subscribed to the gateways' topics keeps them talking
            if gw.filters() and self.settings.mqtt.subscribe_status:
                alive = partial(keep_alive, self.source, gw.keepalives, gw.keepalive_interval_s)
                tasks.append(spawn(f"{gw.name}-keepalive", alive))
        if self.ingest.gateways:
            tasks.append(spawn("gateway-readings", self._gateway_loop))
        try:
            await self._stop.wait()
        finally:
            await self._shutdown(intake, tasks)

    def _spool(self, name: str) -> Spool:
        s = self.settings.spool
        return Spool(Path(self.settings.data_dir) / name, s.max_bytes, s.segment_bytes)

    def _writer(self, sink: Sink, spool: Spool, ack: Callable[[Inbound], bool]) -> Writer:
        return Writer(
            sink,
            spool,
            ack,
            self.metrics,
            self._sink_rejected,
            batch_lines=self.settings.influx.batch_size,
            batch_acks=max(1, self.settings.mqtt.receive_maximum // 2),
            flush_interval_s=self.settings.influx.flush_interval_s,
            replay_lines=self.settings.spool.replay_batch_lines,
            retry_min_s=self.settings.spool.retry_min_s,
            retry_max_s=self.settings.spool.retry_max_s,
        )

    async def _replay_first(self) -> None:
        """On start-up the spool goes first, for as long as InfluxDB takes it (bounded wait)."""
        assert self.writer is not None
        deadline = time.monotonic() + 30
        while not self.spool.empty and time.monotonic() < deadline:
            if not self.writer.influx_up and not await self.sink.ping():
                return
            await asyncio.sleep(0.1)

    async def _shutdown(self, intake: Feed, tasks: list[asyncio.Task[None]]) -> None:
        assert self.source is not None and self.writer is not None
        log.info("stopping: flushing what the collector holds")
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        # What was already taken from the intake is in the batch; what is still there
        # stays unacknowledged and comes back through the persistent session.
        self._hand_on(self.ingest.flush(2**62))  # what gateways still hold: the window is over
        self.writer.add([self._collector_point()], 0, None)
        # Bounded: with InfluxDB down and the spool failing, what is held stays unacknowledged
        # and the broker delivers it again after the restart.
        grace = self.settings.influx.timeout_s + 5
        if not await self.writer.drain(grace):
            log.warning("stopping without writing everything held (%.0f s); unacknowledged", grace)
        await self._save_clocks()
        await self.clock_store.close()
        self.supervisor.close()  # a task waiting to restart now ends instead
        if self.insight is not None:
            await self.insight.stop()
        if self.alerts is not None:
            await self.alerts.stop()
            await self.writer.drain(grace)
        if self.events_writer is not None and not await self.events_writer.drain(grace):
            log.warning("stopping with alert points unwritten (%.0f s): they are lost", grace)
        await self.source.close()
        await self.writer.stop()
        self.spool.close()
        await self._close_events()
        await self.quarantine.stop()
        await self.sink.close()
        if self.http_runner is not None:
            await self.http_runner.cleanup()
        if self.web_reader is not None:
            await self.web_reader.close()
        log.info("stopped")

    async def _restore_clocks(self) -> None:
        """Device clock estimates from before the restart, before any message is taken.

        The alert engine hears each one, so the time base its restored state is on is the one
        the device's readings now come on, whichever of the two was saved last.
        """
        now_ms = int(time.time() * 1000)
        try:
            rows = await self.clock_store.load(now_ms)
        except (sqlite3.Error, OSError) as exc:
            log.error("device clock estimates not restored (%s): estimating afresh", exc)
            return
        restored = clockstore.restore(self.ingest.clock, rows)
        if restored or self.clock_store.too_old:
            log.info(
                "restored %d device clock estimates (%d too old to trust)",
                len(restored),
                self.clock_store.too_old,
            )
        if self.alerts is not None:
            for (station, device), c in restored:
                self.alerts.observe_clock(
                    station, device, c.offset_ms, c.correction_ms, False, c.received_ms
                )

    async def _save_clocks(self) -> None:
        try:
            await self.clock_store.save(
                clockstore.unsaved(self.ingest.clock), int(time.time() * 1000)
            )
        except (sqlite3.Error, OSError) as exc:
            # the estimates stay in memory; the next save writes them with what is new
            log.error("device clock estimates not saved: %s", exc)
            for c in self.ingest.clock.devices.values():
                c.saved_ms = 0

    async def _clock_save_loop(self) -> None:
        while True:
            await asyncio.sleep(clockstore.SAVE_EVERY_S)
            await self._save_clocks()

    def _make_alerts(self) -> AlertService | None:
        """Built up front so a bad alert config fails at start; wired to parts made in run()."""
        if not self.settings.alerts.enabled or self.settings.role == "ingest":
            return None

        def write_lines(lines: list[str]) -> None:
            if self.writer is not None:
                self.writer.add(lines, 0, None)

        def write_events(lines: list[str]) -> None:
            if self.events_writer is not None:
                self.events_writer.add(lines, 0, None)

        def publish(topic: str, payload: bytes, qos: int, retain: bool) -> None:
            if self.source is not None:
                self.source.publish(topic, payload, qos, retain)

        return AlertService(
            self.settings.alerts,
            self.fleet,
            Path(self.settings.data_dir) / "alerts",
            prefix=self.settings.mqtt.prefix,
            write_lines=write_lines,
            write_events=write_events,
            mqtt_publish=publish,
            link_up=lambda: self.source is not None and self.source.connected,
            clock=self.clock,
        )

    def _make_insight(self) -> InsightService | None:
        """Forecasts where the alert engine runs (or alone, with alerts off), not on ingest."""
        if not self.settings.insight.enabled or self.settings.role == "ingest":
            return None

        async def write(lines: list[str]) -> None:
            if self.writer is not None:
                self.writer.add(lines, 0, None)

        alerts = self.alerts
        on_week = None
        if alerts is not None:
            tz = ZoneInfo(self.settings.insight.timezone)

            async def on_week(monday: date, days: Days) -> None:
                await alerts.announce(digests(self.settings.alerts, self.fleet, monday, days, tz))

        service = InsightService(
            self.settings.insight,
            self.fleet,
            self.settings.influx,
            write,
            alerts.observe_many if alerts is not None else None,
            on_week,
        )
        if alerts is not None:
            alerts.engine.silence_cause = service.job.cause_of
        return service

    async def _start_http(self) -> None:
        if not self.settings.http.enabled:
            return
        app = build_app(
            HttpParts(
                self.health,
                self.metrics,
                self.alerts,
                self.quarantine,
                self.seq,
                self.ingest.faults,
                self.ingest.clock,
            )
        )
        if self.insight is not None:
            InsightApi(self.insight.job).mount(app)
        if self.alerts is not None:
            limiter = AuthLimiter(self.settings.http.auth_limit)
            AlertApi(self.alerts, limiter).mount(app)
            self.web_reader = self._web_reader()
            web_ctx = mount_web(
                app,
                self.alerts,
                self.settings.web,
                self.web_reader,
                partial(device_rows, self.seq, self.ingest.clock),
                Path(self.settings.data_dir) / "web",
                limiter,
            )
            for name in web_ctx.stats():
                self.metrics.sourced[name] = partial(lambda n: web_ctx.stats()[n], name)
            for name in limiter.stats():
                self.metrics.sourced[name] = partial(lambda n: limiter.stats()[n], name)
            self.metrics.gauges["web_sessions"] = lambda: float(len(web_ctx.sessions))
            self.metrics.gauges["auth_addresses"] = lambda: float(len(limiter))
        self.http_runner = web.AppRunner(app, access_log=None)
        await self.http_runner.setup()
        site = web.TCPSite(self.http_runner, self.settings.http.host, self.settings.http.port)
        try:
            await site.start()
        except OSError as exc:
            await self.http_runner.cleanup()
            self.http_runner = None
            await self._close_started()
            reason = os.strerror(exc.errno) if exc.errno else str(exc)
            # the operator's fix is a setting (or stopping the other program): say which
            raise ConfigError(
                f"http.listen {self.settings.http.listen}: cannot listen ({reason}); "
                "stop what holds it or choose another with --http or SOLARWATER_HTTP__LISTEN"
            ) from None
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self.http_port = sockets[0].getsockname()[1] if sockets else self.settings.http.port
        log.info("HTTP API on http://%s:%s", self.settings.http.host, self.http_port)

    def _web_reader(self) -> InfluxQL | None:
        """The pages' InfluxQL reader, on the sink's server and credentials (web on only)."""
        s, influx = self.settings.web, self.settings.influx
        if not s.enabled:
            return None
        db = s.influx_db or getattr(influx, "db", None)
        user = getattr(influx, "username", None)
        password = getattr(influx, "secret_password", lambda: None)()
        auth = aiohttp.BasicAuth(user, password or "") if isinstance(user, str) else None
        assert isinstance(db, str)  # checked with the settings
        return InfluxQL(influx.url, db, auth, s.query_timeout_s)

    async def _close_events(self) -> None:
        if self.events_writer is not None:
            await self.events_writer.stop()
        if self.events_spool is not None:
            self.events_spool.close()
        if self.events_sink is not None:
            await self.events_sink.close()

    async def _close_started(self) -> None:
        """Undo what run() started before the HTTP server, when start-up fails there."""
        if self.alerts is not None:
            await self.alerts.stop()
        await self._close_events()
        await self.clock_store.close()
        await self.quarantine.stop()
        await self.sink.close()

    def _register_gauges(self, intake: Feed) -> None:
        assert self.source is not None and self.writer is not None
        source, writer = self.source, self.writer
        self.metrics.gauges.update(
            {
                "mqtt_connected": lambda: float(source.connected),
                "queue_depth": lambda: float(len(intake)),
                "spool_bytes": lambda: float(self.spool.bytes + self._events_spool_bytes()),
                "spool_readings": lambda: float(self.spool.readings),
                "influx_up": lambda: float(writer.influx_up),
                "stations_seen": lambda: float(len(self.stations_seen)),
                "admitted_devices": lambda: float(self.admission.devices),
                "admitted_stations": lambda: float(self.admission.stations),
                "device_faults": lambda: float(len(self.ingest.faults())),
                "devices_clock_corrected": lambda: float(self.ingest.clock.corrected()),
            }
        )
        self.metrics.clock_offsets = self.ingest.clock.offsets
        self.metrics.sourced.update(
            {
                "mqtt_connects": lambda: float(source.connects),
                "quarantine_dropped": lambda: float(self.quarantine.dropped),
                "intake_full_events": lambda: float(intake.full_events),
                "mqtt_packets_too_large": lambda: float(source.packets_too_large),
                "mqtt_sessions_lost": lambda: float(source.sessions_lost),
                "mqtt_sessions_taken_over": lambda: float(source.sessions_taken_over),
            }
        )
        alerts = self.alerts
        if alerts is not None:
            self.metrics.alert_stats = alerts.stats
            self.metrics.labelled["alert_notifications_over_budget"] = (
                "station",
                alerts.over_budget_by_station,
            )

    def _events_spool_bytes(self) -> int:
        return self.events_spool.bytes if self.events_spool is not None else 0

    # --- the hot path -----------------------------------------------------------------
    async def _consume(self, intake: Feed) -> None:
        assert self.writer is not None
        writer = self.writer
        linger = self.settings.influx.linger_s
        timeout: float | None = None
        while True:
            items = await intake.get_many(500, timeout)
            now_ms = int(self.clock() * 1000)
            for item in items:
                self._handle(item, now_ms)
                if writer.full:
                    await writer.hand_off()
            # Nothing more waiting: write now rather than at the flush timer, once the writer
            # is free and the batch `linger` old. Under load batches grow past a few hundred
            # lines (each write costs the collector and InfluxDB ~1 ms whatever its size).
            timeout = None
            if len(intake) == 0 and writer.current.acks:
                wait = writer.current.opened + linger - time.monotonic()
                if writer.idle and wait <= 0:
                    await writer.hand_off()
                else:
                    timeout = max(wait, 0.005)  # look again then (or when the writer is done)

    def _handle(self, item: Inbound, now_ms: int) -> None:
        """Ingest one message, show its readings to the alerts, and batch it with its ack."""
        out = self.ingest.handle(item.topic, item.payload, item.received_ms, now_ms)
        assert self.writer is not None
        try:
            if self.alerts is not None:
                if out.readings:
                    self.alerts.observe_many(out.readings)
                for device, online, _ in out.status:
                    self.alerts.observe_status(out.station, device, online, item.received_ms)
                if out.clock is not None:
                    self.alerts.observe_clock(out.station, *out.clock, item.received_ms)
        except Exception:
            # the alerts never raise by contract; should they, the message is still stored
            log.exception("internal error passing a message from %s to alerts", safe(item.topic))
        if self.writes_readings:
            self.writer.add(out.lines, len(out.readings), item)
        else:
            # taken by the engine: acknowledged with the next batch, the broker's copy goes
            self.writer.add([], 0, item)

    async def _gateway_loop(self) -> None:
        """Hand on the readings gateways complete once their values stop coming (the window)."""
        while True:
            await asyncio.sleep(GATEWAY_FLUSH_S)
            self._hand_on(self.ingest.flush(int(self.clock() * 1000)))

    def _hand_on(self, out: Outcome) -> None:
        """Readings that came of no one message (gateways'): to the alerts and the writer."""
        if out.readings:
            if self.alerts is not None:
                try:
                    self.alerts.observe_many(out.readings)
                except Exception:
                    log.exception("internal error passing gateway readings to alerts")
            if self.writes_readings and self.writer is not None:
                self.writer.add(out.lines, len(out.readings), None)

    def _sink_rejected(self, detail: str, lines: list[str]) -> None:
        log.error("InfluxDB refused a batch of %d lines: %s", len(lines), safe(detail, 500))
        excerpt = "\n".join(lines[:20]).encode()
        self.quarantine.add("influx_rejected", detail, "", excerpt, int(time.time() * 1000), -1)

    def _collector_point(self) -> str:
        alert_stats = self.alerts.stats() if self.alerts is not None else {}
        return collector_point(self.metrics, alert_stats, self.settings.instance)

    async def _stats_loop(self) -> None:
        assert self.writer is not None
        next_info = 0.0
        while True:
            now = time.monotonic()
            lines = [self._collector_point()]
            if now >= next_info:
                lines += station_info_lines(self.fleet, int(time.time() * 1000))
                next_info = now + self.settings.station_info_interval_s
            self.writer.add(lines, 0, None)
            await asyncio.sleep(self.settings.stats_interval_s)

    # --- views for the HTTP API -------------------------------------------------------
    def health(self) -> tuple[bool, dict[str, Any]]:
        """(healthy, details) for /healthz."""
        assert self.source is not None and self.writer is not None
        return health(
            HealthParts(
                self.settings,
                self.source,
                self.writer,
                self.spool,
                self.quarantine,
                self.supervisor,
                self.metrics,
                self.alerts,
                self.stations_seen,
                self.started_at,
                self.events_writer,
            )
        )
