"""A simulated year of 5-minute readings for N stations: their values, and the points beside them.

The readings themselves go through the collector (bench/query_feed.py). Written here to /write:
the `station_info` points a collector running all year writes every 15 minutes (its own clock,
so a backlog cannot bring them), and, for `--rollup-by write`, the rollups' points computed from
the same values. Values follow a day curve within each field's display range, seven day shapes
a week, so the day's Python cost is a lookup, not a format.
"""

from __future__ import annotations

import math
import queue
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from collector.store.rollup.plan import day_offset_ms
from devices import schema
from devices.catalogue import KINDS
from devices.kind import DeviceKind, string_choices
from devices.lineprotocol import FieldValue, encode_line, fields_text, series

STEP_MS = 300_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
SLOTS = DAY_MS // STEP_MS
INFO_EVERY = 3  # slots: station_info every 15 minutes, as the collector writes it
SHAPES = 7
BATCH = 5000


def _value(kind: DeviceKind, name: str, shape: int, slot: int, phase: float) -> FieldValue:
    if name in kind.str_fields:
        choices = string_choices(kind.model, name) or ("ok",)
        return choices[(slot // 24 + shape) % len(choices)]
    info = kind.info[name]
    low, high = info.low or 0.0, info.high or 1.0
    curve = 0.5 + 0.4 * math.sin(2 * math.pi * slot / SLOTS + phase) * (0.7 + 0.05 * shape)
    value = low + (high - low) * curve
    return round(value) if name in kind.int_fields else round(value, 2)


SlotFields = dict[str, FieldValue]


def day_values(kind: DeviceKind, phase: float) -> list[list[SlotFields]]:
    """A reading's fields per day shape and 5-minute slot."""
    return [
        [
            {n: _value(kind, n, shape, slot, phase) for n in kind.field_names}
            for slot in range(SLOTS)
        ]
        for shape in range(SHAPES)
    ]


HOUR_SLOTS = SLOTS // 24
_AGG: dict[str, Callable[[list[float]], float]] = {
    "mean": lambda v: sum(v) / len(v),
    "min": min,
    "max": max,
    "sum": sum,
    "last": lambda v: v[-1],
}


def hourly_values(kind: DeviceKind, phase: float) -> list[list[SlotFields]]:
    """The rollup's fields per day shape and hour: what `rollup backfill` computes."""
    out = []
    for shape in range(SHAPES):
        hours = []
        for hour in range(24):
            slots = range(hour * HOUR_SLOTS, (hour + 1) * HOUR_SLOTS)
            fields: SlotFields = {}
            for name, info in kind.info.items():
                values = [_value(kind, name, shape, slot, phase) for slot in slots]
                if name in kind.str_fields:
                    fields[name] = values[-1]
                    continue
                numbers = [float(v) for v in values]
                main = _AGG[info.chart.agg](numbers)
                fields[name] = (
                    round(main) if name in kind.int_fields and info.chart.agg != "mean" else main
                )
                for agg in ("mean", "min", "max", "last"):
                    value = _AGG[agg](numbers)
                    fields[f"{name}_{agg}"] = (
                        round(value) if name in kind.int_fields and agg != "mean" else value
                    )
            hours.append(fields)
        out.append(hours)
    return out


def hourly_profiles(kind: DeviceKind, phase: float) -> list[list[str]]:
    """The rollup's field texts per day shape and hour."""
    return [[fields_text(f) for f in hours] for hours in hourly_values(kind, phase)]


def daily_fields(kind: DeviceKind, hours: list[SlotFields]) -> SlotFields:
    """A daily point from its hours, as the daily CQ aggregates the hourly points."""
    out: SlotFields = {}
    for name, info in kind.info.items():
        if name in kind.str_fields:
            out[name] = hours[-1][name]
            continue
        out[name] = _combine(info.chart.agg, [h[name] for h in hours])
        for agg in ("mean", "min", "max", "last"):
            field = f"{name}_{agg}"
            out[field] = _combine(agg, [h[field] for h in hours])
    return out


def _combine(agg: str, values: list[FieldValue]) -> FieldValue:
    """InfluxDB's aggregate of hourly values: integers stay integers, except for a mean."""
    result = _AGG[agg]([float(v) for v in values])
    return round(result) if agg != "mean" and all(type(v) is int for v in values) else result


def station_ids(n: int) -> list[str]:
    return [f"bench-{i:04d}" for i in range(n)]


Profiles = dict[str, list[list[list[str]]]]  # kind -> station group -> day shape -> hour


def info_lines(stations: list[str], days: int, start_ms: int) -> Iterator[str]:
    """The `station_info` points of `days` days, every 15 minutes, as the collector writes them."""
    for day in range(days):
        base = start_ms + day * DAY_MS
        for i, station in enumerate(stations):
            info: dict[str, FieldValue] = {
                "name": station,
                "latitude": -12.0 - i * 0.001,
                "longitude": 40.0 + i * 0.001,
            }
            tags = {schema.STATION: station, schema.DISTRICT: f"d{i % 17}"}
            for slot in range(0, SLOTS, INFO_EVERY):
                yield encode_line(schema.STATION_INFO, tags, info, base + slot * STEP_MS)


def hourly_lines_for_day(
    stations: list[str], day: int, start_ms: int, profiles: Profiles
) -> Iterator[str]:
    """The hourly rollup's points of one day, kind by kind and station by station."""
    base = start_ms + day * DAY_MS
    shape = day % SHAPES
    for kind in KINDS.values():
        for i, station in enumerate(stations):
            key = series(kind.measurement, {schema.STATION: station, schema.DEVICE: kind.device})
            texts = profiles[kind.name][i % len(profiles[kind.name])][shape]
            for hour in range(24):
                yield f"{key} {texts[hour]} {base + hour * HOUR_MS}"


def daily_lines(
    stations: list[str], start_ms: int, end_ms: int, values: dict[str, list[list[list[SlotFields]]]]
) -> Iterator[str]:
    """The daily rollup's points of [start, end): local days, from the hourly points in them."""
    offset = day_offset_ms()
    first = (start_ms - offset) // DAY_MS * DAY_MS + offset
    for day_start in range(first, end_ms, DAY_MS):
        hours = range(max(day_start, start_ms), min(day_start + DAY_MS, end_ms), HOUR_MS)
        for kind in KINDS.values():
            texts = []
            for group in values[kind.name]:
                picked = [
                    group[((t - start_ms) // DAY_MS) % SHAPES][(t - start_ms) % DAY_MS // HOUR_MS]
                    for t in hours
                ]
                texts.append(fields_text(daily_fields(kind, picked)))
            for i, station in enumerate(stations):
                key = series(
                    kind.measurement, {schema.STATION: station, schema.DEVICE: kind.device}
                )
                yield f"{key} {texts[i % len(texts)]} {day_start}"


@dataclass(frozen=True, slots=True)
class Written:
    points: int
    seconds: float


PHASES = (0.0, 0.6, 1.3, 2.1)  # four station groups, so stations differ


def write_info(url: str, db: str, stations: int, days: int, start_ms: int) -> Written:
    """The `station_info` points of the fleet's `days` days from `start_ms`."""
    return write_lines(url, db, info_lines(station_ids(stations), days, start_ms))


def write_rollup(url: str, db: str, stations: int, days: int, start_ms: int, rp: str) -> Written:
    """The points `rollup backfill` would write to `rp` for the simulated readings."""
    ids = station_ids(stations)
    if rp == schema.DAILY_RP:
        values = {k.name: [hourly_values(k, p) for p in PHASES] for k in KINDS.values()}
        return write_lines(
            url, db, daily_lines(ids, start_ms, start_ms + days * DAY_MS, values), rp
        )
    profiles: Profiles = {k.name: [hourly_profiles(k, p) for p in PHASES] for k in KINDS.values()}
    days_lines = (
        t for day in range(days) for t in hourly_lines_for_day(ids, day, start_ms, profiles)
    )
    return write_lines(url, db, days_lines, rp)


def write_lines(url: str, db: str, lines: Iterator[str], rp: str | None = None) -> Written:
    """Post `lines` in BATCH-line batches from two writer threads; a refused batch raises."""
    batches: queue.Queue[list[str] | None] = queue.Queue(maxsize=8)  # bounded: memory
    errors: list[str] = []
    params = {"db": db, "precision": "ms"} | ({"rp": rp} if rp else {})
    target = f"{url}/write?" + urllib.parse.urlencode(params)

    def writer() -> None:
        while (batch := batches.get()) is not None:
            req = urllib.request.Request(target, data="\n".join(batch).encode(), method="POST")
            try:
                with urllib.request.urlopen(req, timeout=300) as resp:
                    resp.read()
            except OSError as exc:  # HTTPError too: a refused batch is a bench failure
                errors.append(str(exc))

    threads = [threading.Thread(target=writer, daemon=True) for _ in range(2)]
    for t in threads:
        t.start()
    started, points, batch = time.monotonic(), 0, []
    for text in lines:
        batch.append(text)
        if len(batch) == BATCH:
            batches.put(batch)
            points, batch = points + BATCH, []
    if batch:
        batches.put(batch)
        points += len(batch)
    for _ in threads:
        batches.put(None)
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError(f"{len(errors)} batches refused, first: {errors[0][:200]}")
    return Written(points, time.monotonic() - started)
