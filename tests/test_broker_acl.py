"""The shipped Mosquitto auth and ACL, on a real broker: who may publish and read what."""

from __future__ import annotations

import getpass
import os
import queue
import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from devstack.ports import free_port, wait_for_port
from devstack.process import ManagedProcess, require_binary

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "deploy" / "mosquitto" / "mosquitto.conf"
ACL = ROOT / "deploy" / "mosquitto" / "acl"
ADD_STATION = ROOT / "deploy" / "add-station.sh"
PASSWORDS = {"collector": "c0llect", "simulator": "s1m", "PEMBA-01": "pa55-a", "PEMBA-02": "pa55-b"}
NOT_AUTHORIZED = 135
NO_SUBSCRIBERS = 16


class ShippedBroker(ManagedProcess):
    """Mosquitto running the shipped config; only the listener and file paths are local."""

    name = "mosquitto"

    def __init__(self, workdir: Path, passwd: Path) -> None:
        super().__init__(workdir)
        self.port = free_port()
        self.passwd = passwd

    def command(self) -> list[str]:
        text = CONF.read_text()
        local = {
            r"^listener .*$": f"listener {self.port} 127.0.0.1",
            r"^password_file .*$": f"password_file {self.passwd}",
            r"^acl_file .*$": f"acl_file {ACL}",
            r"^persistence_location .*$": f"persistence_location {self.workdir}/",
            r"^log_dest .*$": "log_dest stderr",
        }
        for pattern, line in local.items():
            text, n = re.subn(pattern, line, text, flags=re.M)
            assert n == 1, f"shipped mosquitto.conf has no single {pattern!r} line"
        # started as root, Mosquitto drops to user `mosquitto`, which cannot read our 0600 files
        # (in the container the entrypoint chowns them instead)
        text += f"\nuser {getpass.getuser()}\n"
        conf = self.workdir / "mosquitto.conf"
        conf.write_text(text)
        return [require_binary("mosquitto"), "-c", str(conf)]

    def wait_ready(self) -> None:
        wait_for_port(self.port)


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ShippedBroker]:
    work = tmp_path_factory.mktemp("acl-broker")
    passwd = work / "passwd"
    for station in ("PEMBA-01", "PEMBA-02"):
        env = os.environ | {"STATION_PASSWORD": PASSWORDS[station]}
        done = subprocess.run(
            ["sh", str(ADD_STATION), "--passwd-file", str(passwd), station],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert PASSWORDS[station] not in done.stdout, "a given password is not echoed"
    for user in ("collector", "simulator"):
        subprocess.run(
            [require_binary("mosquitto_passwd"), "-b", str(passwd), user, PASSWORDS[user]],
            check=True,
        )
    server = ShippedBroker(work, passwd)
    server.start()
    yield server
    server.stop()


class Client:
    """A connected MQTT 5 client recording what it receives and its PUBACK reason codes."""

    def __init__(self, broker: ShippedBroker, user: str | None, password: str | None = None):
        self.got: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.acks: dict[int, int] = {}
        self.connected: queue.Queue[int] = queue.Queue()
        self.c = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"t-{uuid.uuid4().hex[:8]}",
            protocol=mqtt.MQTTv5,
        )
        if user is not None:
            self.c.username_pw_set(user, password if password is not None else PASSWORDS[user])
        self.c.on_connect = lambda c, u, f, rc, p: self.connected.put(rc.value)
        self.c.on_message = lambda c, u, m: self.got.put((m.topic, bytes(m.payload)))
        self.c.on_publish = self._on_publish
        self.c.connect("127.0.0.1", broker.port)
        self.c.loop_start()
        self.rc = self.connected.get(timeout=10)

    def _on_publish(self, c: Any, u: Any, mid: int, rc: Any, props: Any) -> None:
        self.acks[mid] = rc.value

    def subscribe(self, *topics: str) -> None:
        done: queue.Queue[list[int]] = queue.Queue()
        self.c.on_subscribe = lambda c, u, mid, rcs, p: done.put([r.value for r in rcs])
        self.c.subscribe([(t, 1) for t in topics])
        done.get(timeout=10)

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> int:
        """Publish at QoS 1 and return the broker's PUBACK reason code (0 for success)."""
        info = self.c.publish(topic, payload, qos=1, retain=retain)
        info.wait_for_publish(timeout=10)
        deadline = time.monotonic() + 10
        while info.mid not in self.acks and time.monotonic() < deadline:
            time.sleep(0.01)
        code = self.acks[info.mid]
        # 16 "no matching subscribers" is a success code too (MQTT 5 §3.4.2.1)
        return 0 if code == NO_SUBSCRIBERS else code

    def received(self, wait: float) -> list[tuple[str, bytes]]:
        out = []
        deadline = time.monotonic() + wait
        while True:
            try:
                out.append(self.got.get(timeout=max(0.0, deadline - time.monotonic())))
            except queue.Empty:
                return out

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


@pytest.fixture
def clients(broker: ShippedBroker) -> Iterator[list[Client]]:
    made: list[Client] = []
    yield made
    for c in made:
        c.close()


def connect(
    broker: ShippedBroker, clients: list[Client], user: str | None, pw: str | None = None
) -> Client:
    c = Client(broker, user, pw)
    clients.append(c)
    return c


def test_anonymous_and_wrong_passwords_are_refused(
    broker: ShippedBroker, clients: list[Client]
) -> None:
    assert connect(broker, clients, None).rc != 0
    assert connect(broker, clients, "PEMBA-01", "not-the-password").rc != 0
    assert connect(broker, clients, "PEMBA-03", "never-added").rc != 0
    assert connect(broker, clients, "PEMBA-01").rc == 0


def test_station_publishes_only_under_its_own_id(
    broker: ShippedBroker, clients: list[Client]
) -> None:
    collector = connect(broker, clients, "collector")
    collector.subscribe("solarwater/+/+/+/telemetry", "solarwater/+/+/+/status")
    a = connect(broker, clients, "PEMBA-01")
    assert a.rc == 0
    # the forbidden message goes first: when the allowed one arrives, the other would have too
    assert a.publish("solarwater/PEMBA-02/solar/mppt1/telemetry", b'{"fake":1}') == NOT_AUTHORIZED
    assert a.publish("solarwater/PEMBA-01/solar/mppt1/telemetry", b'{"own":1}') == 0
    assert a.publish("solarwater/PEMBA-01/tank/tank1/status", b'{"state":"online"}') == 0
    got = collector.received(1.0)
    assert ("solarwater/PEMBA-01/solar/mppt1/telemetry", b'{"own":1}') in got
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


@pytest.mark.parametrize("bad", ["collector", "alerts", "has space", "a/b", "x" * 65])
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


def test_add_station_generates_a_password_when_none_is_given(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "STATION_PASSWORD"}
    done = subprocess.run(
        ["sh", str(ADD_STATION), "--passwd-file", str(tmp_path / "p"), "IBO-01"],
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
