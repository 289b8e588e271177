"""Every dashboard query, interpolated as Grafana would, answers from a real InfluxDB."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from dashboards import alerts, collector_health, fleet, station, water
from dashboards.build import render_all
from dashboards.interpolate import Variable, interpolate
from dashboards.provisioning import MIN_INTERVAL
from devstack import Influxd
from tests.dashboard_data import EPISODES, FleetDay, ingest_fleet_day

Json = dict[str, Any]
BOARDS = render_all()


def _queries() -> list[tuple[str, str, Json, str]]:
    """(uid, label, panel or {}, query) for every panel target and annotation of every board."""
    out = []
    for uid, board in BOARDS.items():
        for panel in board["panels"]:
            for t in panel.get("targets", []):
                out.append((uid, f"{panel['title']}/{t['refId']}", panel, t["query"]))
        for anno in board["annotations"]["list"]:
            if anno["datasource"]["type"] == "influxdb":
                out.append((uid, f"annotation {anno['name']}", {}, anno["target"]["query"]))
    return out


QUERIES = _queries()


@pytest.fixture(scope="module")
def day(influxd: Influxd) -> Iterator[FleetDay]:
    db = "dash_" + uuid.uuid4().hex[:10]
    influxd.create_db(db)
    yield ingest_fleet_day(influxd, db)
    influxd.drop_db(db)


def _rows(answer: Json) -> list[Json]:
    rows = []
    for series in answer["results"][0].get("series", []):
        for values in series["values"]:
            row = dict(zip(series["columns"], values, strict=True))
            row.update(series.get("tags", {}))
            rows.append(row)
    return rows


def _has_values(rows: list[Json]) -> bool:
    return any(v is not None for row in rows for k, v in row.items() if k != "time")


def _variables(influxd: Influxd, day: FleetDay, board: Json, pick: list[str] | None) -> list[Any]:
    """The board's variables, resolved as Grafana does: run the query, select All (or `pick`)."""
    out = []
    for var in board["templating"]["list"]:
        query = interpolate(var["query"], from_ms=day.from_ms, to_ms=day.to_ms, max_data_points=100)
        options = [row["value"] for row in _rows(influxd.query_raw(query, db=day.db))]
        values = tuple(pick) if pick else tuple(options)
        out.append(Variable(var["name"], values, var["multi"], var["includeAll"]))
    return out


def run(
    influxd: Influxd,
    day: FleetDay,
    uid: str,
    panel: Json,
    query: str,
    pick: list[str] | None = None,
) -> list[Json]:
    text = interpolate(
        query,
        from_ms=day.from_ms,
        to_ms=day.to_ms,
        max_data_points=int(panel.get("maxDataPoints", 100)),
        min_interval=panel.get("interval") or MIN_INTERVAL,
        variables=_variables(influxd, day, BOARDS[uid], pick),
    )
    assert "$" not in text.replace("/^", "").replace("$/", ""), f"left uninterpolated: {text}"
    return _rows(influxd.query_raw(text, db=day.db))


def panel(uid: str, title: str) -> Json:
    return next(p for p in BOARDS[uid]["panels"] if p["title"] == title)


def query_of(uid: str, title: str, ref: str = "A") -> tuple[Json, str]:
    p = panel(uid, title)
    return p, next(t["query"] for t in p["targets"] if t["refId"] == ref)


@pytest.mark.parametrize(
    ("uid", "label", "panel_json", "query"), QUERIES, ids=[q[1] for q in QUERIES]
)
def test_every_query_returns_data(
    influxd: Influxd, day: FleetDay, uid: str, label: str, panel_json: Json, query: str
) -> None:
    rows = run(influxd, day, uid, panel_json, query)
    assert _has_values(rows), f"{uid} {label}: no data for\n{query}"


def test_station_variable_lists_every_station(influxd: Influxd, day: FleetDay) -> None:
    (var,) = _variables(influxd, day, BOARDS[station.UID], None)
    assert var.multi and var.include_all
    assert sorted(var.values) == sorted(day.stations)


@pytest.mark.parametrize("pick", [1, 2], ids=["one station", "two stations"])
def test_station_detail_shows_only_the_picked_stations(
    influxd: Influxd, day: FleetDay, pick: int
) -> None:
    chosen = day.stations[3 : 3 + pick]
    for p in BOARDS[station.UID]["panels"]:
        for t in p["targets"]:
            rows = run(influxd, day, station.UID, p, t["query"], pick=chosen)
            assert _has_values(rows), f"{p['title']}: no data for {chosen}"
            assert {r["station"] for r in rows} == set(chosen), p["title"]


def _one(rows: list[Json], column: str) -> float:
    assert len(rows) == 1, rows
    value = rows[0][column]
    assert isinstance(value, int | float)
    return float(value)


def test_alert_counts_and_mean_time_to_resolve(influxd: Influxd, day: FleetDay) -> None:
    def value(title: str, column: str) -> float:
        p, query = query_of(alerts.UID, title)
        return _one(run(influxd, day, alerts.UID, p, query), column)

    assert value("Alerts firing", "active") == len(day.firing) == 3
    assert value("Critical firing", "active") == 2
    assert value("Warnings firing", "active") == 1
    assert value("Mean time to resolve", "mttr") == pytest.approx(day.mttr_s) == 7200
    p, query = query_of(alerts.UID, "Mean time to resolve by rule")
    by_rule = {r["rule"]: r["mttr"] for r in run(influxd, day, alerts.UID, p, query)}
    assert by_rule == {"battery_low": 3600, "tank_low": 3 * 3600, "controller_fault": 7200}
    p, query = query_of(alerts.UID, "Firing now")
    firing = {
        (r["station"], r["rule"], r["severity"]) for r in run(influxd, day, alerts.UID, p, query)
    }
    assert firing == set(day.firing)


def test_fleet_counts_and_worst_state(influxd: Influxd, day: FleetDay) -> None:
    def value(title: str, column: str, ref: str = "A") -> float:
        p, query = query_of(fleet.UID, title, ref)
        return _one(run(influxd, day, fleet.UID, p, query), column)

    assert value("Stations online", "online") == len(day.stations) - len(day.offline) == 18
    assert value("Stations silent", "silent") == 1
    assert value("Stations alerting", "alerting") == 3
    p, query = query_of(fleet.UID, "Stations by worst state", "B")
    score = {r["station"]: r["score"] for r in run(influxd, day, fleet.UID, p, query)}
    expected = {}
    for ep in EPISODES:
        if ep.resolved_h is None:
            expected[day.stations[ep.station_index]] = 10 if ep.severity == "critical" else 1
    assert score == expected
    p, query = query_of(fleet.UID, "Stations by worst state", "A")
    located = run(influxd, day, fleet.UID, p, query)
    assert len(located) == 19
    assert all(-14 < r["latitude"] < -10 and 38 < r["longitude"] < 41 for r in located)


def test_days_of_water_matches_the_readings(influxd: Influxd, day: FleetDay) -> None:
    p, query = query_of(water.UID, "Tanks at risk: days of water left")
    days = {r["station"]: r["days_left"] for r in run(influxd, day, water.UID, p, query)}
    assert set(days) == set(day.stations)
    st = day.stations[7]
    rows = influxd.query(
        f"SELECT volume_l, outflow_lpm FROM tank WHERE station = '{st}' "
        f"AND time >= {day.from_ms}ms AND time <= {day.to_ms}ms",
        db=day.db,
    )
    mean_out = sum(r["outflow_lpm"] for r in rows) / len(rows)
    assert days[st] == pytest.approx(rows[-1]["volume_l"] / (mean_out * 1440))


def test_catchment_captured_litres_match_the_inflow(influxd: Influxd, day: FleetDay) -> None:
    p, query = query_of(water.UID, "Catchment efficiency by station", "A")
    captured = {r["station"]: r for r in run(influxd, day, water.UID, p, query)}
    assert set(captured) == set(day.stations)
    p, query = query_of(water.UID, "Catchment efficiency by station", "B")
    rain = {r["station"]: r["rain_mm"] for r in run(influxd, day, water.UID, p, query)}
    for st in day.stations[:3]:
        rows = influxd.query(
            f"SELECT inflow_lpm, rain_mm FROM tank WHERE station = '{st}' "
            f"AND time >= {day.from_ms}ms AND time <= {day.to_ms}ms",
            db=day.db,
        )
        # trapezoids over 5-minute steps of a L/min flow
        litres = sum(
            (a["inflow_lpm"] + b["inflow_lpm"]) / 2 * 5 for a, b in itertools.pairwise(rows)
        )
        assert captured[st]["captured_l"] == pytest.approx(litres)
        assert rain[st] == pytest.approx(sum(r["rain_mm"] for r in rows))
    assert any(v > 0 for v in rain.values()), "a rainy-season day without rain anywhere"
    p, query = query_of(water.UID, "Catchment efficiency by station", "C")
    roofs = {r["station"]: r["roof_m2"] for r in run(influxd, day, water.UID, p, query)}
    assert roofs[day.stations[0]] == 300


def test_collector_totals_survive_a_restart(influxd: Influxd, day: FleetDay) -> None:
    p, query = query_of(collector_health.UID, "Readings written")
    written = _one(run(influxd, day, collector_health.UID, p, query), "readings_written")
    # 8641 samples, reset at sample 4000: steps before plus steps after the reset
    before = 4 * 3999 - 3999 // 50
    after = 4 * 4640 - 4640 // 50
    assert written == before + after
    p, query = query_of(collector_health.UID, "Rejects by reason (per minute)")
    rows = run(influxd, day, collector_health.UID, p, query)
    reasons = {k for r in rows for k, v in r.items() if k.startswith("non_negative") and v}
    assert reasons == {
        "non_negative_derivative_rejected_malformed_json",
        "non_negative_derivative_rejected_out_of_range",
    }
    p, query = query_of(collector_health.UID, "MQTT connection")
    states = {r["connected"] for r in run(influxd, day, collector_health.UID, p, query)}
    assert states == {0.0, 1.0}
