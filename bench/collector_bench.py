"""The collector end to end: publish with the C publisher, wait until InfluxDB has every reading."""

from __future__ import annotations

import resource
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.collector_run import CollectorUnderTest, process_cpu_s
from bench.ctools import parse_last_json, publish_cmd
from bench.stack import Stack, new_prefix


@dataclass(slots=True)
class E2E:
    """One end-to-end run."""

    readings: int
    seconds: float
    cpu_s: float
    peak_rss_mb: list[float]
    latencies_s: list[float] = field(default_factory=list)
    publish_rate: float = 0.0
    floor_s: list[float] = field(default_factory=list)  # lower bounds of latencies_s
    query_s: list[float] = field(default_factory=list)  # the latency poller's query times
    engine_cpu_s: float = 0.0  # of cpu_s: the alert engine reading its own copy of the stream
    # CPU the others on the machine spent in the same window: publisher, broker, InfluxDB
    peer_cpu_s: dict[str, float] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.readings / self.seconds


def _start(
    stack: Stack, workdir: Path, workers: int, extra_env: dict[str, str] | None = None
) -> tuple[CollectorUnderTest, str, str]:
    db = stack.fresh_db()
    prefix = new_prefix()
    cut = CollectorUnderTest(
        workdir,
        mqtt_url=stack.mosquitto.url,
        influx_url=stack.influxd.url,
        db=db,
        prefix=prefix,
        workers=workers,
        extra_env=extra_env,
    )
    cut.start()
    return cut, db, prefix


def _count(stack: Stack, db: str) -> int:
    return stack.influxd.count("solar", db=db, field="pv_power_w")


def _peer_cpu(stack: Stack) -> dict[str, float]:
    """CPU seconds so far of the publisher (the children this process has waited for: the
    publisher is the only one reaped during a run), the broker and InfluxDB (its few
    count() queries at the end included)."""
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = {"publisher": kids.ru_utime + kids.ru_stime}
    for name, server in (("broker", stack.mosquitto), ("InfluxDB", stack.influxd)):
        if server.proc is not None:
            out[name] = process_cpu_s(server.proc.pid)
    return out


def end_to_end(
    stack: Stack,
    workdir: Path,
    *,
    messages: int,
    batch: int = 1,
    workers: int = 1,
    stations: int = 100,
    timeout: float = 300.0,
    extra_env: dict[str, str] | None = None,
    alarm: bool = False,
) -> E2E:
    """Publish as fast as possible; rate = readings / (first publish .. all readings queryable)."""
    cut, db, prefix = _start(stack, workdir, workers, extra_env)
    try:
        cpu0, engine0 = cut.cpu_seconds(), cut.engine_cpu_seconds()
        peers0 = _peer_cpu(stack)
        mq = stack.mosquitto
        cmd = publish_cmd(
            stack.tools["swpub"],
            mq.host,
            mq.port,
            prefix,
            messages,
            stations=stations,
            batch=batch,
            alarm=alarm,
        )
        pub = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        want = messages * batch
        deadline = time.monotonic() + timeout
        # No count() queries while the publisher runs: each one costs InfluxDB CPU that the
        # two cores' collector would feel (the broker limit is measured without them).
        while pub.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        # Nor while the collector is still writing: its own counters say when it is done
        # (a count() of 200k points costs InfluxDB 10-60 ms, a fifth of the tail when polled
        # every 0.1 s); count() then confirms, and its answer time ends the measurement.
        while cut.readings_written() < want and time.monotonic() < deadline:
            time.sleep(0.05)
        seen = _count(stack, db)
        while seen < want:
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {seen} of {want} readings queryable after {timeout}s")
            time.sleep(0.1)
            seen = _count(stack, db)
        done = time.time()
        out, _ = pub.communicate(timeout=60)
        started = float(parse_last_json(out)["start"])
        result = E2E(want, done - started, cut.cpu_seconds() - cpu0, cut.peak_rss_mb())
        result.engine_cpu_s = cut.engine_cpu_seconds() - engine0
        result.peer_cpu_s = {k: v - peers0[k] for k, v in _peer_cpu(stack).items()}
    finally:
        rc = cut.stop()
        stack.drop_db(db)
    if rc not in (0, None):
        raise RuntimeError(f"collector exited with {rc}:\n{cut.log_tail()}")
    return result


def latency(
    stack: Stack,
    workdir: Path,
    *,
    rate: float,
    seconds: float,
    workers: int = 1,
    stations: int = 1000,
) -> E2E:
    """Publish at a steady rate with wall-clock timestamps; watch InfluxDB for each 20 ms bucket.

    Every 0.02 s a poller counts points per 20 ms bucket of the last 1 s of reading time;
    points that appear in a bucket since its previous poll get latency = answer time -
    bucket middle, an upper bound (it errs high by up to one poll interval plus the query
    time). A second poller does the same once a second for the older buckets of the last
    15 s (stragglers). The window is short because the query time is part of each figure:
    counting a 15 s window (75,000 points at 5k msg/s) took InfluxDB 0.1-0.3 s on a busy
    2-core box, most of the 0.5 s p50 this figure used to show. `floor_s` holds the lower
    bounds (previous poll's start - bucket middle, at least 0).
    """
    cut, db, prefix = _start(stack, workdir, workers)
    bucket_ms = 20
    recent_ms = 1_000
    seen: dict[int, int] = {}
    samples: list[float] = []
    floors: list[float] = []
    query_s: list[float] = []
    lock = threading.Lock()
    stop = threading.Event()
    t_start_ms = int(time.time() * 1000)

    def poll(older: bool) -> None:
        prev_start = time.time()
        while not stop.is_set():
            now_ms = int(time.time() * 1000)
            if older:
                since, until = max(t_start_ms, now_ms - 15_000), now_ms - recent_ms
            else:
                since, until = max(t_start_ms, now_ms - recent_ms), now_ms + 60_000
            q = (
                f'SELECT count("pv_power_w") FROM "solar" WHERE time >= {since}ms '
                f"AND time < {until}ms GROUP BY time({bucket_ms}ms) fill(none)"
            )
            started = time.time()
            rows = stack.influxd.query(q, db=db) if until > since else []
            answered = time.time()
            with lock:
                if not older:
                    query_s.append(answered - started)
                for row in rows:
                    t, n = int(row["time"]), int(row["count"])
                    new = n - seen.get(t, 0)
                    if new > 0:
                        seen[t] = n
                        middle = (t + bucket_ms / 2) / 1000
                        samples.extend([answered - middle] * new)
                        floors.extend([max(0.0, prev_start - middle)] * new)
            prev_start = started
            stop.wait(1.0 if older else 0.02)

    pollers = [threading.Thread(target=poll, args=(o,), daemon=True) for o in (False, True)]
    try:
        messages = int(rate * seconds)
        cpu0 = cut.cpu_seconds()
        for poller in pollers:
            poller.start()
        mq = stack.mosquitto
        cmd = publish_cmd(
            stack.tools["swpub"],
            mq.host,
            mq.port,
            prefix,
            messages,
            rate=rate,
            stations=stations,
            wallclock=True,
        )
        pub = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=600)
        summary = parse_last_json(pub.stdout)
        deadline = time.monotonic() + 30
        while len(samples) < messages and time.monotonic() < deadline:
            time.sleep(0.2)
        stop.set()
        for poller in pollers:
            poller.join()
        total = _count(stack, db)
        result = E2E(total, float(summary["published"]) - float(summary["start"]), 0.0, [])
        result.cpu_s = cut.cpu_seconds() - cpu0
        result.peak_rss_mb = cut.peak_rss_mb()
        result.publish_rate = messages / result.seconds
        # Anything not seen within the poll window counts as at least that late.
        result.latencies_s = samples + [15.0] * max(0, messages - len(samples))
        result.floor_s = floors
        result.query_s = query_s
    finally:
        stop.set()
        cut.stop()
        stack.drop_db(db)
    return result


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]
