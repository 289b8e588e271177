"""docker-compose.yml: valid Compose, every service wired, no secret in the file.

Docker cannot run on the test machines, so the stack itself is not started here; what can be
checked without it is: the Compose schema, the wiring between services, the files the services
mount, the collector's environment against its real settings model, and the broker config.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from pydantic import BaseModel

from collector.alerts import routes_from_fleet
from collector.alerts.coverage import SEVERITIES, hole_message, matrix
from collector.alerts.notifiers import NOTIFIERS
from collector.alerts.routes_from_fleet import build, load_contacts
from collector.alerts.routing import Router
from collector.alerts.settings import AlertSettings, Recipients
from collector.config import Settings, load_settings
from collector.store.sinks import SINKS, SinkSettings
from devices.errors import ConfigError
from devices.stations import load_fleet
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
    by_alias = {f.alias: n for n, f in model.model_fields.items() if f.alias}
    name = by_alias.get(name, name)
    if name not in model.model_fields:
        return False
    if len(path) == 1:
        return True
    sub = model.model_fields[name].annotation
    if sub is SinkSettings:  # a setting of some sink plugin; Settings() below checks the one used
        return any(_field(p.settings, path[1:]) for p in SINKS.values())
    if model is AlertSettings and name == "notifiers":  # <name>__<setting of some plugin>
        return len(path) == 3 and any(_field(p.settings, path[2:]) for p in NOTIFIERS.values())
    return isinstance(sub, type) and issubclass(sub, BaseModel) and _field(sub, path[1:])


# what each `${VAR:?}` of the compose file stands for here: a value its setting accepts
STAND_INS = {
    "ALERTS_EMAILS": "coordenacao@example.org,chefe@example.org",
    "ALERTS_PHONES": "+258849990000",
    "SMTP_HOST": "smtp.example.org",
    "ALERTS_FROM": "alertas@example.org",
    "SMS_GATEWAY_URL": "https://sms-gateway.example.org/solarwater",
    "ALERTS_PUBLIC_URL": "https://solarwater.example.org",
}
TOKEN_STAND_IN = "9c4f1e7a2b8d3f6a0c5e1b7d"  # passes the alert API token rule (24+ random chars)
INTERPOLATION = re.compile(r"\$\$|\$\{([A-Z_][A-Z0-9_]*)(?::([-?])([^}]*))?\}")


def interpolate(text: str) -> str:
    """Compose's interpolation with nothing set: defaults as they ship, stand-ins for required
    values, `$$` to `$` (no nesting: the collector's values have none)."""

    def one(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name, op, arg = m.groups()
        return arg if op == "-" else STAND_INS.get(name, TOKEN_STAND_IN)

    return INTERPOLATION.sub(one, text)


def shipped_collector(tmp_path: Path, *extra: str) -> tuple[list[str], dict[str, str]]:
    """The collector service's command and environment as compose would run them, with the
    container's mounted paths mapped to the repository's files and --check-config-able."""
    command = interpolate(SERVICES["collector"]["command"][0])
    env = {k: interpolate(str(v)) for k, v in SERVICES["collector"]["environment"].items()}
    for target, source in _mounts("collector").items():
        if source.startswith(".") and not source.startswith(CERTS):
            command = command.replace(target, str(ROOT / source))
            env = {k: v.replace(target, str(ROOT / source)) for k, v in env.items()}
    command = command.replace("/tmp/solarwater-alerts.yaml", str(tmp_path / "alerts.yaml"))
    command = command.replace("python -m ", f"{sys.executable} -m ")
    entrypoint = SERVICES["collector"]["entrypoint"]
    return [*entrypoint, " ".join([command, *extra])], env


def test_collector_environment_names_are_real_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env = SERVICES["collector"]["environment"]
    names = [k for k in env if k.startswith("SOLARWATER_")]
    assert len(names) == len(env)
    for key in names:
        assert _field(Settings, key.removeprefix("SOLARWATER_").split("__")), key
    for key in list(os.environ):
        if key.startswith("SOLARWATER_"):
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, interpolate(str(value)))
    argv, _ = shipped_collector(tmp_path)
    generate = shlex.split(argv[-1].split(" && ")[0])  # makes the collector's --config
    assert generate[1:3] == ["-m", "collector.alerts.routes_from_fleet"]
    assert routes_from_fleet.main(generate[3:]) == 0
    settings = load_settings(tmp_path / "alerts.yaml")
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
    assert settings.alerts.notifiers["mail"].host == "smtp.example.org"  # type: ignore[attr-defined]
    assert settings.alerts.notifiers["sms"].bearer_token is not None  # type: ignore[attr-defined]


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
    # the alert transitions' bucket, kept for ever, is what InfluxQL reads as "events"
    assert '--name "${bucket}_events" --retention 0' in script and "--rp events" in script
    collector = SERVICES["collector"]["environment"]
    assert collector["SOLARWATER_INFLUX__EVENTS_BUCKET"] == "${INFLUXDB_BUCKET:-solarwater}_events"
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


def test_the_shipped_alerts_config_passes_check_config_and_pages_every_pair(
    tmp_path: Path,
) -> None:
    argv, env = shipped_collector(tmp_path, "--check-config")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SOLARWATER_")}
    proc = subprocess.run(
        argv, env={**clean, **env}, cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    rows = re.findall(r"^  (\S.*?)\s+(warning|critical)\s+-> (.*)$", proc.stdout, re.M)
    fleet = yaml.safe_load((ROOT / _mounts("collector")["/etc/solarwater/fleet.yaml"]).read_text())
    districts = {s["district"] for s in fleet["stations"]} | {"(unregistered)"}
    assert {(d, sev) for d, sev, _ in rows} == {(d, s) for d in districts for s in SEVERITIES}
    # nobody listed in the shipped contacts file: the coordination of .env takes every pair
    want = "fallback: mail:coordenacao@example.org,chefe@example.org sms:+258849990000"
    assert {reach for _, _, reach in rows} == {want}
    assert "config ok: 19 stations" in proc.stdout


def test_the_contacts_files_example_makes_a_route_per_district(tmp_path: Path) -> None:
    shipped = (ROOT / _mounts("collector")["/etc/solarwater/contacts.yaml"]).read_text()
    example = re.sub(r"^technicians: \[\]\n", "", shipped, flags=re.M)
    example = re.sub(r"^# ?(technicians:|  )", r"\1", example, flags=re.M)
    contacts = tmp_path / "contacts.yaml"
    contacts.write_text(example)
    config = build(load_fleet(), load_contacts(contacts), Recipients(emails=("c@example.org",)))
    routes = {r["name"]: r for r in config["alerts"]["routes"]}
    assert set(routes) == {"pemba", "metuge", "mecufi", "palma", "mocimboa-da-praia", "nangade",
                           "mueda"}  # fmt: skip
    assert routes["pemba"]["notifiers"] == ["mail", "sms"]
    assert routes["palma"]["severities"] == ["critical"] and routes["palma"]["notifiers"] == ["sms"]
    settings = AlertSettings.model_validate(
        {**config["alerts"], "notifiers": {"mail": {"type": "email", "host": "h"},
                                           "sms": {"type": "webhook", "url": "http://h/"}}}
    )  # fmt: skip
    router = Router(settings, load_fleet())
    assert [t.route for t in router.targets("PALMA-01", "warning")] == ["fallback"]
    assert hole_message(matrix(settings, load_fleet())) is None


@pytest.mark.parametrize(
    ("contacts", "message"),
    [
        ({"technicians": [{"name": "T", "districts": ["Palm"], "phones": ["+258841110001"]}]},
         "technician 'T': district 'Palm' is not in the fleet (did you mean 'Palma'?)"),
        ({"technicians": [{"name": "T", "districts": ["Palma"]}]},
         "technician 'T' has no emails and no phones"),
        ({"technicians": [{"name": "T", "districts": ["Palma"], "phones": ["12ab"]}]},
         "technicians.0.phones: '12ab' is not a phone number"),
        ({"coordination": {"emails": []}, "extra": 1}, "extra: Extra inputs are not permitted"),
    ],
)  # fmt: skip
def test_the_generator_refuses_bad_contacts_with_a_reason(
    tmp_path: Path, contacts: dict[str, Any], message: str
) -> None:
    path = tmp_path / "contacts.yaml"
    path.write_text(yaml.safe_dump(contacts))
    with pytest.raises(ConfigError, match=re.escape(message)):
        build(load_fleet(), load_contacts(path), Recipients(emails=("c@example.org",)))


def test_the_generator_without_a_coordination_is_one_line_and_writes_nothing(
    tmp_path: Path,
) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "collector.alerts.routes_from_fleet", "--coordination-emails", "",
         "--out", str(tmp_path / "out.yaml")],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("routes_from_fleet: contacts: no coordination contact"), line
    assert not (tmp_path / "out.yaml").exists()
