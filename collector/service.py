"""The collector: MQTT in, decode and validate, enrich, batch to InfluxDB (or the spool), alerts."""

from __future__ import annotations

import asyncio
import logging
import os
import time
import urllib.parse
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from collector.alert_forward import SOCKET_ENV, AlertForwarder, AlertForwardServer
from collector.alerts import AlertService
from collector.alerts.rules import fields_by_kind
from collector.broker.intake import Inbound
from collector.broker.sources import Feed, Source, make_source
from collector.config import ConfigError, Settings
from collector.http_api import build_app
from collector.ingest.admission import DeviceAdmission
from collector.ingest.decoding import DECODERS, DecodeLimits
from collector.ingest.quarantine import Quarantine
from collector.ingest.seqtrack import SeqTracker
from collector.ingest.status import StatusError, StatusTracker, parse_status
from collector.logtext import safe
from collector.metrics import Metrics
from collector.private_files import private_dir
from collector.stats_points import collector_point, station_info_lines
from collector.store.sinks import make_sink
from collector.store.spool import Spool
from collector.store.writer import Writer
from collector.supervise import Supervisor
from collector.workers import worker_index
from devices.stations import EMPTY_FLEET, Fleet, load_fleet
from devices.topics import TopicError, forget_topic, parse_topic

log = logging.getLogger("collector")
SESSION_LOST_WARN_S = 86400.0  # /healthz names a lost MQTT session this long after the loss


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def redact_url(url: str) -> str:
    """An HTTP URL with any password in it replaced, for health output and logs."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def load_registry(settings: Settings) -> Fleet:
    """The station registry: the configured fleet file, or the shipped sample fleet."""
    if settings.fleet is not None and str(settings.fleet) in ("", "none"):
        return EMPTY_FLEET
    return load_fleet(settings.fleet)


class Collector:
    """Owns every part; `run()` until `stop()` or a signal, then flushes and exits."""

    def __init__(self, settings: Settings, fleet: Fleet | None = None) -> None:
        self.settings = settings
        self.fleet = fleet if fleet is not None else load_registry(settings)
        self.metrics = Metrics()
        self.supervisor = Supervisor(on_restart=self.metrics.task_restart)
        data = private_dir(Path(settings.data_dir))
        self.spool = Spool(data / "spool", settings.spool.max_bytes, settings.spool.segment_bytes)
        q = settings.quarantine
        self.quarantine = Quarantine(
            data / "quarantine",
            q.max_bytes,
            q.keep_recent,
            q.payload_excerpt_bytes,
            on_write_error=lambda: self.metrics.inc("quarantine_write_errors"),
        )
        self.sink = make_sink(settings.influx)
        ing = settings.ingest
        self.limits = DecodeLimits(
            ing.max_payload_bytes,
            ing.max_readings_per_message,
            int(ing.max_future_s * 1000),
            int(ing.min_timestamp.timestamp() * 1000),
        )
        self.decoder = DECODERS[ing.decoder](self.limits, self.fleet)
        # before every per-device table: it bounds them all
        self.admission = DeviceAdmission(
            self.fleet, ing.max_devices_per_station, ing.max_unregistered_stations
        )
        self.seq = SeqTracker()
        self.status = StatusTracker()
        self.stations_seen: set[str] = set()
        self.started_at = time.time()
        self._stop = asyncio.Event()
        self.source: Source | None = None
        self.writer: Writer | None = None
        self.alerts = self._make_alerts()
        self.forwarder, self.forward_server = self._make_forwarding()
        self.http_runner: web.AppRunner | None = None
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
        )
        await self.sink.start()
        if hasattr(self.sink, "ensure_database"):
            await self.sink.ensure_database()
        self.writer = Writer(
            self.sink,
            self.spool,
            self.source.ack,
            self.metrics,
            self._sink_rejected,
            batch_lines=self.settings.influx.batch_size,
            batch_acks=max(1, self.settings.mqtt.receive_maximum // 2),
            flush_interval_s=self.settings.influx.flush_interval_s,
            replay_lines=self.settings.spool.replay_batch_lines,
            retry_min_s=self.settings.spool.retry_min_s,
            retry_max_s=self.settings.spool.retry_max_s,
        )
        self._register_gauges(intake)
        spawn = self.supervisor.spawn
        self.quarantine.start(spawn)
        if self.alerts is not None:
            await self.alerts.start(spawn)
        if self.forward_server is not None:
            await self.forward_server.start()
        if self.forwarder is not None:
            self.forwarder.start()
        await self._start_http()
        if not self.spool.empty:
            log.info("spool holds %d readings from before: replaying first", self.spool.readings)
        self.writer.start(spawn)
        await self._replay_first()
        self.source.start()
        tasks = [spawn("consume", lambda: self._consume(intake)), spawn("stats", self._stats_loop)]
        try:
            await self._stop.wait()
        finally:
            await self._shutdown(intake, tasks)

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
        self.writer.add([collector_point(self)], 0, None)
        # Bounded: with InfluxDB down and the spool failing, what is held stays unacknowledged
        # and the broker delivers it again after the restart.
        grace = self.settings.influx.timeout_s + 5
        if not await self.writer.drain(grace):
            log.warning("stopping without writing everything held (%.0f s); unacknowledged", grace)
        if self.forwarder is not None:
            await self.forwarder.stop()
        if self.forward_server is not None:
            await self.forward_server.stop()
        self.supervisor.close()  # a task waiting to restart now ends instead
        if self.alerts is not None:
            await self.alerts.stop()
            await self.writer.drain(grace)
        await self.source.close()
        await self.writer.stop()
        self.spool.close()
        await self.quarantine.stop()
        await self.sink.close()
        if self.http_runner is not None:
            await self.http_runner.cleanup()
        log.info("stopped")

    def _make_alerts(self) -> AlertService | None:
        """Built up front so a bad alert config fails at start; wired to parts made in run()."""
        if not self.settings.alerts.enabled:
            return None

        def write_lines(lines: list[str]) -> None:
            if self.writer is not None:
                self.writer.add(lines, 0, None)

        def publish(topic: str, payload: bytes, qos: int, retain: bool) -> None:
            if self.source is not None:
                self.source.publish(topic, payload, qos, retain)

        return AlertService(
            self.settings.alerts,
            self.fleet,
            Path(self.settings.data_dir) / "alerts",
            prefix=self.settings.mqtt.prefix,
            write_lines=write_lines,
            mqtt_publish=publish,
            link_up=lambda: self.source is not None and self.source.connected,
        )

    def _make_forwarding(self) -> tuple[AlertForwarder | None, AlertForwardServer | None]:
        """With `--workers`: worker 0 takes the others' readings for its alert engine."""
        path = os.environ.get(SOCKET_ENV)
        index = worker_index()
        if not path or index is None:
            return None, None
        if index == 0:
            if self.alerts is None:
                return None, None
            return None, AlertForwardServer(path, self.alerts.observe_many)
        if self.alerts is not None:
            return None, None
        return AlertForwarder(path, fields_by_kind(self.settings.alerts.rules)), None

    async def _start_http(self) -> None:
        if not self.settings.http.enabled:
            return
        app = build_app(self)
        if self.alerts is not None:
            self.alerts.add_routes(app)
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

    async def _close_started(self) -> None:
        """Undo what run() started before the HTTP server, when start-up fails there."""
        if self.forwarder is not None:
            await self.forwarder.stop()
        if self.forward_server is not None:
            await self.forward_server.stop()
        if self.alerts is not None:
            await self.alerts.stop()
        await self.quarantine.stop()
        await self.sink.close()

    def _register_gauges(self, intake: Feed) -> None:
        assert self.source is not None and self.writer is not None
        source, writer = self.source, self.writer
        self.metrics.gauges.update(
            {
                "mqtt_connected": lambda: float(source.connected),
                "mqtt_connects": lambda: float(source.connects),
                "queue_depth": lambda: float(len(intake)),
                "spool_bytes": lambda: float(self.spool.bytes),
                "spool_readings": lambda: float(self.spool.readings),
                "influx_up": lambda: float(writer.influx_up),
                "stations_seen": lambda: float(len(self.stations_seen)),
                "quarantine_dropped": lambda: float(self.quarantine.dropped),
                "intake_full_events": lambda: float(intake.full_events),
                "admitted_devices": lambda: float(self.admission.devices),
                "admitted_stations": lambda: float(self.admission.stations),
            }
        )
        self.metrics.sourced.update(
            {
                "mqtt_packets_too_large": lambda: float(source.packets_too_large),
                "mqtt_sessions_lost": lambda: float(source.sessions_lost),
                "mqtt_sessions_taken_over": lambda: float(source.sessions_taken_over),
            }
        )
        fwd, server = self.forwarder, self.forward_server
        if fwd is not None:
            self.metrics.gauges["alert_forward_sent"] = lambda: float(fwd.sent)
            self.metrics.gauges["alert_forward_dropped"] = lambda: float(fwd.dropped)
        if server is not None:
            self.metrics.gauges["alert_forward_received"] = lambda: float(server.received)

    # --- the hot path -----------------------------------------------------------------
    async def _consume(self, intake: Feed) -> None:
        assert self.writer is not None
        writer = self.writer
        linger = self.settings.influx.linger_s
        timeout: float | None = None
        while True:
            items = await intake.get_many(500, timeout)
            now_ms = int(time.time() * 1000)
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
        try:
            self._decode_and_route(item, now_ms)
        except Exception as exc:
            # A bug must cost one message, not the service: quarantine it, keep going.
            log.exception("internal error on a message from %s", safe(item.topic))
            assert self.writer is not None
            acks = self.writer.current.acks
            if not acks or acks[-1] is not item:  # never ack one message twice
                self._reject_message(item, "internal_error", f"{type(exc).__name__}: {exc}"[:300])

    def _decode_and_route(self, item: Inbound, now_ms: int) -> None:
        assert self.writer is not None
        self.metrics.inc("messages_received")
        prefix = self.settings.mqtt.prefix
        try:
            topic = parse_topic(item.topic, prefix)
        except TopicError as exc:
            self._reject_message(item, exc.reason, str(exc))
            return
        refusal = self.admission.refusal(topic.station, topic.kind, topic.device)
        if refusal is not None:
            forget_topic(item.topic)
            self._reject_message(item, *refusal)
            return
        if topic.channel == "status":
            self._handle_status(item, topic, now_ms)
            return
        result = self.decoder.decode(topic, item.payload, item.received_ms, now_ms)
        for rej in result.rejects:
            if rej.index < 0:
                self._reject_message(item, rej.reason, rej.detail)
                return
            self.metrics.reject_reading(rej.reason)
            self.quarantine.add(
                rej.reason, rej.detail, item.topic, item.payload, item.received_ms, rej.index
            )
        for seq in result.seqs:
            dup, gap = self.seq.observe(topic.station, topic.device, seq)
            if dup:
                self.metrics.inc("seq_duplicates")
            if gap:
                self.metrics.inc("seq_gaps")
        readings = result.readings
        if readings:
            self.stations_seen.add(topic.station)
            self.metrics.inc("readings_received", len(readings))
            if self.alerts is not None:
                self.alerts.observe_many(readings)
            elif self.forwarder is not None:
                self.forwarder.add_many(readings)
        self.writer.add([r.to_line() for r in readings], len(readings), item)

    def _handle_status(self, item: Inbound, topic: Any, now_ms: int) -> None:
        assert self.writer is not None
        self.metrics.inc("status_messages")
        try:
            status = parse_status(topic, item.payload, self.settings.ingest.max_status_bytes)
            changes = self.status.update(topic, status, item.received_ms)
        except StatusError as exc:
            self._reject_message(item, exc.reason, str(exc))
            return
        if self.alerts is not None:
            for device, online, _ in changes:
                self.alerts.observe_status(topic.station, device, online, item.received_ms)
        self.writer.add([line for _, _, line in changes], 0, item)

    def _reject_message(self, item: Inbound, reason: str, detail: str) -> None:
        assert self.writer is not None
        self.metrics.reject_message(reason)
        self.quarantine.add(reason, detail, item.topic, item.payload, item.received_ms, -1)
        # Settled: the rejection is recorded, and redelivery would not make it valid.
        self.writer.add([], 0, item)

    def _sink_rejected(self, detail: str, lines: list[str]) -> None:
        log.error("InfluxDB refused a batch of %d lines: %s", len(lines), safe(detail, 500))
        excerpt = "\n".join(lines[:20]).encode()
        self.quarantine.add("influx_rejected", detail, "", excerpt, int(time.time() * 1000), -1)

    async def _stats_loop(self) -> None:
        assert self.writer is not None
        next_info = 0.0
        while True:
            now = time.monotonic()
            lines = [collector_point(self)]
            if now >= next_info:
                lines += station_info_lines(self.fleet, int(time.time() * 1000))
                next_info = now + self.settings.station_info_interval_s
            self.writer.add(lines, 0, None)
            await asyncio.sleep(self.settings.stats_interval_s)

    # --- views for the HTTP API -------------------------------------------------------
    def health(self) -> tuple[bool, dict[str, Any]]:
        """(healthy, details) for /healthz."""
        assert self.source is not None and self.writer is not None
        now = time.time()
        src, w = self.source, self.writer
        problems = []
        if not src.connected:
            problems.append("not connected to the MQTT broker")
        quiet_for = now - (src.last_message_at or src.connected_since or self.started_at)
        no_traffic = src.connected and quiet_for > self.settings.mqtt.no_traffic_warn_s
        if no_traffic:
            problems.append(f"connected but no traffic for {int(quiet_for)} s")
        if not w.influx_up:
            problems.append("InfluxDB unreachable: readings go to the disk spool")
        if w.spool_blocked:
            problems.append(f"{w.spool_problem}: acknowledgements held, broker is buffering")
        if src.session_lost_at and now - src.session_lost_at < SESSION_LOST_WARN_S:
            problems.append(f"mqtt session lost at {_iso(src.session_lost_at)}")
        failing = self.supervisor.failing()
        problems += [f"task {name} failed: {error}" for name, error in failing.items()]
        if self.quarantine.last_error:
            problems.append(f"quarantine cannot write: {self.quarantine.last_error}")
        healthy = src.connected and not w.spool_blocked and not failing
        return healthy, {
            "status": "ok" if not problems else ("degraded" if healthy else "failing"),
            "problems": problems,
            "instance": self.settings.instance,
            "uptime_s": round(now - self.started_at, 1),
            "mqtt": {
                "url": src.url.redacted(),
                "connected": src.connected,
                "connects": src.connects,
                "seconds_since_last_message": round(quiet_for, 1),
                "last_error": src.last_error,
                "packets_too_large": src.packets_too_large,
                "sessions_lost": src.sessions_lost,
                "session_lost_at": _iso(src.session_lost_at) if src.session_lost_at else None,
                "sessions_taken_over": src.sessions_taken_over,
            },
            "influx": {
                "api": self.settings.influx.api,
                "url": redact_url(self.settings.influx.url),
                "up": w.influx_up,
                "seconds_since_last_write": round(now - w.last_write_ok, 1)
                if w.last_write_ok
                else None,
                "last_error": w.last_error,
            },
            "spool": {
                "bytes": self.spool.bytes,
                "readings": self.spool.readings,
                "max_bytes": self.spool.max_bytes,
                "blocked": w.spool_blocked,
                "append_errors": self.spool.append_errors,
                "last_error": self.spool.last_error,
            },
            "tasks": self.supervisor.report(),
            "quarantine": {
                "write_errors": self.quarantine.write_errors,
                "last_error": self.quarantine.last_error,
            },
            "counters": dict(self.metrics.counters),
            "stations_seen": len(self.stations_seen),
            "alerts": self.alerts.stats() if self.alerts is not None else None,
        }
