"""Mosquitto restarts mid-stream, and the no-traffic watchdog."""

from __future__ import annotations

import time

from tests.collector_support import CollectorProcess
from tests.fault_support import (
    Publisher,
    Stack,
    fleet_messages,
    points,
    series_counts,
    wait_for,
    wait_for_points,
)


def test_broker_restart_mid_stream(stack: Stack) -> None:
    per_device = 100
    messages = fleet_messages(stack.prefix, 19, per_device, batch=2)  # backlog-style batches
    collector = CollectorProcess(stack.workdir, stack.env())
    collector.start()
    try:
        with Publisher(stack.mosquitto.url, "station-gw") as pub:
            pub.start_background(messages, pace_s=0.002)
            for n in (1, 2):
                wait_for(lambda n=n: points(stack.influxd, stack.db) > 800 * n, 30)
                stack.mosquitto.stop()
                wait_for(lambda: not collector.health()["mqtt"]["connected"], 10)
                assert any("not connected" in p for p in collector.health()["problems"])
                time.sleep(1.0)
                stack.mosquitto.start()
            acked = pub.join()
        assert acked == len(messages) * 2 == 19 * 2 * per_device
        assert wait_for_points(stack.influxd, stack.db, acked) == acked
        assert {n for _, _, n in series_counts(stack.influxd, stack.db)} == {per_device}
        wait_for(lambda: collector.health()["mqtt"]["connected"], 15, what="reconnected")
        health = collector.health()
        print(f"broker restarts: {acked} readings, collector connects {health['mqtt']['connects']}")
        assert health["mqtt"]["connected"] and health["mqtt"]["connects"] == 3
        assert "disconnected" in health["mqtt"]["last_error"]
    finally:
        collector.stop()


def test_watchdog_reports_connected_but_no_traffic(stack: Stack) -> None:
    collector = CollectorProcess(stack.workdir, stack.env(MQTT__NO_TRAFFIC_WARN_S="1"))
    collector.start()
    try:
        wait_for(lambda: collector.health()["problems"] != [], 10, what="watchdog")
        health = collector.health()
        assert health["mqtt"]["connected"]
        assert health["status"] == "degraded"
        assert any("connected but no traffic" in p for p in health["problems"])
        with Publisher(stack.mosquitto.url, "station-gw") as pub:
            pub.publish_all(fleet_messages(stack.prefix, 1, 1))
            pub.wait_acked()
        wait_for(lambda: collector.health()["status"] == "ok", 10, what="traffic clears it")
        wait_for(lambda: "no traffic" in str(collector.health()["problems"]), 10, what="again")
    finally:
        collector.stop()
