"""Stations whose clocks are 2 h slow or fast still page on time, and do not look silent.

Real Mosquitto and InfluxDB, the collector as a subprocess, a real HTTP webhook receiver.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.request
from pathlib import Path

import orjson
import paho.mqtt.client as mqtt
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from dashboards import station as station_board
from devstack import Influxd, Mosquitto, collector_http
from tests.alert_support import Hook
from tests.collector_support import CollectorProcess
from tests.dashboard_queries import View, query_of, run
from tests.fault_support import collector_env, metric, wait_for
from tests.rollup_support import set_up_rollup

FOR_S = 10.0  # battery_critical's `for` in this test
# receive time minus device time: PEMBA-02 runs 2 h fast, MONTEPUEZ-01 2 h slow
SKEWS_S = {"PEMBA-01": 0.0, "PEMBA-02": -7200.0, "MONTEPUEZ-01": 7200.0}
PACE_S = 0.5  # live readings, one a station every half second


class LiveStations:
    """Publishes live solar readings for each station on its own clock until stopped."""

    def __init__(self, broker: Mosquitto, prefix: str) -> None:
        self.prefix = prefix
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"live-{prefix}")
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        self.stop = threading.Event()
        self.started: float | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        seq = 0
        while not self.stop.is_set():
            now = time.time()
            self.started = self.started or now
            for station, skew in SKEWS_S.items():
                soc = 85.0 if skew == 0 else 20.0
                payload = {"ts": now - skew, "seq": seq, "battery_soc_pct": soc,
                           "battery_voltage_v": 25.5 if skew == 0 else 23.6}  # fmt: skip
                topic = f"{self.prefix}/{station}/solar/mppt1/telemetry"
                self.client.publish(topic, orjson.dumps(payload), qos=1)
            seq += 1
            self.stop.wait(PACE_S)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.client.loop_stop()
        self.client.disconnect()


def config(path: Path, hook: Hook) -> Path:
    alerts = {
        "evaluate_interval_s": 0.5,
        "min_page_interval": 0,
        "notifiers": {"sms": {"type": "webhook", "url": hook.url, "backoff_s": 0.05}},
        "fallback": {"notifiers": ["sms"], "recipients": {"phones": ["+258840000000"]}},
        "rules": {
            "battery_critical": {"for": f"{FOR_S:g}s"},
            "device_clock_skew": {"for": "5s"},
        },
    }
    path.write_text(yaml.safe_dump({"alerts": alerts}))
    return path


@pytest.mark.slow
async def test_slow_and_fast_clocks_page_battery_critical_on_time_and_are_not_silent(
    mosquitto: Mosquitto, influxd: Influxd, fresh_db: str, prefix: str, tmp_path: Path, hook: Hook
) -> None:
    # two ingest workers and the alert engine on its own subscription: each has its estimator
    env = collector_env(mosquitto, influxd, fresh_db, prefix, tmp_path / "var", workers="2")
    collector = CollectorProcess(
        tmp_path, env, ["--config", str(config(tmp_path / "c.yaml", hook))]
    )
    await asyncio.to_thread(collector.start)
    live = LiveStations(mosquitto, prefix)
    live.thread.start()
    try:

        def fired(rule: str) -> dict[str, float]:
            posts = zip(hook.posts, hook.arrived, strict=True)
            return {
                p["station"]: t for p, t in posts if p["event"] == "firing" and p["rule"] == rule
            }

        def both_fired() -> bool:
            return {"PEMBA-02", "MONTEPUEZ-01"} <= set(fired("battery_critical"))

        await asyncio.to_thread(wait_for, both_fired, FOR_S + 60, 0.2, "battery_critical")
        assert live.started is not None
        for station, at in fired("battery_critical").items():
            assert at - live.started <= FOR_S + 60, station
            assert at - live.started >= FOR_S, station  # `for` was judged, not skipped
        # the skew rule fires for both, then a few more evaluations: nobody looks silent
        await asyncio.to_thread(
            wait_for, lambda: len(fired("device_clock_skew")) == 2, 30, 0.2, "device_clock_skew"
        )
        await asyncio.sleep(2)
        rules = {(p["station"], p["rule"]) for p in hook.posts}
        assert not any(rule == "station_silent" for _, rule in rules), rules
        assert rules == {
            ("PEMBA-02", "battery_critical"), ("MONTEPUEZ-01", "battery_critical"),
            ("PEMBA-02", "device_clock_skew"), ("MONTEPUEZ-01", "device_clock_skew"),
        }  # fmt: skip

        url = f"http://127.0.0.1:{collector.http_port}/devices"
        with urllib.request.urlopen(url, timeout=5) as resp:
            devices = {d["station"]: d for d in json.loads(resp.read())["devices"]}
        for station, skew in SKEWS_S.items():
            assert abs(devices[station]["clock_offset_s"] - skew) < 5, devices[station]
            assert devices[station]["clock_correction_s"] == pytest.approx(skew, abs=5)
        text = collector.metrics()  # ingest worker 0, which took its share of the messages
        assert metric(text, "solarwater_devices_clock_corrected") == 2
        engine = collector_http.metrics(collector.http_port + 2)  # the alert engine's own
        assert metric(engine, "solarwater_devices_clock_corrected") == 2
        assert metric(engine, "solarwater_alerts_fired_total") == 4
        gauge = 'solarwater_device_clock_offset_seconds{device="mppt1",station="PEMBA-02"} '
        line = next(x for x in text.splitlines() if x.startswith(gauge))
        assert abs(float(line.split()[-1]) + 7200) < 5
    finally:
        live.close()
        collector.stop()
    # InfluxDB holds corrected times once the offset is known: the newest point of each
    # station is within seconds of now, and its device_clock points say what was applied
    now_ms = time.time() * 1000
    for station in SKEWS_S:
        rows = influxd.query(
            f"SELECT last(battery_soc_pct) FROM solar WHERE station = '{station}'", fresh_db
        )
        assert abs(rows[0]["time"] - now_ms) < 30_000, station
    clock = influxd.query("SELECT last(correction_s) FROM device_clock GROUP BY station", fresh_db)
    assert sorted(round(r["last"]) for r in clock) == [-7200, 0, 7200]
    # ...and the station board's clock panel, interpolated as Grafana would, shows them
    assert live.started is not None
    set_up_rollup(influxd, fresh_db)  # as deployed: the board's `$rp` reads its choice
    view = View(fresh_db, int(live.started * 1000) - 60_000, int(now_ms) + 1000)
    panel, query = query_of(station_board.UID, station_board.CLOCK_TITLE["en"])
    found = run(influxd, view, station_board.UID, panel, query, pick=list(SKEWS_S))
    newest: dict[str, float] = {}
    for row in sorted(found, key=lambda r: r["time"]):
        if row["offset_s"] is not None:
            newest[row["station"]] = row["offset_s"]
    assert {k: round(v / 60) for k, v in newest.items()} == {
        "PEMBA-01": 0, "PEMBA-02": -120, "MONTEPUEZ-01": 120
    }  # fmt: skip


def rejected_in_future(text: str) -> float:
    """Readings the collector refused as `ts_in_future` (0 before the first)."""
    line = 'solarwater_readings_rejected_total{reason="ts_in_future"} '
    return sum(float(x.split()[-1]) for x in text.splitlines() if x.startswith(line))


def corrected(got: dict[str, float], want: dict[str, float]) -> bool:
    """Whether each station's correction is the skew (within a 10 s step: GSM latency)."""
    return all(abs(got.get(st, 0.0) - skew) <= 10 for st, skew in want.items())


@pytest.mark.slow
async def test_clock_estimates_survive_a_restart(
    mosquitto: Mosquitto, influxd: Influxd, fresh_db: str, prefix: str, tmp_path: Path, hook: Hook
) -> None:
    env = collector_env(mosquitto, influxd, fresh_db, prefix, tmp_path / "var")
    collector = CollectorProcess(
        tmp_path, env, ["--config", str(config(tmp_path / "c.yaml", hook))]
    )
    url = f"http://127.0.0.1:{collector.http_port}/devices"

    def corrections() -> dict[str, float]:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return {
                d["station"]: d["clock_correction_s"] for d in json.loads(resp.read())["devices"]
            }

    def count(station: str, when: str) -> int:
        q = f"SELECT count(battery_soc_pct) FROM solar WHERE station = '{station}' AND {when}"
        rows = influxd.query(q, fresh_db)
        return int(rows[0]["count"]) if rows else 0

    def behind(station: str) -> int:
        """The station's points stored more than an hour back: on its own clock."""
        return count(station, "time < now() - 1h")

    await asyncio.to_thread(collector.start)
    live = LiveStations(mosquitto, prefix)
    live.thread.start()
    try:
        skewed = {st: s for st, s in SKEWS_S.items() if s}
        await asyncio.to_thread(
            wait_for, lambda: corrected(corrections(), skewed), 30, 0.2, "estimates"
        )
        refused_before = rejected_in_future(collector.metrics())
        await asyncio.to_thread(collector.stop)
        # the control: before its first estimate, each skewed clock was judged on its own time
        slow_behind = await asyncio.to_thread(behind, "MONTEPUEZ-01")
        assert slow_behind > 0 and refused_before > 0
        restarted_ms = time.time() * 1000
        await asyncio.to_thread(collector.start)
        # known at once, before any message of the new run is taken
        assert corrected(corrections(), skewed), corrections()

        def stored_since(station: str) -> int:
            return count(station, f"time >= {int(restarted_ms - 30_000)}ms")

        # the broker held what the stations sent meanwhile; then live readings
        await asyncio.to_thread(
            wait_for, lambda: all(stored_since(st) >= 4 for st in skewed), 30, 0.2, "readings"
        )
        text = collector.metrics()
    finally:
        live.close()
        collector.stop()
    # the restarted collector corrected every reading: none of the fast clock's refused, none
    # of the slow clock's stored two hours back or skipped by the engine as out of order
    assert rejected_in_future(text) == 0
    assert behind("MONTEPUEZ-01") == slow_behind
    assert metric(text, "solarwater_alert_readings_out_of_order_total") == 0
    assert not [p for p in hook.posts if p["rule"] == "station_silent"]
