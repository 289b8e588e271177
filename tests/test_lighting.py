"""The lighting kind: photocell switching at each station's own sunset, lamp and circuit
faults in the simulator, and its shipped rule paging at night only through a real collector."""

from __future__ import annotations

import asyncio
import itertools
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson

from collector.alerts import AlertSettings
from collector.alerts.engine import RuleEngine
from collector.alerts.messages import Messages
from collector.ingest.readings import Reading
from devices.stations import Fleet, Station, load_fleet
from devices.sun import SUNSET_DEG, solar_elevation_deg
from devstack import Influxd, Mosquitto
from simulator import SimulationConfig, run_simulation
from simulator.kinds.base import Fields
from simulator.scenarios import build_scenario
from simulator.station_model import StationModel
from tests.alert_support import Hook
from tests.collector_support import CollectorProcess
from tests.fault_support import collector_env

FLEET = load_fleet()
CAT = timezone(timedelta(hours=2))
STEP_S = 300


def _station(station_id: str) -> Station:
    st = FLEET.get(station_id)
    assert st is not None
    return st


def _lights(
    station: Station, start: datetime, hours: float, scenario: str = "none"
) -> list[tuple[float, Fields]]:
    sc = build_scenario(scenario, [station.id])
    t0 = start.timestamp()
    model = StationModel(station, 1, sc, interval_s=STEP_S, start=t0)
    out = []
    for k in range(int(hours * 3600 / STEP_S)):
        ts = t0 + k * STEP_S
        out.append((ts, model.step_devices(ts)["lights1"]))
    return out


def _crossing(station: Station, t0: float, t1: float, falling: bool) -> float:
    """When the sun's upper limb crosses the horizon between t0 and t1 (to the second)."""
    lat, lon = station.latitude, station.longitude
    for _ in range(40):
        mid = (t0 + t1) / 2
        below = solar_elevation_deg(mid, lat, lon) < SUNSET_DEG
        if below == falling:
            t1 = mid
        else:
            t0 = mid
    return t1


def test_photocell_switches_at_each_stations_own_sunset_and_sunrise() -> None:
    start = datetime(2025, 7, 1, 12, 0, tzinfo=CAT)
    switched_on: dict[str, float] = {}
    for sid in ("PALMA-01", "NEGOMANO-BP"):  # 40.47° E and 38.5° E
        st = _station(sid)
        readings = _lights(st, start, 48)
        ons = [
            b
            for (_, a), (b, r) in itertools.pairwise(readings)
            if not a["lights_on"] and r["lights_on"]
        ]
        offs = [
            b
            for (_, a), (b, r) in itertools.pairwise(readings)
            if a["lights_on"] and not r["lights_on"]
        ]
        assert len(ons) == 2 and len(offs) == 2, sid
        for on in ons:
            sunset = _crossing(st, on - 6 * 3600, on, falling=True)
            # a little after sunset (the photocell waits for its darkness), within two readings
            assert 0 <= on - sunset <= 2 * STEP_S + 600, (sid, on - sunset)
        for off in offs:
            sunrise = _crossing(st, off - 6 * 3600, off + 3600, falling=False)
            assert -600 <= off - sunrise <= 2 * STEP_S, (sid, off - sunrise)
        switched_on[sid] = ons[0]
        # lit lamps draw their power; by day nothing is lit
        for _, r in readings:
            lamps = st.size("lamps")
            assert isinstance(lamps, int)
            if r["lights_on"]:
                assert r["lamps_lit"] == lamps - int(r["lamps_failed"])
                assert float(r["load_power_w"]) > 0.9 * 40 * int(r["lamps_lit"])
            else:
                assert r["lamps_lit"] == 0 and r["load_power_w"] == 0
    # two degrees further west, the sun sets about eight minutes later
    lag = switched_on["NEGOMANO-BP"] - switched_on["PALMA-01"]
    assert 3 * 60 <= lag <= 20 * 60, lag


def test_circuit_fault_darkens_the_lamps_while_the_photocell_says_on() -> None:
    st = _station("PEMBA-01")
    readings = _lights(st, datetime(2025, 7, 1, 20, 0, tzinfo=CAT), 6, "lighting-circuit-fault")
    t0 = readings[0][0]
    for ts, r in readings:
        faulted = 3600 <= ts - t0 < 4 * 3600
        assert r["lights_on"] == 1  # night all along
        assert r["circuit_fault"] == int(faulted)
        assert (r["lamps_lit"] == 0) == faulted
        assert (r["load_power_w"] == 0) == faulted


def test_lamp_failures_scenario_burns_lamps_out_one_by_one() -> None:
    st = _station("PEMBA-01")
    readings = _lights(st, datetime(2025, 7, 1, 0, 0, tzinfo=CAT), 72, "lamp-failures")
    failed = [int(r["lamps_failed"]) for _, r in readings]
    assert failed == sorted(failed) and failed[0] == 0
    assert 3 <= failed[-1] <= 10  # about 4 a day over 3 days, never more than the 10 lamps
    assert all(b - a <= 2 for a, b in itertools.pairwise(failed))


# --- the shipped rule through a real collector ------------------------------------------------


async def test_security_lights_off_pages_at_night_and_not_by_day(
    mosquitto: Mosquitto, influxd: Influxd, fresh_db: str, prefix: str, hook: Hook, tmp_path: Path
) -> None:
    cfg = tmp_path / "collector.yaml"
    alerts = {
        "evaluate_interval_s": 0.05,
        "min_page_interval": 0,
        "notifiers": {"sms": {"type": "webhook", "url": hook.url, "backoff_s": 0.05}},
        "fallback": {"notifiers": ["sms"], "recipients": {"phones": ["+258849990000"]}},
    }
    cfg.write_bytes(orjson.dumps({"alerts": alerts}))  # JSON is YAML
    env = collector_env(mosquitto, influxd, fresh_db, prefix, tmp_path / "data")
    proc = CollectorProcess(tmp_path, env, ["--config", str(cfg)])
    await asyncio.to_thread(proc.start)

    def sim(station: str, start: datetime) -> SimulationConfig:
        return SimulationConfig(
            mqtt_url=mosquitto.url, prefix=prefix, fleet=Fleet(stations=(_station(station),)),
            start=start, duration_s=6 * 3600, interval_s=STEP_S, speed=7200.0,
            scenario="lighting-circuit-fault", scenario_station=station, seed=1, quiet=True,
        )  # fmt: skip

    def lights_pages() -> list[dict[str, object]]:
        return [p for p in hook.posts if p["rule"] == "security_lights_off"]

    try:
        while not (await asyncio.to_thread(proc.health))["mqtt"]["connected"]:
            await asyncio.sleep(0.1)
        # the breaker trips 10:00-13:00 at one station (day), 21:00-00:00 at another (night)
        day = datetime(2025, 7, 1, 9, 0, tzinfo=CAT)
        night = datetime(2025, 7, 1, 20, 0, tzinfo=CAT)
        await asyncio.to_thread(run_simulation, sim("PEMBA-02", day))
        await asyncio.to_thread(run_simulation, sim("PEMBA-01", night))
        deadline = time.monotonic() + 30
        while len(lights_pages()) < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)  # anything more would be on its way by now
    finally:
        await asyncio.to_thread(proc.stop)

    pages = lights_pages()
    assert [(p["event"], p["station"]) for p in pages] == [
        ("firing", "PEMBA-01"),
        ("resolved", "PEMBA-01"),
    ]
    firing, resolved = pages
    fault_at = night.timestamp() + 3600
    # fired `for` (15 min) after the first dark reading of the fault, in device time
    assert firing["since_ms"] == fault_at * 1000
    # a page carries the fleet time of the evaluation that sent it: within an evaluation
    # (0.05 s at 7200x: 6 min) and a reading of the transition
    slack = 360 + STEP_S
    assert 0 <= int(str(firing["ts_ms"])) / 1000 - (fault_at + 15 * 60) <= slack
    # resolved when the breaker is reset and the lamps light again
    assert 0 <= int(str(resolved["ts_ms"])) / 1000 - (fault_at + 3 * 3600) <= slack
    # the day run reached the collector: its dark lamps by day were judged and let be
    rows = influxd.query(
        """SELECT count("lamps_lit") FROM "lighting" WHERE station = 'PEMBA-02'""", fresh_db
    )
    assert rows and rows[0]["count"] == 6 * 3600 // STEP_S
    # the text names the field by its catalogue label, in Portuguese, in one SMS
    sms = str(firing["sms"])
    assert "Luzes de seguranca apagadas" in sms and "lampadas acesas 0" in sms, sms
    assert len(sms) <= 160 and firing["severity"] == "critical"


def test_the_lights_rule_is_shipped_and_speaks_in_catalogue_labels() -> None:
    settings = AlertSettings()
    rule = settings.rules["security_lights_off"]
    assert (rule.kind, rule.severity, rule.for_) == ("lighting", "critical", 900.0)
    engine = RuleEngine(settings.rules, FLEET, 3600)
    midnight = int(datetime(2025, 7, 2, 0, 0, tzinfo=CAT).timestamp() * 1000)
    dark = {"lights_on": 1, "lamps_lit": 0, "lamps_failed": 0, "load_power_w": 0.0,
            "circuit_fault": 1}  # fmt: skip
    for m in range(0, 20, 5):
        ts = midnight + m * 60_000
        engine.observe(Reading("PEMBA-01", "Pemba", "lighting", "lights1", ts, None, dark))
    (t,) = engine.evaluate(0)
    assert (t.rule.name, t.state, t.since_ms) == ("security_lights_off", "firing", midnight)
    pt = Messages(AlertSettings.model_validate({"language": "pt"}), FLEET)
    en = Messages(AlertSettings.model_validate({"language": "en"}), FLEET)
    assert pt.describe(t) == ("lâmpadas acesas 0 (< 1)", "< 1")
    assert en.describe(t) == ("lamps lit 0 (< 1)", "< 1")
    assert (pt.title("security_lights_off"), en.title("security_lights_off")) == (
        "Luzes de segurança apagadas",
        "Security lights off",
    )
