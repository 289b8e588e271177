"""Real Mosquitto and InfluxDB for the tests, on free ports in temporary folders."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack import Influxd, Mosquitto

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
def prefix() -> str:
    """A topic prefix of this test's own, so tests sharing a broker do not see each other."""
    return "sw" + uuid.uuid4().hex[:10]
