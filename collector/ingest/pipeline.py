"""The ingest entry: a message in; out, what to write and what alerts see. Refusals recorded."""

from __future__ import annotations

import logging
from typing import Any

from collector.config import Settings
from collector.ingest.admission import DeviceAdmission
from collector.ingest.clockskew import ClockSkew, DeviceClock
from collector.ingest.decoded import DecodeLimits
from collector.ingest.decoding import make_decoders, make_gateway
from collector.ingest.gateway import GatewayDecoder
from collector.ingest.quarantine import Quarantine
from collector.ingest.readings import Reading
from collector.ingest.seqtrack import SeqTracker
from collector.ingest.status import StatusError, StatusTracker, parse_status
from collector.logtext import safe
from collector.metrics import Metrics
from devices import schema
from devices.lineprotocol import encode_line
from devices.stations import Fleet
from devices.topics import TopicError, forget_topic, parse_topic

log = logging.getLogger("collector")
# Shared empty lists: an outcome without lines or readings allocates nothing (never mutated).
_NO_LINES: list[str] = []
_NO_READINGS: list[Reading] = []
_NO_STATUS: list[tuple[str, bool, str]] = []
CLOCK_POINT_EVERY_MS = 600_000  # a device_clock point at most this often a device (and on change)


class Outcome:
    """What one message gave; the same object is refilled for every message (no allocation).

    Read it before the next `handle`. A refused message has no lines and is settled all the
    same: the refusal is in the quarantine, and redelivery would not make it valid.
    """

    __slots__ = ("clock", "lines", "readings", "refused", "station", "status")

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.readings: list[Reading] = _NO_READINGS  # valid readings, for the alert engine
        self.status: list[tuple[str, bool, str]] = _NO_STATUS  # (device, online, line) changes
        self.station = ""
        self.refused = False
        # (device, offset ms or None, correction ms, pending) when the device's clock has news
        # for the alert engine: its skew rule, its time base and its silence hold follow it
        self.clock: tuple[str, int | None, int, bool] | None = None


class Ingest:
    """Topic, admission, status or decode, seq: the checks a message passes before it is stored."""

    def __init__(
        self, settings: Settings, fleet: Fleet, metrics: Metrics, quarantine: Quarantine
    ) -> None:
        ing = settings.ingest
        self.prefix = settings.mqtt.prefix
        self.max_status_bytes = ing.max_status_bytes
        self.metrics = metrics
        self._counters = metrics.counters
        self.quarantine = quarantine
        self.limits = DecodeLimits(
            ing.max_payload_bytes,
            ing.max_readings_per_message,
            int(ing.max_future_s * 1000),
            int(ing.min_timestamp.timestamp() * 1000),
            lines=settings.role != "alerts",
        )
        # one decoder per reading channel (telemetry: ingest.decoder; senml: SenML packs)
        self.decoders = make_decoders(ing.decoder, self.limits, fleet)
        self.decoder = self.decoders["telemetry"]
        # gateways' own topic schemes, looked at only for topics outside ours
        self.gateways: list[GatewayDecoder] = [
            make_gateway(g, self.limits, fleet) for g in ing.gateways
        ]
        self._ours = self.prefix + "/"
        for gw in self.gateways:
            metrics.labelled[f"{gw.name}_values"] = ("outcome", gw.counts)
        # before every per-device table: it bounds them all
        self.admission = DeviceAdmission(
            fleet, ing.max_devices_per_station, ing.max_unregistered_stations
        )
        self.seq = SeqTracker()
        self.clock = ClockSkew()
        self._districts = {s.id: s.district for s in fleet.stations}
        self._clock_points: dict[tuple[str, str], int] = {}  # bounded by the clock table
        self.status = StatusTracker()
        self.stations_seen: set[str] = set()
        # the alert engine's own copy of the stream is never written: no lines to build
        self.build_lines = self.limits.lines
        self._out = Outcome()

    def handle(self, topic: str, payload: bytes, received_ms: int, now_ms: int) -> Outcome:
        """Check and decode one message; never raises (a bug costs this message only)."""
        out = self._out
        out.lines = _NO_LINES
        out.readings = _NO_READINGS
        out.status = _NO_STATUS
        out.refused = False
        out.clock = None
        try:
            self._handle(out, topic, payload, received_ms, now_ms)
        except Exception as exc:
            log.exception("internal error on a message from %s", safe(topic))
            out.lines, out.readings, out.status = _NO_LINES, _NO_READINGS, _NO_STATUS
            detail = f"{type(exc).__name__}: {exc}"[:300]
            self.refuse(out, "internal_error", detail, topic, payload, received_ms)
        return out

    def flush(self, now_ms: int) -> Outcome:
        """The readings gateways completed by `now_ms` (values held for a reading window)."""
        out = self._out
        out.lines, out.readings, out.status, out.refused = (
            _NO_LINES,
            _NO_READINGS,
            _NO_STATUS,
            False,
        )
        readings: list[Reading] = []
        for gw in self.gateways:
            try:
                readings += gw.flush(now_ms)
            except Exception:
                log.exception("internal error completing %s readings", gw.name)
        self._took(out, readings)
        return out

    def faults(self) -> list[dict[str, Any]]:
        """Devices reporting a fault of their own, from every gateway."""
        return [f for gw in self.gateways for f in gw.faults()]

    def _took(self, out: Outcome, readings: list[Reading]) -> None:
        if readings:
            self.stations_seen.update(r.station for r in readings)
            self.metrics.inc("readings_received", len(readings))
            out.readings = readings
            if self.build_lines:
                out.lines = [r.to_line() for r in readings]

    def _gateway(
        self, out: Outcome, gw: GatewayDecoder, topic: str, payload: bytes, received_ms: int
    ) -> None:
        result = gw.decode(topic, payload, received_ms)
        out.station = result.station
        if result.reason:
            self.refuse(out, result.reason, result.detail, topic, payload, received_ms)
        self._took(out, result.readings)

    def refuse(
        self, out: Outcome, reason: str, detail: str, topic: str, payload: bytes, received_ms: int
    ) -> None:
        """Count and quarantine a whole message."""
        self.metrics.reject_message(reason)
        self.quarantine.add(reason, detail, topic, payload, received_ms, -1)
        out.refused = True

    def _handle(
        self, out: Outcome, raw_topic: str, payload: bytes, received_ms: int, now_ms: int
    ) -> None:
        counters = self._counters  # the hot path skips Metrics.inc's call
        counters["messages_received"] += 1
        if self.gateways and not raw_topic.startswith(self._ours):
            for gw in self.gateways:
                if gw.owns(raw_topic):
                    self._gateway(out, gw, raw_topic, payload, received_ms)
                    return
        try:
            topic = parse_topic(raw_topic, self.prefix)
        except TopicError as exc:
            self.refuse(out, exc.reason, str(exc), raw_topic, payload, received_ms)
            return
        out.station = topic.station
        refusal = self.admission.refusal(topic.station, topic.kind, topic.device)
        if refusal is not None:
            forget_topic(raw_topic)
            self.refuse(out, *refusal, raw_topic, payload, received_ms)
            return
        if topic.channel == "status":
            self.metrics.inc("status_messages")
            try:
                status = parse_status(topic, payload, self.max_status_bytes)
                changes = self.status.update(topic, status, received_ms)
            except StatusError as exc:
                self.refuse(out, exc.reason, str(exc), raw_topic, payload, received_ms)
                return
            for device, online, _ in changes:
                if online:
                    self.seq.online(topic.station, device)
            out.status = changes
            out.lines = [line for _, _, line in changes]
            return
        decoder = self.decoders.get(topic.channel)
        if decoder is None:
            detail = f"no decoder reads the {topic.channel} channel"
            self.refuse(out, "no_decoder", detail, raw_topic, payload, received_ms)
            return
        station, device = topic.station, topic.device
        key = (station, device)
        clock = self.clock.devices.get(key)
        # judged on corrected time: the future check gets "now" on the device's own clock
        correction = clock.correction_ms if clock is not None else 0
        result = decoder.decode(topic, payload, received_ms, now_ms - correction)
        for rej in result.rejects:
            if rej.index < 0:
                self.refuse(out, rej.reason, rej.detail, raw_topic, payload, received_ms)
                return
            self.metrics.reject_reading(rej.reason)
            self.quarantine.add(rej.reason, rej.detail, raw_topic, payload, received_ms, rej.index)
        device_ts = result.device_ts_ms
        if result.seqs:
            dups, gaps, resets = self.seq.observe_message(
                station, device, result.seqs, received_ms, device_ts
            )
            if dups:
                self.metrics.inc("seq_duplicates", dups)
            if gaps:
                self.metrics.inc("seq_gaps", gaps)
            if resets:
                self.metrics.inc("seq_resets", resets)
        readings = result.readings
        if readings:
            self.stations_seen.add(station)
            counters["readings_received"] += len(readings)
            if correction:
                for r in readings:
                    r.ts_ms += correction
                    if r.line is not None:  # the point's timestamp is its last token
                        r.line = f"{r.line[: r.line.rindex(' ')]} {r.ts_ms}"
            out.readings = readings
            if self.build_lines:
                line = readings[0].line
                if len(readings) == 1 and line is not None:
                    out.lines = [line]  # most messages: no comprehension to set up
                else:
                    out.lines = [r.line if r.line is not None else r.to_line() for r in readings]
        if device_ts >= 0:
            news = self.clock.sample(key, device_ts, received_ms, clock)
            if news is not None:
                self._clock_news(out, key, news, received_ms, correction)

    def _clock_news(
        self, out: Outcome, key: tuple[str, str], clock: DeviceClock, received_ms: int, was: int
    ) -> None:
        """Tell the alerts; a `device_clock` point on a change and every 10 min."""
        station, device = key
        offset, correction = clock.offset_ms, clock.correction_ms
        out.clock = (device, offset, correction, clock.pending)
        if offset is None:
            return
        last = self._clock_points.get(key)
        if correction != was or last is None or received_ms - last >= CLOCK_POINT_EVERY_MS:
            self._clock_points[key] = received_ms
            tags = {
                schema.STATION: station,
                schema.DEVICE: device,
                schema.DISTRICT: self._districts.get(station),
            }
            fields = {"offset_s": offset / 1000, "correction_s": correction / 1000}
            line = encode_line(schema.DEVICE_CLOCK, tags, fields, received_ms)
            out.lines = [*out.lines, line]
