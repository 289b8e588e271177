"""Batches grow under load (linger) and a lone reading is still written at once."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from collector.broker.intake import Inbound, LoopIntake
from devstack import Influxd, Mosquitto
from tests.collector_support import (
    collector_overrides,
    publish_all,
    publisher,
    running_collector,
    wait_until,
)


async def test_the_intake_returns_nothing_when_the_timeout_passes() -> None:
    loop = asyncio.get_running_loop()
    item = Inbound("t", b"", 1, 1, 0, 0)
    intake = LoopIntake(loop, 10)
    t0 = time.monotonic()
    assert await intake.get_many(5, timeout=0.05) == []
    assert 0.04 <= time.monotonic() - t0 < 1
    loop.call_later(0.02, intake.put_many, [item])
    assert await intake.get_many(5, timeout=5) == [item]


async def test_batches_grow_under_load_and_a_lone_reading_is_not_held(
    mosquitto: Mosquitto, influxd: Influxd, fresh_db: str, prefix: str, tmp_path: Path
) -> None:
    # The flush timer is far away: only the linger can write these in time.
    overrides = collector_overrides(
        mosquitto, influxd, fresh_db, prefix, tmp_path, **{"influx.flush_interval_s": 30.0}
    )
    topic = f"{prefix}/PEMBA-01/solar/mppt1/telemetry"
    base = time.time() - 3600
    pub = publisher(mosquitto)
    try:
        async with running_collector(overrides) as c:
            counters = c.metrics.counters
            t0 = time.monotonic()
            payload = json.dumps({"ts": base, "battery_soc_pct": 70.0}).encode()
            await asyncio.to_thread(publish_all, pub, [(topic, payload)])
            await wait_until(lambda: counters["readings_written"] == 1, timeout=10, interval=0.01)
            assert time.monotonic() - t0 < 3
            burst = [
                (topic, json.dumps({"ts": base + 1 + i, "battery_soc_pct": 70.0}).encode())
                for i in range(3000)
            ]
            batches = counters["batches_written"]
            await asyncio.to_thread(publish_all, pub, burst)
            await wait_until(lambda: counters["readings_written"] == 3001, timeout=20)
            # one write per 50 ms of traffic at most, not one per turn of the loop
            written = counters["batches_written"] - batches
            assert written <= 60, f"{written} writes for 3,000 readings"
    finally:
        pub.loop_stop()
        pub.disconnect()
