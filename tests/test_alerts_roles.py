"""The alert engine on its own subscription, ingest processes on two "hosts" in one group.

Real Mosquitto, real InfluxDB, a real webhook receiver; every collector is a real process
with the default client id of its host name. The engine receives every reading itself, so
the pages do not depend on which ingest process took which message, nor on one dying.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from devices import schema
from devices.stations import Fleet, load_fleet
from devstack import Influxd, Mosquitto
from simulator import SimulationConfig, run_simulation
from tests.alert_support import Hook
from tests.collector_support import publish_all, publisher
from tests.roles_support import HostProcess, alert_config

FLEET = load_fleet()
RUN = Fleet(stations=tuple(s for s in FLEET.stations if s.id in ("PEMBA-01", "MONTEPUEZ-01")))
START = datetime(2025, 7, 1, 20, 0, tzinfo=timezone(timedelta(hours=2)))
BATTERY_PAGES = [
    ("firing", "MONTEPUEZ-01", "battery_low"),
    ("firing", "MONTEPUEZ-01", "battery_critical"),
    ("resolved", "MONTEPUEZ-01", "battery_critical"),
    ("resolved", "MONTEPUEZ-01", "battery_low"),
]


def pages(hook: Hook) -> list[tuple[str, str, str]]:
    return [(p["event"], p["station"], p["rule"]) for p in hook.posts]


async def until(cond: Callable[[], bool], timeout: float, what: Callable[[], str]) -> None:
    """Poll without blocking the loop (the webhook receiver runs in it)."""
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, what()
        await asyncio.sleep(0.1)


def counter(proc: HostProcess, name: str) -> int:
    return int(proc.health()["counters"].get(name, 0))


@pytest.mark.slow
async def test_kill_9_of_an_ingest_host_changes_no_page(
    mosquitto: Mosquitto, influxd: Influxd, fresh_db: str, prefix: str, tmp_path: Path, hook: Hook
) -> None:
    config = alert_config(tmp_path / "collector.yaml", hook, evaluate_s=0.05)
    args = (mosquitto, influxd, fresh_db, prefix, config, f"g-{prefix}")
    host_a, host_b = f"posto-a-{prefix}", f"posto-b-{prefix}"
    engine = HostProcess(tmp_path, host_a, "alerts", *args)
    ingest_a = HostProcess(tmp_path, host_a, "ingest", *args)
    ingest_b = HostProcess(tmp_path, host_b, "ingest", *args)
    procs = [engine, ingest_a, ingest_b]

    def logs() -> str:
        return "\n".join(f"--- {p.host} {p.role}\n{p.log()}" for p in procs)

    try:
        for p in procs:
            await p.astart()
        ids = [p.health()["mqtt"] for p in procs]
        sim = SimulationConfig(
            mqtt_url=mosquitto.url, prefix=prefix, fleet=RUN, start=START,
            duration_s=14 * 3600, interval_s=300, speed=5000.0,
            scenario="battery-failure", scenario_station="MONTEPUEZ-01", seed=1, quiet=True,
        )  # fmt: skip
        run = asyncio.create_task(asyncio.to_thread(run_simulation, sim, record=True))
        # mid-scenario: host B dies without a word, its unacknowledged messages in its session
        await until(lambda: counter(ingest_b, "readings_received") >= 60, 60, logs)
        ingest_b.kill9()
        summary = await run
        total = summary.readings.total
        assert summary.scenario == "battery-failure" and total > 300
        # the engine took every reading from its own subscription, however the group split them
        await until(lambda: counter(engine, "readings_received") >= total, 60, logs)
        assert counter(engine, "readings_received") == total
        await until(lambda: len(hook.posts) >= 4, 30, logs)

        # host B comes back: the broker hands it what it held unacknowledged; all lands once
        await ingest_b.astart()

        def landed() -> int:
            return sum(influxd.count(m, fresh_db) for m in schema.READING_MEASUREMENTS)

        await until(lambda: landed() >= total, 60, lambda: f"{landed()} of {total}\n{logs()}")
        await asyncio.sleep(1.0)  # more evaluations: a second page would be out by now
        assert landed() == total
        assert pages(hook) == BATTERY_PAGES  # exactly one page and one resolution per alert
        # both ingest hosts took a share; the engine wrote no readings of its own
        assert counter(ingest_a, "readings_received") > 0
        assert counter(ingest_b, "readings_received") > 0
        alerts = influxd.query('SELECT "state", "rule" FROM "events"."alert"', db=fresh_db)
        assert len(alerts) == 4, alerts
        # the acks and silences live with the engine only
        assert engine.health()["alerts"] is not None
        assert ingest_a.health()["alerts"] is None
        # the default client ids: distinct per host and per role, nobody took a session over
        assert [m["sessions_taken_over"] for m in ids] == [0, 0, 0]
        assert all(p.health()["mqtt"]["sessions_taken_over"] == 0 for p in procs)
        for p in procs:
            assert p.stop() == 0, logs()
    finally:
        for p in procs:
            p.stop()


@pytest.mark.slow
async def test_engine_down_the_broker_queues_and_it_pages_only_what_is_still_true(
    mosquitto: Mosquitto, influxd: Influxd, fresh_db: str, prefix: str, tmp_path: Path, hook: Hook
) -> None:
    config = alert_config(tmp_path / "collector.yaml", hook, evaluate_s=0.2)
    args = (mosquitto, influxd, fresh_db, prefix, config, f"g-{prefix}")
    host = f"posto-{prefix}"
    engine = HostProcess(tmp_path, host, "alerts", *args)
    ingest = HostProcess(tmp_path, host, "ingest", *args)
    procs = [engine, ingest]

    def logs() -> str:
        return "\n".join(f"--- {p.host} {p.role}\n{p.log()}" for p in procs)

    try:
        await engine.astart()  # its persistent session exists from now on
        await ingest.astart()
        engine.kill9()
        # while it is down: PEMBA-01 low and critical for 20 min, then recovered for 5;
        # PEMBA-02 low for 20 min up to now, still low when the engine comes back
        now = time.time()
        messages = []
        for i in range(100):
            ts = now - (99 - i) * 15
            soc = 20.0 if i < 80 else 80.0
            body = {"ts": ts, "seq": i, "battery_soc_pct": soc, "battery_voltage_v": 25.0}
            messages.append((f"{prefix}/PEMBA-01/solar/mppt1/telemetry", json.dumps(body)))
        for i in range(80):
            body = {"ts": now - (79 - i) * 15, "seq": i, "battery_soc_pct": 40.0}
            messages.append((f"{prefix}/PEMBA-02/solar/mppt1/telemetry", json.dumps(body)))
        pub = publisher(mosquitto)
        await asyncio.to_thread(publish_all, pub, [(t, b.encode()) for t, b in messages])
        pub.disconnect()
        pub.loop_stop()
        # ingest is unaffected by the engine being down
        await until(lambda: influxd.count("solar", fresh_db) >= 180, 30, logs)
        assert hook.posts == []

        await engine.astart()  # the broker hands it the queue
        await until(lambda: counter(engine, "readings_received") >= 180, 30, logs)
        await until(lambda: len(hook.posts) >= 1, 30, logs)
        await asyncio.sleep(2.0)  # ten evaluations more
        # PEMBA-01 recovered while the engine was away: no page for what is no longer true
        assert pages(hook) == [("firing", "PEMBA-02", "battery_low")]
        assert counter(engine, "readings_received") == 180
        assert influxd.count("solar", fresh_db) == 180  # the engine wrote no reading twice
        for p in procs:
            assert p.stop() == 0, logs()
    finally:
        for p in procs:
            p.stop()
