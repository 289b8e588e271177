"""A simulated year of 5-minute readings for N stations, written to InfluxDB's /write.

Lines are the collector's own (devices.lineprotocol: series key and `kind.fields_text`), plus
its `station_info` points every 15 minutes. Values follow a day curve within each field's
display range, seven day shapes a week, so the day's Python cost is a lookup, not a format.
"""

from __future__ import annotations

import math
import queue
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

from devices import schema
from devices.catalogue import KINDS
from devices.kind import DeviceKind, string_choices
from devices.lineprotocol import FieldValue, encode_line, series

STEP_MS = 300_000
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


def day_profiles(kind: DeviceKind, phase: float) -> list[list[str]]:
    """Field texts per day shape and 5-minute slot."""
    return [
        [
            kind.fields_text({n: _value(kind, n, shape, slot, phase) for n in kind.field_names})
            for slot in range(SLOTS)
        ]
        for shape in range(SHAPES)
    ]


def station_ids(n: int) -> list[str]:
    return [f"bench-{i:04d}" for i in range(n)]


Profiles = dict[str, list[list[list[str]]]]  # kind -> station group -> day shape -> slot


def lines_for_day(
    stations: list[str], day: int, start_ms: int, profiles: Profiles
) -> Iterator[str]:
    """Every point of one day, kind by kind and station by station."""
    base = start_ms + day * DAY_MS
    shape = day % SHAPES
    for kind in KINDS.values():
        for i, station in enumerate(stations):
            key = series(kind.measurement, {schema.STATION: station, schema.DEVICE: kind.device})
            texts = profiles[kind.name][i % len(profiles[kind.name])][shape]
            for slot in range(SLOTS):
                yield f"{key} {texts[slot]} {base + slot * STEP_MS}"
    for i, station in enumerate(stations):
        info: dict[str, FieldValue] = {
            "name": station,
            "latitude": -12.0 - i * 0.001,
            "longitude": 40.0 + i * 0.001,
        }
        tags = {schema.STATION: station, schema.DISTRICT: f"d{i % 17}"}
        for slot in range(0, SLOTS, INFO_EVERY):
            yield encode_line(schema.STATION_INFO, tags, info, base + slot * STEP_MS)


@dataclass(frozen=True, slots=True)
class Written:
    points: int
    seconds: float


def write_year(url: str, db: str, stations: int, days: int, start_ms: int) -> Written:
    """Write `days` days for `stations` stations from `start_ms`; two writer threads."""
    ids = station_ids(stations)
    phases = [0.0, 0.6, 1.3, 2.1]  # four station groups, so stations differ
    profiles: Profiles = {k.name: [day_profiles(k, p) for p in phases] for k in KINDS.values()}
    batches: queue.Queue[list[str] | None] = queue.Queue(maxsize=8)  # bounded: memory
    errors: list[str] = []
    target = f"{url}/write?" + urllib.parse.urlencode({"db": db, "precision": "ms"})

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
    for day in range(days):
        for text in lines_for_day(ids, day, start_ms, profiles):
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
