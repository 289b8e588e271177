"""A fleet of native and SenML stations: simulator -> Mosquitto -> collector -> InfluxDB.

Real broker and database (session fixtures), the collector in-process. A SenML station's
readings, its GSM-outage backlog included, land as the same points a native station's do.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from devices.catalogue import KINDS
from devices.stations import Fleet, load_fleet
from devstack import Influxd, Mosquitto
from simulator import SimulationConfig, Summary, run_simulation
from tests.collector_support import (
    collector_overrides,
    publish_all,
    publisher,
    running_collector,
    wait_until,
)

START = datetime(2026, 1, 15, 6, 0, tzinfo=UTC)


def _fleet() -> Fleet:
    """Four sample stations, the second and fourth speaking SenML."""
    stations = load_fleet().stations[:4]
    mixed = [
        s.model_copy(update={"dialect": "senml"}) if i % 2 else s for i, s in enumerate(stations)
    ]
    return Fleet(stations=tuple(mixed))


def _points(influxd: Influxd, db: str) -> dict[tuple[str, str, str, int], dict[str, Any]]:
    """Every point by (measurement, station, device, ms), its non-null fields."""
    out: dict[tuple[str, str, str, int], dict[str, Any]] = {}
    for kind in KINDS:
        for row in influxd.query(f'SELECT * FROM "{kind}" GROUP BY *', db=db):
            tags = ("station", "device", "district", "time")
            fields = {k: v for k, v in row.items() if k not in tags and v is not None}
            out[(kind, row["station"], row["device"], row["time"])] = fields
    return out


async def test_native_and_senml_stations_land_the_same_measurements_and_fields(
    mosquitto: Mosquitto, influxd: Influxd, fresh_db: str, prefix: str, tmp_path: Path
) -> None:
    fleet = _fleet()
    senml_station = fleet.stations[1].id
    config = SimulationConfig(
        mqtt_url=mosquitto.url,
        prefix=prefix,
        fleet=fleet,
        start=START,
        duration_s=10 * 3600,
        interval_s=600,
        scenario="gsm-outage",  # the link is down +2 h to +8 h: a backlog of SenML packs
        scenario_station=senml_station,
        quiet=True,
        state_dir=tmp_path / "sim",
    )
    overrides = collector_overrides(mosquitto, influxd, fresh_db, prefix, tmp_path / "var")
    async with running_collector(overrides) as collector:
        summary: Summary = await asyncio.to_thread(run_simulation, config, record=True)
        total = summary.readings.total

        def landed() -> bool:
            return sum(influxd.count(k, fresh_db) for k in KINDS) >= total

        await wait_until(landed, timeout=30)
        rejected = collector.metrics.rejected_by_reason()
        # a logger's pack with bad records beside a good one, through the broker
        station = fleet.stations[3].id
        topic = f"{prefix}/{station}/tank/tank1/senml"
        bt = START.timestamp() + 11 * 3600
        pack = [
            {"bn": "urn:dev:imei:356938035643809:", "bt": bt, "n": "level", "u": "/", "v": 0.5},
            {"n": "level_pct", "u": "%", "v": 50},  # the full name takes its own unit only
            {"n": "flow", "u": "l/s", "v": 1},  # no such tank field
        ]
        client = publisher(mosquitto)
        try:
            publish_all(client, [(topic, orjson.dumps(pack))])
        finally:
            client.disconnect()
            client.loop_stop()
        await wait_until(lambda: sum(influxd.count(k, fresh_db) for k in KINDS) > total)
        await wait_until(lambda: collector.quarantine.total == 2)
        reasons = collector.metrics.rejected_by_reason()
        entry = collector.quarantine.query()
    assert {(e["index"], e["reason"]) for e in entry} == {(1, "wrong_unit"), (2, "unknown_field")}
    assert reasons == {"wrong_unit": 1, "unknown_field": 1}
    level = influxd.query(
        f"SELECT level_pct FROM tank WHERE station = '{station}' AND time = {int(bt * 1000)}ms",
        db=fresh_db,
    )
    assert [row["level_pct"] for row in level] == [50.0]
    counts = summary.to_json()["by_dialect"]
    assert set(counts) == {"native", "senml"}
    assert counts["native"]["total"] + counts["senml"]["total"] == total
    assert counts["senml"]["total"] == 2 * 60 * len(fleet.stations[1].devices)
    assert summary.backlog_messages > 0  # the outage's readings went out as backlog packs
    assert not rejected, rejected

    points = _points(influxd, fresh_db)
    assert len(points) == total + 1  # the hand-written pack's one good reading
    dialect = {s.id: s.dialect for s in fleet.stations}
    fields_by: dict[tuple[str, str], set[frozenset[str]]] = {}
    for rec in summary.records:
        key = (rec.kind, rec.station, rec.device, rec.ts_ms)
        assert points[key] == dict(rec.fields), key  # same values, same types, same time
        fields_by.setdefault((rec.kind, dialect[rec.station]), set()).add(frozenset(rec.fields))
    for kind in KINDS:  # each kind's field sets are the same whichever dialect carried them
        assert fields_by[(kind, "senml")] == fields_by[(kind, "native")], kind
