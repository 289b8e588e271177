"""The collector under test as child processes (`python -m collector`, or N workers)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from devstack import collector_http, free_port

ROOT = Path(__file__).resolve().parents[1]


def free_port_run(n: int) -> int:
    """A base port with the next n-1 ports free too (worker i listens on base + i)."""
    for _ in range(50):
        base = free_port()
        if all(_port_free(base + i) for i in range(1, n)):
            return base
    raise RuntimeError(f"no run of {n} free ports found")


def _port_free(port: int) -> bool:
    import socket

    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def process_cpu_s(pid: int) -> float:
    """User+system CPU time of a running process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CollectorUnderTest:
    """Starts the collector with bench settings, waits until every worker is connected."""

    def __init__(
        self,
        workdir: Path,
        *,
        mqtt_url: str,
        influx_url: str,
        db: str,
        prefix: str,
        workers: int = 1,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.workers = workers
        # with --workers N the alert engine is child N, on base + N (unless alerts are off)
        alerts_off = (extra_env or {}).get("SOLARWATER_ALERTS__ENABLED", "").lower() == "false"
        self.engine = workers > 1 and not alerts_off
        self.base_port = free_port_run(workers + int(self.engine))
        self.env = {
            **os.environ,
            "SOLARWATER_MQTT__URL": mqtt_url,
            "SOLARWATER_MQTT__PREFIX": prefix,
            "SOLARWATER_MQTT__CLIENT_ID": f"c-{prefix}",
            "SOLARWATER_INFLUX__URL": influx_url,
            "SOLARWATER_INFLUX__DB": db,
            "SOLARWATER_DATA_DIR": str(workdir / "data"),
            "SOLARWATER_HTTP__LISTEN": f"127.0.0.1:{self.base_port}",
            "SOLARWATER_LOG_LEVEL": "WARNING",
            # the publisher's stations (S00000...) are all unregistered: up to 10,000 of them
            "SOLARWATER_INGEST__MAX_UNREGISTERED_STATIONS": "100000",
            **(extra_env or {}),
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / "collector.log"

    @property
    def ports(self) -> list[int]:
        return [self.base_port + i for i in range(self.workers)]

    @property
    def engine_port(self) -> int:
        """The alert engine's HTTP port with --workers N (it reads its own copy of the stream)."""
        return self.base_port + self.workers

    def command(self) -> list[str]:
        if self.workers == 1:
            return [sys.executable, "-m", "collector"]
        return [sys.executable, "-m", "collector", "--workers", str(self.workers)]

    def start(self, timeout: float = 30.0) -> None:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                self.command(), env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        ready = [*self.ports, *([self.engine_port] if self.engine else [])]
        while not all(self._connected(p) for p in ready):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("collector did not start:\n" + self.log_tail())
            time.sleep(0.1)

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]

    def _connected(self, port: int) -> bool:
        try:
            health = self.health(port)
        except OSError:
            return False
        return bool(health.get("mqtt", {}).get("connected"))

    def health(self, port: int) -> dict[str, Any]:
        return collector_http.health(port)

    def readings_written(self) -> int:
        """Readings every worker has written to InfluxDB (directly or from its spool)."""
        return self.progress()[0]

    def progress(self) -> tuple[int, int]:
        """(readings written, readings and messages refused) over every worker's /metrics."""
        written = refused = 0
        for port in self.ports:
            for row in collector_http.metrics(port).splitlines():
                name, _, value = row.partition(" ")
                if name in ("solarwater_readings_written_total", "solarwater_spool_replayed_total"):
                    written += int(float(value))
                elif name.startswith(
                    ("solarwater_readings_rejected_total{", "solarwater_messages_rejected_total{")
                ):
                    refused += int(float(value))
        return written, refused

    def pids(self) -> list[int]:
        """The processes that do the work: the collector, or each worker and the alert engine."""
        assert self.proc is not None
        if self.workers == 1:
            return [self.proc.pid]
        path = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        return [int(p) for p in path.read_text().split()]

    def peak_rss_mb(self) -> list[float]:
        """VmHWM of each working process, in MiB."""
        out = []
        for pid in self.pids():
            for row in Path(f"/proc/{pid}/status").read_text().splitlines():
                if row.startswith("VmHWM:"):
                    out.append(int(row.split()[1]) / 1024)
        return out

    def cpu_seconds(self) -> float:
        """User+system CPU time of the working processes so far."""
        return sum(self.cpu_by_process())

    def engine_cpu_seconds(self) -> float:
        """The alert engine's share (with --workers N it is the last child started)."""
        return self.cpu_by_process()[-1] if self.engine else 0.0

    def cpu_by_process(self) -> list[float]:
        """User+system CPU time of each working process so far, in start order."""
        return [process_cpu_s(pid) for pid in self.pids()]

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.proc = None
        return rc
