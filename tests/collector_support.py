"""Running a real collector in tests: in-process (async) or as a subprocess."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from collector.config import load_settings
from collector.service import Collector
from devstack import Influxd, Mosquitto, collector_http
from devstack.ports import free_port_block

ROOT = Path(__file__).resolve().parents[1]


def publisher(broker: Mosquitto) -> mqtt.Client:
    """A paho client connected to the test broker, its network thread running."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{time.monotonic_ns()}")
    client.connect(broker.host, broker.port)
    client.loop_start()
    return client


def publish_all(client: mqtt.Client, messages: list[tuple[str, bytes]]) -> None:
    """Publish at QoS 1 and wait until the broker has acknowledged each."""
    infos = [client.publish(topic, payload, qos=1) for topic, payload in messages]
    for info in infos:
        info.wait_for_publish(10)
        assert info.is_published()


def collector_overrides(
    mosquitto: Mosquitto, influxd: Influxd, db: str, prefix: str, data_dir: Path, **extra: Any
) -> dict[str, Any]:
    """Dotted settings for a collector wired to the test's broker, database and prefix."""
    values: dict[str, Any] = {
        "mqtt.url": mosquitto.url,
        "mqtt.prefix": prefix,
        "mqtt.client_id": f"collector-{prefix}",
        "influx.url": influxd.url,
        "influx.db": db,
        "influx.flush_interval_s": 0.2,
        "data_dir": str(data_dir),
        "http.listen": "127.0.0.1:0",
        "stats_interval_s": 1.0,
    }
    values.update(extra)
    return values


def collector_env(mosquitto: Mosquitto, influxd: Influxd, db: str, prefix: str) -> dict[str, str]:
    """Environment settings for a collector subprocess wired to the test's broker and database."""
    return {
        "SOLARWATER_MQTT__URL": mosquitto.url,
        "SOLARWATER_MQTT__PREFIX": prefix,
        "SOLARWATER_MQTT__CLIENT_ID": f"collector-{prefix}",
        "SOLARWATER_INFLUX__URL": influxd.url,
        "SOLARWATER_INFLUX__DB": db,
    }


@asynccontextmanager
async def running_collector(
    overrides: dict[str, Any], clock: Callable[[], float] = time.time
) -> AsyncIterator[Collector]:
    """A Collector running in this event loop until the block ends (then stopped cleanly).

    `clock` is the collector's receive and evaluation clock (a test may step it).
    """
    collector = Collector(load_settings(None, overrides), clock=clock)
    task = asyncio.create_task(collector.run())
    deadline = time.monotonic() + 15
    # subscribed, not only connected: a message published before the SUBACK of a new session
    # is not delivered to it
    while collector.source is None or not (
        collector.source.connected and getattr(collector.source, "subscriptions", 0)
    ):
        if task.done():
            task.result()
        if time.monotonic() > deadline:
            raise TimeoutError("collector did not connect to the broker")
        await asyncio.sleep(0.05)
    try:
        yield collector
    finally:
        collector.stop()
        await asyncio.wait_for(task, 60)


async def wait_until(predicate: Any, timeout: float = 30.0, interval: float = 0.1) -> None:
    """Poll `predicate()` in a thread (it may block) until true, or fail with a timeout."""
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(predicate):
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)


class CollectorProcess:
    """`python -m collector` as a child process, for kill -9 and signal tests."""

    def __init__(self, workdir: Path, env: dict[str, str], args: list[str] | None = None) -> None:
        self.workdir = workdir
        self.http_port = free_port_block(8)  # with --workers, child i listens on port+i
        self.env = {**os.environ, **env, "SOLARWATER_HTTP__LISTEN": f"127.0.0.1:{self.http_port}"}
        self.args = args or []
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / "collector.log"

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "collector", *self.args],
            env=self.env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + 20
        while True:
            try:
                self.health()
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    log_text = self.log_path.read_text()
                    raise RuntimeError("collector did not start:\n" + log_text) from None
                time.sleep(0.1)
        # Publishers start right after this: wait (bounded: some tests start it with the broker
        # down) until the subscription is live, as a message published before a new session's
        # SUBACK is not delivered.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self.proc.poll() is None:
            if self.health()["mqtt"].get("subscriptions", 0):
                return
            time.sleep(0.05)

    def health(self) -> dict[str, Any]:
        return collector_http.health(self.http_port)

    def metrics(self) -> str:
        return collector_http.metrics(self.http_port)

    def stop(self, sig: int = 15, timeout: float = 60) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        rc = self.proc.wait(timeout)
        self.proc = None
        return rc

    def kill(self) -> None:
        self.stop(9)
