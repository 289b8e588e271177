"""Node-RED as a child process with its own user folder, on a free loopback port."""

from __future__ import annotations

import os
import time
from pathlib import Path

from bench.nodered.flow import FlowSettings, write_user_dir
from devstack import free_port
from devstack.ports import wait_for_port
from devstack.process import ManagedProcess


class NodeRed(ManagedProcess):
    """`node red.js --settings <userdir>/settings.js --userDir <userdir>`, flows started."""

    name = "node-red"

    def __init__(self, workdir: Path, node: str, red_js: Path, settings: FlowSettings) -> None:
        super().__init__(workdir)
        self.node = node
        self.red_js = red_js
        self.port = free_port()
        self.user_dir = self.workdir / "userdir"
        self.settings = settings

    def command(self) -> list[str]:
        settings_path = write_user_dir(self.user_dir, self.port, self.settings)
        return [
            self.node,
            str(self.red_js),
            "--settings",
            str(settings_path),
            "--userDir",
            str(self.user_dir),
            "--port",
            str(self.port),
        ]

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_ready(self, timeout: float = 90.0) -> None:
        """The admin port answers, the flows run and the MQTT node has connected."""
        deadline = time.monotonic() + timeout
        wait_for_port(self.port, timeout=timeout)
        while True:
            log = self.log_text()
            if "Started flows" in log and "Connected to broker" in log:
                return
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"node-red exited with {self.proc.returncode}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"flows not started and connected after {timeout:.0f}s")
            time.sleep(0.1)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def peak_rss_mb(self) -> float:
        """VmHWM of the node process, in MiB."""
        for row in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if row.startswith("VmHWM:"):
                return int(row.split()[1]) / 1024
        raise RuntimeError("no VmHWM in /proc status")

    def cpu_seconds(self) -> float:
        """User+system CPU time of the node process so far."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def errors(self) -> list[str]:
        """Error lines Node-RED logged (a failed InfluxDB write shows up here)."""
        return [ln for ln in self.log_text().splitlines() if "[error]" in ln]
