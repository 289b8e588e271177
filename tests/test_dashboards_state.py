"""Dashboards show state, not transitions: the real panel queries over a 24 h range.

A real AlertService judges three days of readings and writes its alert transitions and each
station's `station_state` into a real InfluxDB 1.6. One station's battery has been critical
for three days, one station has been silent for two, one without a silence rule has been
quiet for three hours (stale), the others are healthy. The fleet and
alert boards' queries, interpolated as Grafana does for the last 24 h, must show both.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from collector.alerts import AlertService, AlertSettings
from collector.ingest.readings import Reading
from dashboards import alerts, fleet
from devices import schema
from devices.stations import load_fleet
from devstack import Influxd
from tests.dashboard_queries import View, one, query_of, run
from tests.rollup_support import set_up_rollup

Json = dict[str, Any]
FLEET = load_fleet()
MIN = 60_000
DAY = 24 * 60 * MIN
CRITICAL = FLEET.stations[0].id  # battery critical for three days, still reporting
SILENT = FLEET.stations[1].id  # its last reading two days ago
STALE = FLEET.stations[2].id  # quiet for 3 h, no silence rule for it: stale, never green
HEALTHY_SOC = 80.0
CRITICAL_SOC = 20.0


@dataclass(frozen=True)
class Judged:
    """What the engine wrote, and what it holds active."""

    view: View
    now_ms: int
    active: set[tuple[str, str, str]]


def _reading(station: str, kind: str, device: str, ts: int, soc: float) -> Reading:
    fields: dict[str, float | int | str]
    if kind == "solar":
        fields = {
            "battery_soc_pct": soc,
            "battery_voltage_v": 25.0 if soc > 30 else 23.0,
            "charge_state": "float",
            "error_code": 0,
        }
    elif kind == "tank":
        fields = {"level_pct": 70.0}
    else:
        return Reading(station, FLEET.district_of(station), kind, device, ts, None, {})
    return Reading(station, FLEET.district_of(station), kind, device, ts, None, fields)


def _readings(now_ms: int) -> list[Reading]:
    """Every 5 min over the last 2 h; the critical station also 3 days ago, the silent one
    only around 2 days ago."""
    recent = range(now_ms - 120 * MIN, now_ms + 1, 5 * MIN)
    out = []
    for st in FLEET.stations:
        times: list[int] = list(recent)
        if st.id == CRITICAL:
            times = list(range(now_ms - 3 * DAY, now_ms - 3 * DAY + 30 * MIN, 5 * MIN)) + times
        elif st.id == SILENT:
            times = list(range(now_ms - 2 * DAY - 60 * MIN, now_ms - 2 * DAY + 1, 5 * MIN))
        elif st.id == STALE:
            times = list(range(now_ms - 300 * MIN, now_ms - 180 * MIN + 1, 5 * MIN))
        soc = CRITICAL_SOC if st.id == CRITICAL else HEALTHY_SOC
        for dev in st.devices:
            if dev.kind in ("solar", "tank"):
                out += [_reading(st.id, dev.kind, dev.id, ts, soc) for ts in times]
    return sorted(out, key=lambda r: r.ts_ms)


async def _judge(
    now_ms: int, state_dir: Path
) -> tuple[list[str], list[str], set[tuple[str, str, str]]]:
    """Feed the readings, evaluate once, and keep what the engine wrote (states, alerts)."""
    lines: list[str] = []
    events: list[str] = []
    svc = AlertService(
        AlertSettings.model_validate(
            {
                "evaluate_interval_s": 3600,
                "rules": {"station_silent": {"stations": {STALE: {"enabled": False}}}},
            }
        ),
        FLEET,
        state_dir,
        write_lines=lines.extend,
        write_events=events.extend,
        mqtt_publish=None,
        clock=lambda: now_ms / 1000,
    )
    svc.observe_many(_readings(now_ms))
    await svc.start()
    await svc.tick()
    active = {(a.station, a.rule, a.severity) for a in svc.active.values()}
    await svc.stop()
    return lines, events, active


@pytest.fixture(scope="module")
def judged(influxd: Influxd, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Judged]:
    db = "dash_state"
    influxd.create_db(db)
    set_up_rollup(influxd, db)  # as deployed: the dashboards' `$rp` reads its choice
    now_ms = int(time.time() * 1000)
    lines, events, active = asyncio.run(_judge(now_ms, tmp_path_factory.mktemp("alert_state")))
    influxd.write(lines, db=db)
    influxd.write(events, db=db, rp=schema.EVENTS_RP)
    yield Judged(View(db, now_ms - DAY, now_ms + MIN), now_ms, active)
    influxd.drop_db(db)


def _value(influxd: Influxd, j: Judged, uid: str, title: str, column: str) -> float:
    p, query = query_of(uid, title)
    return one(run(influxd, j.view, uid, p, query), column)


def test_the_engine_holds_the_old_alert_and_the_silence(judged: Judged) -> None:
    assert (CRITICAL, "battery_critical", "critical") in judged.active
    assert (SILENT, "station_silent", "warning") in judged.active
    assert {st for st, _, _ in judged.active} == {CRITICAL, SILENT}


def test_fleet_counts_show_state_now(influxd: Influxd, judged: Judged) -> None:
    n = len(FLEET.stations)
    assert _value(influxd, judged, fleet.UID, "Stations alerting", "alerting") == 2
    assert _value(influxd, judged, fleet.UID, "Stations silent or stale", "silent") == 2
    # the critical station still reports: it is online (and red on the map)
    assert _value(influxd, judged, fleet.UID, "Stations online", "online") == n - 2
    low = _value(influxd, judged, fleet.UID, "Lowest battery SoC", "battery_soc_pct")
    assert low == CRITICAL_SOC


def test_map_colours_the_old_alert_and_the_silent_station(influxd: Influxd, judged: Judged) -> None:
    p, query = query_of(fleet.UID, "Stations by worst state")
    found = {r["station"]: r for r in run(influxd, judged.view, fleet.UID, p, query)}
    assert set(found) == {s.id for s in FLEET.stations}
    assert found[CRITICAL]["state"] == "critical" and found[CRITICAL]["rank"] == 3
    assert found[SILENT]["state"] == "silent" and found[SILENT]["rank"] == 4
    assert found[STALE]["state"] == "stale" and found[STALE]["rank"] == 2
    others = {r["state"] for st, r in found.items() if st not in (CRITICAL, SILENT, STALE)}
    assert others == {"ok"}
    steps = p["fieldConfig"]["defaults"]["thresholds"]["steps"]

    def colour(rank: int) -> str:
        return [s["color"] for s in steps if (s["value"] or 0) <= rank][-1]

    assert (colour(0), colour(2), colour(3), colour(4)) == ("green", "orange", "red", "red")
    assert all(-14 < r["latitude"] < -10 and 38 < r["longitude"] < 41 for r in found.values())


def test_table_shows_state_last_seen_and_newest_values(influxd: Influxd, judged: Judged) -> None:
    p, query = query_of(fleet.UID, "Stations")
    found = {r["station"]: r for r in run(influxd, judged.view, fleet.UID, p, query)}
    assert len(found) == len(FLEET.stations)
    crit, silent = found[CRITICAL], found[SILENT]
    assert (crit["state"], crit["alerts"], crit["battery_soc_pct"]) == (
        "critical",
        2,
        20.0,
    )  # low and critical
    assert crit["last_seen_ms"] == judged.now_ms
    # silent for two days, outside the 24 h range: still a row, with its last values
    assert silent["state"] == "silent" and silent["alerts"] == 1
    assert silent["last_seen_ms"] == judged.now_ms - 2 * DAY
    assert silent["battery_soc_pct"] == HEALTHY_SOC and silent["level_pct"] == 70.0
    assert silent["name"] == FLEET.stations[1].name


def test_alert_board_counts_the_three_day_old_alert(influxd: Influxd, judged: Judged) -> None:
    assert _value(influxd, judged, alerts.UID, "Alerts firing", "active") == len(judged.active)
    assert _value(influxd, judged, alerts.UID, "Critical firing", "active") == 1
    p, query = query_of(alerts.UID, "Firing now")
    shown = {
        (r["station"], r["rule"], r["severity"])
        for r in run(influxd, judged.view, alerts.UID, p, query)
    }
    assert shown == judged.active
    fired = [
        r
        for r in influxd.query('SELECT * FROM "events"."alert"', judged.view.db)
        if r["station"] == CRITICAL
    ]
    assert fired and all(r["time"] < judged.view.from_ms - DAY for r in fired)
