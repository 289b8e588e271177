"""Roles: one alert engine on its own subscription, ingest processes in the shared group."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from collector.broker.subscription import subscription_filters
from collector.config import ConfigError, load_settings

ROOT = Path(__file__).resolve().parents[1]


def test_the_engine_subscribes_alone_to_everything_whatever_the_shared_config_says() -> None:
    # one config file for the whole group: the engine takes it too, outside the group
    s = load_settings(
        None, {"role": "alerts", "mqtt.shared_group": "g", "mqtt.subscribe_status": False}
    )
    assert s.mqtt.shared_group is None
    assert subscription_filters(s.mqtt) == [
        "solarwater/+/+/+/telemetry",
        "solarwater/+/+/+/senml",
        "solarwater/+/+/+/status",
    ]
    ingest = load_settings(None, {"role": "ingest", "mqtt.shared_group": "g"})
    assert subscription_filters(ingest.mqtt)[:2] == [
        "$share/g/solarwater/+/+/+/telemetry",
        "$share/g/solarwater/+/+/+/senml",
    ]


def test_default_client_ids_differ_across_hosts_and_between_the_roles(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ids = {}
    for host in ("posto-a", "posto-b"):
        monkeypatch.setattr(socket, "gethostname", lambda host=host: host)
        for role in ("ingest", "alerts"):
            # an mqtt section of its own, as from a config file: the default id is made now
            mqtt = {"role": role, "mqtt.prefix": "solarwater"}
            ids[host, role] = load_settings(None, mqtt).mqtt.client_id
    assert ids == {
        ("posto-a", "ingest"): "solarwater-collector.posto-a",
        ("posto-a", "alerts"): "solarwater-collector.posto-a-alerts",
        ("posto-b", "ingest"): "solarwater-collector.posto-b",
        ("posto-b", "alerts"): "solarwater-collector.posto-b-alerts",
    }
    # the engine's id is its own: the ingest default is untouched afterwards
    assert load_settings(None, {"role": "alerts"}).mqtt.client_id.endswith("-alerts")
    assert not load_settings(None, {}).mqtt.client_id.endswith("-alerts")
    # an id the operator chose (for fail-over: the same on the standby host) is kept
    s = load_settings(None, {"role": "alerts", "mqtt.client_id": "solarwater-alerts"})
    assert s.mqtt.client_id == "solarwater-alerts"


def test_an_engine_in_a_shared_group_is_refused() -> None:
    with pytest.raises(ConfigError, match="role ingest and one process with role alerts"):
        load_settings(None, {"mqtt.shared_group": "g"})
    with pytest.raises(ConfigError, match="workers must be 1"):
        load_settings(None, {"role": "alerts", "workers": 2})
    # without an engine a single process may join a group
    assert load_settings(None, {"mqtt.shared_group": "g", "alerts.enabled": False}).role == "all"


def test_a_bad_role_is_one_line_and_exit_2(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "collector", "--check-config", "--fleet", "none"],
        env={"SOLARWATER_MQTT__SHARED_GROUP": "g", "PATH": "/usr/bin:/bin"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and "role alerts" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    proc = subprocess.run(
        [sys.executable, "-m", "collector", "--check-config", "--role", "ingest"],
        env={"SOLARWATER_MQTT__SHARED_GROUP": "g", "PATH": "/usr/bin:/bin"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
