"""A simulated year published over MQTT as station backlogs, written to InfluxDB by the collector.

Each device publishes its readings in telemetry batches (`{"readings": [...]}`) of half a day,
day after day, as a station does when its link returns. The collector (alerts off: the
bench measures the data, not paging) decodes, validates and writes them. The publisher keeps
at most WINDOW readings ahead of what the collector has written or refused, so neither the
broker's queue nor the collector's spool grows with the fleet.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from bench.collector_run import CollectorUnderTest
from bench.query_data import DAY_MS, PHASES, SHAPES, SLOTS, STEP_MS, day_values, station_ids
from bench.stack import new_prefix
from devices.catalogue import KINDS
from devices.errors import SolarWaterError
from devices.topics import format_topic
from devstack import Mosquitto

STEP_S = STEP_MS // 1000
PER_MESSAGE = SLOTS // 2  # half a day: the largest kind's batch stays under the 64 KiB cap
WINDOW = 100_000  # readings published and not yet written or refused
PROGRESS_S = 30.0


class FeedError(SolarWaterError, RuntimeError):
    """The collector refused readings, or stopped taking them."""


@dataclass(frozen=True, slots=True)
class Fed:
    readings: int
    seconds: float
    collector_cpu_s: float


Members = dict[str, list[list[list[str]]]]  # kind -> station group -> day shape -> slot


def reading_members() -> Members:
    """Each slot's fields as JSON object members, per kind, station group and day shape."""
    return {
        kind.name: [
            [[json.dumps(fields)[1:-1] for fields in shape] for shape in day_values(kind, phase)]
            for phase in PHASES
        ]
        for kind in KINDS.values()
    }


def payloads(
    stations: list[str], days: int, start_ms: int, prefix: str, members: Members
) -> Iterator[tuple[str, bytes, int]]:
    """(topic, payload, readings) of every backlog batch, day by day."""
    for day in range(days):
        base_s, seq0 = (start_ms + day * DAY_MS) // 1000, day * SLOTS
        shape = day % SHAPES
        for kind in KINDS.values():
            groups = members[kind.name]
            for i, station in enumerate(stations):
                topic = format_topic(prefix, station, kind.name, kind.device, "telemetry")
                texts = groups[i % len(groups)][shape]
                for first in range(0, SLOTS, PER_MESSAGE):
                    slots = range(first, first + PER_MESSAGE)
                    body = ",".join(
                        f'{{"ts":{base_s + s * STEP_S},"seq":{seq0 + s},{texts[s]}}}' for s in slots
                    )
                    yield topic, f'{{"readings":[{body}]}}'.encode(), len(slots)


def written_or_fail(cut: CollectorUnderTest) -> int:
    """Readings the collector has written; any refusal (reading or message) fails the feed."""
    written, refused = cut.progress()
    if refused:
        raise FeedError(f"the collector refused {refused}: {cut.log_tail()[-500:]}")
    return written


def feed_year(
    mosquitto: Mosquitto,
    influx_url: str,
    db: str,
    stations: int,
    days: int,
    start_ms: int,
    workdir: Path,
    timeout_s: float = 600.0,
) -> Fed:
    """Publish `days` days of every kind for `stations` stations; return when all are written."""
    prefix = new_prefix()  # a fresh session: nothing queued by an earlier, broken run
    cut = CollectorUnderTest(
        workdir,
        mqtt_url=mosquitto.url,
        influx_url=influx_url,
        db=db,
        prefix=prefix,
        extra_env={"SOLARWATER_ALERTS__ENABLED": "false"},
    )
    cut.start()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-feed-{time.time_ns()}")
    client.max_inflight_messages_set(64)
    client.connect(mosquitto.host, mosquitto.port)
    client.loop_start()
    try:
        cpu0, started = cut.cpu_seconds(), time.monotonic()
        published, written, shown = 0, 0, started
        total = stations * days * SLOTS * len(KINDS)
        for topic, payload, n in payloads(
            station_ids(stations), days, start_ms, prefix, reading_members()
        ):
            client.publish(topic, payload, qos=1)
            published += n
            stalled = time.monotonic()
            while published - written > WINDOW:
                written = written_or_fail(cut)
                if time.monotonic() - stalled > timeout_s:
                    raise FeedError(f"no progress for {timeout_s:.0f} s at {written:,} written")
                time.sleep(0.05)
            if time.monotonic() - shown > PROGRESS_S:
                shown = time.monotonic()
                rate = written / (shown - started)
                print(f"  {written:,} of {total:,} readings written ({rate:,.0f}/s)", flush=True)
        stalled = time.monotonic()
        while written < published:
            written = written_or_fail(cut)
            if time.monotonic() - stalled > timeout_s:
                raise FeedError(f"only {written:,} of {published:,} written after {timeout_s} s")
            time.sleep(0.05)
        fed = Fed(written, time.monotonic() - started, cut.cpu_seconds() - cpu0)
    finally:
        client.disconnect()
        client.loop_stop()
        rc = cut.stop()
    if rc not in (0, None):
        raise FeedError(f"collector exited with {rc}:\n{cut.log_tail()}")
    return fed
