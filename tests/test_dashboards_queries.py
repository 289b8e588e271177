"""Every dashboard query, interpolated as Grafana would, answers on the simulator's default run.

The data is the `default_run` fixture: one simulated day of the 19-station fleet (default
scenario) ingested by a real collector with its alert engine. Time ranges, as a user would set
them right after the run:

- fleet, station, water and alert boards: from the run's first reading to the moment the run
  ended (its newest point). The readings carry simulated times over the past day, while the
  collector stamps `station_info`, `station_status` and its own `collector` points with the wall
  clock at ingest, just after the simulated day; a relative `now-24h` would also work but cut
  the first minutes of readings, depending on when the test runs.
- collector health: the last 15 minutes of that, a Grafana quick range whose `$__interval` is
  the panels' 10 s minimum, so the collector's own short life shows as a rate.

Expected values come from the simulator's records of what it published, from the scenario,
and from the raw alert and status points, never from the dashboard queries themselves.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import pytest

from dashboards import alerts, collector_health, fleet, station, water
from devices import schema
from devices.stations import load_fleet
from devstack import Influxd
from simulator.faults import Fault
from simulator.scenarios import build_scenario
from simulator.summary import RecordedReading
from tests.conftest import IngestedRun
from tests.dashboard_queries import (
    BOARDS,
    View,
    all_queries,
    has_values,
    one,
    query_of,
    run,
    variables,
)

Json = dict[str, Any]
# Only live messages give a clock offset, and the default run is accelerated: the station
# board's clock panel is run on live data in test_clock_alerts_e2e instead.
LIVE_ONLY = {(station.UID, f"{station.CLOCK_TITLE['en']}/A")}
QUERIES = [q for q in all_queries() if (q[0], q[1]) not in LIVE_ONLY]
FLEET = load_fleet()
STATIONS = [s.id for s in FLEET.stations]
SCENARIO = build_scenario("default", STATIONS)
COLLECTOR_RANGE_MS = 15 * 60_000
DRY_TANK = "tank running dry: blocked gutter, a tap left running"


def _fault(label: str) -> Fault:
    return next(f for f in SCENARIO.faults if f.label == label)


@pytest.fixture(scope="module")
def ended_ms(influxd: Influxd, default_run: IngestedRun) -> int:
    """When the run ended: its newest point, whatever the measurement, plus a second."""
    answer = influxd.query_raw("SELECT * FROM /.*/ ORDER BY time DESC LIMIT 1", db=default_run.db)
    newest = max(s["values"][0][0] for s in answer["results"][0]["series"])
    assert newest >= default_run.to_ms - 300_000
    return int(newest) + 1000


@pytest.fixture(scope="module")
def day(default_run: IngestedRun, ended_ms: int) -> View:
    return View(default_run.db, default_run.from_ms, ended_ms)


@pytest.fixture(scope="module")
def health(default_run: IngestedRun, ended_ms: int) -> View:
    return View(default_run.db, ended_ms - COLLECTOR_RANGE_MS, ended_ms)


def _view(uid: str, day: View, health: View) -> View:
    return health if uid == collector_health.UID else day


@pytest.mark.parametrize(
    ("uid", "label", "panel_json", "query"), QUERIES, ids=[q[1] for q in QUERIES]
)
def test_every_query_returns_data(
    influxd: Influxd, day: View, health: View, uid: str, label: str, panel_json: Json, query: str
) -> None:
    if '"forecast"' in query:
        pytest.skip("a one-day run has no 3 days of history to forecast from (synthetic day)")
    found = run(influxd, _view(uid, day, health), uid, panel_json, query)
    assert has_values(found), f"{uid} {label}: no data for\n{query}"


# --- what the run published, from the simulator's own records -------------------------------


def _records(run_: IngestedRun, kind: str) -> dict[str, list[RecordedReading]]:
    by_station: dict[str, list[RecordedReading]] = defaultdict(list)
    for rec in sorted(run_.summary.records, key=lambda r: r.ts_ms):
        if rec.kind == kind:
            by_station[rec.station].append(rec)
    return by_station


def _num(rec: RecordedReading, name: str) -> float:
    value = rec.fields[name]
    assert isinstance(value, int | float)
    return float(value)


def test_station_variable_lists_every_station(influxd: Influxd, day: View) -> None:
    found = variables(influxd, day, BOARDS[station.UID], None)
    (var,) = [v for v in found if v.name == "station"]
    assert var.multi and not var.include_all
    assert sorted(var.values) == sorted(STATIONS)


@pytest.mark.parametrize("pick", [1, 2], ids=["one station", "two stations"])
def test_station_detail_shows_only_the_picked_stations(
    influxd: Influxd, day: View, pick: int
) -> None:
    chosen = STATIONS[3 : 3 + pick]
    for p in BOARDS[station.UID]["panels"]:
        for t in p["targets"]:
            if (station.UID, f"{p['title']}/{t['refId']}") in LIVE_ONLY:
                continue  # picked stations checked in test_clock_alerts_e2e
            if '"forecast"' in t["query"]:
                continue  # a one-day run has nothing to forecast from (the synthetic day has)
            found = run(influxd, day, station.UID, p, t["query"], pick=chosen)
            assert has_values(found), f"{p['title']}: no data for {chosen}"
            assert {r["station"] for r in found} == set(chosen), p["title"]


def test_days_of_water_match_the_readings(
    influxd: Influxd, default_run: IngestedRun, day: View
) -> None:
    p, query = query_of(water.UID, "Tanks at risk: days of water left")
    days = {r["station"]: r["days_left"] for r in run(influxd, day, water.UID, p, query)}
    expected = {}
    for st, recs in _records(default_run, "tank").items():
        per_day = sum(_num(r, "outflow_lpm") for r in recs) / len(recs) * 1440
        if per_day > 0:
            expected[st] = _num(recs[-1], "volume_l") / per_day
    assert set(days) == set(expected) == set(STATIONS)
    assert days == pytest.approx(expected)
    low = _fault(DRY_TANK).station
    assert days[low] == min(days.values()), "the tank running low has the fewest days left"


def test_catchment_matches_the_inflow_and_the_storms(
    influxd: Influxd, default_run: IngestedRun, day: View
) -> None:
    p, query = query_of(water.UID, "Catchment efficiency by station", "A")
    captured = {r["station"]: r["captured_l"] for r in run(influxd, day, water.UID, p, query)}
    p, query = query_of(water.UID, "Catchment efficiency by station", "B")
    rain = {r["station"]: r["rain_mm"] for r in run(influxd, day, water.UID, p, query)}
    p, query = query_of(water.UID, "Catchment efficiency by station", "C")
    roofs = {r["station"]: r["roof_m2"] for r in run(influxd, day, water.UID, p, query)}
    tanks = _records(default_run, "tank")
    assert set(captured) == set(rain) == set(roofs) == set(tanks) == set(STATIONS)
    for st, recs in tanks.items():
        # trapezoids of a L/min flow over the real steps (a silent station leaves a gap)
        litres = sum(
            (_num(a, "inflow_lpm") + _num(b, "inflow_lpm")) / 2 * (b.ts_ms - a.ts_ms) / 60_000
            for a, b in itertools.pairwise(recs)
        )
        assert captured[st] == pytest.approx(litres), st
        assert rain[st] == pytest.approx(sum(_num(r, "rain_mm") for r in recs)), st
        reg = FLEET.get(st)
        assert reg is not None and roofs[st] == reg.size("roof_area_m2")
    storms = [f for f in SCENARIO.faults if f.label == "storm"]
    assert storms
    for f in storms:
        # a storm of this depth fills the tank: the first millimetre goes to the diverter
        depth = float(f.changes["rain_mm_per_h"]) * ((f.end_s or 0) - f.start_s) / 3600
        assert rain[f.station] >= depth - 0.05
        assert captured[f.station] > 0.7 * (depth - 1) * roofs[f.station]


# --- alerts: expected from the raw transitions the alert engine wrote -----------------------


def _transitions(influxd: Influxd, db: str) -> dict[tuple[str, str], list[Json]]:
    by_alert: dict[tuple[str, str], list[Json]] = defaultdict(list)
    for row in influxd.query('SELECT * FROM "events"."alert"', db):
        by_alert[(row["station"], row["rule"])].append(row)
    for seq in by_alert.values():
        seq.sort(key=lambda r: r["time"])
    return by_alert


def _firing(by_alert: dict[tuple[str, str], list[Json]]) -> set[tuple[str, str, str]]:
    return {
        (st, rule, seq[-1]["severity"])
        for (st, rule), seq in by_alert.items()
        if seq[-1]["state"] == "firing"
    }


def _durations(seq: list[Json]) -> Iterable[float]:
    for a, b in itertools.pairwise(seq):
        if a["state"] == "firing" and b["state"] == "resolved":
            yield (b["time"] - a["time"]) / 1000


def test_the_day_has_alerts_that_fire_resolve_and_stay(
    influxd: Influxd, default_run: IngestedRun
) -> None:
    """The default scenario's faults show up as alerts, whatever the time of day it starts."""
    by_alert = _transitions(influxd, default_run.db)
    fault = _fault("controller fault")
    seq = by_alert[(fault.station, "controller_fault")]
    assert [(r["state"], r["time"] - default_run.from_ms) for r in seq] == [
        ("firing", int(fault.start_s * 1000)),
        ("resolved", int((fault.end_s or 0) * 1000)),
    ]
    outage = _fault("GSM outage").station
    assert [r["state"] for r in by_alert[(outage, "station_silent")]] == ["firing", "resolved"]
    firing = _firing(by_alert)
    assert (_fault("station silent").station, "station_silent", "warning") in firing
    dry = _fault(DRY_TANK).station
    assert {(dry, "tank_low", "warning"), (dry, "tank_empty", "critical")} <= firing
    aged = _fault("ageing battery").station
    assert by_alert[(aged, "battery_low")][0]["value"] < 50


def test_alert_counts_and_mean_time_to_resolve(
    influxd: Influxd, default_run: IngestedRun, day: View
) -> None:
    by_alert = _transitions(influxd, default_run.db)
    firing = _firing(by_alert)

    def value(title: str, column: str) -> float:
        p, query = query_of(alerts.UID, title)
        return one(run(influxd, day, alerts.UID, p, query), column)

    assert value("Alerts firing", "active") == len(firing) >= 2
    assert value("Critical firing", "active") == sum(1 for f in firing if f[2] == "critical")
    assert value("Warnings firing", "active") == sum(1 for f in firing if f[2] == "warning")
    durations = [d for seq in by_alert.values() for d in _durations(seq)]
    assert value("Mean time to resolve", "mttr") == pytest.approx(sum(durations) / len(durations))
    p, query = query_of(alerts.UID, "Mean time to resolve by rule")
    by_rule = {r["rule"]: r["mttr"] for r in run(influxd, day, alerts.UID, p, query)}
    per_rule: dict[str, list[float]] = defaultdict(list)
    for (_st, rule), seq in by_alert.items():
        per_rule[rule].extend(_durations(seq))
    assert by_rule == pytest.approx({r: sum(d) / len(d) for r, d in per_rule.items() if d})
    assert by_rule["controller_fault"] == 3600  # the scenario's one-hour fault
    p, query = query_of(alerts.UID, "Firing now")
    shown = {
        (r["station"], r["rule"], r["severity"]) for r in run(influxd, day, alerts.UID, p, query)
    }
    assert shown == firing


def test_fleet_shows_each_station_state_now(
    influxd: Influxd, default_run: IngestedRun, day: View
) -> None:
    """Counts, map and table from the engine's newest `station_state`, checked against the
    alert transitions and the simulator's records."""
    db = default_run.db
    firing = _firing(_transitions(influxd, db))

    def value(title: str, column: str) -> float:
        p, query = query_of(fleet.UID, title)
        return one(run(influxd, day, fleet.UID, p, query), column)

    silent = {st for st, rule, _ in firing if rule == "station_silent"}
    assert silent == {_fault("station silent").station}
    assert value("Stations online", "online") == len(STATIONS) - len(silent)
    assert value("Stations silent or stale", "silent") == len(silent)
    assert value("Stations alerting", "alerting") == len({st for st, _, _ in firing})
    solar = _records(default_run, "solar")
    lowest = min(_num(recs[-1], "battery_soc_pct") for recs in solar.values())
    assert value("Lowest battery SoC", "battery_soc_pct") == pytest.approx(lowest)
    p, query = query_of(fleet.UID, "Stations by worst state")
    located = {r["station"]: r for r in run(influxd, day, fleet.UID, p, query)}
    assert set(located) == set(STATIONS)
    assert all(-14 < r["latitude"] < -10 and 38 < r["longitude"] < 41 for r in located.values())
    for st, row in located.items():
        severities = {sev for s, _, sev in firing if s == st}
        expected = (
            "silent" if st in silent
            else "critical" if "critical" in severities
            else "warning" if severities
            else "ok"
        )  # fmt: skip
        assert row["state"] == expected, st
    p, query = query_of(fleet.UID, "Stations")
    table = {r["station"]: r for r in run(influxd, day, fleet.UID, p, query)}
    assert set(table) == set(STATIONS)
    newest = {
        st: max(r.ts_ms for r in default_run.summary.records if r.station == st) for st in STATIONS
    }
    for st, row in table.items():
        # "last seen" from any device, and the newest value of each fleet field
        assert row["last_seen_ms"] == newest[st], st
        assert row["battery_soc_pct"] == pytest.approx(_num(solar[st][-1], "battery_soc_pct"))
        assert row["alerts"] == sum(1 for s, _, _ in firing if s == st)


# --- the collector's own points --------------------------------------------------------------


def test_collector_totals_match_the_run(
    influxd: Influxd, default_run: IngestedRun, health: View
) -> None:
    db, total = default_run.db, default_run.summary.readings.total

    def value(title: str, column: str) -> float:
        p, query = query_of(collector_health.UID, title)
        return one(run(influxd, health, collector_health.UID, p, query), column)

    # at-least-once: a reading whose PUBACK a cut GSM link lost is sent and written again
    (last,) = influxd.query('SELECT last("seq_duplicates") AS "dups" FROM "collector"', db)
    again = last["dups"]
    assert value("Readings written", "readings_written") == total + again
    assert sum(influxd.count(m, db) for m in schema.READING_MEASUREMENTS) == total
    assert value("Readings rejected", "readings_rejected") == 0
    assert value("Write errors", "write_errors") == 0
    assert value("Stations seen", "stations_seen") == len(STATIONS)
    assert value("MQTT", "mqtt_connected") == 1
    p, query = query_of(collector_health.UID, "Ingest rate")
    rates = [
        r[f]
        for r in run(influxd, health, collector_health.UID, p, query)
        for f in ("messages_received", "readings_received", "readings_written")
        if r[f] is not None
    ]
    # how the day's few seconds of writes fall into 10 s buckets varies; never a negative rate
    assert rates and min(rates) >= 0
