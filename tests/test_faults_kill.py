"""kill -9 of the collector mid-stream: unacknowledged messages come back, nothing doubles."""

from __future__ import annotations

import time

from tests.collector_support import CollectorProcess
from tests.fault_support import (
    Publisher,
    Stack,
    fleet_messages,
    metric,
    points,
    series_counts,
    wait_for,
    wait_for_points,
)


def test_sigkill_mid_stream_loses_and_doubles_nothing(stack: Stack) -> None:
    per_device = 120
    messages = fleet_messages(stack.prefix, 19, per_device)  # 4,560 single-reading messages
    collector = CollectorProcess(stack.workdir, stack.env())
    collector.start()
    try:
        with Publisher(stack.mosquitto.url, "station-gw") as pub:
            pub.start_background(messages, pace_s=0.0005)
            kills = []
            for _ in range(2):
                wait_for(lambda: points(stack.influxd, stack.db) > 500 * (len(kills) + 1), 30)
                received = metric(collector.metrics(), "solarwater_messages_received_total")
                collector.kill()
                kills.append((int(received), points(stack.influxd, stack.db)))
                time.sleep(0.5)
                collector.start()
            acked = pub.join()
        print(f"kills at (received, written): {kills}; acked {acked}")
        assert acked == len(messages) == 19 * 2 * per_device
        # Mid-stream: each kill came while messages were still arriving.
        assert all(0 < written < acked for _, written in kills), kills
        assert wait_for_points(stack.influxd, stack.db, acked) == acked
        assert {n for _, _, n in series_counts(stack.influxd, stack.db)} == {per_device}
        health = collector.health()
        assert health["mqtt"]["connected"] and health["spool"]["readings"] == 0
    finally:
        collector.stop()
