"""Payload decoders: bytes of one MQTT message in, valid readings and per-reading rejects out.

A decoder is chosen by name from DECODERS; the collector core only sees DecodeResult.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import orjson
from pydantic import ValidationError

from collector.readings import Reading, device_series
from devices.catalogue import get_kind
from devices.kind import DeviceKind
from devices.stations import Fleet
from devices.topics import Topic

_INF = float("inf")


@dataclass(frozen=True, slots=True)
class Reject:
    """Why one reading (index >= 0) or the whole message (index -1) was refused."""

    reason: str
    detail: str
    index: int = -1


@dataclass(slots=True)
class DecodeResult:
    """What one telemetry message held."""

    readings: list[Reading] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    batch: bool = False
    # every usable seq in message order, refused readings' too: a refused reading is not a gap
    seqs: list[int] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class DecodeLimits:
    """The limits a decoder enforces (from IngestSettings)."""

    max_payload_bytes: int
    max_readings: int
    max_future_ms: int
    min_ts_ms: int


class Decoder(Protocol):
    """Turns one telemetry payload into readings."""

    def decode(self, topic: Topic, payload: bytes, received_ms: int, now_ms: int) -> DecodeResult:
        """Decode; never raises for bad input."""
        ...


def _error_reason(exc: ValidationError) -> tuple[str, str]:
    err = exc.errors()[0]
    kind = err["type"]
    where = ".".join(str(x) for x in err["loc"])
    if kind == "extra_forbidden":
        reason = "unknown_field"
    elif kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        reason = "out_of_range"
    elif kind == "finite_number":
        reason = "not_finite"
    elif kind == "value_error":
        reason = "no_fields"
    else:
        reason = "wrong_type"
    return reason, f"{where}: {err['msg']}"[:300]


# What the decoder keeps of one device: its kind, its district from the registry and its
# escaped series key (None when the line protocol refuses it: to_line then raises as usual).
_Device = tuple[DeviceKind, str | None, str | None]
_DEVICES_MAX = 65_536  # far more than a fleet has; once full, new devices are looked up each time


def _refused(reason: str, detail: str) -> DecodeResult:
    """The result of a message refused as a whole."""
    return DecodeResult(rejects=[Reject(reason, detail)])


class JsonDecoder:
    """The wire format of design §3: one reading object, or {"readings": [...]}."""

    def __init__(self, limits: DecodeLimits, fleet: Fleet) -> None:
        self.limits = limits
        self.fleet = fleet
        # Fleet is frozen: its districts once, a dict lookup per message instead of
        # Fleet.district_of's pydantic private-attribute access (~8% at one reading/msg).
        self._districts = {s.id: s.district for s in fleet.stations}
        # Each device's entry by (kind, station, device): one lookup a message in place of the
        # kind's, the district's and the series key's (each line starts with it).
        self._devices: dict[tuple[str, str, str], _Device] = {}

    def _look_up_device(self, key: tuple[str, str, str]) -> _Device | None:
        """The `_devices` entry for (kind, station, device), looked up; None for an unknown kind."""
        kind_name, station, device = key
        kind = get_kind(kind_name)
        if kind is None:
            return None
        district = self._districts.get(station)
        series: str | None
        try:
            series = device_series(kind.name, station, device, district)
        except ValueError:
            series = None
        entry = (kind, district, series)
        if len(self._devices) < _DEVICES_MAX:
            self._devices[key] = entry
        return entry

    def decode(self, topic: Topic, payload: bytes, received_ms: int, now_ms: int) -> DecodeResult:
        key = (topic.kind, topic.station, topic.device)
        entry = self._devices.get(key) or self._look_up_device(key)
        if entry is None:
            return _refused("unknown_kind", f"kind {topic.kind[:64]!r} is not in the catalogue")
        kind, district, series = entry
        limits = self.limits
        if len(payload) > limits.max_payload_bytes:
            return _refused("oversized", f"{len(payload)} bytes > {limits.max_payload_bytes}")
        try:
            doc = orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            text = str(exc).lower()
            reason = "not_utf8" if "utf-8" in text else "malformed_json"
            # Nesting is bounded by the parser's own depth limit; anything nested inside a
            # reading is a wrong type for its field, so no walk of the document is needed.
            if "recursion" in text or "depth limit" in text:
                reason = "too_deep"
            return _refused(reason, str(exc)[:200])
        if not isinstance(doc, dict):
            return _refused("bad_structure", "payload is not a JSON object")
        batch = "readings" in doc
        if batch:
            items = doc["readings"]
            if set(doc) != {"readings"} or not isinstance(items, list):
                return _refused("bad_structure", 'a batch is {"readings": [...]} only')
            if len(items) > limits.max_readings:
                return _refused("too_many_readings", f"{len(items)} > {limits.max_readings}")
        else:
            items = [doc]

        fields_of, text_of = kind.fields, kind.fields_text
        name, station, device = kind.name, topic.station, topic.device
        readings: list[Reading] = []
        rejects: list[Reject] = []
        seqs: list[int] = []
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                rejects.append(Reject("bad_structure", "a reading must be an object", index))
                continue
            values = item  # parsed just above and ours alone: no copy needed to pop from it
            ts_raw = values.pop("ts", None)
            seq = values.pop("seq", None)
            if seq is not None and (type(seq) is not int or seq < 0 or seq > 2**63 - 1):
                rejects.append(Reject("bad_seq", "seq must be an unsigned integer", index))
                continue
            if seq is not None:
                seqs.append(seq)
            ts_ms, ts_problem = self._timestamp(ts_raw, received_ms, now_ms)
            if ts_problem is not None:
                rejects.append(Reject(ts_problem[0], ts_problem[1], index))
                continue
            try:
                fields = fields_of(values)
            except ValidationError as exc:
                reason, detail = _error_reason(exc)
                rejects.append(Reject(reason, detail, index))
                continue
            line = None if series is None else f"{series} {text_of(fields)} {ts_ms}"
            readings.append(Reading(station, district, name, device, ts_ms, seq, fields, line))
        return DecodeResult(readings, rejects, batch, seqs)

    def _timestamp(
        self, raw: Any, received_ms: int, now_ms: int
    ) -> tuple[int, tuple[str, str] | None]:
        if type(raw) is float and -1e15 < raw < 1e15:  # the common case: finite, no overflow
            ts_ms = round(raw * 1000)
        elif raw is None:
            return received_ms, None
        elif type(raw) in (int, float):
            if raw != raw or raw in (_INF, -_INF):
                return 0, ("bad_timestamp", "ts is not finite")
            scaled = raw * 1000
            if scaled in (_INF, -_INF):  # e.g. 1e306 s: no int to round to
                scaled = 1e300 if raw > 0 else -1e300
            ts_ms = round(scaled)
        elif isinstance(raw, str):
            try:
                parsed = datetime.fromisoformat(raw)
            except ValueError:
                return 0, ("bad_timestamp", f"ts {raw[:40]!r} is not RFC 3339")
            if parsed.tzinfo is None:
                return 0, ("bad_timestamp", f"ts {raw[:40]!r} has no UTC offset")
            ts_ms = round(parsed.timestamp() * 1000)
        else:
            return 0, ("bad_timestamp", "ts must be an RFC 3339 string or epoch seconds")
        if ts_ms > now_ms + self.limits.max_future_ms:
            return 0, ("ts_in_future", f"ts {ts_ms} ms is ahead of the collector clock")
        if ts_ms < self.limits.min_ts_ms:
            return 0, ("ts_before_plausible", f"ts {ts_ms} ms is before the plausible start")
        return ts_ms, None


DecoderFactory = Callable[[DecodeLimits, Fleet], Decoder]
DECODERS: dict[str, DecoderFactory] = {"json": JsonDecoder}
