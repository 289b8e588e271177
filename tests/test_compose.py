"""docker-compose.yml: valid Compose, every service wired, no secret in the file.

Docker cannot run on the test machines, so the stack itself is not started here; what can be
checked without it is: the Compose schema, the wiring between services, the files the services
mount, the collector's environment against its real settings model, and the broker config.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from pydantic import BaseModel

from collector.config import Settings
from tests.conftest import SHARED_SCHEMAS

ROOT = Path(__file__).resolve().parents[1]
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
# ${VAR}, ${VAR:?message}, ${VAR:-default}, or a default that is itself such a reference
_ONE = r"\$\{[A-Z_][A-Z0-9_]*(?::?[-?][^}$]*)?\}"
REF = re.compile(rf"^(?:{_ONE}|\$\{{[A-Z_][A-Z0-9_]*:-{_ONE}\}})$")
SECRET = re.compile(r"PASSWORD|TOKEN|SECRET", re.I)


def _mounts(service: str) -> dict[str, str]:
    """Container path -> source, for the service's `source:target[:mode]` volumes."""
    out = {}
    for spec in SERVICES[service].get("volumes", []):
        default = re.match(r"^\$\{[A-Z_]+:-([^}]*)\}:([^:]+)", spec)
        if default:  # ${VAR:-default}: the default is what ships
            out[default.group(2)] = default.group(1)
        else:
            source, target = spec.split(":")[:2]
            out[target] = source
    return out


@pytest.mark.skipif(
    not (SHARED_SCHEMAS / "compose-spec.json").exists(),
    reason=f"compose-spec.json not found under {SHARED_SCHEMAS} (../shared/schemas)",
)
def test_compose_file_matches_the_compose_spec() -> None:
    schema = json.loads((SHARED_SCHEMAS / "compose-spec.json").read_text())
    jsonschema.Draft7Validator(schema).validate(COMPOSE)


def test_every_service_is_there() -> None:
    assert set(SERVICES) == {"mosquitto", "influxdb", "grafana", "collector", "simulator"}
    assert SERVICES["simulator"]["profiles"] == ["sim"]
    assert SERVICES["influxdb"]["image"].startswith("influxdb:2.7")
    assert SERVICES["collector"]["build"]["dockerfile"] == "Dockerfile.collector"
    assert SERVICES["simulator"]["build"]["dockerfile"] == "Dockerfile.simulator"


@pytest.mark.parametrize("name", ["mosquitto", "influxdb", "grafana", "collector"])
def test_servers_have_health_checks_restart_and_named_volumes(name: str) -> None:
    service = SERVICES[name]
    assert service["healthcheck"]["test"], name
    assert service["restart"] == "unless-stopped"
    named = [v.split(":")[0] for v in service["volumes"] if not v.startswith((".", "$"))]
    assert named and set(named) <= set(COMPOSE["volumes"]), name


def test_dependencies_wait_for_health() -> None:
    deps = SERVICES["collector"]["depends_on"]
    assert deps == {
        "mosquitto": {"condition": "service_healthy"},
        "influxdb": {"condition": "service_healthy"},
    }
    assert SERVICES["grafana"]["depends_on"]["influxdb"]["condition"] == "service_healthy"


def test_bind_mounts_exist_in_the_repository() -> None:
    for name in SERVICES:
        for target, source in _mounts(name).items():
            if source.startswith("."):
                assert (ROOT / source).exists(), f"{name}: {source} -> {target} is missing"


def _all_env() -> list[tuple[str, str, str]]:
    return [
        (name, key, str(value))
        for name, service in SERVICES.items()
        for key, value in service.get("environment", {}).items()
    ]


def test_no_secret_literal_in_the_compose_file() -> None:
    secrets = [(n, k, v) for n, k, v in _all_env() if SECRET.search(k)]
    assert len(secrets) >= 8
    for name, key, value in secrets:
        assert REF.match(value), f"{name}.{key} must be a ${{VAR}} reference, not {value!r}"
    text = (ROOT / "docker-compose.yml").read_text()
    for line in text.splitlines():
        if "://" in line and "@" in line:
            assert "$${" in line, f"credentials in a URL must come from the environment: {line}"


def test_env_example_has_placeholders_only() -> None:
    values = dict(
        line.split("=", 1)
        for line in (ROOT / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    for key, value in values.items():
        if SECRET.search(key):
            assert value == "change-me", key
    # every variable the compose file requires is documented there
    required = set(re.findall(r"\$\{([A-Z_]+):\?", (ROOT / "docker-compose.yml").read_text()))
    assert required <= set(values), required - set(values)


def _field(model: type[BaseModel], path: list[str]) -> bool:
    name = path[0].lower()
    if name not in model.model_fields:
        return False
    if len(path) == 1:
        return True
    sub = model.model_fields[name].annotation
    return isinstance(sub, type) and issubclass(sub, BaseModel) and _field(sub, path[1:])


def test_collector_environment_names_are_real_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    env = SERVICES["collector"]["environment"]
    names = [k for k in env if k.startswith("SOLARWATER_")]
    assert len(names) == len(env)
    for key in names:
        assert _field(Settings, key.removeprefix("SOLARWATER_").split("__")), key
    for key in list(os.environ):
        if key.startswith("SOLARWATER_"):
            monkeypatch.delenv(key)
    for key, value in env.items():
        # a stand-in for each ${VAR} that passes the alert API token rule (24+ random chars)
        monkeypatch.setenv(key, "9c4f1e7a2b8d3f6a0c5e1b7d" if "${" in str(value) else str(value))
    settings = Settings()
    assert settings.mqtt.url == "mqtt://mosquitto:1883"
    assert settings.mqtt.username == "collector"
    assert settings.influx.api == "v2"
    assert settings.influx.url == "http://influxdb:8086"
    assert settings.http.listen == "0.0.0.0:8080"
    fleet = _mounts("collector")["/etc/solarwater/fleet.yaml"]
    assert str(settings.fleet) == "/etc/solarwater/fleet.yaml" and (ROOT / fleet).is_file()
    assert "/var/lib/solarwater" in _mounts("collector")


def test_grafana_is_provisioned_with_the_influxdb_service() -> None:
    mounts = _mounts("grafana")
    prov = ROOT / mounts["/etc/grafana/provisioning"]
    (ds,) = yaml.safe_load((prov / "datasources" / "solarwater.yaml").read_text())["datasources"]
    assert ds["url"] == "http://influxdb:8086"
    assert ds["jsonData"]["version"] == "InfluxQL"
    assert ds["jsonData"]["dbName"] == SERVICES["influxdb"]["environment"]["INFLUXQL_DATABASE"]
    assert ds["jsonData"]["httpHeaderName1"] == "Authorization"
    header = ds["secureJsonData"]["httpHeaderValue1"]
    assert header == "Token ${INFLUX_TOKEN}"
    assert REF.match(SERVICES["grafana"]["environment"]["INFLUX_TOKEN"])
    (provider,) = yaml.safe_load((prov / "dashboards" / "solarwater.yaml").read_text())["providers"]
    assert provider["type"] == "file"
    board_dir = ROOT / mounts[provider["options"]["path"]]
    assert sorted(p.name for p in board_dir.glob("*.json")) == [
        "solarwater-alerts.json",
        "solarwater-collector.json",
        "solarwater-fleet.json",
        "solarwater-station.json",
        "solarwater-water.json",
    ]
    home = SERVICES["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert (board_dir / Path(home).name).is_file()
    assert REF.match(SERVICES["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD"])


def test_influxdb_maps_the_influxql_database_to_the_bucket() -> None:
    env = SERVICES["influxdb"]["environment"]
    assert env["DOCKER_INFLUXDB_INIT_MODE"] == "setup"
    for key in ("ORG", "BUCKET", "ADMIN_TOKEN", "USERNAME", "PASSWORD"):
        assert REF.match(env[f"DOCKER_INFLUXDB_INIT_{key}"]), key
    init = ROOT / _mounts("influxdb")["/docker-entrypoint-initdb.d"]
    script = (init / "10-dbrp.sh").read_text()
    assert "influx v1 dbrp create" in script and "--rp autogen --default" in script
    assert os.access(init / "10-dbrp.sh", os.X_OK)


def test_broker_config_is_the_shipped_one_with_auth_and_big_queues() -> None:
    mounts = _mounts("mosquitto")
    conf = (ROOT / mounts["/mosquitto/config/mosquitto.conf"]).read_text()
    settings = dict(
        line.split(None, 1) for line in conf.splitlines() if line and not line.startswith("#")
    )
    assert settings["allow_anonymous"] == "false"
    assert settings["persistence"] == "true"
    assert int(settings["max_queued_messages"]) >= 100_000
    assert int(settings["max_queued_bytes"]) > 0
    assert settings["acl_file"] in mounts
    assert Path(settings["password_file"]).parent.as_posix() in mounts
    assert settings["persistence_location"].rstrip("/") in mounts
    entry = SERVICES["mosquitto"]["entrypoint"]
    assert entry[-1] in mounts


@pytest.mark.parametrize("name", ["Dockerfile.collector", "Dockerfile.simulator"])
def test_dockerfiles_install_the_package_on_python_311_slim(name: str) -> None:
    text = (ROOT / name).read_text()
    assert text.splitlines()[1] == "FROM python:3.11-slim"
    assert "pip install ." in text
    module = "collector" if "collector" in name else "simulator"
    assert f'ENTRYPOINT ["python", "-m", "{module}"]' in text
    assert "\nUSER " in text, "runs as root"
    for copied in re.findall(r"^COPY (\S+) ", text, flags=re.M):
        assert (ROOT / copied).exists() or copied == "pyproject.toml"
