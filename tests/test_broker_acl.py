"""The shipped Mosquitto listeners, logins and ACLs on a real broker: who may do what where."""

from __future__ import annotations

import os
import re
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.broker_support import (
    ADD_STATION,
    NOT_AUTHORIZED,
    Client,
    ShippedBroker,
    add_service_login,
    add_station,
    make_certs,
)

SERVICES = {"collector": "c0llect", "simulator": "s1m"}
STATIONS = {"PEMBA-01": "pa55-a", "PEMBA-02": "pa55-b"}
PASSWORDS = SERVICES | STATIONS


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ShippedBroker]:
    work = tmp_path_factory.mktemp("acl-broker")
    auth = work / "auth"
    auth.mkdir()
    for station, password in STATIONS.items():
        add_station(auth / "stations.passwd", station, password)
    for user, password in SERVICES.items():
        add_service_login(auth / "services.passwd", user, password)
    server = ShippedBroker(work, make_certs(work / "certs"), auth)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def clients(broker: ShippedBroker) -> Iterator[list[Client]]:
    made: list[Client] = []
    yield made
    for c in made:
        c.close()


def connect(
    broker: ShippedBroker,
    clients: list[Client],
    user: str | None,
    pw: str | None = None,
    client_id: str | None = None,
) -> Client:
    """Stations go to the station listener, the services to theirs."""
    port = broker.service_port if user in SERVICES else broker.station_port
    c = Client(
        port, broker.ca, user, pw if pw is not None else PASSWORDS.get(user or ""), client_id
    )
    clients.append(c)
    return c


def test_anonymous_and_wrong_passwords_are_refused(
    broker: ShippedBroker, clients: list[Client]
) -> None:
    assert connect(broker, clients, None).rc != 0
    assert connect(broker, clients, "PEMBA-01", "not-the-password").rc != 0
    assert connect(broker, clients, "PEMBA-03", "never-added").rc != 0
    assert connect(broker, clients, "PEMBA-01").rc == 0


def test_each_listener_knows_only_its_own_logins(
    broker: ShippedBroker, clients: list[Client]
) -> None:
    for station, password in STATIONS.items():
        on_services = Client(broker.service_port, broker.ca, station, password)
        clients.append(on_services)
        assert on_services.rc != 0, f"{station} logged in on the service listener"
    for user, password in SERVICES.items():
        on_stations = Client(broker.station_port, broker.ca, user, password)
        clients.append(on_stations)
        assert on_stations.rc != 0, f"{user} logged in on the station listener"
    anonymous = Client(broker.service_port, broker.ca, None, None)
    clients.append(anonymous)
    assert anonymous.rc != 0
    assert connect(broker, clients, "collector").rc == 0


@pytest.mark.parametrize("listener", ["station_port", "service_port"])
def test_plain_mqtt_gets_no_answer_from_a_tls_listener(
    broker: ShippedBroker, listener: str
) -> None:
    # an MQTT 3.1.1 CONNECT in clear: a broker speaking plain MQTT would answer with a CONNACK
    connect_packet = bytes.fromhex("101000044d5154540402003c000474657374")
    with socket.create_connection(("127.0.0.1", getattr(broker, listener)), timeout=5) as s:
        s.sendall(connect_packet)
        try:
            answer = s.recv(64)
        except (ConnectionResetError, TimeoutError):
            answer = b""
    assert not answer.startswith(b"\x20"), answer  # 0x20 = CONNACK


def test_a_client_trusting_another_ca_refuses_the_broker(
    broker: ShippedBroker, tmp_path: Path
) -> None:
    other = make_certs(tmp_path / "other")
    for port in (broker.station_port, broker.service_port):
        with pytest.raises(ssl.SSLCertVerificationError):
            Client(port, other / "ca.crt", "PEMBA-01", STATIONS["PEMBA-01"])


def test_station_publishes_only_under_its_own_id(
    broker: ShippedBroker, clients: list[Client]
) -> None:
    collector = connect(broker, clients, "collector")
    collector.subscribe(
        "solarwater/+/+/+/telemetry", "solarwater/+/+/+/senml", "solarwater/+/+/+/status"
    )
    a = connect(broker, clients, "PEMBA-01")
    assert a.rc == 0
    # the forbidden message goes first: when the allowed one arrives, the other would have too
    assert a.publish("solarwater/PEMBA-02/solar/mppt1/telemetry", b'{"fake":1}') == NOT_AUTHORIZED
    assert a.publish("solarwater/PEMBA-02/solar/mppt1/senml", b"[]") == NOT_AUTHORIZED
    assert a.publish("solarwater/PEMBA-01/solar/mppt1/telemetry", b'{"own":1}') == 0
    assert a.publish("solarwater/PEMBA-01/solar/mppt1/senml", b'[{"own":1}]') == 0
    assert a.publish("solarwater/PEMBA-01/tank/tank1/status", b'{"state":"online"}') == 0
    got = collector.received(1.0)
    assert ("solarwater/PEMBA-01/solar/mppt1/telemetry", b'{"own":1}') in got
    assert ("solarwater/PEMBA-01/solar/mppt1/senml", b'[{"own":1}]') in got
    assert ("solarwater/PEMBA-01/tank/tank1/status", b'{"state":"online"}') in got
    assert not [t for t, _ in got if "PEMBA-02" in t], got
    # nor may it pose as the collector
    assert a.publish("solarwater/alerts/PEMBA-02/battery_low", b"{}") == NOT_AUTHORIZED


def test_station_reads_neither_alerts_nor_other_telemetry(
    broker: ShippedBroker, clients: list[Client]
) -> None:
    collector = connect(broker, clients, "collector")
    assert (
        collector.publish("solarwater/alerts/PEMBA-02/tank_low", b'{"state":"firing"}', True) == 0
    )
    a = connect(broker, clients, "PEMBA-01")
    a.subscribe("solarwater/#", "solarwater/alerts/#", "solarwater/+/+/+/telemetry")
    watcher = connect(broker, clients, "collector")
    watcher.subscribe("solarwater/+/+/+/telemetry", "solarwater/alerts/#")
    b = connect(broker, clients, "PEMBA-02")
    assert b.publish("solarwater/PEMBA-02/tank/tank1/telemetry", b'{"level_pct":40}') == 0
    seen = watcher.received(1.0)
    assert ("solarwater/PEMBA-02/tank/tank1/telemetry", b'{"level_pct":40}') in seen
    assert any(t == "solarwater/alerts/PEMBA-02/tank_low" for t, _ in seen), "retained alert"
    assert a.received(0.5) == []


def test_collector_reads_telemetry_and_writes_alerts(
    broker: ShippedBroker, clients: list[Client]
) -> None:
    collector = connect(broker, clients, "collector")
    collector.subscribe("solarwater/+/+/+/telemetry", "solarwater/alerts/#")
    assert (
        collector.publish("solarwater/alerts/PEMBA-01/battery_low", b'{"state":"firing"}', True)
        == 0
    )
    sim = connect(broker, clients, "simulator")
    assert sim.publish("solarwater/MUEDA-01/solar/mppt1/telemetry", b'{"pv_power_w":10.0}') == 0
    got = collector.received(1.0)
    assert ("solarwater/alerts/PEMBA-01/battery_low", b'{"state":"firing"}') in got
    assert ("solarwater/MUEDA-01/solar/mppt1/telemetry", b'{"pv_power_w":10.0}') in got
    # the collector itself may not inject telemetry
    assert collector.publish("solarwater/PEMBA-01/solar/mppt1/telemetry", b"{}") == NOT_AUTHORIZED


def test_a_station_cannot_take_the_collectors_or_another_stations_client_id(
    broker: ShippedBroker, clients: list[Client]
) -> None:
    collector = connect(broker, clients, "collector", client_id="solarwater-collector")
    collector.subscribe("solarwater/+/+/+/telemetry")
    other = connect(broker, clients, "PEMBA-02", client_id="PEMBA-02")
    for stolen in ("solarwater-collector", "solarwater.collector", "PEMBA-02"):
        thief = connect(broker, clients, "PEMBA-01", client_id=stolen)
        assert thief.rc == 0  # it gets in, but under its own login as client id
        thief.close()
    time.sleep(0.3)
    assert collector.is_connected and collector.disconnects == 0
    assert other.is_connected and other.disconnects == 0
    assert other.publish("solarwater/PEMBA-02/tank/tank1/telemetry", b'{"still":1}') == 0
    assert ("solarwater/PEMBA-02/tank/tank1/telemetry", b'{"still":1}') in collector.received(1)
    assert "already connected" not in broker.log()


def test_rotate_and_revoke_cut_off_the_old_login(
    broker: ShippedBroker, clients: list[Client]
) -> None:
    passwd = broker.auth / "stations.passwd"
    add_station(passwd, "PEMBA-09", "first-pw")
    broker.reload()
    time.sleep(0.3)
    live = connect(broker, clients, "PEMBA-09", "first-pw")
    assert live.rc == 0
    add_station(passwd, "PEMBA-09", "second-pw", "--rotate")
    broker.reload()
    time.sleep(0.5)
    assert not live.is_connected, "the old password's connection outlived the rotation"
    assert connect(broker, clients, "PEMBA-09", "first-pw").rc != 0
    assert connect(broker, clients, "PEMBA-09", "second-pw").rc == 0
    add_station(passwd, "PEMBA-09", "", "--revoke")
    broker.reload()
    time.sleep(0.5)
    assert not clients[-1].is_connected, "a revoked login stayed connected"
    assert connect(broker, clients, "PEMBA-09", "second-pw").rc != 0
    assert "PEMBA-09:" not in passwd.read_text()


@pytest.mark.parametrize(
    "bad", ["collector", "alerts", "simulator", "solarwater-collector", "SolarWater_x",
            "has space", "a/b", "x" * 65],
)  # fmt: skip
def test_add_station_refuses_bad_or_reserved_ids(tmp_path: Path, bad: str) -> None:
    done = subprocess.run(
        ["sh", str(ADD_STATION), "--passwd-file", str(tmp_path / "p"), bad],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "p").exists()


def test_add_station_refuses_to_overwrite_and_to_touch_a_missing_login(tmp_path: Path) -> None:
    passwd = tmp_path / "p"
    add_station(passwd, "IBO-01", "pw-one")
    before = passwd.read_text()
    for flags in ([], ["--rotate", "IBO-02"], ["--revoke", "IBO-02"]):
        done = subprocess.run(
            ["sh", str(ADD_STATION), "--passwd-file", str(passwd), *(flags or ["IBO-01"])],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 1, flags
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert passwd.read_text() == before


def test_add_station_generates_a_password_when_none_is_given(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "STATION_PASSWORD"}
    for flags in ([], ["--rotate"]):
        done = subprocess.run(
            ["sh", str(ADD_STATION), "--passwd-file", str(tmp_path / "p"), *flags, "IBO-01"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        match = re.search(r"username: IBO-01  password: ([0-9a-f]{36})", done.stdout)
        assert match, done.stdout
        entry = (tmp_path / "p").read_text()
        assert entry.startswith("IBO-01:") and match.group(1) not in entry
        assert (tmp_path / "p").stat().st_mode & 0o077 == 0
