"""The servers a bench run measures against: its own Mosquitto and InfluxDB 1.6 in a temp folder."""

from __future__ import annotations

import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from bench.ctools import build
from devstack import Influxd, Mosquitto


@dataclass
class Stack:
    """Broker, database server and C tools for one run."""

    root: Path
    mosquitto: Mosquitto = field(init=False)
    influxd: Influxd = field(init=False)
    tools: dict[str, Path] = field(init=False)

    def __post_init__(self) -> None:
        self.tools = build()
        # 0 = unlimited: the default max_queued_messages (1000) drops QoS 1 bursts (design §6).
        self.mosquitto = Mosquitto(self.root / "mosquitto", max_inflight=0, max_queued=0)
        self.influxd = Influxd(self.root / "influxd")

    def start(self) -> None:
        self.mosquitto.start()
        self.influxd.start()

    def stop(self) -> None:
        self.mosquitto.stop()
        self.influxd.stop()

    def fresh_db(self) -> str:
        name = "bench_" + uuid.uuid4().hex[:8]
        self.influxd.create_db(name)
        return name

    def drop_db(self, name: str) -> None:
        self.influxd.drop_db(name)


def temp_root(keep: bool) -> tuple[Path, tempfile.TemporaryDirectory[str] | None]:
    """A folder for the run; kept (and printed) with --keep."""
    if keep:
        return Path(tempfile.mkdtemp(prefix="swbench-")), None
    holder = tempfile.TemporaryDirectory(prefix="swbench-")
    return Path(holder.name), holder


def new_prefix() -> str:
    return "bench" + uuid.uuid4().hex[:8]
