"""Session truth on real Mosquitto: a lost session and a taken-over one are said, not silent."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from collector.broker import codec
from collector.broker.client import NativeMqttSource
from collector.broker.intake import LoopIntake
from collector.broker.link import SESSION_FILE
from devstack import Influxd, Mosquitto, collector_http
from tests.collector_support import collector_overrides, running_collector
from tests.fault_support import metric
from tests.test_mqtt_native import fake_broker, handshake, read_packet, settings, source, until


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[Mosquitto]:
    """A Mosquitto of this test's own, to restart with or without its persistence file."""
    broker = Mosquitto(tmp_path / "mosquitto")
    broker.start()
    yield broker
    broker.stop()


def restart(broker: Mosquitto, *, forget: bool) -> None:
    """Restart on the same port; `forget` deletes the persistence file: a broker without it."""
    broker.stop()
    if forget:
        (broker.workdir / "mosquitto.db").unlink()
    broker.start()


async def steal(broker: Mosquitto, client_id: str, *, clean_start: bool, expiry: int) -> None:
    """Connect once with `client_id` (a station taking ours), then leave."""
    reader, writer = await asyncio.open_connection(broker.host, broker.port)
    writer.write(
        codec.connect_packet(
            client_id, keepalive=30, clean_start=clean_start, session_expiry=expiry,
            receive_maximum=10,
        )
    )  # fmt: skip
    first, body = await read_packet(reader)
    assert first == 0x20 and body[1] == 0
    writer.write(codec.DISCONNECT_NORMAL)
    await writer.drain()
    writer.close()


async def test_a_client_taking_our_id_and_discarding_the_session_is_a_lost_session(
    mosquitto: Mosquitto, prefix: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "collector.mqtt")
    s = settings(mosquitto.url, prefix, reconnect_min_s=1.0)
    src = NativeMqttSource(s, LoopIntake(asyncio.get_running_loop(), 100), tmp_path)
    src.start()
    try:
        await until(lambda: src.connected, what="connect")
        # It keeps the session (clean start false, expiry): ours comes back intact.
        await steal(mosquitto, s.client_id, clean_start=False, expiry=300)
        await until(lambda: src.connects == 2 and src.connected, what="took it back")
        assert src.sessions_lost == 0
        # Clean start, no expiry: the broker discards our session; the reconnect says so.
        await steal(mosquitto, s.client_id, clean_start=True, expiry=0)
        await until(lambda: src.connects == 3 and src.connected, what="took it back again")
        await until(lambda: src.sessions_lost == 1, what="session loss noted")
        assert src.session_lost_at > 0
    finally:
        await src.close()
    lost = [r for r in caplog.records if "MQTT session lost" in r.getMessage()]
    assert len(lost) == 1 and lost[0].levelno == logging.WARNING


async def test_a_session_taken_over_disconnect_is_counted_and_logged(
    prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Mosquitto 2.0.11 closes the old link without a DISCONNECT; brokers that send 0x8E
    # (MQTT 5 §3.1.4) are played by the peer.
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await handshake(reader, writer)
        writer.write(codec.disconnect_packet(0x8E))

    caplog.set_level(logging.INFO, "collector.mqtt")
    async with fake_broker(script) as (url, events), source(settings(url, prefix)) as src:
        await until(lambda: events.count("connection") >= 2, what="reconnect")
        assert src.sessions_taken_over >= 1
        assert "session taken over (0x8E)" in src.last_error
    taken = [r for r in caplog.records if "took the session over" in r.getMessage()]
    assert len(taken) == src.sessions_taken_over and taken[0].levelno == logging.WARNING


async def test_a_broker_restart_without_persistence_is_a_lost_session(
    own_broker: Mosquitto, influxd: Influxd, fresh_db: str, prefix: str, tmp_path: Path
) -> None:
    data = tmp_path / "var"
    overrides = collector_overrides(
        own_broker, influxd, fresh_db, prefix, data,
        **{"mqtt.reconnect_min_s": 0.2, "mqtt.reconnect_max_s": 0.5},
    )  # fmt: skip
    async with running_collector(overrides) as c:
        src = c.source
        assert src is not None
        await until(lambda: (data / SESSION_FILE).exists(), what="session recorded")
        restart(own_broker, forget=False)  # persistence kept: the session is there
        await until(lambda: src.connects == 2 and src.connected, what="reconnect")
        assert src.sessions_lost == 0
        assert not any("session lost" in p for p in c.health()[1]["problems"])
        restart(own_broker, forget=True)
        await until(lambda: src.connects == 3 and src.connected, what="reconnect")
        # judged from the session marker once the subscription is back, just after CONNACK
        await until(lambda: src.sessions_lost == 1, what="session loss noted")
        assert c.http_port is not None
        health = await asyncio.to_thread(collector_http.health, c.http_port)
        assert any(p.startswith("mqtt session lost at ") for p in health["problems"])
        assert health["mqtt"]["sessions_lost"] == 1 and health["mqtt"]["session_lost_at"]
        text = await asyncio.to_thread(collector_http.metrics, c.http_port)
        assert metric(text, "solarwater_mqtt_sessions_lost_total") == 1
    # A new run knows from data_dir that it had a session: a forgetful broker is a loss.
    restart(own_broker, forget=True)
    async with running_collector(overrides) as c:
        assert c.source is not None and c.source.sessions_lost == 1
    # ... and a run without that record (a first start) has nothing to lose.
    restart(own_broker, forget=True)
    fresh = {**overrides, "data_dir": str(tmp_path / "other")}
    async with running_collector(fresh) as c:
        assert c.source is not None and c.source.sessions_lost == 0
