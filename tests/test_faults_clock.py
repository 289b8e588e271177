"""Device clock problems are quarantined with their own reasons; seq duplicates and gaps counted."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from devstack import Influxd, Mosquitto
from tests.collector_support import collector_overrides, running_collector, wait_until
from tests.fault_support import Message, Publisher, metric


def publish(mosquitto: Mosquitto, messages: list[Message]) -> int:
    with Publisher(mosquitto.url, f"clock-{time.monotonic_ns()}") as pub:
        pub.publish_all(messages)
        return pub.wait_acked(30)


async def get(port: int, path: str) -> Any:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}{path}") as resp,
    ):
        return await (resp.json() if path != "/metrics" else resp.text())


async def test_bad_device_clocks_and_seq_problems(
    mosquitto: Mosquitto, influxd: Influxd, fresh_db: str, prefix: str, tmp_path: Path
) -> None:
    now = time.time()
    topic = f"{prefix}/PEMBA-01/solar/mppt1/telemetry"
    tank = f"{prefix}/PEMBA-01/tank/tank1/telemetry"

    seq_topic = f"{prefix}/PEMBA-01/solar/mppt2/telemetry"

    def reading(ts: Any, seq: int | None = None) -> dict[str, Any]:
        return {"ts": ts, "battery_voltage_v": 25.0} | ({} if seq is None else {"seq": seq})

    clocks = [
        reading(now - 600),
        reading(now + 86_400),  # a clock a day ahead
        reading(0),  # a reset RTC: 1970
        reading("2000-01-01T00:00:00+00:00"),  # the other usual reset date
        reading(now - 500),
    ]
    seqs = [
        reading(now - 600, 1),
        reading(now - 500, 2),
        reading(now - 400, 2),  # the same seq again: a duplicate
        reading(now - 300, 6),  # 3, 4, 5 never came: a gap of 3
        reading(now - 200, 7),
    ]
    # a device whose clock jumps ahead for one reading: that reading is refused, not missing
    jumpy_topic = f"{prefix}/PEMBA-01/solar/mppt3/telemetry"
    jumpy = [reading(now - 300, 10), reading(now + 86_400, 11), reading(now - 200, 12)]
    messages = [
        Message(jumpy_topic, orjson.dumps({"readings": jumpy}), len(jumpy)),
        Message(topic, orjson.dumps({"readings": clocks}), len(clocks)),
        Message(tank, orjson.dumps({"ts": now + 7200, "level_pct": 50.0}), 1),
        Message(seq_topic, orjson.dumps({"readings": seqs}), len(seqs)),
    ]
    overrides = collector_overrides(mosquitto, influxd, fresh_db, prefix, tmp_path)
    async with running_collector(overrides) as collector:
        port = collector.http_port
        assert port is not None
        await asyncio.to_thread(publish, mosquitto, messages)
        await wait_until(lambda: collector.metrics.counters["messages_received"] == 4, 15)
        await wait_until(lambda: influxd.count("solar", fresh_db) == 9, 15)

        text = await get(port, "/metrics")
        rejected = 'solarwater_readings_rejected_total{reason="%s"}'
        assert rejected % "ts_in_future" + " 3" in text
        assert rejected % "ts_before_plausible" + " 2" in text
        assert metric(text, "solarwater_seq_duplicates_total") == 1
        assert metric(text, "solarwater_seq_gaps_total") == 1

        quarantine = await get(port, "/quarantine?reason=ts_in_future")
        assert quarantine["by_reason"] == {"ts_in_future": 3, "ts_before_plausible": 2}
        assert {e["index"] for e in quarantine["entries"]} == {1, 0}
        assert {e["topic"] for e in quarantine["entries"]} == {topic, tank, jumpy_topic}
        old = await get(port, "/quarantine?reason=ts_before_plausible")
        assert sorted(e["index"] for e in old["entries"]) == [2, 3]
        assert all("before the plausible start" in e["detail"] for e in old["entries"])

        devices = (await get(port, "/devices"))["devices"]
        seq_keys = ("station", "device", "last_seq", "duplicates", "gaps", "missing", "seq_resets")
        assert [{k: d[k] for k in seq_keys} for d in devices if d["last_seq"] is not None] == [
            {"station": "PEMBA-01", "device": "mppt2", "last_seq": 7, "duplicates": 1,
             "gaps": 1, "missing": 3, "seq_resets": 0},
            {"station": "PEMBA-01", "device": "mppt3", "last_seq": 12, "duplicates": 0,
             "gaps": 0, "missing": 0, "seq_resets": 0},
        ]  # fmt: skip
        # one message a device, its times far apart: no live sample, no clock estimate
        assert {d["device"] for d in devices} == {"mppt1", "mppt2", "mppt3", "tank1"}
        assert all(d["clock_offset_s"] is None for d in devices)
    # The good readings of the same message landed; a duplicate seq with a new ts is a new point.
    assert influxd.count("solar", fresh_db) == 2 + 5 + 2
    assert influxd.count("tank", fresh_db) == 0
