"""Secrets stay out of logs, /healthz, /metrics, errors and the quarantine; HTTP binds locally."""

from __future__ import annotations

import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from collector.config import Settings
from devstack import Influxd, Mosquitto
from tests.collector_support import ROOT, CollectorProcess
from tests.fault_support import Message, Publisher, collector_env, wait_for

MQTT_SECRET = "Mq77-s3cret-Pw"
WRONG_SECRET = "Wr0ng-s3cret-Pw"
INFLUX_SECRET = "Infl-s3cret-Pw"


@pytest.fixture
def secured_broker(tmp_path: Path) -> Iterator[Mosquitto]:
    passwd = tmp_path / "passwd"
    subprocess.run(
        ["mosquitto_passwd", "-c", "-b", str(passwd), "sensor", MQTT_SECRET],
        check=True,
        capture_output=True,
    )
    broker = Mosquitto(
        tmp_path / "mosquitto",
        extra_conf=f"password_file {passwd}\n",
    )
    broker.config_text = lambda: Mosquitto.config_text(broker).replace(  # type: ignore[method-assign]
        "allow_anonymous true", "allow_anonymous false"
    )
    broker.start()
    yield broker
    broker.stop()


def everything_seen(collector: CollectorProcess) -> str:
    """Every text an operator (or an attacker with the HTTP port) can see."""
    port = collector.http_port
    texts = [collector.log_path.read_text(errors="replace")]
    for path in ("/healthz", "/metrics", "/quarantine", "/devices"):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
                texts.append(r.read().decode())
        except urllib.error.HTTPError as exc:
            texts.append(exc.read().decode())
    return "\n".join(texts)


def test_secrets_never_show(secured_broker: Mosquitto, influxd: Influxd, tmp_path: Path) -> None:
    url = secured_broker.url.replace("mqtt://", f"mqtt://sensor:{MQTT_SECRET}@")
    env = collector_env(secured_broker, influxd, "secdb", "sec", tmp_path / "data")
    env |= {
        "SOLARWATER_MQTT__URL": url,
        "SOLARWATER_INFLUX__URL": "http://127.0.0.1:9",  # nothing listens: write errors
        "SOLARWATER_INFLUX__USERNAME": "writer",
        "SOLARWATER_INFLUX__PASSWORD": INFLUX_SECRET,
        "SOLARWATER_LOG_LEVEL": "DEBUG",
    }
    collector = CollectorProcess(tmp_path, env)
    collector.start()
    try:
        wait_for(lambda: collector.health()["mqtt"]["connected"], 15, what="connected")
        # A good reading (spooled: InfluxDB unreachable) and bad ones (quarantined).
        with Publisher(url.replace(f"sensor:{MQTT_SECRET}@", ""), "sec-pub") as pub:
            pub.client.username_pw_set("sensor", MQTT_SECRET)
            good = b'{"battery_voltage_v": 25.0}'
            pub.publish_all(
                [
                    Message("sec/PEMBA-01/solar/mppt1/telemetry", good, 1),
                    Message("sec/PEMBA-01/solar/mppt1/telemetry", b"{not json", 1),
                    Message("sec/PEMBA-01/nokind/x/telemetry", good, 1),
                ]
            )
            pub.wait_acked(15)
        wait_for(lambda: collector.health()["spool"]["readings"] == 1, 15, what="spooled")
        assert collector.health()["influx"]["last_error"]
        seen = everything_seen(collector)
        assert "malformed_json" in seen and "unknown_kind" in seen and "sensor" in seen
    finally:
        collector.stop()
    seen += collector.log_path.read_text(errors="replace")  # the shutdown lines too

    # A refused login: the error path logs and reports the URL.
    env["SOLARWATER_MQTT__URL"] = url.replace(MQTT_SECRET, WRONG_SECRET)
    refused = CollectorProcess(tmp_path, env)
    refused.start()
    try:
        wait_for(lambda: "refused" in refused.health()["mqtt"]["last_error"], 15, what="refusal")
        assert refused.health()["status"] == "failing"
        seen += everything_seen(refused)
    finally:
        refused.stop()
    for secret in (MQTT_SECRET, WRONG_SECRET, INFLUX_SECRET):
        assert secret not in seen
    assert "sensor:***@" in seen


def test_config_errors_do_not_echo_secrets(tmp_path: Path) -> None:
    env = {
        "SOLARWATER_MQTT__URL": f"mqtt://sensor:{MQTT_SECRET}@host:notaport",
        "SOLARWATER_INFLUX__PASSWORD": INFLUX_SECRET,
        "SOLARWATER_INFLUX__TIMEOUT_S": "-1",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "collector", "--check-config"],
        env={"PATH": "/usr/bin:/bin", **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2
    out = proc.stdout + proc.stderr
    assert "config error" in out and "Traceback" not in out
    assert MQTT_SECRET not in out and INFLUX_SECRET not in out


def test_secret_settings_are_masked_in_repr() -> None:
    settings = Settings.model_validate(
        {"influx": {"password": INFLUX_SECRET}, "mqtt": {"password": MQTT_SECRET}}
    )
    assert INFLUX_SECRET not in repr(settings) and MQTT_SECRET not in repr(settings)
    assert INFLUX_SECRET not in settings.model_dump_json()


def test_http_api_binds_to_localhost_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SOLARWATER_HTTP__LISTEN", raising=False)
    assert Settings().http.listen.startswith("127.0.0.1:")
    assert Settings().http.host == "127.0.0.1"
