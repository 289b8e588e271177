"""The broker source carries readings to InfluxDB and acks them; paho is no collector option."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import orjson
import pytest

from collector.config import ConfigError, load_settings
from devstack import Influxd, Mosquitto
from tests.collector_support import collector_overrides, running_collector, wait_until
from tests.fault_support import Message, Publisher


async def test_the_native_source_lands_every_reading(
    mosquitto: Mosquitto, influxd: Influxd, fresh_db: str, prefix: str, tmp_path: Path
) -> None:
    overrides = collector_overrides(mosquitto, influxd, fresh_db, prefix, tmp_path)
    now = time.time() - 600
    messages = [
        Message(
            f"{prefix}/PEMBA-01/solar/mppt1/telemetry",
            orjson.dumps({"ts": now + i, "seq": i, "battery_voltage_v": 25.0 + i / 1000}),
            1,
        )
        for i in range(300)
    ]
    async with running_collector(overrides) as collector:
        assert type(collector.source).__name__ == "NativeMqttSource"
        with Publisher(mosquitto.url, f"pub-{prefix}") as pub:
            await asyncio.to_thread(pub.publish_all, messages)
            await asyncio.to_thread(pub.wait_acked, 30)
        await wait_until(lambda: influxd.count("solar", fresh_db) == 300, 20)
        await wait_until(lambda: collector.metrics.counters.get("readings_written", 0) >= 300, 10)


def test_the_removed_client_setting_is_a_one_line_config_error() -> None:
    # mqtt.client chose between native and paho; a config that still names it is refused
    with pytest.raises(ConfigError, match=r"mqtt\.client: Extra inputs are not permitted"):
        load_settings(None, {"mqtt.client": "paho"})
