"""docker-compose.yml: valid Compose, every service wired, no secret in the file.

Docker cannot run on the test machines, so the stack itself is not started here; what can be
checked without it is: the Compose schema, the wiring between services, the files the services
mount, the collector's environment against its real settings model, and the broker config.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from pydantic import BaseModel

from collector.config import Settings
from collector.store.sinks import SINKS, SinkSettings
from tests.broker_support import make_certs
from tests.conftest import SHARED_SCHEMAS

ROOT = Path(__file__).resolve().parents[1]
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
# ${VAR}, ${VAR:?message}, ${VAR:-default}, or a default that is itself such a reference
_ONE = r"\$\{[A-Z_][A-Z0-9_]*(?::?[-?][^}$]*)?\}"
REF = re.compile(rf"^(?:{_ONE}|\$\{{[A-Z_][A-Z0-9_]*:-{_ONE}\}})$")
SECRET = re.compile(r"PASSWORD|TOKEN|SECRET", re.I)


def _mounts(service: str) -> dict[str, str]:
    """Container path -> source, for the service's `source:target[:mode]` or long-form volumes."""
    out = {}
    for spec in SERVICES[service].get("volumes", []):
        if isinstance(spec, dict):
            out[spec["target"]] = spec["source"]
            continue
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
    named = [
        v.split(":")[0]
        for v in service["volumes"]
        if isinstance(v, str) and not v.startswith((".", "$"))
    ]
    assert named and set(named) <= set(COMPOSE["volumes"]), name


def test_dependencies_wait_for_health() -> None:
    deps = SERVICES["collector"]["depends_on"]
    assert deps == {
        "mosquitto": {"condition": "service_healthy"},
        "influxdb": {"condition": "service_healthy"},
    }
    assert SERVICES["grafana"]["depends_on"]["influxdb"]["condition"] == "service_healthy"


CERTS = "./deploy/certs/"


def test_bind_mounts_exist_in_the_repository() -> None:
    for name in SERVICES:
        for target, source in _mounts(name).items():
            if source.startswith(".") and not source.startswith(CERTS):
                assert (ROOT / source).exists(), f"{name}: {source} -> {target} is missing"


def test_certificate_mounts_are_what_make_certs_makes(tmp_path: Path) -> None:
    made = make_certs(tmp_path / "certs")
    mounted = {
        (name, target, source)
        for name in SERVICES
        for target, source in _mounts(name).items()
        if source.startswith(CERTS)
    }
    assert {s for _, _, s in mounted} == {CERTS + f for f in ("ca.crt", "server.crt", "server.key")}
    for name, _target, source in mounted:
        assert (made / source.removeprefix(CERTS)).is_file(), source
        assert not source.endswith("ca.key"), f"{name} must not hold the CA's key"
    # long form, read-only, and a missing file stops `up` instead of becoming an empty folder
    for name in SERVICES:
        for spec in SERVICES[name].get("volumes", []):
            if isinstance(spec, dict):
                assert spec["read_only"] is True and spec["bind"]["create_host_path"] is False
    san = subprocess.run(
        ["openssl", "x509", "-in", str(made / "server.crt"), "-noout", "-ext", "subjectAltName"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "DNS:mosquitto" in san and "DNS:localhost" in san  # what the services dial


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
            # empty: compose's ${VAR:?} refuses to start until a real secret is filled in
            assert value == "", key
    assert "MQTT_SIMULATOR_PASSWORD" not in values, "a production .env has no simulator login"
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
    if sub is SinkSettings:  # a setting of some sink plugin; Settings() below checks the one used
        return any(_field(p.settings, path[1:]) for p in SINKS.values())
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
    assert settings.mqtt.url == "mqtts://mosquitto:8884"
    assert settings.mqtt.username == "collector"
    assert settings.mqtt.ca_file is not None
    assert _mounts("collector")[str(settings.mqtt.ca_file)] == CERTS + "ca.crt"
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


def _broker_config() -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """The shipped mosquitto.conf as its global settings and each listener's (by port)."""
    conf = (ROOT / _mounts("mosquitto")["/mosquitto/config/mosquitto.conf"]).read_text()
    top: dict[str, str] = {}
    listeners: dict[str, dict[str, str]] = {}
    current = top
    for line in conf.splitlines():
        if not line or line.startswith("#"):
            continue
        key, value = line.split(None, 1)
        if key == "listener":
            current = listeners.setdefault(value.split()[0], {})
        elif key in current and key != "log_type":
            raise AssertionError(f"{key} twice in one section")
        else:
            current[key] = value
    return top, listeners


def test_broker_config_is_the_shipped_one_with_auth_and_big_queues() -> None:
    mounts = _mounts("mosquitto")
    top, listeners = _broker_config()
    assert top["per_listener_settings"] == "true"
    assert top["persistence"] == "true"
    assert int(top["max_queued_messages"]) >= 100_000
    assert int(top["max_queued_bytes"]) > 0
    assert top["persistence_location"].rstrip("/") in mounts
    # telemetry payloads are at most 64 KiB (design §3): room for them, not for a 64 MiB one
    assert 64 * 1024 + 1024 <= int(top["max_packet_size"]) <= 1024 * 1024
    assert set(listeners) == {"8883", "8884"}
    for port, section in listeners.items():
        assert section["allow_anonymous"] == "false", port
        assert section["acl_file"] in mounts, port
        assert Path(section["password_file"]).parent.as_posix() in mounts, port
        assert section["tls_version"] in {"tlsv1.2", "tlsv1.3"}, port
        for key in ("cafile", "certfile", "keyfile"):
            # the entrypoint copies /mosquitto/certs/* to /mosquitto/tls/ for the broker's user
            name = Path(section[key]).name
            assert section[key] == f"/mosquitto/tls/{name}", (port, key)
            assert f"/mosquitto/certs/{name}" in mounts, (port, key)
    stations, services = listeners["8883"], listeners["8884"]
    assert stations["use_username_as_clientid"] == "true"
    assert stations["password_file"] != services["password_file"]
    assert stations["acl_file"] != services["acl_file"]
    acl = (ROOT / mounts[stations["acl_file"]]).read_text()
    assert [line for line in acl.splitlines() if line and not line.startswith("#")] == [
        "pattern write solarwater/%u/+/+/telemetry",
        "pattern write solarwater/%u/+/+/senml",
        "pattern write solarwater/%u/+/+/status",
    ]
    entry = SERVICES["mosquitto"]["entrypoint"]
    assert entry[-1] in mounts


def test_only_the_tls_station_listener_is_published() -> None:
    published = {
        (name, str(port).rsplit(":", 1)[-1])
        for name, service in SERVICES.items()
        for port in service.get("ports", [])
    }
    assert ("mosquitto", "8883") in published
    assert not [p for p in published if p[1] in {"1883", "8884"}], published
    assert "8883:8883" in SERVICES["mosquitto"]["ports"]
    # the services' listener is reached over a network with no way out
    assert COMPOSE["networks"]["broker"]["internal"] is True
    for name in ("mosquitto", "collector", "simulator"):
        assert "broker" in SERVICES[name]["networks"], name
    assert SERVICES["simulator"]["networks"] == ["broker"]
    health = " ".join(SERVICES["mosquitto"]["healthcheck"]["test"])
    assert "-p 8884" in health and "--cafile /mosquitto/tls/ca.crt" in health
    assert "1883" not in (ROOT / "docker-compose.yml").read_text()


def test_simulator_login_exists_only_with_the_sim_profile() -> None:
    broker_env = SERVICES["mosquitto"]["environment"]
    # empty unless given for `--profile sim`; the entrypoint adds the login only when set
    assert broker_env["MQTT_SIMULATOR_PASSWORD"] == "${MQTT_SIMULATOR_PASSWORD:-}"
    entry = (ROOT / _mounts("mosquitto")[SERVICES["mosquitto"]["entrypoint"][-1]]).read_text()
    assert 'if [ -n "${MQTT_SIMULATOR_PASSWORD:-}" ]; then' in entry
    assert [
        n for n, s in SERVICES.items() if "MQTT_SIMULATOR_PASSWORD" in s.get("environment", {})
    ] == [
        "mosquitto",
        "simulator",
    ]
    assert SERVICES["simulator"]["profiles"] == ["sim"]
    command = " ".join(SERVICES["simulator"]["command"])
    assert "mqtts://simulator:$${MQTT_SIMULATOR_PASSWORD}@mosquitto:8884" in command
    ca = re.search(r"--ca-file (\S+)", command)
    assert ca and _mounts("simulator")[ca.group(1)] == CERTS + "ca.crt"


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
