"""The collector's e2e QoS 1 load, through Node-RED + node-red-contrib-influxdb."""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from bench.ctools import parse_last_json, publish_cmd
from bench.nodered.flow import FlowSettings
from bench.nodered.process import NodeRed
from bench.stack import Stack, new_prefix


@dataclass(slots=True)
class PeerRun:
    """One end-to-end run through Node-RED."""

    sent: int
    landed: int
    seconds: float
    cpu_s: float
    peak_rss_mb: float
    acked_s: float
    written_at_ack: int
    errors: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        """Readings/s: readings that landed / (first publish .. the last one queryable)."""
        return self.landed / self.seconds

    @property
    def lost(self) -> int:
        return self.sent - self.landed


def _await_subscription(stack: Stack, nr: NodeRed, prefix: str, db: str, timeout: float) -> None:
    """Publish a tank probe until it is queryable: the subscription and the write path work.

    The probe goes to measurement `tank`, so it never counts as one of the solar readings.
    """
    topic = f"{prefix}/PROBE/tank/probe/telemetry"
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"probe-{prefix}")
    client.connect(stack.mosquitto.host, stack.mosquitto.port)
    client.loop_start()
    try:
        deadline = time.monotonic() + timeout
        while stack.influxd.count("tank", db=db, field="level_pct") == 0:
            if time.monotonic() > deadline:
                tail = nr.log_text()[-1500:]
                raise RuntimeError(f"Node-RED wrote no probe reading in {timeout:.0f}s:\n{tail}")
            payload = json.dumps({"ts": time.time(), "level_pct": 50.0})
            client.publish(topic, payload, qos=1).wait_for_publish(10)
            time.sleep(0.5)
    finally:
        client.disconnect()
        client.loop_stop()


def nodered_end_to_end(
    stack: Stack,
    workdir: Path,
    *,
    node: str,
    red_js: Path,
    messages: int,
    batch_size: int,
    flush_s: float,
    stations: int = 100,
    stall_s: float = 20.0,
    timeout: float = 600.0,
) -> PeerRun:
    """Publish as fast as the broker takes it; wait until every reading is counted or none
    has arrived for `stall_s` after the publisher finished (then the rest counts as lost)."""
    db = stack.fresh_db()
    prefix = new_prefix()
    mq, influx = stack.mosquitto, stack.influxd
    settings = FlowSettings(
        mqtt_host=mq.host,
        mqtt_port=mq.port,
        client_id=f"nodered-{prefix}",
        topic_filter=f"{prefix}/+/+/+/telemetry",
        influx_host="127.0.0.1",
        influx_port=influx.port,
        influx_db=db,
        batch_size=batch_size,
        flush_s=flush_s,
    )
    nr = NodeRed(workdir, node, red_js, settings)
    pub: subprocess.Popen[str] | None = None
    try:
        nr.start()
        _await_subscription(stack, nr, prefix, db, timeout=60)
        cpu0 = nr.cpu_seconds()
        cmd = publish_cmd(
            stack.tools["swpub"], mq.host, mq.port, prefix, messages, stations=stations
        )
        pub = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        deadline = time.monotonic() + timeout
        seen, last_change, changed_at = 0, time.monotonic(), time.time()
        # Readings in InfluxDB when the publisher held every PUBACK: the rest was
        # acknowledged while only in Node-RED's memory (lost if it stopped then).
        written_at_ack: int | None = None
        while seen < messages:
            time.sleep(0.2)
            # Publisher state first, count second: the count errs towards Node-RED.
            published = pub.poll() is not None
            now = influx.count("solar", db=db, field="pv_power_w")
            if now != seen:
                seen, last_change, changed_at = now, time.monotonic(), time.time()
            if published and written_at_ack is None:
                written_at_ack = seen
            if published and time.monotonic() - last_change > stall_s:
                break
            if time.monotonic() > deadline:
                break
        out, _ = pub.communicate(timeout=120)
        if seen == 0:
            raise RuntimeError(f"no reading reached InfluxDB:\n{nr.log_text()[-1500:]}")
        summary = parse_last_json(out)
        started = float(summary["start"])
        return PeerRun(
            sent=messages,
            landed=seen,
            seconds=changed_at - started,
            cpu_s=nr.cpu_seconds() - cpu0,
            peak_rss_mb=nr.peak_rss_mb(),
            acked_s=float(summary["acked"]) - started,
            written_at_ack=seen if written_at_ack is None else written_at_ack,
            errors=nr.errors(),
        )
    finally:
        if pub is not None and pub.poll() is None:
            pub.kill()
            pub.wait()
        nr.stop(timeout=20)
        stack.drop_db(db)
