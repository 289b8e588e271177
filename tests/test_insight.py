"""Forecasts, leaks, catchment, silence causes and completeness against the simulator's truth.

The scenarios' physics run offline and their readings go straight to the session's real
InfluxDB 1.6; the insight job then reads them back with InfluxQL, as in the collector.
"""

from __future__ import annotations

from typing import Any

from collector.alerts.engine import RuleEngine
from collector.alerts.settings import AlertSettings
from collector.ingest.readings import Reading
from devstack import Influxd
from tests.insight_support import (
    DAY_MS,
    FLEET,
    HOUR_MS,
    START_MS,
    job,
    ms_of,
    run,
    to_reading,
    write,
)

DECLINE = "MONTEPUEZ-01"  # lead-acid, 600 Ah: the bank that runs down
DRYING = "PEMBA-02"  # its 5000 L tank runs dry on its own in the dry season


def close(predicted: float, truth: float) -> bool:
    """Within 20% of the truth or half a day, as the issue asks."""
    return abs(predicted - truth) <= max(0.2 * truth, 0.5)


def stored_forecast(influxd: Influxd, db: str, station: str, at_ms: int) -> dict[str, Any]:
    rows = influxd.query(
        f"SELECT * FROM forecast WHERE station = '{station}' AND time = {at_ms}ms", db=db
    )
    assert len(rows) == 1, rows
    return rows[0]


async def test_battery_and_water_days_match_the_truth_and_alert_a_day_ahead(
    influxd: Influxd, fresh_db: str
) -> None:
    sim = run("battery-decline", [DECLINE, DRYING], 6, target=DECLINE)
    write(influxd, fresh_db, sim.readings)
    truth = sim.truth.to_json()["stations"]
    low_at = ms_of(truth[DECLINE]["battery_low_at"])
    empty_at = ms_of(truth[DRYING]["tank_empty_at"])
    insight, _ = job(influxd, fresh_db, [DECLINE, DRYING])
    engine = RuleEngine(AlertSettings().rules, FLEET, 7 * 86400)
    derived: list[Reading] = []
    insight.observe = derived.extend
    hours = list(range(START_MS + 3 * DAY_MS, START_MS + 6 * DAY_MS, HOUR_MS))
    await insight.run_hours(hours)  # hourly from day 3, from one fetch
    await insight.query.close()
    # the alert engine gets the readings and the forecasts hour by hour, as a live collector
    feed = sorted([*map(to_reading, sim.readings), *derived], key=lambda r: r.ts_ms)
    fired: dict[tuple[str, str], int] = {}
    hour = 0
    for r in feed:
        if r.ts_ms // HOUR_MS != hour:
            hour = r.ts_ms // HOUR_MS
            for t in engine.evaluate(0):
                if t.state == "firing":
                    fired.setdefault((t.station, t.rule.name), t.ts_ms)
        engine.observe(r)

    at = low_at - DAY_MS - (low_at - DAY_MS) % HOUR_MS  # 24 h of fleet time ahead
    got = stored_forecast(influxd, fresh_db, DECLINE, at)["battery_days"]
    assert close(got, (low_at - at) / DAY_MS), (got, (low_at - at) / DAY_MS)
    at = empty_at - DAY_MS - (empty_at - DAY_MS) % HOUR_MS
    point = stored_forecast(influxd, fresh_db, DRYING, at)
    assert close(point["water_days"], (empty_at - at) / DAY_MS), point
    assert point["battery_days"] is None  # a healthy bank is not falling: left out
    lead = fired[(DECLINE, "battery_low")] - fired[(DECLINE, "battery_forecast_low")]
    assert lead >= DAY_MS, lead / HOUR_MS
    assert (DRYING, "water_forecast_low") in fired
    assert (DRYING, "battery_forecast_low") not in fired
    stored = influxd.query(
        f"SELECT battery_days FROM forecast WHERE station = '{DECLINE}'", db=fresh_db
    )
    # from the first forecast (three whole days of history) on, one point every hour
    times = [r["time"] for r in stored]
    assert times == list(range(times[0], hours[-1] + 1, HOUR_MS))
    assert times[0] <= START_MS + 3 * DAY_MS + 12 * HOUR_MS
