"""DONE-WHEN: the disk fills in an InfluxDB outage, then frees; every acknowledged reading lands.

Real processes: Mosquitto, InfluxDB, the collector as a subprocess, QoS 1 publishers. The disk is
a small tmpfs filled up (needs mount, so root), or a file-size limit on the collector process
(RLIMIT_FSIZE: Python ignores SIGXFSZ, so its writes fail with EFBIG), raised again to free it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.collector_support import ROOT, CollectorProcess
from tests.fault_support import (
    Message,
    Publisher,
    Stack,
    fleet_messages,
    metric,
    points,
    wait_for,
    wait_for_points,
)


class PipedCollector(CollectorProcess):
    """The collector with its log through a pipe: a file-size limit must not cut its log."""

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "collector", *self.args],
            env=self.env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        out = self.proc.stdout
        assert out is not None

        def copy() -> None:
            with self.log_path.open("ab") as log:
                for line in out:
                    log.write(line)
                    log.flush()

        threading.Thread(target=copy, name="collector-log", daemon=True).start()
        deadline = time.monotonic() + 20
        while True:
            try:
                self.health()
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        "collector did not start:\n" + self.log_path.read_text()
                    ) from None
                time.sleep(0.1)


class Disk:
    """Where the collector's data lives, and how to fill and free it."""

    def __init__(self, variant: str, data: Path) -> None:
        self.variant = variant
        self.data = data
        self.filler = data / "filler"
        self.pid = 0
        data.mkdir(parents=True, exist_ok=True)
        if variant == "tmpfs":
            done = subprocess.run(
                ["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", str(data)],
                capture_output=True,
                text=True,
            )
            if done.returncode != 0:
                pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.strip()}")

    def fill(self) -> None:
        if self.variant == "fsize":
            # Small enough that one spool record is cut mid-write (a torn record without the fix).
            resource.prlimit(self.pid, resource.RLIMIT_FSIZE, (512, resource.RLIM_INFINITY))
            return
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            for chunk in (1 << 16, 4096, 1):
                with contextlib.suppress(OSError):
                    while True:
                        os.write(fd, b"\0" * chunk)
        finally:
            os.close(fd)
        with pytest.raises(OSError) as err, self.filler.open("ab") as f:
            f.write(b"\0" * 4096)
            f.flush()
        assert err.value.errno == errno.ENOSPC

    def free(self) -> None:
        if self.variant == "fsize":
            inf = resource.RLIM_INFINITY
            resource.prlimit(self.pid, resource.RLIMIT_FSIZE, (inf, inf))
        else:
            self.filler.unlink()

    def close(self) -> None:
        if self.variant == "tmpfs":
            subprocess.run(["umount", "-l", str(self.data)], check=False)


def bad(prefix: str, i: int) -> Message:
    return Message(f"{prefix}/ST00/solar/mppt1/telemetry", b'{"not json' + b"x" * 300 * i, 0)


@pytest.mark.parametrize("variant", ["tmpfs", "fsize"])
def test_disk_full_during_influx_outage_loses_nothing_acknowledged(
    stack: Stack, variant: str
) -> None:
    disk = Disk(variant, stack.workdir / "data")
    base = int(time.time() * 1000) - 3 * 3_600_000
    minute = 60_000
    first = fleet_messages(stack.prefix, 5, 10, start_ms=base, interval_ms=minute)
    rest = fleet_messages(stack.prefix, 5, 100, start_ms=base + 10 * minute, interval_ms=minute)
    rest[5:5] = [bad(stack.prefix, i) for i in range(1, 6)]  # quarantined while the disk is full
    expected = sum(m.readings for m in first + rest)
    env = stack.env(INFLUX__TIMEOUT_S="2", MQTT__RECEIVE_MAXIMUM="100")
    collector = PipedCollector(stack.workdir, env)
    health: list[dict[str, Any]] = []
    rc = None
    try:
        collector.start()
        assert collector.proc is not None
        disk.pid = collector.proc.pid
        with Publisher(stack.mosquitto.url, "station-gw") as pub:
            pub.publish_all(first)
            pub.wait_acked()
            wait_for_points(stack.influxd, stack.db, sum(m.readings for m in first), 30)
            stack.influxd.stop()
            disk.fill()
            pub.start_background(rest, pace_s=0.0005)

            def blocked() -> bool:
                health.append(collector.health())
                return bool(health[-1]["spool"]["blocked"])

            wait_for(blocked, 30, what="the spool refusing writes")
            text = collector.metrics()
            assert metric(text, "solarwater_spool_errors_total") > 0
            wait_for(
                lambda: metric(collector.metrics(), "solarwater_quarantine_write_errors_total") > 0,
                15,
                what="a quarantine write error",
            )
            during = collector.health()
            time.sleep(1.0)  # held a while: the broker buffers, nothing is acknowledged
            disk.free()
            stack.influxd.start()
            acked = pub.join(120)
        assert acked == expected, "the broker acknowledged every reading published"
        assert wait_for_points(stack.influxd, stack.db, acked, 60) == acked
        after: list[dict[str, Any]] = []

        def recovered() -> bool:
            after.append(collector.health())
            return bool(after[-1]["status"] == "ok" and after[-1]["spool"]["readings"] == 0)

        wait_for(recovered, 30, what="healthy again, the spool drained")
        lines = (disk.data / "quarantine" / "quarantine.jsonl").read_text().splitlines()
        assert len(lines) == 5, "the quarantine wrote what the full disk refused, once"
    finally:
        if collector.proc is not None:
            rc = collector.stop()
        disk.close()
    # /healthz said failing while the spool could not write, and why.
    assert health[-1]["status"] == "failing"
    assert any("spool write failed" in p for p in health[-1]["problems"])
    assert during["quarantine"]["write_errors"] > 0
    assert any("quarantine cannot write" in p for p in during["problems"])
    log = collector.log_path.read_text()
    assert rc == 0, log[-3000:]
    assert "Traceback" not in log.split("stopping: flushing")[-1], "a clean shutdown"
    print(f"{variant}: {acked} acknowledged readings, {points(stack.influxd, stack.db)} points")
