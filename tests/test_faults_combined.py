"""All three faults in one run: collector kill -9, InfluxDB down, Mosquitto restarted."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from devices.stations import load_fleet
from tests.collector_support import ROOT, CollectorProcess
from tests.fault_support import (
    Publisher,
    Stack,
    fleet_messages,
    metric,
    points,
    series_counts,
    spooled,
    wait_for,
    wait_for_points,
)


@pytest.mark.slow
def test_kill_while_spooling_then_broker_restart(stack: Stack) -> None:
    """The spool survives kill -9 (its torn tail cut), and is replayed after the restart."""
    per_device = 150
    messages = fleet_messages(stack.prefix, 19, per_device, batch=3)
    collector = CollectorProcess(stack.workdir, stack.env())
    collector.start()
    try:
        with Publisher(stack.mosquitto.url, "station-gw") as pub:
            pub.start_background(messages, pace_s=0.002)
            wait_for(lambda: points(stack.influxd, stack.db) > 1000, 30, what="first points")
            stack.influxd.stop()
            wait_for(lambda: spooled(collector) > 500, 30, what="spooling")
            in_spool = spooled(collector)
            collector.kill()  # while it appends to the spool
            collector.start()
            # Restarted with a non-empty spool and InfluxDB still down: it keeps spooling.
            health = collector.health()
            assert health["spool"]["readings"] >= in_spool
            assert health["influx"]["up"] is False
            stack.mosquitto.stop()
            time.sleep(1.0)
            stack.mosquitto.start()
            wait_for(lambda: collector.health()["mqtt"]["connected"], 15, what="reconnect")
            stack.influxd.start()
            acked = pub.join()
        print(f"kill while spooling: {in_spool:.0f} readings in the spool at the kill")
        assert acked == len(messages) * 3 == 19 * 2 * per_device
        assert wait_for_points(stack.influxd, stack.db, acked) == acked
        assert {n for _, _, n in series_counts(stack.influxd, stack.db)} == {per_device}
        wait_for(lambda: spooled(collector) == 0, 30, what="spool drained")
    finally:
        collector.stop()


def run_simulator(stack: Stack, duration: str, summary: Path) -> subprocess.Popen[bytes]:
    cmd = [
        sys.executable, "-m", "simulator",
        "--mqtt-url", stack.mosquitto.url,
        "--prefix", stack.prefix,
        "--stations", "19",
        "--duration", duration,
        "--interval", "5m",
        "--speed", "0",
        "--seed", "7",
        "--scenario", "default",
        "--state-dir", str(stack.workdir / "simstate"),
        "--summary-json", str(summary),
        "--quiet",
    ]  # fmt: skip
    log = (stack.workdir / "simulator.log").open("ab")
    return subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)


@pytest.mark.slow
def test_simulated_days_with_every_fault_land_exactly(stack: Stack) -> None:
    """Done-when of issue 5: 5 simulated days of 19 stations, every fault during the run."""
    summary = stack.workdir / "summary.json"
    collector = CollectorProcess(stack.workdir, stack.env())
    collector.start()
    sim = run_simulator(stack, "120h", summary)
    faults: list[str] = []
    try:

        def progress(n: int) -> None:
            wait_for(lambda: points(stack.influxd, stack.db) >= n, 60, what=f"{n} points")
            assert sim.poll() is None, f"the simulator finished before the fault after {faults}"

        progress(4000)
        collector.kill()
        faults.append(f"collector kill -9 at {points(stack.influxd, stack.db)} points")
        collector.start()

        progress(12000)
        stack.influxd.stop()
        faults.append("influxd stopped")
        wait_for(lambda: spooled(collector) > 1000, 30, what="spooling")
        depth = spooled(collector)
        stack.influxd.start()
        faults.append(f"influxd started with {depth:.0f} readings spooled")

        progress(20000)
        stack.mosquitto.stop()
        faults.append("mosquitto stopped")
        time.sleep(1.0)
        stack.mosquitto.start()
        faults.append("mosquitto started")

        assert sim.wait(300) == 0, (stack.workdir / "simulator.log").read_text()[-2000:]
        handed_over = json.loads(summary.read_text())["readings"]["total"]
        print(f"simulated days: {handed_over} readings acknowledged; faults: {faults}")
        # a reading per device and 5 minutes for 5 days (19 stations, one device of each
        # kind: 82,080), less what the scenario's silent station never measures.
        full = sum(len(s.devices) for s in load_fleet().stations) * 5 * 288
        assert 0.9 * full <= handed_over <= full
        assert wait_for_points(stack.influxd, stack.db, handed_over, 120) == handed_over
        by_station = json.loads(summary.read_text())["readings"]["by_station"]
        stored = {(st, m): n for m, st, n in series_counts(stack.influxd, stack.db)}
        assert stored == {(st, m): n for st, kinds in by_station.items() for m, n in kinds.items()}
        wait_for(lambda: spooled(collector) == 0, 30, what="spool drained")
        text = collector.metrics()
        assert metric(text, "solarwater_spool_replayed_total") > 0
    finally:
        if sim.poll() is None:
            sim.kill()
            sim.wait()
        collector.stop()
