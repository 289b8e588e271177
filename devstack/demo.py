"""`make demo`: local Mosquitto, InfluxDB, collector and simulated fleet, with a live line."""

from __future__ import annotations

import argparse
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

from devstack.influxd import Influxd
from devstack.mosquitto import Mosquitto
from devstack.ports import free_port
from devstack.process import ServiceError

ROOT = Path(__file__).resolve().parents[1]


def port_or_free(preferred: int) -> int:
    """The usual port when nothing uses it, so the user's own tools work; else a free one."""
    import socket

    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", preferred))
        except OSError:
            return free_port()
    return preferred


def metric_values(text: str) -> dict[str, float]:
    """Sum of each metric's samples, labels folded together."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, value = line.rpartition(" ")
        out[name.split("{")[0]] = out.get(name.split("{")[0], 0.0) + float(value)
    return out


def fetch(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            text: str = resp.read().decode()
            return text
    except (urllib.error.URLError, OSError):
        return None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="make demo", description=__doc__)
    p.add_argument("--speed", default="288", help="simulator speed (288 = a day in 5 minutes)")
    p.add_argument("--duration", default="24h", help="simulated span")
    p.add_argument("--scenario", default="default", help="simulator scenario")
    p.add_argument("--dir", type=Path, default=ROOT / ".demo", help="where the data lives")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    work: Path = args.dir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    broker = Mosquitto(work / "mosquitto", port=port_or_free(1883))
    influx = Influxd(work / "influxdb", port=port_or_free(8086))
    http_port = port_or_free(8080)
    children: list[subprocess.Popen[bytes]] = []
    try:
        print(f"starting mosquitto on {broker.url} and influxd on {influx.url} (data in {work})")
        broker.start()
        influx.start()
        influx.create_db("solarwater")
        env = {
            **os.environ,
            "SOLARWATER_MQTT__URL": broker.url,
            "SOLARWATER_INFLUX__URL": influx.url,
            "SOLARWATER_HTTP__LISTEN": f"127.0.0.1:{http_port}",
            "SOLARWATER_DATA_DIR": str(work / "collector"),
        }
        log = (work / "collector.log").open("ab")
        children.append(
            subprocess.Popen(
                [sys.executable, "-m", "collector"],
                env=env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
        api = f"http://127.0.0.1:{http_port}"
        deadline = time.monotonic() + 20
        while fetch(api + "/healthz") is None:
            if children[0].poll() is not None or time.monotonic() > deadline:
                raise ServiceError("collector did not start; see " + str(work / "collector.log"))
            time.sleep(0.2)
        sim_log = (work / "simulator.log").open("ab")
        children.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "simulator",
                    "--mqtt-url",
                    broker.url,
                    "--speed",
                    args.speed,
                    "--duration",
                    args.duration,
                    "--scenario",
                    args.scenario,
                    "--quiet",
                    "--summary-json",
                    str(work / "simulator-summary.json"),
                    "--state-dir",
                    str(work / "simulator-state"),
                ],
                cwd=ROOT,
                stdout=sim_log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
        print_guide(influx, api, work)
        watch(api, children[1])
    except KeyboardInterrupt:
        print("\nstopping ...")
    except ServiceError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 1
    finally:
        for child in reversed(children):
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
                try:
                    child.wait(30)
                except subprocess.TimeoutExpired:
                    child.kill()
        broker.stop()
        influx.stop()
    print(f"stopped cleanly; data kept in {work} (delete it to start afresh)")
    return 0


def print_guide(influx: Influxd, api: str, work: Path) -> None:
    q = "SELECT mean(battery_soc_pct) FROM solar WHERE time > now() - 1d GROUP BY station"
    print(
        "\nThe simulated fleet (19 stations) is publishing; the collector writes to InfluxDB.\n"
        f"  health:     curl {api}/healthz\n"
        f"  metrics:    curl {api}/metrics\n"
        f"  quarantine: curl {api}/quarantine\n"
        f"  query:      influx -port {influx.port} -database solarwater -execute '{q}'\n"
        f"          or: curl -G {influx.url}/query --data-urlencode db=solarwater "
        f'--data-urlencode "q={q}"\n'
        f"  dashboards: .venv/bin/python -m dashboards build --out {work}/grafana  "
        "(import into Grafana)\n"
        f"  logs:       {work}/collector.log, {work}/simulator.log\n"
        "Ctrl-C stops everything.\n"
    )


def watch(api: str, simulator: subprocess.Popen[bytes]) -> None:
    last: dict[str, float] = {}
    last_t = time.monotonic()
    sim_done_said = False
    while True:
        time.sleep(1)
        text = fetch(api + "/metrics")
        health_text = fetch(api + "/healthz")
        if text is None or health_text is None:
            print("\rcollector not answering ...", end="", flush=True)
            continue
        m = metric_values(text)
        health: dict[str, Any] = json.loads(health_text)
        now = time.monotonic()
        written = m.get("solarwater_readings_written_total", 0.0)
        rate = (written - last.get("written", written)) / max(now - last_t, 1e-6)
        last, last_t = {"written": written}, now
        rejects = m.get("solarwater_messages_rejected_total", 0.0) + m.get(
            "solarwater_readings_rejected_total", 0.0
        )
        line = (
            f"readings/s {rate:7.0f} | written {written:8.0f} | stations seen "
            f"{m.get('solarwater_stations_seen', 0):3.0f} | rejects {rejects:5.0f} | spool "
            f"{m.get('solarwater_spool_readings', 0):5.0f} | {health['status']}"
        )
        print("\r" + line, end="", flush=True)
        if simulator.poll() is not None and not sim_done_said:
            sim_done_said = True
            print(
                f"\nsimulator finished (exit {simulator.returncode}); the collector keeps "
                "running. Ctrl-C to stop."
            )


if __name__ == "__main__":
    sys.exit(main())
