"""Helpers for the fault tests: a counting QoS 1 publisher, collector env, exact-count checks."""

from __future__ import annotations

import re
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from devices import catalogue
from devstack import Influxd, Mosquitto
from tests.collector_support import CollectorProcess

KINDS = (("solar", "mppt1"), ("tank", "tank1"))
FIELDS = {
    "solar": lambda i: {"battery_voltage_v": 24.0 + (i % 40) / 10, "charge_state": "float"},
    "tank": lambda i: {"level_pct": float(i % 100), "rain_mm": 0.0},
}


@dataclass(frozen=True, slots=True)
class Message:
    """One MQTT publish: topic, payload and how many readings it carries."""

    topic: str
    payload: bytes
    readings: int


def fleet_messages(
    prefix: str,
    stations: int,
    per_device: int,
    *,
    start_ms: int | None = None,
    interval_ms: int = 300_000,
    batch: int = 1,
) -> list[Message]:
    """Readings for `stations` × (solar, tank), each with its own timestamp and seq.

    Messages interleave devices like a live fleet; `batch` > 1 packs readings into
    `{"readings": [...]}` backlogs (store and forward).
    """
    if start_ms is None:
        # Recent enough to be plausible, old enough never to be "in the future".
        start_ms = int(time.time() * 1000) - per_device * interval_ms - 3_600_000
    out: list[Message] = []
    for first in range(0, per_device, batch):
        for s in range(stations):
            station = f"ST{s:02d}"
            for kind, device in KINDS:
                items = [
                    {"ts": (start_ms + i * interval_ms) / 1000, "seq": i, **FIELDS[kind](i)}
                    for i in range(first, min(first + batch, per_device))
                ]
                doc: Any = items[0] if batch == 1 else {"readings": items}
                topic = f"{prefix}/{station}/{kind}/{device}/telemetry"
                out.append(Message(topic, orjson.dumps(doc), len(items)))
    return out


class Publisher:
    """Publishes messages at QoS 1 from a thread and counts readings the broker PUBACKed.

    paho keeps unacknowledged QoS 1 messages and sends them again after a reconnect, so a
    broker restart loses nothing that was not yet acknowledged (a station's store and forward).
    """

    def __init__(self, url: str, client_id: str, window: int = 500) -> None:
        host, port = url.removeprefix("mqtt://").rsplit(":", 1)
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=MQTTProtocolVersion.MQTTv311,
            clean_session=False,
        )
        self.client.max_inflight_messages_set(window)
        self.client.reconnect_delay_set(0.2, 1)  # type: ignore[arg-type]
        self.client.connect_async(host, int(port), keepalive=10)
        self.window = window
        self.acked_readings = 0
        self.acked_messages = 0
        self.published_messages = 0
        self._pending: deque[tuple[mqtt.MQTTMessageInfo, int]] = deque()
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None

    def __enter__(self) -> Publisher:
        self.client.loop_start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _settle(self) -> None:
        # Not is_published(): it raises for a message queued while disconnected, which paho
        # still sends once the connection is back.
        while self._pending and self._pending[0][0]._published:
            _info, n = self._pending.popleft()
            self.acked_readings += n
            self.acked_messages += 1

    def publish_all(self, messages: list[Message], pace_s: float = 0.0) -> None:
        """Publish in order, at most `window` unacknowledged at a time (blocks)."""
        for msg in messages:
            while len(self._pending) >= self.window:
                self._settle()
                if len(self._pending) >= self.window:
                    time.sleep(0.002)
            info = self.client.publish(msg.topic, msg.payload, qos=1)
            self._pending.append((info, msg.readings))
            self.published_messages += 1
            self._settle()
            if pace_s:
                time.sleep(pace_s)

    def wait_acked(self, timeout: float = 120.0) -> int:
        """Wait until every published message is PUBACKed; the readings acknowledged."""
        deadline = time.monotonic() + timeout
        while self._pending:
            self._settle()
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(self._pending)} messages still unacknowledged")
            time.sleep(0.01)
        return self.acked_readings

    def start_background(self, messages: list[Message], pace_s: float = 0.0) -> None:
        """publish_all() + wait_acked() in a thread; join with `join()`."""

        def run() -> None:
            try:
                self.publish_all(messages, pace_s)
                self.wait_acked(300)
            except BaseException as exc:
                self.error = exc

        self._thread = threading.Thread(target=run, name="publisher", daemon=True)
        self._thread.start()

    def join(self, timeout: float = 300.0) -> int:
        assert self._thread is not None
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise TimeoutError("publisher did not finish")
        if self.error is not None:
            raise self.error
        return self.acked_readings


def collector_env(
    mosquitto: Mosquitto,
    influxd: Influxd,
    db: str,
    prefix: str,
    data_dir: Path,
    **extra: str,
) -> dict[str, str]:
    """SOLARWATER_* variables for a collector subprocess in a fault test."""
    env = {
        "SOLARWATER_MQTT__URL": mosquitto.url,
        "SOLARWATER_MQTT__PREFIX": prefix,
        "SOLARWATER_MQTT__CLIENT_ID": f"collector-{prefix}",
        "SOLARWATER_MQTT__RECONNECT_MAX_S": "2",
        "SOLARWATER_INFLUX__URL": influxd.url,
        "SOLARWATER_INFLUX__DB": db,
        "SOLARWATER_INFLUX__FLUSH_INTERVAL_S": "0.2",
        "SOLARWATER_INFLUX__TIMEOUT_S": "5",
        "SOLARWATER_SPOOL__RETRY_MIN_S": "0.2",
        "SOLARWATER_SPOOL__RETRY_MAX_S": "1",
        "SOLARWATER_DATA_DIR": str(data_dir),
        "SOLARWATER_STATS_INTERVAL_S": "1",
        "SOLARWATER_LOG_LEVEL": "INFO",
    }
    env.update({f"SOLARWATER_{k.upper()}": v for k, v in extra.items()})
    return env


def metric(text: str, name: str) -> float:
    """The value of one unlabelled metric in Prometheus text."""
    m = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    if m is None:
        raise KeyError(name)
    return float(m.group(1))


def spooled(collector: CollectorProcess) -> float:
    """Readings the collector holds in its disk spool."""
    return metric(collector.metrics(), "solarwater_spool_readings")


def points(influxd: Influxd, db: str) -> int:
    """Telemetry points (solar + tank) in the database."""
    try:
        return sum(n for _, _, n in series_counts(influxd, db))
    except OSError:
        return -1


def wait_for(predicate: Any, timeout: float = 60.0, interval: float = 0.2, what: str = "") -> None:
    """Poll `predicate()` until true (sync tests), or fail saying what was awaited."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not within {timeout}s: {what}")
        time.sleep(interval)


def wait_for_points(influxd: Influxd, db: str, expected: int, timeout: float = 90.0) -> int:
    """Wait until the database holds `expected` telemetry points, then check it stays there."""
    last = [0]

    def done() -> bool:
        last[0] = points(influxd, db)
        return last[0] >= expected

    try:
        wait_for(done, timeout, 0.5, f"{expected} points")
    except TimeoutError:
        raise AssertionError(f"InfluxDB holds {last[0]} points, expected {expected}") from None
    time.sleep(1.0)  # anything late (a doubled point would be a new timestamp) shows up now
    return points(influxd, db)


def series_counts(influxd: Influxd, db: str) -> Iterator[tuple[str, str, int]]:
    """(measurement, station, points) for every telemetry series (max of the field counts)."""
    for meas in catalogue.KINDS:
        for row in influxd.query(f'SELECT count(*) FROM "{meas}" GROUP BY station', db):
            # A field with no value in range counts as null, not 0: skip it.
            n = max((int(v) for k, v in row.items() if k.startswith("count_") and v), default=0)
            yield meas, str(row["station"]), n


@dataclass
class Stack:
    """A broker and a database of the test's own, which it may stop and restart."""

    mosquitto: Mosquitto
    influxd: Influxd
    db: str
    prefix: str
    workdir: Path

    def env(self, **extra: str) -> dict[str, str]:
        return collector_env(
            self.mosquitto, self.influxd, self.db, self.prefix, self.workdir / "data", **extra
        )


def make_stack(workdir: Path) -> Iterator[Stack]:
    """Start a Mosquitto and an InfluxDB in `workdir`; stop both afterwards."""
    mosquitto = Mosquitto(workdir / "mosquitto")
    influxd = Influxd(workdir / "influxd")
    mosquitto.start()
    influxd.start()
    influxd.create_db("faults")
    try:
        yield Stack(mosquitto, influxd, "faults", "sw", workdir)
    finally:
        mosquitto.stop()
        influxd.stop()
