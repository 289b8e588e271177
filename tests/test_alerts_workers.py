"""`--workers 2`: a station whose readings are split between the workers fires one alert.

Through `python -m collector --workers 2` against the real Mosquitto and InfluxDB: the
shared subscription spreads one station's low-battery readings over both ingest workers;
the alert engine, a third child on its own subscription, receives all of them itself, so
exactly one alert fires.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from collector.workers import WORKER_ENV
from devstack import Influxd, Mosquitto
from tests.collector_support import publish_all, publisher
from tests.test_collector_workers import stop_workers, two_free_ports, wait_connected

ROOT = Path(__file__).resolve().parents[1]


def get(port: int, path: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=3) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, None


def metrics(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=3) as resp:
        return str(resp.read().decode())


def alert_points(influxd: Influxd, db: str) -> list[dict[str, Any]]:
    return influxd.query('SELECT "state", "station", "rule" FROM "events"."alert"', db=db)


def test_one_station_split_over_two_workers_fires_exactly_one_alert(
    mosquitto: Mosquitto, influxd: Influxd, fresh_db: str, prefix: str, tmp_path: Path
) -> None:
    port = two_free_ports()
    env = {
        **os.environ,
        "SOLARWATER_MQTT__URL": mosquitto.url,
        "SOLARWATER_MQTT__PREFIX": prefix,
        "SOLARWATER_MQTT__CLIENT_ID": f"c-{prefix}",
        "SOLARWATER_INFLUX__URL": influxd.url,
        "SOLARWATER_INFLUX__DB": fresh_db,
        "SOLARWATER_INFLUX__FLUSH_INTERVAL_S": "0.2",
        "SOLARWATER_DATA_DIR": str(tmp_path / "data"),
        "SOLARWATER_HTTP__LISTEN": f"127.0.0.1:{port}",
        "SOLARWATER_ALERTS__EVALUATE_INTERVAL_S": "0.5",
    }
    env.pop(WORKER_ENV, None)
    log_path = tmp_path / "workers.log"
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "collector", "--workers", "2"],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_connected([port, port + 1, port + 2], proc, log_path)
        # 40 readings 15 s apart (under battery_low's 15m), below battery_critical's 30% for 5m.
        pub = publisher(mosquitto)
        end = time.time()
        topic = f"{prefix}/PEMBA-01/solar/mppt1/telemetry"
        readings = [
            {"ts": end - (39 - i) * 15, "seq": i, "battery_soc_pct": 20.0} for i in range(40)
        ]
        publish_all(pub, [(topic, json.dumps(r).encode()) for r in readings])
        pub.disconnect()
        pub.loop_stop()

        deadline = time.monotonic() + 30
        while True:
            status, body = get(port + 2, "/alerts")
            if status == 200 and body["alerts"]:
                break
            assert time.monotonic() < deadline, log_path.read_text()[-3000:]
            time.sleep(0.2)
        received = [
            get(p, "/healthz")[1]["counters"]["readings_received"] for p in (port, port + 1)
        ]
        assert sum(received) == 40 and min(received) > 0, received  # split over both workers
        engine = get(port + 2, "/healthz")[1]
        assert engine["counters"]["readings_received"] == 40  # every reading, on its own
        time.sleep(2)  # several evaluations more: a second engine would have fired by now

        status, body = get(port + 2, "/alerts")
        fired = [(a["station"], a["rule"], a["state"]) for a in body["alerts"]]
        assert fired == [("PEMBA-01", "battery_critical", "firing")], fired
        points = alert_points(influxd, fresh_db)
        firing = [p for p in points if p["rule"] == "battery_critical" and p["state"] == "firing"]
        assert len(firing) == 1, points  # from any worker
        # the ingest workers have no alert engine or API: acks and silences live with the engine
        assert get(port, "/alerts")[0] == 404 and get(port + 1, "/alerts")[0] == 404
        assert "solarwater_alerts_fired" in metrics(port + 2)
        assert "solarwater_alerts_fired" not in metrics(port)
        assert influxd.count("solar", db=fresh_db) == 40  # written once: by the ingest workers
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
    finally:
        stop_workers(proc)
