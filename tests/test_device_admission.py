"""Invented device ids and station ids cannot grow the collector's tables or InfluxDB's series."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from collector.config import ConfigError, load_settings
from collector.ingest.admission import DeviceAdmission
from devices import topics
from devices.stations import load_fleet
from devstack import Influxd, Mosquitto
from tests.collector_support import (
    collector_overrides,
    publish_all,
    publisher,
    running_collector,
    wait_until,
)
from tests.test_collector_ingest import get_json, get_text

NOW = time.time()


def test_admission_caps_devices_per_station_and_unregistered_stations() -> None:
    gate = DeviceAdmission(load_fleet(None), max_devices=2, max_unregistered=1)
    assert gate.admit("PEMBA-01", "solar", "mppt1")
    assert gate.admit("PEMBA-01", "tank", "tank1")
    assert gate.refusal("PEMBA-01", "tank", "tank2") == (
        "too_many_devices",
        "station 'PEMBA-01' already has 2 devices",
    )
    # admitted once, admitted again (status and telemetry of one device alike)
    assert gate.admit("PEMBA-01", "solar", "mppt1")
    # one unregistered station fits; registered ones never count against that bound
    assert gate.admit("NEW-1", "solar", "mppt1")
    refusal = gate.refusal("NEW-2", "solar", "mppt1")
    assert refusal is not None and refusal[0] == "too_many_stations"
    assert gate.admit("MUEDA-01", "solar", "mppt1")
    assert (gate.devices, gate.stations, gate.unregistered_stations) == (4, 3, 1)
    # a refused station took no room
    assert not gate.admit("NEW-2", "tank", "tank1")
    assert gate.stations == 3


async def test_stations_beyond_the_unregistered_bound_are_refused(
    mosquitto: Mosquitto, influxd: Influxd, fresh_db: str, prefix: str, tmp_path: Path
) -> None:
    overrides = collector_overrides(
        mosquitto,
        influxd,
        fresh_db,
        prefix,
        tmp_path / "c",
        **{"ingest.max_unregistered_stations": 2},
    )
    body = json.dumps({"ts": NOW - 60, "level_pct": 40.0}).encode()
    stations = ["NEW-1", "NEW-2", "NEW-3", "NEW-4", "PEMBA-01"]
    messages = [(f"{prefix}/{s}/tank/tank1/telemetry", body) for s in stations]
    messages.append((f"{prefix}/NEW-3/tank/tank1/status", b'{"state": "online"}'))
    async with running_collector(overrides) as collector:
        client = publisher(mosquitto)
        publish_all(client, messages)
        client.loop_stop()
        await wait_until(lambda: collector.metrics.counters["messages_received"] == len(messages))
        await wait_until(lambda: collector.metrics.counters["readings_written"] == 3)
        assert collector.metrics.messages_rejected_by == {"too_many_stations": 3}
        assert collector.status.state == {}
        port = collector.http_port
        assert port is not None
        q = await asyncio.to_thread(get_json, port, "/quarantine?limit=100")
        refused = {e["topic"].split("/")[1] for e in q["entries"]}
        assert refused == {"NEW-3", "NEW-4"}
    rows = influxd.query("SELECT level_pct FROM tank GROUP BY station", fresh_db)
    assert sorted(r["station"] for r in rows) == ["NEW-1", "NEW-2", "PEMBA-01"]


@pytest.mark.slow
async def test_invented_device_ids_stay_bounded(
    mosquitto: Mosquitto, influxd: Influxd, fresh_db: str, prefix: str, tmp_path: Path
) -> None:
    n, cap = 100_000, 16
    overrides = collector_overrides(
        mosquitto,
        influxd,
        fresh_db,
        prefix,
        tmp_path / "c",
        **{"quarantine.payload_excerpt_bytes": 64, "influx.batch_size": 5000},
    )
    messages = [
        (
            f"{prefix}/PEMBA-01/solar/d{i}/telemetry",
            b'{"seq": 1, "ts": %.3f, "pv_power_w": 5.0}' % (NOW - 3600 + i / 100),
        )
        for i in range(n)
    ]
    # status from invented devices is refused the same way
    messages += [
        (f"{prefix}/PEMBA-01/solar/x{i}/status", b'{"state": "online"}') for i in range(50)
    ]
    async with running_collector(overrides) as collector:
        client = publisher(mosquitto)
        for start in range(0, len(messages), 5000):  # paho's own queue is bounded
            await asyncio.to_thread(publish_all, client, messages[start : start + 5000])
        client.loop_stop()
        counters = collector.metrics.counters
        await wait_until(lambda: counters["messages_received"] == len(messages), timeout=120)
        await wait_until(lambda: counters["readings_written"] == cap)
        assert collector.metrics.messages_rejected_by == {"too_many_devices": len(messages) - cap}
        # every per-device table holds the admitted devices only
        assert collector.admission.devices == cap
        assert len(collector.seq.devices) == cap
        assert len(collector.ingest.clock.devices) == cap
        assert len(collector.status.state) == 0
        assert len(collector.ingest.decoder._devices) == cap  # type: ignore[attr-defined]
        assert len(collector.stations_seen) == 1
        assert len(topics._PARSED) < 1000  # refused devices' topics are not remembered
        port = collector.http_port
        assert port is not None
        devices = await asyncio.to_thread(get_json, port, "/devices")
        assert len(devices["devices"]) == cap
        metrics = await asyncio.to_thread(get_text, port, "/metrics")
        assert f"solarwater_admitted_devices {cap}" in metrics
        refused = (
            f'solarwater_messages_rejected_total{{reason="too_many_devices"}} {len(messages) - cap}'
        )
        assert refused in metrics
    series = influxd.query_raw('SHOW SERIES FROM "solar"', db=fresh_db)
    assert len(series["results"][0]["series"][0]["values"]) == cap


def test_bounds_come_from_env_and_a_bad_one_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOLARWATER_INGEST__MAX_DEVICES_PER_STATION", "4")
    assert load_settings().ingest.max_devices_per_station == 4
    monkeypatch.setenv("SOLARWATER_INGEST__MAX_UNREGISTERED_STATIONS", "-1")
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert "max_unregistered_stations" in str(err.value) and "\n" not in str(err.value)
