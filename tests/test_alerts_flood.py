"""One station cannot bury another station's pages: a fault flood, a flapping device, a real fault.

A real collector (a subprocess) on the session's Mosquitto and InfluxDB pages a real, slow
(50 ms a request) webhook receiver. Over 30 s, PEMBA-01 publishes 1,500 `error_code: 17`
messages, each under a new device id; MOCIMBOA-01's controller flaps fault/healthy every
second; MONTEPUEZ-01's controller really faults once, 5 s in. Timing is the receiver's.
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from devstack import Influxd, Mosquitto
from tests.alert_support import Hook
from tests.collector_support import CollectorProcess, publisher
from tests.fault_support import collector_env, metric

FLOOD, REAL, FLAPPER = "PEMBA-01", "MONTEPUEZ-01", "MOCIMBOA-01"
FLOOD_MESSAGES = 1500
FLOOD_S = 30.0
BUDGET = 10
# ingest.max_devices_per_station (the default): the rest are refused before the alert engine,
# whose own cap (alerts.max_devices_per_station, 64) is a second line behind it
MAX_DEVICES = 16
# longer than the flapping: the flap's first page opens an interval it ends inside
INTERVAL_S = 33
FLAPS = 30  # readings a second apart: fault, healthy, fault, ... healthy (15 each way)
REAL_AT_S = 5.0


def config(hook: Hook) -> dict[str, Any]:
    return {
        "alerts": {
            "evaluate_interval_s": 0.05,
            "min_page_interval": INTERVAL_S,
            "page_budget": BUDGET,
            "page_budget_window": "1h",
            "notifiers": {"sms": {"type": "webhook", "url": hook.url, "backoff_s": 0.05}},
            "fallback": {"notifiers": ["sms"], "recipients": {"phones": ["+258849990000"]}},
        }
    }


def solar_message(prefix: str, station: str, device: str, error_code: int) -> tuple[str, bytes]:
    topic = f"{prefix}/{station}/solar/{device}/telemetry"
    return topic, orjson.dumps({"ts": time.time(), "error_code": error_code})


class Traffic:
    """The three stations' publishers, each a thread pacing itself on the wall clock."""

    def __init__(self, broker: Mosquitto, prefix: str) -> None:
        self.client = publisher(broker)
        self.prefix = prefix
        self.real_published: float | None = None
        self.threads = [
            threading.Thread(target=self._flood),
            threading.Thread(target=self._flap),
            threading.Thread(target=self._real),
        ]
        self.t0 = 0.0

    def start(self) -> None:
        self.t0 = time.time()
        for t in self.threads:
            t.start()

    def join(self) -> None:
        for t in self.threads:
            t.join()
        self.client.loop_stop()
        self.client.disconnect()

    def _send(self, station: str, device: str, error_code: int) -> None:
        topic, body = solar_message(self.prefix, station, device, error_code)
        self.client.publish(topic, body, qos=1).wait_for_publish(10)

    def _at(self, offset_s: float) -> None:
        time.sleep(max(0.0, self.t0 + offset_s - time.time()))

    def _flood(self) -> None:
        for i in range(FLOOD_MESSAGES):
            self._at(i * FLOOD_S / FLOOD_MESSAGES)
            self._send(FLOOD, f"fake{i:04d}", 17)

    def _flap(self) -> None:
        for k in range(FLAPS):
            self._at(k)
            self._send(FLAPPER, "mppt1", 17 if k % 2 == 0 else 0)

    def _real(self) -> None:
        self._at(REAL_AT_S)
        self.real_published = time.time()
        self._send(REAL, "mppt1", 17)


@pytest.mark.slow
async def test_flood_cannot_delay_another_stations_page_and_a_flap_pages_once_each_way(
    mosquitto: Mosquitto, influxd: Influxd, fresh_db: str, prefix: str, hook: Hook, tmp_path: Path
) -> None:
    hook.delay_s = 0.05
    cfg = tmp_path / "collector.yaml"
    cfg.write_bytes(orjson.dumps(config(hook)))  # JSON is YAML
    env = collector_env(mosquitto, influxd, fresh_db, prefix, tmp_path / "data")
    proc = CollectorProcess(tmp_path, env, ["--config", str(cfg)])
    await asyncio.to_thread(proc.start)
    try:
        while not (await asyncio.to_thread(proc.health))["mqtt"]["connected"]:
            await asyncio.sleep(0.1)
        traffic = Traffic(mosquitto, prefix)
        traffic.start()

        def done() -> bool:
            flood = hook.events(station=FLOOD)
            return len(flood) >= BUDGET + 1 and len(hook.events(station=FLAPPER)) >= 2

        deadline = time.monotonic() + FLOOD_S + 25
        while not done() and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        await asyncio.to_thread(traffic.join)
        await asyncio.sleep(1.5)  # nothing more is on its way
        text = await asyncio.to_thread(proc.metrics)
    finally:
        await asyncio.to_thread(proc.stop)

    # the real fault: paged once, within 10 s of its publication, as the receiver saw it
    real = [i for i, p in enumerate(hook.posts) if p["station"] == REAL]
    assert [hook.posts[i]["event"] for i in real] == ["firing"]
    assert traffic.real_published is not None
    assert hook.arrived[real[0]] - traffic.real_published < 10.0
    assert hook.posts[real[0]]["rule"] == "controller_fault"

    # the flood: the budget's pages and one notice, however many alerts it raised
    flood = hook.events(station=FLOOD)
    assert [p["event"] for p in flood] == ["firing"] * BUDGET + ["budget"]
    notice = flood[-1]
    dropped = MAX_DEVICES - BUDGET  # one alert per device the station is evaluated for
    assert notice["sms"] == (
        f"Limite de avisos excedido para {FLOOD}: {dropped} alertas nao enviados"
        f" (max. {BUDGET} por 1 h)"
    )
    assert len(notice["sms"]) <= 160 and notice["value"] == dropped
    over = f'solarwater_alert_notifications_over_budget_total{{station="{FLOOD}"}}'
    assert metric(text, over) == dropped
    refused = 'solarwater_messages_rejected_total{reason="too_many_devices"}'
    assert metric(text, refused) == FLOOD_MESSAGES - MAX_DEVICES
    assert metric(text, "solarwater_alert_devices_refused_total") == 0
    assert metric(text, "solarwater_alerts_active") == MAX_DEVICES + 1  # and the real fault
    assert metric(text, "solarwater_notification_budget_announcements_total") == 1

    # the flapping controller: one firing page, one resolved page once the interval ended
    flap = [i for i, p in enumerate(hook.posts) if p["station"] == FLAPPER]
    assert [hook.posts[i]["event"] for i in flap] == ["firing", "resolved"]
    assert hook.arrived[flap[1]] - hook.arrived[flap[0]] >= INTERVAL_S - 0.5
    assert metric(text, "solarwater_notifications_damped_total") == FLAPS // 2 - 1
    # ... while every transition is recorded
    rows = influxd.query(
        f'SELECT state FROM "events"."alert" WHERE station = \'{FLAPPER}\'', fresh_db
    )
    assert [r["state"] for r in rows] == ["firing", "resolved"] * (FLAPS // 2)
    assert metric(text, "solarwater_notifications_dropped_total") == 0
    assert len(hook.posts) == BUDGET + 1 + 1 + 2
