"""`--workers N`: children share the telemetry through `$share`, every reading lands once, and
the parent forwards signals and fails when a worker dies."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from collector.config import load_settings
from collector.workers import WORKER_ENV, child_count, worker_command
from devstack import Influxd, Mosquitto
from devstack.ports import free_port_block
from tests.collector_support import publish_all, publisher

ROOT = Path(__file__).resolve().parents[1]


def start_workers(
    mosquitto: Mosquitto, influxd: Influxd, db: str, prefix: str, tmp_path: Path, port: int
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "SOLARWATER_MQTT__URL": mosquitto.url,
        "SOLARWATER_MQTT__PREFIX": prefix,
        "SOLARWATER_MQTT__CLIENT_ID": f"c-{prefix}",
        "SOLARWATER_INFLUX__URL": influxd.url,
        "SOLARWATER_INFLUX__DB": db,
        "SOLARWATER_INFLUX__FLUSH_INTERVAL_S": "0.2",
        "SOLARWATER_DATA_DIR": str(tmp_path / "data"),
        "SOLARWATER_HTTP__LISTEN": f"127.0.0.1:{port}",
    }
    env.pop(WORKER_ENV, None)
    log = (tmp_path / "workers.log").open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "collector", "--workers", "2"],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def health(port: int) -> dict[str, object]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
            body: dict[str, object] = json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        body = json.loads(exc.read())
    return body


def wait_connected(ports: list[int], proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            if all(health(p)["mqtt"]["connected"] for p in ports):  # type: ignore[index]
                return
        except OSError:
            pass
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)


def stop_workers(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM first: the parent stops its children (a kill -9 would orphan them)."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def two_free_ports(n: int = 3) -> int:
    """A base port with the next n-1 free too: two ingest workers and the alert engine."""
    return free_port_block(n)


def test_worker_command_gives_each_child_its_own_identity(tmp_path: Path) -> None:
    settings = load_settings(
        None,
        {"workers": 3, "http.listen": "0.0.0.0:9100", "data_dir": str(tmp_path)},
    )
    cmd, env = worker_command(settings, ["--workers", "3", "--http", "1.2.3.4:1"], 2)
    assert cmd[1:3] == ["-m", "collector"]
    # later flags win in argparse: the child's own values come last
    assert cmd[-8:] == [
        "--workers",
        "1",
        "--http",
        "0.0.0.0:9102",
        "--role",
        "ingest",
        "--data-dir",
        str(tmp_path / "w2"),
    ]
    assert env["SOLARWATER_MQTT__CLIENT_ID"] == f"{settings.mqtt.client_id}-w2"
    assert env["SOLARWATER_MQTT__CLIENT_ID"].startswith("solarwater-collector.")
    assert env["SOLARWATER_MQTT__SHARED_GROUP"] == "solarwater-collector"
    assert env[WORKER_ENV] == "2"
    assert child_count(settings) == 4  # three ingest workers and the alert engine

    # child 3: the one alert engine, on its own session, port and data folder
    cmd, env = worker_command(settings, ["--workers", "3"], 3)
    assert cmd[-8:] == [
        "--workers",
        "1",
        "--http",
        "0.0.0.0:9103",
        "--role",
        "alerts",
        "--data-dir",
        str(tmp_path / "alerts"),
    ]
    assert env["SOLARWATER_MQTT__CLIENT_ID"] == f"{settings.mqtt.client_id}-alerts"
    # role ingest on the parent: no engine child anywhere on this host
    ingest = load_settings(None, {"workers": 3, "role": "ingest", "data_dir": str(tmp_path)})
    assert child_count(ingest) == 3


def test_two_workers_share_the_load_and_stop_on_sigterm(
    mosquitto: Mosquitto, influxd: Influxd, fresh_db: str, prefix: str, tmp_path: Path
) -> None:
    port = two_free_ports()
    proc = start_workers(mosquitto, influxd, fresh_db, prefix, tmp_path, port)
    try:
        wait_connected([port, port + 1], proc, tmp_path / "workers.log")
        pub = publisher(mosquitto)
        base = time.time() - 3600
        messages = [
            (
                f"{prefix}/S{i % 20:03d}/solar/mppt1/telemetry",
                json.dumps({"ts": base + i / 1000, "battery_soc_pct": 50.0}).encode(),
            )
            for i in range(2000)
        ]
        publish_all(pub, messages)
        pub.disconnect()
        pub.loop_stop()
        deadline = time.monotonic() + 30
        while influxd.count("solar", db=fresh_db) < 2000:
            assert time.monotonic() < deadline, "not every reading landed"
            time.sleep(0.2)
        received = [
            health(p)["counters"]["readings_received"]  # type: ignore[index]
            for p in (port, port + 1)
        ]
        assert sum(received) == 2000, received  # each message went to exactly one worker
        assert min(received) > 0, received  # and both took a share
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
    finally:
        stop_workers(proc)


def test_a_dead_worker_stops_the_rest_with_an_error(
    mosquitto: Mosquitto, influxd: Influxd, fresh_db: str, prefix: str, tmp_path: Path
) -> None:
    port = two_free_ports()
    proc = start_workers(mosquitto, influxd, fresh_db, prefix, tmp_path, port)
    try:
        wait_connected([port, port + 1], proc, tmp_path / "workers.log")
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        assert len(children) == 3  # two ingest workers, the alert engine
        os.kill(int(children[1]), signal.SIGKILL)
        assert proc.wait(60) != 0
        assert "worker 1 exited" in (tmp_path / "workers.log").read_text()
    finally:
        stop_workers(proc)
