"""Forecasts, leaks, catchment, silence causes and completeness against the simulator's truth.

The scenarios' physics run offline and their readings go straight to the session's real
InfluxDB 1.6; the insight job then reads them back with InfluxQL, as in the collector.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
from aiohttp import web

from collector.alerts import AlertService
from collector.alerts.engine import RuleEngine
from collector.alerts.messages import Messages
from collector.alerts.settings import AlertSettings
from collector.ingest.readings import Reading
from collector.insight.api import InsightApi
from collector.insight.digest import digests
from collector.insight.settings import InsightSettings
from devstack import Influxd, Mosquitto
from devstack.ports import free_port
from simulator.offline import simulate
from simulator.timefmt import epoch_of, parse_rfc3339
from tests.alert_support import Hook
from tests.collector_support import collector_overrides, running_collector, wait_until
from tests.insight_support import (
    DAY_MS,
    FLEET,
    HOUR_MS,
    START_MS,
    job,
    ms_of,
    run,
    stations,
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


async def test_a_leak_is_flagged_within_six_hours_and_a_blocked_gutter_by_its_storm(
    influxd: Influxd, fresh_db: str
) -> None:
    leaky, clean = "PEMBA-01", "MONTEPUEZ-01"  # 30 people: the most night-time use
    sim = run("tank-leak", [leaky, clean], 1, target=leaky)
    gutter = run("blocked-gutter", ["PALMA-01", "MUEDA-01"], 0.5, target="PALMA-01")
    write(influxd, fresh_db, [*sim.readings, *gutter.readings])
    leak_from = START_MS + int(sim.truth.facts["leak_from_s"] * 1000)
    insight, _ = job(influxd, fresh_db, [leaky, clean, "PALMA-01", "MUEDA-01"])
    engine = RuleEngine(AlertSettings().rules, FLEET, 7 * 86400)
    insight.observe = engine.observe_many
    await insight.run_hours(list(range(START_MS + 3 * HOUR_MS, leak_from + 1, HOUR_MS)))
    assert [t for t in engine.evaluate(0) if t.rule.name == "tank_leak_suspected"] == []
    flagged: dict[str, int] = {}
    figures = {}
    for h in range(leak_from + HOUR_MS, leak_from + 7 * HOUR_MS, HOUR_MS):
        await insight.run_hours([h])
        figures[h] = dict(insight.latest)
        for t in engine.evaluate(0):
            if t.rule.name == "tank_leak_suspected" and t.state == "firing":
                flagged.setdefault(t.station, t.ts_ms)
    await insight.query.close()
    assert set(flagged) == {leaky}
    assert flagged[leaky] - leak_from <= 6 * HOUR_MS
    # after a full window, the estimate is the leak's rate
    late = figures[leak_from + 6 * HOUR_MS]
    leak = late[leaky].leak
    assert leak is not None and abs(leak.leak_lph - sim.truth.facts["leak_lph"][leaky]) < 1.0
    # the storm at +6 h: the blocked gutter delivered a fraction, the clean one the expected
    blocked, control = late["PALMA-01"].storm, late["MUEDA-01"].storm
    assert blocked is not None and control is not None
    assert blocked.efficiency_pct < 40 < 80 < control.efficiency_pct < 120
    assert late["PALMA-01"].rule_fields()["catchment_pct"] < 40


async def test_silences_are_told_apart_by_power_and_by_district(
    influxd: Influxd, fresh_db: str
) -> None:
    # the collector sees only what arrives live: the buffered backlog is still on the devices
    brown = run("brown-out", ["MONTEPUEZ-01", "PALMA-01"], 0.75, target="MONTEPUEZ-01")
    mast = run("district-gsm-outage", ["PEMBA-01", "PEMBA-02", "MUEDA-01"], 0.5, target="PEMBA-01")
    modem = run("gsm-outage", ["MOCIMBOA-01"], 0.5)
    for sim in (brown, mast, modem):
        write(influxd, fresh_db, [r for i, r in enumerate(sim.readings) if i not in sim.backlog])
    ids = ["MONTEPUEZ-01", "PALMA-01", "PEMBA-01", "PEMBA-02", "MUEDA-01", "MOCIMBOA-01"]
    insight, _ = job(influxd, fresh_db, ids)
    diagnosed: dict[str, str] = {}
    for sim in (brown, mast, modem):
        for sid, st in sim.truth.to_json()["stations"].items():
            for silence in st["silences"]:
                # an hour into the silence, with everyone else still reporting
                at = ms_of(silence["from"]) + HOUR_MS
                await insight.run_hours([at - at % HOUR_MS + HOUR_MS])
                diagnosed[sid] = insight.causes[sid]
                assert diagnosed[sid] == silence["cause"], (sid, silence)
                fig = insight.latest[sid]
                assert fig.silence is not None and fig.silence.cause == silence["cause"]
    await insight.query.close()
    assert diagnosed == {
        "MONTEPUEZ-01": "power",
        "PEMBA-01": "district_network",
        "PEMBA-02": "district_network",
        "MOCIMBOA-01": "network",
    }


async def test_completeness_is_exact_for_a_known_outage(influxd: Influxd, fresh_db: str) -> None:
    sim = run("silent-station", ["NANGADE-01", "MUEDA-01"], 2, target="NANGADE-01")
    write(influxd, fresh_db, sim.readings)
    insight, _ = job(influxd, fresh_db, ["NANGADE-01", "MUEDA-01"])
    await insight.run_hours([START_MS + DAY_MS + 12 * HOUR_MS, START_MS + 2 * DAY_MS])
    await insight.query.close()
    rows = influxd.query("SELECT * FROM completeness GROUP BY station, day", db=fresh_db)
    got = {(r["station"], r["day"]): (r["expected"], r["received"], r["pct"]) for r in rows}
    # 3 devices x 288 readings a day; hung from +3 h to +5 h: 24 ticks of 3 readings lost
    assert got[("NANGADE-01", "2025-06-10")] == (864, 864 - 72, round(100 * 792 / 864, 2))
    assert got[("NANGADE-01", "2025-06-11")] == (864, 864, 100.0)
    assert got[("MUEDA-01", "2025-06-10")] == (864, 864, 100.0)
    # the same figures in the HTTP API, per station
    app = web.Application()
    InsightApi(insight).mount(app)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as http:
            async with http.get("/stations/NANGADE-01/insight") as resp:
                body = await resp.json()
            async with http.get("/stations/NOWHERE-01/insight") as missing:
                assert missing.status == 404
    finally:
        await runner.cleanup()
    day = next(d for d in body["completeness"] if d["day"] == "2025-06-10")
    assert (day["expected"], day["received"]) == (864, 792)
    assert body["silence_cause_if_quiet"] == "network" and body["silence"] is None
    assert body["battery"] is None  # under three whole days of history: no forecast yet


async def test_a_late_backlog_gives_the_same_figures_as_live_data(
    influxd: Influxd, fresh_db: str
) -> None:
    ids = [DECLINE, DRYING]
    sim = run("battery-decline", ids, 4.5, target=DECLINE)
    first = START_MS + 4 * DAY_MS
    hours = list(range(first, first + 8 * HOUR_MS + 1, HOUR_MS))
    # live: each hour's readings land before that hour is computed
    live, _ = job(influxd, fresh_db, ids)
    write(influxd, fresh_db, [r for r in sim.readings if r.ts_ms <= first])
    for h in hours:
        write(influxd, fresh_db, [r for r in sim.readings if h - HOUR_MS < r.ts_ms <= h])
        await live.catch_up(h)
    await live.query.close()
    # backlog: the same readings, and some after, land in one go; the job catches up
    late_db = fresh_db + "_late"
    influxd.create_db(late_db)
    try:
        write(influxd, late_db, sim.readings)
        late, _ = job(influxd, late_db, ids)
        assert (await late.catch_up(hours[-1] + 30 * 60_000))[-1] == hours[-1]
        await late.query.close()

        def stored(db: str, measurement: str) -> list[dict[str, Any]]:
            q = f"SELECT * FROM {measurement} WHERE time >= {first}ms GROUP BY *"
            return sorted(influxd.query(q, db=db), key=lambda r: repr(sorted(r.items())))

        for m in ("forecast", "completeness"):
            assert stored(fresh_db, m) == stored(late_db, m), m
        assert len(stored(late_db, "forecast")) == 2 * len(hours)  # both falling: battery, water
    finally:
        influxd.drop_db(late_db)


def test_the_silence_page_says_the_cause_and_what_to_bring() -> None:
    settings = AlertSettings()
    engine = RuleEngine(settings.rules, FLEET, 3600)
    engine.silence_cause = {"PEMBA-01": "power", "PEMBA-02": "network"}.get
    t0 = START_MS
    for sid in ("PEMBA-01", "PEMBA-02", "MUEDA-01"):
        engine.observe(
            Reading(sid, FLEET.district_of(sid), "tank", "tank1", t0, None, {"level_pct": 60.0})
        )
    engine.observe(
        Reading("IBO-01", "Ibo", "tank", "tank1", t0 + HOUR_MS, None, {"level_pct": 60.0})
    )
    # the collector's own figures do not keep a quiet station alive
    engine.observe(
        Reading("PEMBA-01", "Pemba", "insight", "insight", t0 + HOUR_MS, None, {"leak_lph": 0.0})
    )
    fired = {t.station: t for t in engine.evaluate(0) if t.rule.name == "station_silent"}
    assert fired["PEMBA-01"].cause == "power" and fired["MUEDA-01"].cause is None
    pt = Messages(settings, FLEET)
    en = Messages(AlertSettings(language="en"), FLEET)
    assert "levar uma bateria carregada" in pt.describe(fired["PEMBA-01"])[0]
    assert "verificar o modem e o crédito do SIM" in pt.describe(fired["PEMBA-02"])[0]
    assert "take a charged battery" in en.describe(fired["PEMBA-01"])[0]
    assert pt.describe(fired["MUEDA-01"])[0] == "sem telemetria (limite 30 min)"


async def test_the_collector_runs_the_job_and_alerts_on_stored_history(
    influxd: Influxd, fresh_db: str, mosquitto: Mosquitto, prefix: str, tmp_path: Path
) -> None:
    # a collector started over stored history catches up the last hours of fleet time
    sim = run("battery-decline", [DECLINE, DRYING], 4.5, target=DECLINE)
    write(influxd, fresh_db, sim.readings)
    fast = {"insight.check_every": 0.2, "alerts.evaluate_interval_s": 0.2}
    overrides = collector_overrides(mosquitto, influxd, fresh_db, prefix, tmp_path, **fast)
    async with running_collector(overrides) as collector:
        assert collector.insight is not None and collector.alerts is not None
        alerts = collector.alerts
        await wait_until(lambda: (DECLINE, "insight", "battery_forecast_low") in alerts.active)
        base = f"http://127.0.0.1:{collector.http_port}"
        async with (
            aiohttp.ClientSession(base) as http,
            http.get(f"/stations/{DECLINE}/insight") as resp,
        ):
            body = await resp.json()
        # its points went through the collector's writer
        q = f"SELECT count(battery_days) FROM forecast WHERE station = '{DECLINE}'"
        await wait_until(lambda: influxd.query(q, db=fresh_db))
    assert 0 < body["forecast"]["battery_days"] < 2
    assert body["battery"]["days_used"] >= 2


async def test_without_a_battery_monitor_the_soc_is_estimated_from_voltage(
    influxd: Influxd, fresh_db: str
) -> None:
    sim = run("battery-decline", [DECLINE], 6)
    low_at = ms_of(sim.truth.to_json()["stations"][DECLINE]["battery_low_at"])
    # the same controller without its battery monitor: no SoC field
    write(
        influxd,
        fresh_db,
        [
            r._replace(fields={k: v for k, v in r.fields.items() if k != "battery_soc_pct"})
            for r in sim.readings
        ],
    )
    insight, _ = job(influxd, fresh_db, [DECLINE])
    at = low_at - DAY_MS - (low_at - DAY_MS) % HOUR_MS
    await insight.run_hours([at])
    await insight.query.close()
    battery = insight.latest[DECLINE].battery
    assert battery is not None and battery.estimated
    assert battery.days_to_low is not None and close(battery.days_to_low, (low_at - at) / DAY_MS)
    assert insight.latest[DECLINE].to_json()["battery"]["soc_estimated"] is True


async def test_a_finished_week_sends_each_route_its_completeness_digest(
    influxd: Influxd, fresh_db: str, hook: Hook, tmp_path: Path
) -> None:
    monday = epoch_of(parse_rfc3339("2025-06-02T00:00:00+02:00"))
    sim = simulate(
        stations("NANGADE-01", "MUEDA-01", "PEMBA-01"), "silent-station", monday, 7 * 288,
        target="NANGADE-01",
    )  # fmt: skip
    write(influxd, fresh_db, sim.readings)
    weeks: list[tuple[date, Any]] = []

    async def on_week(first: date, days: Any) -> None:
        weeks.append((first, days))

    settings = InsightSettings(backfill_hours=7 * 24 + 1)
    insight, _ = job(influxd, fresh_db, ["NANGADE-01", "MUEDA-01", "PEMBA-01"], settings)
    insight.on_week = on_week
    await insight.catch_up(int(monday * 1000) + 7 * DAY_MS)
    await insight.query.close()
    ((first, days),) = weeks
    assert first == date(2025, 6, 2) and len(days["NANGADE-01"]) == 7
    alerts = AlertSettings.model_validate(
        {
            "notifiers": {"hook": {"type": "webhook", "url": hook.url}},
            "routes": [{"name": "north", "districts": ["Nangade", "Mueda"], "notifiers": ["hook"]}],
            "fallback": {"notifiers": ["hook"]},
        }
    )
    fleet = insight.fleet
    sent = {n.route: n for _, n in digests(alerts, fleet, first, days, ZoneInfo("Africa/Maputo"))}
    # 24 of 2016 ticks lost at NANGADE-01: 98.8% of the week; worst station first
    assert sent["north"].text.endswith("2025-06-02 a 2025-06-08: NANGADE-01 99%, MUEDA-01 100%")
    assert sent["fallback"].text.endswith(": PEMBA-01 100%") and sent["north"].event == "digest"
    # delivered like any page: through the alert service's outbox to a real webhook
    service = AlertService(
        alerts, fleet, tmp_path / "alerts", write_lines=lambda lines: None, mqtt_publish=None
    )
    await service.start()
    try:
        await service.announce(digests(alerts, fleet, first, days, ZoneInfo("Africa/Maputo")))
        await wait_until(lambda: len(hook.posts) == 2, timeout=10)
    finally:
        await service.stop()
    assert sorted(p["route"] for p in hook.posts) == ["fallback", "north"]
    assert {p["event"] for p in hook.posts} == {"digest"}


async def test_a_district_outage_is_named_before_the_silence_pages(
    influxd: Influxd, fresh_db: str
) -> None:
    ids = ["PEMBA-01", "PEMBA-02", "MUEDA-01"]
    mast = run("district-gsm-outage", ids, 0.5, target="PEMBA-01")
    write(influxd, fresh_db, [r for i, r in enumerate(mast.readings) if i not in mast.backlog])
    # MUEDA-01 reports on, so fleet time runs; 20 min into the outage, between two hours
    insight, _ = job(influxd, fresh_db, ids)
    outage = START_MS + 6 * HOUR_MS
    insight.done_ms = outage  # this hour is done: the round checks the silences only
    assert await insight.catch_up(outage + 20 * 60_000) == []
    await insight.query.close()
    assert insight.cause_of("PEMBA-01") == insight.cause_of("PEMBA-02") == "district_network"
    assert insight.cause_of("MUEDA-01") == "network"
