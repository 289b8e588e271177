"""DONE-WHEN: against a broker without a limit, the collector refuses it at its packet limit,
using under 0.1 s of CPU.

Devstack Mosquitto has no message size limit; the collector announces its Maximum Packet Size
(256 KiB) and Mosquitto, honouring it, drops what is larger for this client, live and queued.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import orjson
import pytest

from devstack import Influxd, Mosquitto
from tests.collector_support import CollectorProcess, publish_all, publisher
from tests.fault_support import collector_env, metric, points, wait_for

BIG = 64 << 20


def cpu_s(pid: int) -> float:
    """utime + stime of a process, in seconds (/proc/PID/stat fields 14 and 15)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def reading(prefix: str, seq: int) -> tuple[str, bytes]:
    doc = {"ts": time.time() - 60, "seq": seq, "battery_voltage_v": 25.0}
    return f"{prefix}/ST01/solar/mppt1/telemetry", orjson.dumps(doc)


@pytest.mark.slow
def test_a_64_mib_publish_costs_the_collector_no_cpu_and_no_link(
    mosquitto: Mosquitto, influxd: Influxd, fresh_db: str, prefix: str, tmp_path: Path
) -> None:
    env = collector_env(mosquitto, influxd, fresh_db, prefix, tmp_path / "var")
    proc = CollectorProcess(tmp_path, env)
    pub = publisher(mosquitto)
    proc.start()
    try:
        assert proc.proc is not None
        pid = proc.proc.pid
        wait_for(lambda: proc.health()["mqtt"]["connected"], 20, what="connected")
        publish_all(pub, [reading(prefix, 0)])
        wait_for(lambda: points(influxd, fresh_db) == 1, 30, what="first reading")
        big_topic, _ = reading(prefix, 1)
        big = b'{"pad":"' + b"x" * (BIG - 10) + b'"}'
        window = 3.0
        # Idle baseline over the same interval (the stats loop, alert evaluation ...).
        c0 = cpu_s(pid)
        time.sleep(window)
        idle = cpu_s(pid) - c0
        c1, t1 = cpu_s(pid), time.monotonic()
        publish_all(pub, [(big_topic, big)])  # the broker took all 64 MiB
        time.sleep(max(0.0, t1 + window - time.monotonic()))
        used = cpu_s(pid) - c1 - idle
        assert used < 0.1, f"{used:.3f} s of CPU on a 64 MiB publish (idle {idle:.3f} s)"
        health = proc.health()
        assert health["mqtt"]["connected"] and health["mqtt"]["connects"] == 1
        publish_all(pub, [reading(prefix, 2)])
        wait_for(lambda: points(influxd, fresh_db) == 2, 30, what="the reading after it")
        # Queued in the persistent session while the collector is away: not redelivered either.
        proc.stop()
        publish_all(pub, [(big_topic, big), reading(prefix, 3)])
        proc.start()
        wait_for(lambda: points(influxd, fresh_db) == 3, 30, what="the queued reading")
        health = proc.health()
        assert health["mqtt"]["connects"] == 1 and health["mqtt"]["packets_too_large"] == 0
        assert metric(proc.metrics(), "solarwater_mqtt_packets_too_large_total") == 0
        assert health["counters"]["messages_rejected"] == 0  # never reached the decoder
    finally:
        pub.loop_stop()
        pub.disconnect()
        if proc.proc is not None:
            proc.stop()
