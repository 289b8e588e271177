"""`make demo`: local Mosquitto, InfluxDB, collector and simulated fleet, with a live line."""

from __future__ import annotations

import argparse
import contextlib
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

from collector.alerts.technicians import TechnicianSettings, new_token, token_hash, write_file
from devices.stations import load_fleet
from devstack.influxd import Influxd
from devstack.mosquitto import Mosquitto
from devstack.page_catcher import PageCatcher
from devstack.ports import free_port, port_or_free
from devstack.process import (
    STOP_SIGNALS,
    ServiceError,
    die_with_parent,
    guarded_popen_options,
    stop_signals_held,
)

ROOT = Path(__file__).resolve().parents[1]
COLLECTOR_STOP_S = 30.0  # its flush is bounded by influx.timeout_s + 5 (15 s by default)
# Who the demo pages: a technician for the district of the default scenario's ageing battery,
# the coordination for every other district; all of it lands in the demo's own receivers.
DEMO_CONTACTS = """\
technicians:
  - name: Técnico Pemba
    districts: [Pemba, Metuge, Mecúfi]
    emails: [tecnico.pemba@demo.solarwater]
    phones: ["+258841110001"]
"""
COORDINATION = ("coordenacao@demo.solarwater", "+258849990000")


# A BaseException, like KeyboardInterrupt, so no `except Exception` on the way (a server
# still starting, say) mistakes it for a failure of its own.
class Stop(BaseException):
    """A stop signal arrived; the demo shuts down in order."""


class Shutdown:
    """Turns the stop signals into one Stop, then ignores them while the demo stops in order."""

    def __init__(self) -> None:
        self.stopping = False

    def install(self) -> None:
        for sig in STOP_SIGNALS:
            signal.signal(sig, self._on_signal)

    def begin(self) -> None:
        """From here on, signals no longer interrupt: the ordered stop runs to its end."""
        self.stopping = True

    def _on_signal(self, signum: int, frame: object) -> None:
        if not self.stopping:
            raise Stop(signal.Signals(signum).name)


def say(text: str = "", end: str = "\n", err: bool = False) -> None:
    """Print to the terminal, which may be gone (SIGHUP): the demo still stops cleanly."""
    with contextlib.suppress(OSError):
        print(text, end=end, flush=True, file=sys.stderr if err else sys.stdout)


# The demo's InfluxDB 1.6 (no authentication) as `python -m dashboards build --for demo` sees it.
INFLUX_PORT = 8086
DATABASE = "solarwater"


def pick_port(preferred: int, who: str) -> int:
    """The usual port, or a free one with a line saying so (0: any free port, silently)."""
    if preferred == 0:
        return free_port()
    port = port_or_free(preferred)
    if port != preferred:
        say(f"port {preferred} is busy; {who} uses {port}")
    return port


def stop_child(child: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM to the child's process group, then SIGKILL after `timeout`."""
    if child.poll() is not None:
        return
    try:
        os.killpg(child.pid, signal.SIGTERM)  # its own session: the group is its pid
    except ProcessLookupError:
        return
    try:
        child.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)
        child.wait()


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
    for name, port in (("mqtt", 1883), ("influx", INFLUX_PORT), ("http", 8080)):
        p.add_argument(f"--{name}-port", type=int, default=port, help=f"{port}; 0: any free port")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    shutdown = Shutdown()
    shutdown.install()
    parent = os.getppid()
    # make does not forward every signal and may die first: the kernel then tells us.
    if die_with_parent() and os.getppid() != parent:
        return 1
    work: Path = args.dir.resolve()
    children: list[subprocess.Popen[bytes]] = []
    broker: Mosquitto | None = None
    influx: Influxd | None = None
    catcher: PageCatcher | None = None
    try:
        work.mkdir(parents=True, exist_ok=True)
        work.chmod(0o700)  # logs and data of the demo are nobody else's business
        broker = Mosquitto(work / "mosquitto", port=pick_port(args.mqtt_port, "mosquitto"))
        influx = Influxd(work / "influxdb", port=pick_port(args.influx_port, "influxd"))
        http_port = pick_port(args.http_port, "the collector's HTTP API")
        broker.guarded = influx.guarded = True
        say(f"starting mosquitto on {broker.url} and influxd on {influx.url} (data in {work})")
        broker.start()
        influx.start()
        influx.create_db(DATABASE)
        catcher = PageCatcher(work / "pages.log")
        catcher.start()
        api = f"http://127.0.0.1:{http_port}"
        techs, token = demo_technician(work)
        env = {
            **os.environ,
            "SOLARWATER_MQTT__URL": broker.url,
            "SOLARWATER_INFLUX__URL": influx.url,
            "SOLARWATER_HTTP__LISTEN": f"127.0.0.1:{http_port}",
            **paging_env(catcher),
            # the technicians' pages over plain HTTP on localhost: cookies cannot be Secure
            "SOLARWATER_WEB__ENABLED": "true",
            "SOLARWATER_WEB__SECURE_COOKIES": "false",
            "SOLARWATER_ALERTS__TECHNICIANS_FILE": str(techs),
            "SOLARWATER_ALERTS__PUBLIC_URL": api,
        }
        config = alerts_config(work)
        with (work / "collector.log").open("ab") as log, stop_signals_held():
            children.append(
                subprocess.Popen(
                    # --data-dir on the command line names this run in `ps` (and the tests)
                    [
                        sys.executable,
                        "-m",
                        "collector",
                        "--data-dir",
                        str(work / "collector"),
                        "--config",
                        str(config),
                    ],
                    env=env,
                    cwd=ROOT,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    **guarded_popen_options(),
                )
            )
        deadline = time.monotonic() + 30
        while fetch(api + "/healthz") is None:
            if children[0].poll() is not None or time.monotonic() > deadline:
                raise ServiceError("collector did not start; see " + str(work / "collector.log"))
            time.sleep(0.2)
        with (work / "simulator.log").open("ab") as sim_log, stop_signals_held():
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
                    stdin=subprocess.DEVNULL,
                    stdout=sim_log,
                    stderr=subprocess.STDOUT,
                    **guarded_popen_options(),
                )
            )
        print_guide(influx, api, work, token)
        watch(api, children[1], catcher)
    except (Stop, KeyboardInterrupt) as exc:
        shutdown.begin()
        say(f"\nstopping ({exc or 'SIGINT'}) ...")
    except ServiceError as exc:
        shutdown.begin()
        say(f"demo: {exc}", err=True)
        return 1
    finally:
        shutdown.begin()
        stop_all(children, broker, influx, catcher)
    say(f"stopped cleanly; data kept in {work} (delete it to start afresh)")
    return 0


def stop_all(
    children: list[subprocess.Popen[bytes]],
    broker: Mosquitto | None,
    influx: Influxd | None,
    catcher: PageCatcher | None = None,
) -> None:
    """The collector first (it flushes to InfluxDB), then the simulator, then the servers."""
    for i, child in enumerate(children):  # children[0] is the collector
        stop_child(child, COLLECTOR_STOP_S if i == 0 else 15.0)
    for server in (broker, influx):
        if server is not None:
            server.stop()
    if catcher is not None:  # after the collector: its last pages still land
        catcher.stop()


def paging_env(catcher: PageCatcher) -> dict[str, str]:
    """The generated config's `mail` and `sms` notifiers pointed at the demo's receivers."""
    mail = "SOLARWATER_ALERTS__NOTIFIERS__MAIL__"
    return {
        # simulated time runs hundreds of times faster: 10 s between evaluations would be
        # most of a simulated hour
        "SOLARWATER_ALERTS__EVALUATE_INTERVAL_S": "1",
        mail + "HOST": "127.0.0.1",
        mail + "PORT": str(catcher.smtp_port),
        mail + "SECURITY": "none",
        mail + "FROM": "alertas@demo.solarwater",
        mail + "BACKOFF_S": "0.2",
        "SOLARWATER_ALERTS__NOTIFIERS__SMS__URL": catcher.sms_url,
        "SOLARWATER_ALERTS__NOTIFIERS__SMS__BACKOFF_S": "0.2",
    }


def alerts_config(work: Path) -> Path:
    """Routes per district from the fleet, made as the compose stack makes them."""
    contacts, out = work / "contacts.yaml", work / "collector-alerts.yaml"
    contacts.write_text(DEMO_CONTACTS, encoding="utf-8")
    emails, phones = COORDINATION
    done = subprocess.run(
        [sys.executable, "-m", "collector.alerts.routes_from_fleet", "--contacts", str(contacts),
         "--coordination-emails", emails, "--coordination-phones", phones, "--out", str(out)],
        cwd=ROOT, stdin=subprocess.DEVNULL, capture_output=True, text=True,
    )  # fmt: skip
    if done.returncode != 0:
        raise ServiceError(f"alerts config: {done.stderr.strip()}")
    return out


def demo_technician(work: Path) -> tuple[Path, str]:
    """A technician of every district of the sample fleet, with a new token for this run."""
    token = new_token()
    districts = tuple(sorted({s.district for s in load_fleet().stations}))
    path = work / "technicians.yaml"
    write_file(path, [TechnicianSettings(name="Demo", districts=districts,
                                         token_sha256=token_hash(token))])  # fmt: skip
    return path, token


def print_guide(influx: Influxd, api: str, work: Path, token: str) -> None:
    q = "SELECT mean(battery_soc_pct) FROM solar WHERE time > now() - 1d GROUP BY station"
    say(
        "\nThe simulated fleet (19 stations) is publishing; the collector writes to InfluxDB.\n"
        f"  web page:   {api}/  (sign in with the demo token {token})\n"
        f"  health:     curl {api}/healthz\n"
        f"  metrics:    curl {api}/metrics\n"
        f"  quarantine: curl {api}/quarantine\n"
        f"  query:      influx -port {influx.port} -database solarwater -execute '{q}'\n"
        f"          or: curl -G {influx.url}/query --data-urlencode db=solarwater "
        f'--data-urlencode "q={q}"\n'
        f"  dashboards: .venv/bin/python -m dashboards build --out {work}/grafana --for demo  "
        "(provision a local Grafana with it: docs/dashboards.md)\n"
        f"  pages:      {work}/pages.log (e-mail and SMS, caught by the demo's own receivers;"
        f" routes in {work}/collector-alerts.yaml)\n"
        f"  logs:       {work}/collector.log, {work}/simulator.log\n"
        f"Ctrl-C (or kill {os.getpid()}) stops everything.\n"
    )


def watch(api: str, simulator: subprocess.Popen[bytes], catcher: PageCatcher) -> None:
    last: dict[str, float] = {}
    last_t = time.monotonic()
    sim_done_said = False
    while True:
        time.sleep(1)
        text = fetch(api + "/metrics")
        health_text = fetch(api + "/healthz")
        if text is None or health_text is None:
            say("\rcollector not answering ...", end="")
            continue
        m = metric_values(text)
        mails, sms = catcher.counts()
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
            f"{m.get('solarwater_spool_readings', 0):5.0f} | pages mail {mails:3d} sms {sms:3d} | "
            f"{health['status']}"
        )
        say("\r" + line, end="")
        if simulator.poll() is not None and not sim_done_said:
            sim_done_said = True
            say(
                f"\nsimulator finished (exit {simulator.returncode}); the collector keeps "
                "running. Ctrl-C to stop."
            )


if __name__ == "__main__":
    sys.exit(main())
