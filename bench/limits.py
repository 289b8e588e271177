"""The limits the collector is judged against: the broker's QoS 1 delivery and InfluxDB's /write."""

from __future__ import annotations

import http.client
import subprocess
import sys
import threading
import time
import urllib.parse

from bench.ctools import parse_last_json, publish_cmd
from bench.stack import Stack, new_prefix


def broker_rate(stack: Stack, messages: int, client: str = "c") -> float:
    """Messages/s from the C publisher's first publish to the subscriber's last arrival.

    The subscriber is the C counter ("c"), a bare paho client acking by hand ("paho": the
    ceiling of any collector built on paho), or a bare asyncio MQTT 5 parser batching its
    PUBACKs ("asyncio": the ceiling of the proposed replacement for paho's thread).
    """
    prefix = new_prefix()
    mq = stack.mosquitto
    topic_filter = f"{prefix}/+/+/+/telemetry"
    if client in ("paho", "asyncio"):
        module = f"bench.{client}_ceiling"
        cmd = [sys.executable, "-m", module, mq.host, str(mq.port), topic_filter]
    else:
        cmd = [str(stack.tools["swsub"]), mq.host, str(mq.port), topic_filter]
    sub = subprocess.Popen(
        [*cmd, str(messages), "300"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert sub.stdout is not None
    if sub.stdout.readline().strip() != "ready":
        sub.kill()
        raise RuntimeError("swsub did not subscribe")
    pub = subprocess.run(
        publish_cmd(stack.tools["swpub"], mq.host, mq.port, prefix, messages),
        capture_output=True,
        text=True,
        check=True,
    )
    out, _ = sub.communicate(timeout=300)
    got = parse_last_json(out)
    started = parse_last_json(pub.stdout)["start"]
    if got["messages"] != messages:
        raise RuntimeError(f"swsub received {got['messages']} of {messages}")
    return messages / (float(got["last"]) - float(started))


def layout_rate(stack: Stack, messages: int, members: int) -> float:
    """Messages/s when the broker delivers as it does to `--workers N`: N shared, 1 plain.

    The ingest workers share one subscription (`$share/...`, each message to one member) and
    the alert engine has its own, so the broker sends every message twice. C counters stand in
    for all of them; the rate runs from the first publish to the last arrival at any of them.
    """
    prefix = new_prefix()
    mq = stack.mosquitto
    topic_filter = f"{prefix}/+/+/+/telemetry"
    filters = [f"$share/bench/{topic_filter}"] * members + [topic_filter]
    # a member cannot know its share: it stops after 2 s without a message
    subs = [
        subprocess.Popen(
            [str(stack.tools["swsub"]), mq.host, str(mq.port), f, str(messages), "300", idle],
            stdout=subprocess.PIPE,
            text=True,
        )
        for f, idle in zip(filters, ["2"] * members + ["0"], strict=True)
    ]
    for sub in subs:
        assert sub.stdout is not None
        if sub.stdout.readline().strip() != "ready":
            for s in subs:
                s.kill()
            raise RuntimeError("swsub did not subscribe")
    pub = subprocess.run(
        publish_cmd(stack.tools["swpub"], mq.host, mq.port, prefix, messages),
        capture_output=True,
        text=True,
        check=True,
    )
    got = [parse_last_json(sub.communicate(timeout=300)[0]) for sub in subs]
    started = float(parse_last_json(pub.stdout)["start"])
    shared = sum(int(g["messages"]) for g in got[:members])
    if shared != messages or int(got[-1]["messages"]) != messages:
        raise RuntimeError(
            f"shared members got {shared}, the plain subscriber {got[-1]['messages']},"
            f" of {messages}"
        )
    return messages / (max(float(g["last"]) for g in got) - started)


def solar_lines(count: int, offset: int, stations: int = 1000) -> list[bytes]:
    """Points shaped like the collector's (measurement, 3 tags, 8 fields), unique timestamps."""
    base_ms = int(time.time() * 1000) - 86_400_000
    out = []
    for i in range(offset, offset + count):
        out.append(
            (
                f"solar,device=mppt1,district=Pemba,station=S{i % stations:05d} "
                f"pv_voltage_v={40 + i % 100 / 10},pv_current_a={8 + i % 50 / 10},"
                f"pv_power_w={350.0 + i % 200},battery_voltage_v={25 + i % 30 / 10},"
                f"battery_current_a={10 + i % 40 / 10},battery_soc_pct={50.0 + i % 50},"
                f'load_power_w={120.0 + i % 80},charge_state="bulk" {base_ms + i}'
            ).encode()
        )
    return out


def influx_rate(stack: Stack, batches: int, batch_lines: int, writers: int) -> float:
    """Points/s written by `writers` concurrent HTTP clients posting `batch_lines`-line batches."""
    db = stack.fresh_db()
    bodies_per_writer: list[list[bytes]] = []
    for w in range(writers):
        bodies = []
        for b in range(batches):
            offset = (w * batches + b) * batch_lines
            bodies.append(b"\n".join(solar_lines(batch_lines, offset)))
        bodies_per_writer.append(bodies)
    qs = urllib.parse.urlencode({"db": db, "precision": "ms"})
    errors: list[str] = []

    def post_all(bodies: list[bytes]) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", stack.influxd.port, timeout=120)
        for body in bodies:
            conn.request("POST", f"/write?{qs}", body)
            resp = conn.getresponse()
            resp.read()
            if resp.status != 204:
                errors.append(f"HTTP {resp.status}")
        conn.close()

    threads = [threading.Thread(target=post_all, args=(b,)) for b in bodies_per_writer]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    if errors:
        raise RuntimeError(f"InfluxDB refused writes: {errors[:3]}")
    total = writers * batches * batch_lines
    written = stack.influxd.count("solar", db=db, field="pv_power_w")
    stack.drop_db(db)
    if written != total:
        raise RuntimeError(f"InfluxDB holds {written} of {total} points")
    return total / elapsed
