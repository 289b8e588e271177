"""Real Mosquitto and InfluxDB for the tests, on free ports in temporary folders."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest

from devices.catalogue import KINDS
from devstack import Influxd, Mosquitto
from simulator import SimulationConfig, Summary, run_simulation
from tests.alert_support import Hook, Mailbox, smtp_server
from tests.fault_support import Stack, make_stack
from tests.rollup_support import set_up_rollup

SHARED_SCHEMAS = Path(__file__).resolve().parents[2] / "shared" / "schemas"


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    """A broker shared by the session; tests use their own topic prefixes to stay apart."""
    broker = Mosquitto(tmp_path_factory.mktemp("mosquitto"))
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def influxd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Influxd]:
    """An InfluxDB 1.6 server shared by the session; tests use their own databases."""
    server = Influxd(tmp_path_factory.mktemp("influxd"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def fresh_db(influxd: Influxd) -> Iterator[str]:
    """A new, empty database name on the session's InfluxDB."""
    name = "t_" + uuid.uuid4().hex[:12]
    influxd.create_db(name)
    yield name
    influxd.drop_db(name)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    """A Mosquitto and an InfluxDB of the test's own, for tests that stop and restart them."""
    yield from make_stack(tmp_path)


@pytest.fixture
def prefix() -> str:
    """A topic prefix of this test's own, so tests sharing a broker do not see each other."""
    return "sw" + uuid.uuid4().hex[:10]


@dataclass(frozen=True)
class IngestedRun:
    """The simulator's default fleet-day, ingested by a real collector into `db`."""

    db: str
    prefix: str
    summary: Summary
    from_ms: int
    to_ms: int
    collector_log: str


@pytest.fixture(scope="session")
def default_run(
    mosquitto: Mosquitto, influxd: Influxd, tmp_path_factory: pytest.TempPathFactory
) -> IngestedRun:
    """One simulated day of the 19-station sample fleet, default scenario, through the collector.

    Shared by the end-to-end and the dashboard query tests, so the day is simulated once.
    """
    from tests.collector_support import CollectorProcess

    work = tmp_path_factory.mktemp("default_run")
    db, prefix = "default_run", "swdefault"
    influxd.create_db(db)
    set_up_rollup(influxd, db)  # as deployed: the dashboards' `$rp` reads its choice
    proc = CollectorProcess(
        work,
        {
            "SOLARWATER_MQTT__URL": mosquitto.url,
            "SOLARWATER_MQTT__PREFIX": prefix,
            "SOLARWATER_MQTT__CLIENT_ID": "collector-default-run",
            "SOLARWATER_INFLUX__URL": influxd.url,
            "SOLARWATER_INFLUX__DB": db,
            "SOLARWATER_DATA_DIR": str(work / "var"),
            "SOLARWATER_STATS_INTERVAL_S": "1",
            # the day replays in seconds: evaluate often (transitions stay on device time)
            "SOLARWATER_ALERTS__EVALUATE_INTERVAL_S": "0.05",
            # completeness as the day arrives (the day is too short for forecasts)
            "SOLARWATER_INSIGHT__CHECK_EVERY": "2",
            # the dashboards read each station's newest state: write it more than once a run
            "SOLARWATER_ALERTS__STATE_INTERVAL_S": "1",
        },
    )
    proc.start()
    started = time.monotonic()
    try:
        # Paced, the day in ~10 s: silence is judged at each evaluation (every 0.05 s), and at
        # full speed the GSM outage's silent half hour could pass between two of them on a
        # busy machine (its backlog then arrives first and, by design, nothing fires).
        config = SimulationConfig(
            mqtt_url=mosquitto.url,
            prefix=prefix,
            scenario="default",
            seed=1,
            quiet=True,
            speed=8640,
        )
        summary = run_simulation(config, record=True)
        expected = summary.readings.total
        deadline = time.monotonic() + 60
        while sum(influxd.count(kind, db) for kind in KINDS) < expected:
            if time.monotonic() > deadline:
                break
            time.sleep(0.2)
        # the collector's own points span two of the dashboards' 10 s buckets, so rates show
        time.sleep(max(2.5, started + 12 - time.monotonic()))
    finally:
        proc.stop()
    start = datetime.fromisoformat(summary.start)
    end = datetime.fromisoformat(summary.end)
    return IngestedRun(
        db,
        prefix,
        summary,
        int(start.timestamp() * 1000),
        int(end.timestamp() * 1000),
        proc.log_path.read_text(),
    )


@pytest.fixture
async def hook() -> AsyncIterator[Hook]:
    """A real HTTP server taking the alert webhooks."""
    h = Hook()
    await h.start()
    yield h
    await h.stop()


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    """A real SMTP server (aiosmtpd) taking the alert e-mails, and its port."""
    with smtp_server() as server:
        yield server
