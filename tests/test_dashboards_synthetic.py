"""Exact dashboard values on a hand-made day: situations a simulated run does not produce.

A collector restart (counters reset), rejected readings by reason, a broker disconnect, and
alert episodes of known lengths. The same queries on the real simulated run are in
test_dashboards_queries.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from dashboards import alerts, collector_health
from devstack import Influxd
from tests.dashboard_data import FleetDay, ingest_fleet_day
from tests.dashboard_queries import View, all_queries, has_values, one, query_of, run
from tests.rollup_support import set_up_rollup

# Each station's state is written by a running alert engine, stamped with the wall clock and
# read within the last hour: this historical day has none. test_dashboards_state.py produces
# it through a real AlertService; test_dashboards_queries.py through the collector.
QUERIES = [q for q in all_queries() if 'FROM "station_state"' not in q[3]]


@pytest.fixture(scope="module")
def day(influxd: Influxd) -> Iterator[FleetDay]:
    db = "dash_" + uuid.uuid4().hex[:10]
    influxd.create_db(db)
    set_up_rollup(influxd, db)
    yield ingest_fleet_day(influxd, db)
    influxd.drop_db(db)


@pytest.fixture(scope="module")
def view(day: FleetDay) -> View:
    return View(day.db, day.from_ms, day.to_ms)


@pytest.mark.parametrize(
    ("uid", "label", "panel_json", "query"), QUERIES, ids=[q[1] for q in QUERIES]
)
def test_every_query_returns_data(
    influxd: Influxd, view: View, uid: str, label: str, panel_json: dict[str, object], query: str
) -> None:
    assert has_values(run(influxd, view, uid, panel_json, query)), f"{uid} {label}: no data"


def test_alert_counts_and_mean_time_to_resolve(influxd: Influxd, day: FleetDay, view: View) -> None:
    def value(title: str, column: str) -> float:
        p, query = query_of(alerts.UID, title)
        return one(run(influxd, view, alerts.UID, p, query), column)

    assert value("Alerts firing", "active") == len(day.firing) == 3
    assert value("Critical firing", "active") == 2
    assert value("Warnings firing", "active") == 1
    assert value("Mean time to resolve", "mttr") == pytest.approx(day.mttr_s) == 7200
    p, query = query_of(alerts.UID, "Mean time to resolve by rule")
    by_rule = {r["rule"]: r["mttr"] for r in run(influxd, view, alerts.UID, p, query)}
    assert by_rule == {"battery_low": 3600, "tank_low": 3 * 3600, "controller_fault": 7200}
    p, query = query_of(alerts.UID, "Firing now")
    firing = {
        (r["station"], r["rule"], r["severity"]) for r in run(influxd, view, alerts.UID, p, query)
    }
    assert firing == set(day.firing)


def test_collector_totals_survive_a_restart(influxd: Influxd, view: View) -> None:
    p, query = query_of(collector_health.UID, "Readings written")
    written = one(run(influxd, view, collector_health.UID, p, query), "readings_written")
    # 8641 samples, reset at sample 4000: steps before plus steps after the reset
    before = 4 * 3999 - 3999 // 50
    after = 4 * 4640 - 4640 // 50
    assert written == before + after
    p, query = query_of(collector_health.UID, "Rejects by reason (per minute)")
    found = run(influxd, view, collector_health.UID, p, query)
    series = {k for r in found for k, v in r.items() if k.startswith("non_negative") and v}
    assert series == {
        "non_negative_derivative_readings_rejected",
        "non_negative_derivative_messages_rejected",
        "non_negative_derivative_rejected_malformed_json",
        "non_negative_derivative_rejected_out_of_range",
    }
    p, query = query_of(collector_health.UID, "MQTT connection")
    states = {r["connected"] for r in run(influxd, view, collector_health.UID, p, query)}
    assert states == {0.0, 1.0}
