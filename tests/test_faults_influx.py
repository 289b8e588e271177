"""InfluxDB outages: readings go to the disk spool, are acknowledged, then replayed exactly once."""

from __future__ import annotations

import time

import pytest

from tests.collector_support import CollectorProcess
from tests.fault_support import (
    Publisher,
    Stack,
    fleet_messages,
    metric,
    points,
    series_counts,
    spooled,
    wait_for,
    wait_for_points,
)


def test_influx_outage_mid_stream_is_spooled_and_replayed(stack: Stack) -> None:
    per_device = 100
    messages = fleet_messages(stack.prefix, 19, per_device)
    collector = CollectorProcess(stack.workdir, stack.env())
    collector.start()
    try:
        with Publisher(stack.mosquitto.url, "station-gw") as pub:
            pub.start_background(messages, pace_s=0.0005)
            wait_for(lambda: points(stack.influxd, stack.db) > 300, 30, what="first points")
            stack.influxd.stop()
            wait_for(lambda: spooled(collector) > 0, 30, what="readings in the spool")
            health = collector.health()
            assert health["influx"]["up"] is False
            assert any("InfluxDB unreachable" in p for p in health["problems"])
            acked = pub.join()
            # All the broker acknowledged reached the collector, which acked it from the spool.
            wait_for(
                lambda: (
                    metric(collector.metrics(), "solarwater_messages_received_total")
                    == len(messages)
                ),
                30,
                what="all messages received",
            )
            text = collector.metrics()
            depth = metric(text, "solarwater_spool_readings")
            in_spool_bytes = metric(text, "solarwater_spool_bytes")
            appended = metric(text, "solarwater_spool_appended_total")
            print(f"outage: spool depth {depth:.0f} readings / {in_spool_bytes:.0f} bytes")
            assert depth > 0 and in_spool_bytes > 0 and appended >= depth
            time.sleep(1.0)
            stack.influxd.start()
        assert acked == len(messages)
        assert wait_for_points(stack.influxd, stack.db, acked) == acked
        assert {n for _, _, n in series_counts(stack.influxd, stack.db)} == {per_device}
        wait_for(lambda: spooled(collector) == 0, 30, what="spool drained")
        text = collector.metrics()
        assert metric(text, "solarwater_influx_up") == 1
        replayed = metric(text, "solarwater_spool_replayed_total")
        assert replayed == metric(text, "solarwater_spool_appended_total") >= appended
    finally:
        collector.stop()


def test_full_spool_holds_acks_and_drops_nothing(stack: Stack) -> None:
    per_device = 60
    messages = fleet_messages(stack.prefix, 19, per_device)  # 2,280 readings ≈ 190 KB of lines
    env = stack.env(
        SPOOL__MAX_BYTES="32768", SPOOL__SEGMENT_BYTES="8192", MQTT__RECEIVE_MAXIMUM="100"
    )
    collector = CollectorProcess(stack.workdir, env)
    collector.start()
    try:
        stack.influxd.stop()
        with Publisher(stack.mosquitto.url, "station-gw") as pub:
            pub.publish_all(messages)
            acked = pub.wait_acked()  # the broker acknowledged all of it and holds what is unread
        assert acked == len(messages)
        wait_for(lambda: collector.health()["spool"]["blocked"], 30, what="spool full")
        health = collector.health()
        assert health["status"] == "failing"
        assert any("spool full" in p for p in health["problems"])
        assert health["spool"]["bytes"] <= 32768
        # Back-pressure: with acks held the broker stops handing the collector messages.
        first = metric(collector.metrics(), "solarwater_messages_received_total")
        time.sleep(2.0)
        second = metric(collector.metrics(), "solarwater_messages_received_total")
        print(f"spool full: received {first:.0f} then {second:.0f} of {len(messages)}")
        assert first == second < len(messages)
        assert metric(collector.metrics(), "solarwater_spool_full_total") >= 1
        stack.influxd.start()
        assert wait_for_points(stack.influxd, stack.db, acked) == acked
        wait_for(lambda: not collector.health()["spool"]["blocked"], 30, what="spool unblocked")
        assert collector.health()["status"] == "ok"
        assert {n for _, _, n in series_counts(stack.influxd, stack.db)} == {per_device}
    finally:
        collector.stop()


@pytest.mark.slow
def test_one_simulated_hour_outage_at_fleet_rate(stack: Stack) -> None:
    """An hour of the fleet at 10 s readings (13,680; 30x the 5-min rate) during an outage."""
    per_device = 360
    messages = fleet_messages(stack.prefix, 19, per_device, interval_ms=10_000)
    collector = CollectorProcess(stack.workdir, stack.env())
    collector.start()
    try:
        stack.influxd.stop()
        with Publisher(stack.mosquitto.url, "station-gw") as pub:
            pub.publish_all(messages)
            acked = pub.wait_acked()
        wait_for(lambda: spooled(collector) == acked, 60, what="whole hour in the spool")
        print(f"hour outage: {acked} readings spooled, {collector.health()['spool']['bytes']} B")
        stack.influxd.start()
        assert wait_for_points(stack.influxd, stack.db, acked) == acked == 13_680
        assert {n for _, _, n in series_counts(stack.influxd, stack.db)} == {per_device}
        wait_for(lambda: spooled(collector) == 0, 30, what="spool drained")
    finally:
        collector.stop()
