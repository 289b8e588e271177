"""DONE-WHEN for issue 10: a station login cannot hijack client ids or stall the collector.

A real collector (subprocess) reads the shipped broker's service listener over TLS and writes to
a real InfluxDB; stations publish with paho over the TLS station listener.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import orjson
import paho.mqtt.client as mqtt
import pytest

from collector.config import MqttSettings
from devstack import Influxd
from tests.broker_support import (
    NO_SUBSCRIBERS,
    NOT_AUTHORIZED,
    Client,
    ShippedBroker,
    add_service_login,
    add_station,
    make_certs,
)
from tests.collector_support import CollectorProcess
from tests.fault_support import fleet_messages, metric, points, wait_for

STATIONS = ("ST00", "ST01", "ST02")  # fleet_messages' ids
THIEF = "ST03"
PASSWORD = "pw-{}"
COLLECTOR_ID = str(MqttSettings.model_fields["client_id"].default)


@dataclass
class Site:
    broker: ShippedBroker
    collector: CollectorProcess
    influxd: Influxd
    db: str


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, influxd: Influxd) -> Iterator[Site]:
    work = tmp_path_factory.mktemp("identity")
    auth = work / "auth"
    auth.mkdir()
    for station in (*STATIONS, THIEF):
        add_station(auth / "stations.passwd", station, PASSWORD.format(station))
    add_service_login(auth / "services.passwd", "collector", "pw-collector")
    broker = ShippedBroker(work / "broker", make_certs(work / "certs"), auth)
    broker.start()
    db = "identity_" + uuid.uuid4().hex[:8]
    influxd.create_db(db)
    collector = CollectorProcess(
        work,
        {
            # the default client id: the one a station would try to steal
            "SOLARWATER_MQTT__URL": f"mqtts://127.0.0.1:{broker.service_port}",
            "SOLARWATER_MQTT__CA_FILE": str(broker.ca),
            "SOLARWATER_MQTT__USERNAME": "collector",
            "SOLARWATER_MQTT__PASSWORD": "pw-collector",
            "SOLARWATER_MQTT__PREFIX": "solarwater",
            "SOLARWATER_INFLUX__URL": influxd.url,
            "SOLARWATER_INFLUX__DB": db,
            "SOLARWATER_INFLUX__FLUSH_INTERVAL_S": "0.2",
            "SOLARWATER_DATA_DIR": str(work / "data"),
            "SOLARWATER_STATS_INTERVAL_S": "1",
        },
    )
    collector.start()
    try:
        wait_for(lambda: collector.health()["mqtt"]["connected"], 20, what="collector on TLS")
        yield Site(broker, collector, influxd, db)
    finally:
        collector.stop()
        broker.stop()
        influxd.drop_db(db)


def station(
    site: Site,
    name: str,
    client_id: str | None = None,
    protocol: mqtt.MQTTProtocolVersion = mqtt.MQTTv5,
) -> Client:
    """A station's TLS connection with its own login; `client_id` is what it asks for."""
    port, ca = site.broker.station_port, site.broker.ca
    c = Client(port, ca, name, PASSWORD.format(name), client_id or name, protocol)
    assert c.rc == 0, f"{name} refused: {c.rc}"
    return c


def forged(victim: str, i: int) -> tuple[str, bytes]:
    """A reading for another station: it would be a point of its own if it ever landed."""
    ts = time.time() - 86400 + i
    return f"solarwater/{victim}/solar/mppt1/telemetry", orjson.dumps({"ts": ts, "pv_power_w": 1.0})


def assert_collector_never_reconnected(site: Site) -> None:
    health = site.collector.health()["mqtt"]
    assert health["connected"] and health["connects"] == 1, health
    text = site.collector.metrics()
    assert metric(text, "solarwater_mqtt_connects_total") == 1
    assert metric(text, "solarwater_mqtt_connected") == 1


@pytest.mark.slow
def test_hijack_attempts_lose_no_reading_and_kick_nobody(site: Site) -> None:
    """DONE-WHEN: a station login tries the collector's client id 10 times in 30 s, and another
    station's id as well; every reading the other stations publish meanwhile lands, and the
    collector stays connected."""
    rounds, per_round = 10, 3
    messages = fleet_messages("solarwater", len(STATIONS), rounds * per_round)
    by_station: dict[str, list[tuple[str, bytes]]] = {s: [] for s in STATIONS}
    for m in messages:
        by_station[m.topic.split("/")[1]].append((m.topic, m.payload))
    honest = {s: station(site, s) for s in STATIONS}
    sent: list[tuple[Client, mqtt.MQTTMessageInfo]] = []
    refused = 0
    start = time.monotonic()
    try:
        for r in range(rounds):
            for i, stolen in enumerate((COLLECTOR_ID, STATIONS[r % len(STATIONS)])):
                thief = station(site, THIEF, client_id=stolen)
                topic, payload = forged(STATIONS[(r + 1) % len(STATIONS)], 2 * r + i)
                refused += thief.publish(topic, payload) == NOT_AUTHORIZED
                thief.close()
            for s, client in honest.items():
                chunk = by_station[s][r * 2 * per_round : (r + 1) * 2 * per_round]
                sent += [(client, client.c.publish(t, p, qos=1)) for t, p in chunk]
            time.sleep(max(0.0, start + 2.8 * (r + 1) - time.monotonic()))
        for client, info in sent:
            info.wait_for_publish(10)
            assert client.acks[info.mid] in (0, NO_SUBSCRIBERS)
        assert refused == 2 * rounds
        assert len(sent) == len(messages)
        wait_for(lambda: points(site.influxd, site.db) >= len(messages), 20, what="all readings")
        time.sleep(1.0)  # a forged reading, had one got through, would show up by now
        assert points(site.influxd, site.db) == len(messages)
        for s, client in honest.items():
            assert client.is_connected and client.disconnects == 0, s
            assert client.connected.empty(), f"{s} had to reconnect"
        assert_collector_never_reconnected(site)
        assert "already connected" not in site.broker.log()
    finally:
        for client in honest.values():
            client.close()


def test_a_64_mib_publish_is_refused_and_harms_no_one(site: Site) -> None:
    """DONE-WHEN: a station's 64 MiB publish is refused by the shipped broker."""
    before = points(site.influxd, site.db)
    received_before = metric(site.collector.metrics(), "solarwater_messages_received_total")
    bystander = station(site, "ST00")
    # MQTT 3.1.1: an MQTT 5 client would be told the size limit in the CONNACK and hold back,
    # an attacker would not
    thief = station(site, THIEF, protocol=mqtt.MQTTv311)
    try:
        started = time.monotonic()
        thief.c.publish(
            f"solarwater/{THIEF}/solar/mppt1/telemetry", b"{" + b" " * (64 << 20) + b"}", qos=1
        )
        wait_for(lambda: thief.disconnects > 0, 20, 0.05, "the broker dropping the 64 MiB sender")
        assert time.monotonic() - started < 15
        topic = "solarwater/ST00/tank/tank1/telemetry"
        payload = orjson.dumps({"ts": time.time() - 30, "level_pct": 55.0})
        assert bystander.publish(topic, payload) == 0
        wait_for(lambda: points(site.influxd, site.db) == before + 1, 15, what="the bystander")
        assert bystander.is_connected and bystander.disconnects == 0
        text = site.collector.metrics()
        # the collector got the bystander's message and nothing else
        assert metric(text, "solarwater_messages_received_total") == received_before + 1
        assert_collector_never_reconnected(site)
    finally:
        thief.close()
        bystander.close()
