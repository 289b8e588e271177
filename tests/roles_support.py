"""Collector processes as on separate hosts: each believes in its own host name."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from devstack import Influxd, Mosquitto, collector_http
from devstack.ports import free_port_block
from tests.alert_support import Hook

ROOT = Path(__file__).resolve().parents[1]
# The host name is the only thing that differs between hosts for the default client ids.
LAUNCH = (
    "import socket, sys; socket.gethostname = lambda: sys.argv[1]; "
    "from collector.cli import main; sys.exit(main(sys.argv[2:]))"
)
PHONE = "+258849990000"


def alert_config(path: Path, hook: Hook, evaluate_s: float) -> Path:
    """One YAML file for every process of the group: a webhook page for each transition."""
    config = {
        "alerts": {
            "evaluate_interval_s": evaluate_s,
            "repeat_interval": "1h",
            "min_page_interval": 0,  # a simulated day passes in seconds
            "notifiers": {
                "sms": {"type": "webhook", "url": hook.url, "backoff_s": 0.05, "timeout_s": 5}
            },
            "fallback": {"notifiers": ["sms"], "recipients": {"phones": [PHONE]}},
        }
    }
    path.write_text(yaml.safe_dump(config))
    return path


class HostProcess:
    """`python -m collector` with its own host name, data folder and HTTP port; defaults else."""

    def __init__(
        self,
        workdir: Path,
        host: str,
        role: str,
        mosquitto: Mosquitto,
        influxd: Influxd,
        db: str,
        prefix: str,
        config: Path,
        group: str,
    ) -> None:
        self.host = host
        self.role = role
        self.workdir = workdir / f"{host}-{role}"
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port_block(8)  # with --workers, child i listens on port+i
        self.env = {
            **os.environ,
            "SOLARWATER_MQTT__URL": mosquitto.url,
            "SOLARWATER_MQTT__PREFIX": prefix,
            "SOLARWATER_MQTT__SHARED_GROUP": group,  # the engine ignores it: one config for all
            "SOLARWATER_INFLUX__URL": influxd.url,
            "SOLARWATER_INFLUX__DB": db,
            "SOLARWATER_INFLUX__FLUSH_INTERVAL_S": "0.2",
            "SOLARWATER_STATS_INTERVAL_S": "1",
        }
        self.env.pop("SOLARWATER_MQTT__CLIENT_ID", None)  # the default, from the host name
        self.config = config
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.workdir / "collector.log"

    def command(self) -> list[str]:
        return [
            sys.executable, "-c", LAUNCH, self.host, "--config", str(self.config),
            "--role", self.role, "--data-dir", str(self.workdir / "var"),
            "--http", f"127.0.0.1:{self.port}",
        ]  # fmt: skip

    def start(self) -> None:
        """Start and wait until subscribed (blocking: call it in a thread): a message published
        after CONNACK but before a new session's SUBACK would not be delivered to it."""
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                self.command(), env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 30
        while True:
            try:
                if self.health()["mqtt"]["subscriptions"]:
                    return
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{self.host} {self.role} did not start:\n{self.log()}")
            time.sleep(0.1)

    async def astart(self) -> None:
        await asyncio.to_thread(self.start)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]

    def health(self) -> dict[str, Any]:
        return collector_http.health(self.port)

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)
        self.proc = None

    def stop(self) -> int:
        """SIGTERM, and the exit code (0 once it flushed cleanly)."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            rc = self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.proc = None
        return rc
