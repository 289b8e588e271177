"""The `senml` decoder: a SenML JSON pack (RFC 8428) on a device's `senml` channel.

The topic names the station, kind and device; each record's resolved name ends in a field
of that kind. Records resolving to the same time form one reading.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pydantic import ValidationError

from collector.ingest.decoded import (
    DecodeLimits,
    DecodeResult,
    DecoderSettings,
    Reject,
    validation_reason,
)
from collector.ingest.device_table import DeviceTable
from collector.ingest.readings import Reading
from collector.ingest.senml_fields import FieldName, last_segment, names_of
from collector.ingest.senml_resolve import PackError, Resolved, parse, resolve
from devices.kind import DeviceKind, FieldValue
from devices.stations import Fleet
from devices.topics import Topic


class SenmlDecoderSettings(DecoderSettings):
    """SenML JSON packs (RFC 8428) on the `senml` channel; the `ingest:` limits apply."""

    type: Literal["senml"] = "senml"


SENML_SAMPLE = """\
# The senml channel always has this decoder: naming it leaves telemetry to json.
ingest:
  decoder:
    type: senml
"""


@dataclass(slots=True)
class _Group:
    """The records of one time: the reading they form."""

    ts_ms: int
    values: dict[str, FieldValue] = field(default_factory=dict)
    index_of: dict[str, int] = field(default_factory=dict)  # field -> its record's index


def _refused(reason: str, detail: str) -> DecodeResult:
    return DecodeResult(rejects=[Reject(reason, detail)])


def _value(rec: Resolved, spec: FieldName) -> tuple[FieldValue | None, tuple[str, str] | None]:
    """The record's value in the catalogue's type and unit, or why it has none."""
    where = f"record {rec.index} ({spec.field})"
    if rec.label is None:  # a sum alone: the catalogue keeps values, not integrals
        return None, ("sum_only", f"{where}: a sum without a value is not stored")
    if rec.unit not in spec.units:
        units = sorted(u for u in spec.units if u is not None)
        wanted = ", ".join(units) if units else "no unit"
        given = "no unit" if rec.unit is None else repr(rec.unit[:20])
        return None, ("wrong_unit", f"{where}: {given}, expected {wanted}")
    value = rec.value
    if spec.text:
        if rec.label != "vs":
            return None, ("wrong_type", f"{where}: a text field takes 'vs'")
        return value, None
    if rec.label == "vb" and spec.switch:
        value = int(value is True)
    elif rec.label != "v":
        return None, ("wrong_type", f"{where}: a number field takes 'v'")
    if not isinstance(value, int | float):  # resolve() lets only numbers through as v
        return None, ("wrong_type", f"{where}: not a number")
    factor = spec.units[rec.unit]
    number = value if factor == 1 else value * factor.numerator / factor.denominator
    if spec.integer and type(number) is float and number.is_integer():
        number = int(number)  # SenML numbers are doubles: 3.0 is the code 3
    return number, None


class SenmlDecoder:
    """Resolves the pack, maps each record to a field, groups them by time, validates."""

    def __init__(self, limits: DecodeLimits, fleet: Fleet) -> None:
        self.limits = limits
        self._table = DeviceTable(fleet)

    def decode(self, topic: Topic, payload: bytes, received_ms: int, now_ms: int) -> DecodeResult:
        """Decode; never raises for bad input."""
        entry = self._table.get((topic.kind, topic.station, topic.device))
        if entry is None:
            return _refused("unknown_kind", f"kind {topic.kind[:64]!r} is not in the catalogue")
        if len(payload) > self.limits.max_payload_bytes:
            return _refused("oversized", f"{len(payload)} bytes > {self.limits.max_payload_bytes}")
        try:
            records = resolve(parse(payload), received_ms / 1000)
        except PackError as exc:
            return _refused(exc.reason, str(exc)[:300])
        kind, district, series = entry
        names = names_of(kind.name)
        rejects: list[Reject] = []
        groups: dict[int, _Group] = {}
        for rec in records:
            if rec.problem is not None:
                rejects.append(Reject(*rec.problem, rec.index))
                continue
            segment = last_segment(rec.name)
            spec = names.get(segment)
            if spec is None:
                detail = f"record {rec.index}: {segment[:64]!r} is not a {kind.name} field"
                rejects.append(Reject("unknown_field", detail, rec.index))
                continue
            value, problem = _value(rec, spec)
            if problem is not None:
                rejects.append(Reject(*problem, rec.index))
                continue
            ts_ms = round(rec.time * 1000) if abs(rec.time) < 1e15 else 0
            group = groups.get(ts_ms)
            if group is None:
                group = groups[ts_ms] = _Group(ts_ms)
            if spec.field in group.values:
                detail = f"record {rec.index}: {spec.field} twice at {ts_ms} ms"
                rejects.append(Reject("duplicate_field", detail, rec.index))
                continue
            group.values[spec.field] = value  # type: ignore[assignment]
            group.index_of[spec.field] = rec.index
        if len(groups) > self.limits.max_readings:
            return _refused("too_many_readings", f"{len(groups)} > {self.limits.max_readings}")
        readings: list[Reading] = []
        for group in groups.values():
            reading = self._reading(topic, kind, district, series, group, now_ms, rejects)
            if reading is not None:
                readings.append(reading)
        rejects.sort(key=lambda r: r.index)
        # the logger's own clock, for the offset estimate (relative times read as offset 0)
        device_ts = max(groups) if groups else -1
        return DecodeResult(readings, rejects, len(groups) > 1, device_ts_ms=device_ts)

    def _reading(
        self,
        topic: Topic,
        kind: DeviceKind,
        district: str | None,
        series: str | None,
        group: _Group,
        now_ms: int,
        rejects: list[Reject],
    ) -> Reading | None:
        """The group's reading; a field the model refuses is refused alone, not its neighbours."""
        # a refusal of the time, or of the reading as a whole, is one per record: each counted
        if group.ts_ms > now_ms + self.limits.max_future_ms:
            detail = f"t {group.ts_ms} ms is ahead of the collector clock"
            rejects += [Reject("ts_in_future", detail, i) for i in group.index_of.values()]
            return None
        if group.ts_ms < self.limits.min_ts_ms:
            detail = f"t {group.ts_ms} ms is before the plausible start"
            rejects += [Reject("ts_before_plausible", detail, i) for i in group.index_of.values()]
            return None
        values = dict(group.values)
        while values:
            try:
                fields = kind.fields(values)
            except ValidationError as exc:
                reason, detail = validation_reason(exc)
                loc = exc.errors()[0]["loc"]
                name = str(loc[0]) if loc else ""
                if name not in values:  # not one field's fault: the reading as a whole
                    rejects += [Reject(reason, detail, group.index_of[n]) for n in values]
                    return None
                rejects.append(Reject(reason, detail, group.index_of[name]))
                del values[name]
                continue
            line = None if series is None else f"{series} {kind.fields_text(fields)} {group.ts_ms}"
            return Reading(
                topic.station, district, kind.name, topic.device, group.ts_ms, None, fields, line
            )
        return None
