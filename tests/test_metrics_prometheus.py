"""/metrics is prometheus_client's text: typed families, HELP on each, histograms of real writes."""

from __future__ import annotations

import asyncio
import time
import urllib.request
from pathlib import Path

import orjson
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from collector.metrics import Metrics
from devstack import Influxd, Mosquitto
from tests.collector_support import (
    collector_overrides,
    publish_all,
    publisher,
    running_collector,
    wait_until,
)

READINGS = 5


def scrape(port: int) -> tuple[str, dict[str, Metric]]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        assert resp.headers["Content-Type"].startswith("text/plain; version=")
        text: str = resp.read().decode()
    return text, {f.name: f for f in text_string_to_metric_families(text)}


def sample(family: Metric, suffix: str = "", **labels: str) -> float:
    for s in family.samples:
        if s.name == family.name + suffix and s.labels == labels:
            return float(s.value)
    raise KeyError(f"{family.name}{suffix}{labels}")


def test_families_are_typed_and_explained() -> None:
    m = Metrics()
    m.inc("readings_written", 7)
    m.reject_message("malformed_json")
    m.gauges["spool_bytes"] = lambda: 3.0
    m.sourced["mqtt_connects"] = lambda: 2.0
    m.alert_stats = lambda: {"alerts_fired": 4.0, "alerts_active": 1.0}
    m.labelled["alert_notifications_over_budget"] = ("station", lambda: {"PEMBA-01": 5})
    families = {f.name: f for f in text_string_to_metric_families(m.prometheus().decode())}
    # the parser names a counter without `_total`; its sample carries it
    assert families["solarwater_readings_written"].type == "counter"
    assert sample(families["solarwater_readings_written"], "_total") == 7
    rejected = families["solarwater_messages_rejected"]
    assert sample(rejected, "_total", reason="malformed_json") == 1
    assert families["solarwater_alerts_fired"].type == "counter"  # a gauge before
    assert sample(families["solarwater_alerts_fired"], "_total") == 4
    assert families["solarwater_alerts_active"].type == "gauge"
    assert families["solarwater_spool_bytes"].type == "gauge"
    assert families["solarwater_mqtt_connects"].type == "counter"
    over = families["solarwater_alert_notifications_over_budget"]
    assert sample(over, "_total", station="PEMBA-01") == 5
    assert families["solarwater_write_latency_seconds"].type == "histogram"
    assert families["solarwater_publish_to_written_seconds"].type == "histogram"
    for name, family in families.items():
        assert family.documentation, f"{name} has no HELP"
        assert family.documentation != name, name


def test_each_collector_has_its_own_registry() -> None:
    a, b = Metrics(), Metrics()
    a.inc("readings_written", 3)
    fam = {f.name: f for f in text_string_to_metric_families(b.prometheus().decode())}
    assert sample(fam["solarwater_readings_written"], "_total") == 0


async def test_histograms_observe_real_writes(
    mosquitto: Mosquitto, influxd: Influxd, fresh_db: str, prefix: str, tmp_path: Path
) -> None:
    overrides = collector_overrides(mosquitto, influxd, fresh_db, prefix, tmp_path)
    async with running_collector(overrides) as collector:
        port = collector.http_port
        assert port is not None
        now = time.time()
        messages = [
            (
                f"{prefix}/PEMBA-01/solar/mppt1/telemetry",
                orjson.dumps({"ts": now - 60 + i, "battery_soc_pct": 50.0 + i}),
            )
            for i in range(READINGS)
        ]
        client = publisher(mosquitto)
        try:
            await asyncio.to_thread(publish_all, client, messages)
        finally:
            client.loop_stop()
            client.disconnect()
        await wait_until(lambda: collector.metrics.counters["readings_written"] == READINGS)
        text, families = await asyncio.to_thread(scrape, port)

    rows = influxd.query("SELECT battery_soc_pct FROM solar", fresh_db)
    assert len(rows) == READINGS  # the writes the histograms saw are real
    written = families["solarwater_readings_written"]
    assert written.type == "counter" and sample(written, "_total") == READINGS
    assert "solarwater_readings_written_total 5.0" in text  # the name the contract promises
    latency = families["solarwater_write_latency_seconds"]
    # the same scrape's counter: one render is one consistent snapshot
    batches = sample(families["solarwater_batches_written"], "_total")
    assert batches >= 1
    assert sample(latency, "_count") == batches
    assert 0 < sample(latency, "_sum") < 10 * batches
    assert sample(latency, "_bucket", le="+Inf") == batches
    delay = families["solarwater_publish_to_written_seconds"]
    assert delay.type == "histogram"
    # each batch that acknowledged messages observes its oldest message once
    assert 1 <= sample(delay, "_count") <= batches
    assert 0 < sample(delay, "_sum") < 30 * sample(delay, "_count")
    assert families["solarwater_mqtt_connected"].type == "gauge"
    assert sample(families["solarwater_mqtt_connected"]) == 1
    for name, family in families.items():
        assert family.documentation, f"{name} has no HELP"
