"""One simulated day of 19 stations lands in InfluxDB reading for reading, and looks like one."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

from devices.catalogue import KINDS
from devices.stations import load_fleet
from devstack import Influxd
from tests.conftest import IngestedRun

MAPUTO = timedelta(hours=2)


def test_counts_equal_the_simulator_summary(influxd: Influxd, default_run: IngestedRun) -> None:
    db, summary = default_run.db, default_run.summary
    devices = sum(len(s.devices) for s in load_fleet().stations)
    assert summary.readings.total == devices * 288 - summary.dropped["silent"]
    assert summary.dropped["not_acknowledged"] == 0
    for kind in KINDS:
        assert influxd.count(kind, db) == summary.readings.by_kind[kind]
        rows = influxd.query(
            f'SELECT count("{_first_field(kind)}") FROM "{kind}" GROUP BY station', db
        )
        counted = {r["station"]: r["count"] for r in rows}
        expected = {s: per[kind] for s, per in summary.readings.by_station.items() if kind in per}
        assert counted == expected


def _first_field(kind: str) -> str:
    # every simulated reading carries every field of its kind, so count() on one counts readings
    return KINDS[kind].field_names[0]


def test_spot_values_are_equal(influxd: Influxd, default_run: IngestedRun) -> None:
    records = default_run.summary.records
    assert len(records) == default_run.summary.readings.total
    step = max(1, len(records) // 25)
    for rec in records[::step]:
        rows = influxd.query(
            f"SELECT * FROM \"{rec.kind}\" WHERE station = '{rec.station}' "
            f"AND device = '{rec.device}' AND time = {rec.ts_ms}ms",
            default_run.db,
        )
        assert len(rows) == 1, rec
        row = rows[0]
        for name, value in rec.fields.items():
            assert row[name] == value, (rec, name)


def test_it_looks_like_a_day_in_cabo_delgado(influxd: Influxd, default_run: IngestedRun) -> None:
    rows = influxd.query(
        "SELECT pv_power_w, battery_current_a, battery_soc_pct FROM solar "
        "WHERE station = 'PEMBA-02'",
        default_run.db,
    )
    assert len(rows) == 288
    by_hour: dict[int, list[dict[str, float]]] = defaultdict(list)
    for r in rows:
        local = datetime.fromtimestamp(r["time"] / 1000, UTC) + MAPUTO
        by_hour[local.hour].append(r)
    night = [r for h in (0, 1, 2, 3, 20, 21, 22, 23) for r in by_hour[h]]
    assert night and all(r["pv_power_w"] == 0 for r in night)
    # batteries discharge at night
    assert all(r["battery_current_a"] < 0 for r in night)
    assert by_hour[4][0]["battery_soc_pct"] < by_hour[20][0]["battery_soc_pct"]
    # PV peaks late morning / around solar noon (≈ 11:20 local)
    hourly = {h: sum(r["pv_power_w"] for r in rs) / len(rs) for h, rs in by_hour.items()}
    peak = max(hourly, key=lambda h: hourly[h])
    assert 9 <= peak <= 13, hourly


def test_registered_stations_carry_district(influxd: Influxd, default_run: IngestedRun) -> None:
    rows = influxd.query('SHOW TAG VALUES FROM "solar" WITH KEY = "district"', default_run.db)
    districts = {r["value"] for r in rows}
    assert "Mueda" in districts and "Pemba" in districts and len(districts) == 17


def test_collector_wrote_its_own_points(influxd: Influxd, default_run: IngestedRun) -> None:
    assert influxd.count("collector", default_run.db) >= 1
    assert influxd.count("station_info", default_run.db) >= 19
    assert influxd.count("station_status", default_run.db) >= 38
    assert "Traceback" not in default_run.collector_log
