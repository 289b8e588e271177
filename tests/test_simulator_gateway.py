"""The simulator as station gateways on real Mosquitto: one connection each, logins, TLS."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from devices.catalogue import KINDS
from devstack import Mosquitto, free_port
from simulator import SimulationConfig, Summary, run_simulation
from tests.broker_support import ShippedBroker, add_service_login, add_station, make_certs
from tests.test_broker_acl import PASSWORDS
from tests.test_simulator_publish import Subscriber
from tests.test_tls import make_ca_and_server_cert

DEV = len(KINDS)  # devices per sample station: one of each kind (tests/test_devices.py)

ROOT = Path(__file__).resolve().parents[1]
START = datetime.fromisoformat("2025-02-10T00:00:00+02:00")
STATIONS = ("PEMBA-01", "PEMBA-02", "MONTEPUEZ-01")


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "simulator", "--quiet", "--start", START.isoformat(), *args],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip


def _one_line_error(r: subprocess.CompletedProcess[str], code: int) -> str:
    assert r.returncode == code, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("simulator: error:"), r.stderr
    return lines[0]


def test_each_station_is_one_connection_whose_client_id_is_the_station_id(
    tmp_path: Path,
) -> None:
    # a broker of its own with the default prefix: the client id is then exactly the station id
    broker = Mosquitto(tmp_path / "broker")
    broker.start()
    sub = Subscriber(broker.port, "solarwater").start()
    # 24 ticks ~0.1 s apart: a client with PEMBA-01's id takes the session over midway
    cfg = SimulationConfig(
        mqtt_url=broker.url, stations=3, duration_s=2 * 3600, start=START, speed=3000.0,
        quiet=True, scenario="none",
    )  # fmt: skip
    result: list[Summary] = []
    runner = threading.Thread(target=lambda: result.append(run_simulation(cfg)))
    try:
        runner.start()
        assert sub.wait_for(lambda: len(sub.telemetry()) >= 6, 10)
        intruder = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="PEMBA-01")
        intruder.connect(broker.host, broker.port)
        intruder.loop(1.0)
        intruder.disconnect()
        runner.join(60)
        assert result, "the run did not finish"
        summary = result[0]
        log = broker.log_path.read_text()
        connected = re.findall(r"New client connected from \S+ as (\S+) \(", log)
        sims = [c for c in connected if c in STATIONS]
        # one connection per station; PEMBA-01 twice: it took its id back after the takeover
        assert sorted(set(sims)) == sorted(STATIONS)
        assert sims.count("PEMBA-02") == 1 and sims.count("MONTEPUEZ-01") == 1
        assert sims.count("PEMBA-01") == 3  # the gateway, the intruder, the gateway again
        assert "Client PEMBA-01 already connected, closing old connection." in log
        # the takeover cost the station its session, not a reading
        assert summary.readings.total == 3 * DEV * 24
        assert sub.wait_for(lambda: len({_key(g) for g in sub.readings()}) >= 3 * DEV * 24, 10)
    finally:
        sub.stop()
        broker.stop()


def _key(g: Any) -> tuple[str, str, int]:
    return (g.station, g.device, g.seq)


# --- per-station logins against the shipped password file and ACL ------------------------------


@pytest.fixture(scope="module")
def acl_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ShippedBroker]:
    """The shipped two-listener TLS broker: stations on theirs, the collector on the services'."""
    work = tmp_path_factory.mktemp("gateway-acl")
    auth = work / "auth"
    auth.mkdir()
    for station in ("PEMBA-01", "PEMBA-02"):
        add_station(auth / "stations.passwd", station, PASSWORDS[station])
    add_service_login(auth / "services.passwd", "collector", PASSWORDS["collector"])
    server = ShippedBroker(work, make_certs(work / "certs"), auth)
    server.start()
    yield server
    server.stop()


def _logins(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


class Reader:
    """The collector's login, subscribed to every station's telemetry and status."""

    def __init__(self, port: int, ca: Path) -> None:
        self.got: list[tuple[str, bytes]] = []
        self.lock = threading.Lock()
        ready = threading.Event()
        self.c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="t-reader-gateway")
        self.c.tls_set(ca_certs=str(ca))
        self.c.username_pw_set("collector", PASSWORDS["collector"])
        self.c.on_connect = lambda c, *a: c.subscribe(
            [("solarwater/+/+/+/telemetry", 1), ("solarwater/+/+/+/status", 1)]
        )
        self.c.on_subscribe = lambda *a: ready.set()
        self.c.on_message = lambda c, u, m: self._keep(m.topic, bytes(m.payload))
        self.c.connect("127.0.0.1", port)
        self.c.loop_start()
        assert ready.wait(10)

    def _keep(self, topic: str, payload: bytes) -> None:
        with self.lock:
            self.got.append((topic, payload))

    def readings_by_station(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        with self.lock:
            got = list(self.got)
        for topic, payload in got:
            _, station, kind, _, channel = topic.split("/")
            if channel == "telemetry":
                body = json.loads(payload)
                per = out.setdefault(station, {})
                per[kind] = per.get(kind, 0) + len(body.get("readings", [body]))
        return out

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


def test_per_station_logins_publish_through_the_shipped_acl(
    acl_broker: ShippedBroker, tmp_path: Path
) -> None:
    logins = _logins(
        tmp_path / "logins", f"# station password\nPEMBA-01 {PASSWORDS['PEMBA-01']}\n"
        f"PEMBA-02 {PASSWORDS['PEMBA-02']}\n",
    )  # fmt: skip
    reader = Reader(acl_broker.service_port, acl_broker.ca)
    out = tmp_path / "summary.json"
    try:
        r = _cli(
            # the URL's login is wrong: the run works only if each station uses its own
            "--mqtt-url", f"mqtts://simulator:wrong@127.0.0.1:{acl_broker.station_port}",
            "--ca-file", str(acl_broker.ca), "--credentials", str(logins),
            "--stations", "2", "--duration", "1h", "--summary-json", str(out),
        )  # fmt: skip
        assert r.returncode == 0, r.stderr
        s = json.loads(out.read_text())
        per_station = {"solar": 12, "tank": 12, "lighting": 12}
        want = {"PEMBA-01": per_station, "PEMBA-02": per_station}
        assert s["readings"]["by_station"] == want
        # the ACL lets a station write only under its own id: all arrived, so each used its own
        deadline = time.monotonic() + 10
        while reader.readings_by_station() != want and time.monotonic() < deadline:
            time.sleep(0.05)
        assert reader.readings_by_station() == want
        status = [t for t, _ in reader.got if t.endswith("/status")]
        assert len(status) == 2 * DEV * 2  # online and offline per device
        log = acl_broker.log_path.read_text()
        for station in ("PEMBA-01", "PEMBA-02"):  # client id and login are the station id
            assert re.search(rf"as {station} \(p\d, c\d, k\d+, u'{station}'\)", log), log[-2000:]
    finally:
        reader.close()


def test_a_yaml_logins_file_works_and_a_wrong_password_is_one_line(
    acl_broker: ShippedBroker, tmp_path: Path
) -> None:
    url = f"mqtts://127.0.0.1:{acl_broker.station_port}"
    tls = ("--ca-file", str(acl_broker.ca))
    good = _logins(tmp_path / "good.yaml", f"PEMBA-01: {PASSWORDS['PEMBA-01']}\n")
    assert _cli("--mqtt-url", url, *tls, "--credentials", str(good), "--stations", "1",
                "--duration", "15m").returncode == 0  # fmt: skip
    bad = _logins(tmp_path / "bad.yaml", "PEMBA-01: guessed\n")
    line = _one_line_error(
        _cli("--mqtt-url", url, *tls, "--credentials", str(bad), "--stations", "1",
             "--duration", "15m"),
        1,
    )  # fmt: skip
    assert "cannot connect to broker" in line and "guessed" not in line


@pytest.mark.parametrize(
    ("text", "mode", "says"),
    [
        ("PEMBA-01 secret\n", 0o644, "mode 0644; chmod 600"),
        ("PEMBA-01 secret\n", 0o640, "mode 0640; chmod 600"),
        ("PEMBA-02 secret\n", 0o600, "no password for station PEMBA-01"),
        ("PEMBA-01: [a, b]\n", 0o600, "password is not text"),
        ("PEMBA-01:\n  - x\n ]: {", 0o600, "neither YAML nor"),
        ("bad/id secret\n", 0o600, "bad station id"),
        ("PEMBA-01 a\nPEMBA-01 b\n", 0o600, "listed twice"),
        ("# nobody\n", 0o600, "names no station"),
    ],
)
def test_a_bad_logins_file_is_refused_with_one_line(
    tmp_path: Path, text: str, mode: int, says: str
) -> None:
    path = _logins(tmp_path / "logins", text, mode)
    line = _one_line_error(
        _cli("--mqtt-url", "mqtt://127.0.0.1:1", "--credentials", str(path), "--stations", "1"), 2
    )
    assert says in line and "secret" not in line


# --- TLS -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Mosquitto, int, Path]]:
    d = tmp_path_factory.mktemp("gateway-tls")
    ca, cert, key = make_ca_and_server_cert(d)
    port = free_port()
    conf = f"listener {port} 127.0.0.1\ncafile {ca}\ncertfile {cert}\nkeyfile {key}\n"
    broker = Mosquitto(d / "mosquitto", extra_conf=conf + "allow_anonymous true\n")
    broker.start()
    yield broker, port, ca
    broker.stop()


def test_mqtts_verifies_the_server_against_the_ca_file(
    tls_broker: tuple[Mosquitto, int, Path], tmp_path: Path
) -> None:
    _, port, ca = tls_broker
    out = tmp_path / "summary.json"
    args = ["--stations", "2", "--duration", "30m", "--summary-json", str(out)]
    r = _cli("--mqtt-url", f"mqtts://127.0.0.1:{port}", "--ca-file", str(ca), *args)
    assert r.returncode == 0, r.stderr
    assert json.loads(out.read_text())["readings"]["total"] == 2 * DEV * 6
    # verification is on by default: the system CAs do not know the test CA
    line = _one_line_error(_cli("--mqtt-url", f"mqtts://127.0.0.1:{port}", *args), 1)
    assert "TLS error" in line and "CERTIFICATE_VERIFY_FAILED" in line
    # nor does a CA that did not sign the server's certificate
    (tmp_path / "other").mkdir()
    other_ca, _, _ = make_ca_and_server_cert(tmp_path / "other")
    line = _one_line_error(
        _cli("--mqtt-url", f"mqtts://127.0.0.1:{port}", "--ca-file", str(other_ca), *args), 1
    )
    assert "TLS error" in line
