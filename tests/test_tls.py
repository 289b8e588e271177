"""mqtts:// to a Mosquitto TLS listener, with a CA made for the test (openssl CLI)."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from collector.config import load_settings
from collector.service import Collector
from devstack import Influxd, Mosquitto, free_port
from tests.collector_support import collector_overrides, running_collector, wait_until
from tests.fault_support import Message, Publisher

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI")


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_ca_and_server_cert(d: Path) -> tuple[Path, Path, Path]:
    """A throw-away CA, and a server certificate for 127.0.0.1 signed by it."""
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
            "/CN=SolarWater test CA", "-keyout", "ca.key", "-out", "ca.crt", cwd=d)  # fmt: skip
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
            "-keyout", "server.key", "-out", "server.csr", cwd=d)  # fmt: skip
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", "san.ext", "-out", "server.crt",
            cwd=d)  # fmt: skip
    return d / "ca.crt", d / "server.crt", d / "server.key"


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[tuple[Mosquitto, int, Path]]:
    ca, cert, key = make_ca_and_server_cert(tmp_path)
    tls_port = free_port()
    conf = (
        f"listener {tls_port} 127.0.0.1\n"
        f"cafile {ca}\ncertfile {cert}\nkeyfile {key}\n"
        "allow_anonymous true\n"
    )
    broker = Mosquitto(tmp_path / "mosquitto", extra_conf=conf)
    broker.start()
    yield broker, tls_port, ca
    broker.stop()


async def test_collector_over_tls(
    tls_broker: tuple[Mosquitto, int, Path], influxd: Influxd, fresh_db: str, tmp_path: Path
) -> None:
    broker, tls_port, ca = tls_broker
    overrides = collector_overrides(broker, influxd, fresh_db, "tls", tmp_path / "data")
    overrides |= {"mqtt.url": f"mqtts://127.0.0.1:{tls_port}", "mqtt.ca_file": str(ca)}
    async with running_collector(overrides) as collector:  # connects only if TLS works
        assert collector.source is not None and collector.source.url.tls
        payload = orjson.dumps({"ts": time.time() - 60, "battery_voltage_v": 25.5})
        msg = Message("tls/PEMBA-01/solar/mppt1/telemetry", payload, 1)
        with Publisher(broker.url, "tls-pub") as pub:
            await asyncio.to_thread(pub.publish_all, [msg])
            await asyncio.to_thread(pub.wait_acked, 15)
        await wait_until(lambda: influxd.count("solar", fresh_db) == 1, 15)
        healthy, body = collector.health()
        assert healthy and body["mqtt"]["url"].startswith("mqtts://")


async def test_tls_refuses_an_unknown_ca(
    tls_broker: tuple[Mosquitto, int, Path], influxd: Influxd, fresh_db: str, tmp_path: Path
) -> None:
    broker, tls_port, _ca = tls_broker
    other = tmp_path / "other"
    other.mkdir()
    wrong_ca, _, _ = make_ca_and_server_cert(other)
    overrides = collector_overrides(broker, influxd, fresh_db, "tls", tmp_path / "data2")
    overrides |= {"mqtt.url": f"mqtts://127.0.0.1:{tls_port}", "mqtt.ca_file": str(wrong_ca)}
    collector = Collector(load_settings(None, overrides))
    task = asyncio.create_task(collector.run())
    try:
        await asyncio.sleep(3)
        assert collector.source is not None and not collector.source.connected
        healthy, body = collector.health()
        assert not healthy and "not connected to the MQTT broker" in body["problems"]
    finally:
        collector.stop()
        await asyncio.wait_for(task, 30)
