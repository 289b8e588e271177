"""The default scenario's day brings its alerts whatever the hour the run starts.

The station model's readings go through the collector's real rule engine (default rules),
evaluated after every tick; the GSM outage is left out (its backlog needs the broker, and the
end-to-end run covers it).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from collector.alerts.engine import RuleEngine
from collector.alerts.settings import AlertSettings
from collector.ingest.readings import Reading
from devices.stations import load_fleet
from simulator.faults import Fault
from simulator.scenarios import build_scenario
from simulator.station_model import StationModel

FLEET = load_fleet()
SCENARIO = build_scenario("default", [s.id for s in FLEET.stations])
STEP_S = 300
TICKS = 288
# alert transitions in order: (station, rule, state, hours after the start)
Log = list[tuple[str, str, str, float]]


def _fault(label: str) -> Fault:
    return next(f for f in SCENARIO.faults if f.label.startswith(label))


def _day(start: datetime) -> tuple[Log, dict[str, float]]:
    t0 = start.timestamp()
    stations = {f.station for f in SCENARIO.faults if f.label != "GSM outage"}
    engine = RuleEngine(AlertSettings().rules, FLEET, stale_after_s=3600)
    models = []
    for st in FLEET.stations:
        if st.id in stations:
            models.append((st, StationModel(st, 1, SCENARIO, interval_s=STEP_S, start=t0)))
    log: Log = []
    rain: dict[str, float] = {}
    for k in range(TICKS):
        ts = t0 + k * STEP_S
        for st, model in models:
            silent = model.effects(ts).silent
            readings = model.step(ts)
            if silent:
                continue
            rain[st.id] = rain.get(st.id, 0.0) + float(readings["tank"]["rain_mm"])
            for kind, fields in readings.items():
                device = "mppt1" if kind == "solar" else "tank1"
                engine.observe(Reading(st.id, st.district, kind, device, int(ts * 1000), k, fields))
        for t in engine.evaluate(ts):
            log.append((t.station, t.rule.name, t.state, (t.ts_ms / 1000 - t0) / 3600))
    return log, rain


def _states(log: Log, station: str, rule: str) -> list[str]:
    return [s for st, r, s, _ in log if st == station and r == rule]


@pytest.mark.parametrize("hour", range(0, 24, 3), ids=lambda h: f"{h:02d}h")
def test_every_fault_shows_as_alerts(hour: int) -> None:
    start = datetime.fromisoformat("2025-11-27T00:10:00+02:00") + timedelta(hours=hour)
    log, rain = _day(start)
    fault = _fault("controller fault")
    assert [(s, h) for st, r, s, h in log if st == fault.station and r == "controller_fault"] == [
        ("firing", 6.0),
        ("resolved", 7.0),
    ]
    dry = _fault("tank running dry").station
    assert _states(log, dry, "tank_low") == ["firing"]
    assert _states(log, dry, "tank_empty") == ["firing"]
    assert _states(log, _fault("station silent").station, "station_silent") == ["firing"]
    aged = _fault("ageing battery").station
    assert _states(log, aged, "battery_low")[:1] == ["firing"]  # a night below 50 %
    for f in SCENARIO.faults:
        if f.label == "storm":
            depth = float(f.changes["rain_mm_per_h"]) * ((f.end_s or 0) - f.start_s) / 3600
            assert rain[f.station] >= depth - 0.05
