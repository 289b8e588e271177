"""Broken and hostile messages are refused, counted and quarantined; good ones beside them land."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from devstack import Influxd, Mosquitto
from tests.collector_support import (
    collector_overrides,
    publish_all,
    publisher,
    running_collector,
    wait_until,
)

NOW = time.time()


def get_json(port: int, path: str) -> Any:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
        return json.loads(resp.read())


def get_text(port: int, path: str) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
        text: str = resp.read().decode()
        return text


def reading(offset_s: int, **fields: Any) -> dict[str, Any]:
    return {"ts": NOW - 3600 + offset_s, **fields}


async def test_hostile_messages_are_refused_and_good_ones_land(
    mosquitto: Mosquitto, influxd: Influxd, fresh_db: str, prefix: str, tmp_path: Path
) -> None:
    t = f"{prefix}/PEMBA-01/solar/mppt1/telemetry"
    tank = f"{prefix}/PEMBA-01/tank/tank1/telemetry"
    good = [reading(i, battery_soc_pct=60.0 + i, charge_state="bulk") for i in range(5)]
    deep_object = b'{"a":' * 5000 + b"1" + b"}" * 5000
    deep_batch = b'{"readings": [' + b"[" * 3000 + b"]" * 3000 + b"]}"
    hostile: list[tuple[str, bytes, str]] = [
        (t, b"{not json", "malformed_json"),
        (t, b"\xff\xfe\x00garbage", "not_utf8"),
        (t, json.dumps(reading(100, pv_power_w="12")).encode(), "wrong_type"),
        (t, b'{"ts": 1700000000, "pv_power_w": NaN}', "malformed_json"),
        (t, b'{"ts": 1700000000, "pv_power_w": Infinity}', "malformed_json"),
        (t, json.dumps(reading(101, battery_soc_pct=140)).encode(), "out_of_range"),
        (t, json.dumps(reading(102, pv_power_w=1, wind_speed=3)).encode(), "unknown_field"),
        (
            f"{prefix}/PEMBA-01/wind/w1/telemetry",
            json.dumps(reading(1, x=1)).encode(),
            "unknown_kind",
        ),
        (f"{prefix}/PEMBA 01/solar/mppt1/telemetry", json.dumps(good[0]).encode(), "bad_id"),
        (f"{prefix}/{'A' * 65}/solar/mppt1/telemetry", json.dumps(good[0]).encode(), "bad_id"),
        (t, b'{"pv_power_w": 1, "pad": "' + b"x" * 70_000 + b'"}', "oversized"),
        (t, deep_object, "too_deep"),
        (t, deep_batch, "too_deep"),
        (t, json.dumps({"readings": [[[[{"a": 1}]]]]}).encode(), "bad_structure"),
        (t, json.dumps({"ts": NOW, "pv_power_w": {"a": [1]}}).encode(), "wrong_type"),
        (t, b"[1, 2, 3]", "bad_structure"),
        (t, json.dumps(reading(103)).encode(), "no_fields"),
        (t, json.dumps({"ts": "yesterday", "pv_power_w": 1}).encode(), "bad_timestamp"),
        (t, json.dumps({"ts": "2026-01-01T10:00:00", "pv_power_w": 1}).encode(), "bad_timestamp"),
        # ISO 8601 that is not RFC 3339: week and ordinal dates, bare dates, basic format
        (t, json.dumps({"ts": "2026-W01-1T10:00:00Z", "pv_power_w": 1}).encode(), "bad_timestamp"),
        (t, json.dumps({"ts": "2026-001T10:00:00Z", "pv_power_w": 1}).encode(), "bad_timestamp"),
        (t, json.dumps({"ts": "2026-01-01", "pv_power_w": 1}).encode(), "bad_timestamp"),
        (t, json.dumps({"ts": "20260101T100000Z", "pv_power_w": 1}).encode(), "bad_timestamp"),
        (t, json.dumps({"ts": "2026-01-01T10Z", "pv_power_w": 1}).encode(), "bad_timestamp"),
        (t, json.dumps({"ts": int(NOW * 1000), "pv_power_w": 1}).encode(), "ts_in_future"),
        (t, b'{"ts": 1e400, "pv_power_w": 1}', "not_finite"),
        (t, b'{"readings": [], "readings": []}', "duplicate_field"),
        (t, json.dumps({"ts": NOW + 86400, "pv_power_w": 1}).encode(), "ts_in_future"),
        (t, json.dumps({"ts": 0, "pv_power_w": 1}).encode(), "ts_before_plausible"),
        (
            t,
            json.dumps({"ts": "2000-01-01T00:00:00Z", "pv_power_w": 1}).encode(),
            "ts_before_plausible",
        ),
        (t, json.dumps({"seq": -1, "ts": NOW, "pv_power_w": 1}).encode(), "bad_seq"),
        (
            t,
            json.dumps({"readings": [reading(0, pv_power_w=1)] * 1001}).encode(),
            "too_many_readings",
        ),
    ]
    batch_with_one_bad = {
        "readings": [
            reading(200, level_pct=50.0, volume_l=5000.0),
            reading(201, level_pct=150.0),
            reading(202, level_pct=49.0, volume_l=4900.0),
        ]
    }
    async with running_collector(
        collector_overrides(mosquitto, influxd, fresh_db, prefix, tmp_path / "c")
    ) as collector:
        client = publisher(mosquitto)
        messages = [(topic, payload) for topic, payload, _ in hostile]
        messages += [(t, json.dumps(g).encode()) for g in good]
        messages.append((tank, json.dumps(batch_with_one_bad).encode()))
        publish_all(client, messages)
        client.loop_stop()

        await wait_until(
            lambda: influxd.count("solar", fresh_db) == 5 and influxd.count("tank", fresh_db) == 2
        )
        await wait_until(lambda: collector.metrics.counters["messages_received"] == len(messages))
        # The collector kept running and took all of it.
        assert collector.source is not None and collector.source.connected
        counters = collector.metrics.counters
        assert counters["readings_written"] == 7
        rejected = collector.metrics.rejected_by_reason()
        expected: dict[str, int] = {}
        for _, _, reason in hostile:
            expected[reason] = expected.get(reason, 0) + 1
        expected["out_of_range"] += 1  # the bad reading inside the tank batch
        assert rejected == expected

        port = collector.http_port
        assert port is not None
        await wait_until(
            lambda: get_json(port, "/quarantine?limit=1000")["total"] == len(hostile) + 1
        )
        q = await asyncio.to_thread(get_json, port, "/quarantine?limit=1000")
        assert {e["reason"] for e in q["entries"]} == set(expected)
        batch_entry = [e for e in q["entries"] if e["topic"] == tank]
        assert len(batch_entry) == 1 and batch_entry[0]["index"] == 1
        binary = next(e for e in q["entries"] if e["reason"] == "not_utf8")
        assert binary["payload"] is None and binary["payload_b64"]

        metrics = await asyncio.to_thread(get_text, port, "/metrics")
        assert "solarwater_readings_written_total 7" in metrics
        assert 'solarwater_messages_rejected_total{reason="malformed_json"} 3' in metrics
        assert 'solarwater_readings_rejected_total{reason="out_of_range"} 2' in metrics
        health = await asyncio.to_thread(get_json, port, "/healthz")
        assert health["status"] == "ok" and health["mqtt"]["connected"] is True

    # The good values landed exactly, tagged from the registry.
    rows = influxd.query("SELECT battery_soc_pct, charge_state, district FROM solar", fresh_db)
    assert [r["battery_soc_pct"] for r in rows] == [60.0, 61.0, 62.0, 63.0, 64.0]
    assert {r["district"] for r in rows} == {"Pemba"}
    tank_rows = influxd.query("SELECT level_pct FROM tank", fresh_db)
    assert [r["level_pct"] for r in tank_rows] == [50.0, 49.0]
    # The quarantine survives on disk for an operator.
    lines = (tmp_path / "c" / "quarantine" / "quarantine.jsonl").read_text().splitlines()
    assert len(lines) == len(hostile) + 1


async def test_refused_readings_leave_their_neighbours(
    mosquitto: Mosquitto, influxd: Influxd, fresh_db: str, prefix: str, tmp_path: Path
) -> None:
    t = f"{prefix}/PEMBA-01/solar/mppt1/telemetry"
    r = [json.dumps({"seq": i, **reading(400 + i, pv_power_w=100.0 + i)}) for i in range(6)]
    ts = [NOW - 3600 + 400 + i for i in range(6)]
    items = [
        r[0],
        f'{{"seq": 1, "ts": {ts[1]}, "pv_power_w": 1e400}}',
        r[2],
        f'{{"seq": 3, "ts": {ts[3]}, "pv_power_w": 1, "pv_power_w": 2}}',
        r[4],
        # the same device and time as the one before: InfluxDB would keep one point
        json.dumps({"seq": 5, "ts": ts[4], "pv_power_w": 999.0}),
    ]
    payload = ('{"readings": [' + ", ".join(items) + "]}").encode()
    async with running_collector(
        collector_overrides(mosquitto, influxd, fresh_db, prefix, tmp_path / "c")
    ) as collector:
        client = publisher(mosquitto)
        publish_all(client, [(t, payload)])
        client.loop_stop()
        await wait_until(lambda: influxd.count("solar", fresh_db) == 3)
        counters = collector.metrics.counters
        await wait_until(lambda: counters["readings_written"] == 3)
        assert counters["readings_received"] == 3
        assert collector.metrics.readings_rejected_by == {
            "not_finite": 1,
            "duplicate_field": 1,
            "duplicate_timestamp": 1,
        }
        # refused readings are not missing ones: their seq leaves no gap
        assert counters["seq_gaps"] == 0 and counters["seq_duplicates"] == 0
        port = collector.http_port
        assert port is not None
        await wait_until(lambda: get_json(port, "/quarantine?limit=100")["total"] == 3)
        q = await asyncio.to_thread(get_json, port, "/quarantine?limit=100")
        by_index = {e["index"]: e["reason"] for e in q["entries"]}
        assert by_index == {1: "not_finite", 3: "duplicate_field", 5: "duplicate_timestamp"}
        metrics = await asyncio.to_thread(get_text, port, "/metrics")
        assert "solarwater_readings_written_total 3" in metrics
        assert 'solarwater_readings_rejected_total{reason="duplicate_timestamp"} 1' in metrics
    rows = influxd.query("SELECT pv_power_w FROM solar", fresh_db)
    assert [row["pv_power_w"] for row in rows] == [100.0, 102.0, 104.0]  # the first of ts[4]


async def test_unregistered_station_is_accepted_without_district(
    mosquitto: Mosquitto, influxd: Influxd, fresh_db: str, prefix: str, tmp_path: Path
) -> None:
    async with running_collector(
        collector_overrides(mosquitto, influxd, fresh_db, prefix, tmp_path / "c")
    ):
        client = publisher(mosquitto)
        publish_all(
            client,
            [
                (
                    f"{prefix}/NEW-SITE-7/tank/tank1/telemetry",
                    json.dumps(reading(0, level_pct=10.0)).encode(),
                ),
                (
                    f"{prefix}/MUEDA-01/tank/tank1/telemetry",
                    json.dumps(reading(0, level_pct=20.0)).encode(),
                ),
            ],
        )
        client.loop_stop()
        await wait_until(lambda: influxd.count("tank", fresh_db) == 2)
    rows = {r["station"]: r for r in influxd.query("SELECT * FROM tank GROUP BY *", fresh_db)}
    assert rows["NEW-SITE-7"].get("district") in (None, "")
    assert rows["MUEDA-01"]["district"] == "Mueda"


async def test_status_and_own_points(
    mosquitto: Mosquitto, influxd: Influxd, fresh_db: str, prefix: str, tmp_path: Path
) -> None:
    async with running_collector(
        collector_overrides(mosquitto, influxd, fresh_db, prefix, tmp_path / "c")
    ) as collector:
        client = publisher(mosquitto)
        topic = f"{prefix}/IBO-01/solar/mppt1/status"
        publish_all(
            client,
            [
                (topic, b'{"state": "online"}'),
                (topic, b'{"state": "online"}'),
                (topic, b'{"state": "offline"}'),
                (topic, b'{"state": "sleepy"}'),
            ],
        )
        client.loop_stop()
        await wait_until(lambda: influxd.count("station_status", fresh_db) == 2)
        assert collector.metrics.messages_rejected_by["bad_status"] == 1
        await wait_until(lambda: influxd.count("collector", fresh_db) >= 1)
    online = [r["online"] for r in influxd.query("SELECT online FROM station_status", fresh_db)]
    assert online == [1, 0]
    assert influxd.count("station_info", fresh_db) == 19
    info = influxd.query("SELECT * FROM station_info WHERE station = 'PALMA-01'", fresh_db)
    assert info[0]["district"] == "Palma" and info[0]["latitude"] == pytest.approx(-10.78)
