"""The shipped Mosquitto config on a real broker, and TLS MQTT 5 clients that log in to it."""

from __future__ import annotations

import getpass
import os
import queue
import re
import signal
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from devstack.ports import free_port, wait_for_port
from devstack.process import ManagedProcess, require_binary

ROOT = Path(__file__).resolve().parents[1]
MOSQUITTO_DIR = ROOT / "deploy" / "mosquitto"
CONF = MOSQUITTO_DIR / "mosquitto.conf"
ADD_STATION = ROOT / "deploy" / "add-station.sh"
MAKE_CERTS = ROOT / "deploy" / "make-certs.sh"
NOT_AUTHORIZED = 135
NO_SUBSCRIBERS = 16


def make_certs(out: Path, *names: str) -> Path:
    """The deployment CA and server certificate, made by deploy/make-certs.sh into `out`."""
    subprocess.run(
        ["sh", str(MAKE_CERTS), "--out", str(out), *names],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return out


def add_station(passwd: Path, station: str, password: str, *flags: str) -> str:
    """Run deploy/add-station.sh on a password file; its stdout."""
    done = subprocess.run(
        ["sh", str(ADD_STATION), "--passwd-file", str(passwd), *flags, station],
        env=os.environ | {"STATION_PASSWORD": password},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert not password or password not in done.stdout, "a given password is not echoed"
    return done.stdout


def add_service_login(passwd: Path, user: str, password: str) -> None:
    """A service login, as the broker's entrypoint writes it."""
    passwd.touch(mode=0o600)
    subprocess.run(
        [require_binary("mosquitto_passwd"), "-b", str(passwd), user, password], check=True
    )


class ShippedBroker(ManagedProcess):
    """Mosquitto running the shipped config; only the ports and file paths are local."""

    name = "mosquitto"

    def __init__(self, workdir: Path, certs: Path, auth: Path) -> None:
        super().__init__(workdir)
        self.station_port = free_port()
        self.service_port = free_port()
        self.certs = certs
        self.auth = auth
        self.ca = certs / "ca.crt"

    def command(self) -> list[str]:
        text = CONF.read_text()
        local = {
            r"^listener 8883$": (f"listener {self.station_port} 127.0.0.1", 1),
            r"^listener 8884$": (f"listener {self.service_port} 127.0.0.1", 1),
            r" /mosquitto/tls/": (f" {self.certs}/", 6),
            r" /mosquitto/auth/": (f" {self.auth}/", 2),
            r" /mosquitto/config/": (f" {MOSQUITTO_DIR}/", 2),
            r"^persistence_location .*$": (f"persistence_location {self.workdir}/", 1),
            r"^log_dest .*$": ("log_dest stderr", 1),
        }
        for pattern, (line, count) in local.items():
            text, n = re.subn(pattern, line, text, flags=re.M)
            assert n == count, f"shipped mosquitto.conf: {pattern!r} {n} times, not {count}"
        left = re.findall(r"^[^#\n]* /mosquitto/.*$", text, flags=re.M)
        assert not left, f"container paths left unsubstituted: {left}"
        # started as root, Mosquitto drops to user `mosquitto`, which cannot read our 0600 files
        # (in the container the entrypoint chowns them instead)
        text += f"\nuser {getpass.getuser()}\n"
        conf = self.workdir / "mosquitto.conf"
        conf.write_text(text)
        return [require_binary("mosquitto"), "-c", str(conf)]

    def wait_ready(self) -> None:
        wait_for_port(self.station_port)
        wait_for_port(self.service_port)

    def reload(self) -> None:
        """SIGHUP: re-read password files and ACLs, as add-station.sh has the broker do."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGHUP)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


class Client:
    """A TLS MQTT 5 client recording what it receives, its PUBACK codes and its connections."""

    def __init__(
        self,
        port: int,
        ca: Path,
        user: str | None,
        password: str | None,
        client_id: str | None = None,
        protocol: mqtt.MQTTProtocolVersion = mqtt.MQTTv5,
    ) -> None:
        self.got: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.acks: dict[int, int] = {}
        self.connected: queue.Queue[int] = queue.Queue()
        self.disconnects = 0
        self.c = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id or f"t-{uuid.uuid4().hex[:8]}",
            protocol=protocol,
        )
        self.c.tls_set(ca_certs=str(ca))
        if user is not None:
            self.c.username_pw_set(user, password)
        self.c.on_connect = lambda c, u, f, rc, p: self.connected.put(int(rc.value))
        self.c.on_disconnect = self._on_disconnect
        self.c.on_message = lambda c, u, m: self.got.put((m.topic, bytes(m.payload)))
        self.c.on_publish = self._on_publish
        self.c.connect("127.0.0.1", port)
        self.c.loop_start()
        self.rc = self.connected.get(timeout=10)

    def _on_disconnect(self, c: Any, u: Any, flags: Any, rc: Any, props: Any) -> None:
        self.disconnects += 1

    def _on_publish(self, c: Any, u: Any, mid: int, rc: Any, props: Any) -> None:
        self.acks[mid] = rc.value

    @property
    def is_connected(self) -> bool:
        return self.c.is_connected()

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
