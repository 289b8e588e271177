"""Configuration: file < environment < command line, and one-line errors for every mistake."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from collector.config import ConfigError, load_settings
from collector.store.sinks.influx_v2 import InfluxV2Settings

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "collector", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        timeout=60,
    )


def test_defaults_are_sane() -> None:
    s = load_settings()
    assert s.mqtt.url == "mqtt://localhost:1883" and s.mqtt.prefix == "solarwater"
    assert s.influx.api == "v1" and s.influx.db == "solarwater"
    assert s.http.listen == "127.0.0.1:8080"  # localhost only unless asked


def test_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("influx:\n  db: from_file\n  batch_size: 10\nmqtt:\n  prefix: fileprefix\n")
    monkeypatch.setenv("SOLARWATER_INFLUX__BATCH_SIZE", "20")
    monkeypatch.setenv("SOLARWATER_INFLUX__DB", "from_env")
    s = load_settings(cfg, {"influx.db": "from_cli"})
    assert s.influx.db == "from_cli"
    assert s.influx.batch_size == 20
    assert s.mqtt.prefix == "fileprefix"


def test_secret_from_env_is_hidden(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOLARWATER_INFLUX__TOKEN", "tok-123-secret")
    monkeypatch.setenv("SOLARWATER_INFLUX__API", "v2")
    monkeypatch.setenv("SOLARWATER_INFLUX__ORG", "o")
    s = load_settings()
    assert isinstance(s.influx, InfluxV2Settings) and s.influx.token is not None
    assert s.influx.token.get_secret_value() == "tok-123-secret"
    assert "tok-123-secret" not in repr(s) and "tok-123-secret" not in str(s.model_dump())


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        ("influx:\n  bogus: 1\n", "influx.bogus: Extra inputs are not permitted"),
        ("influx:\n  batch_size: 0\n", "influx.batch_size"),
        ("influx:\n  api: v3\n", "influx.api"),
        ("mqtt:\n  url: http://broker\n", "mqtt.url: MQTT URL must start with mqtt://"),
        ("http:\n  listen: nowhere\n", "http.listen: must be HOST:PORT"),
        ("topthing: 1\n", "topthing: Extra inputs are not permitted"),
        ("- just a list\n", "expected a mapping"),
        ("influx: [\n", "not valid YAML"),
    ],
)
def test_config_mistakes_are_one_line(tmp_path: Path, yaml_text: str, expected: str) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml_text)
    with pytest.raises(ConfigError) as err:
        load_settings(cfg)
    assert expected in str(err.value)
    assert "\n" not in str(err.value)


def test_secrets_are_refused_in_the_config_file(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("influx:\n  token: abc-secret-value\n")
    with pytest.raises(ConfigError) as err:
        load_settings(cfg)
    assert "SOLARWATER_INFLUX__TOKEN" in str(err.value)
    assert "abc-secret-value" not in str(err.value)
    (tmp_path / "tok").write_text("abc-secret-value\n")
    cfg.write_text(f"influx:\n  api: v2\n  org: o\n  token_file: {tmp_path / 'tok'}\n")
    assert load_settings(cfg).influx.token_file == tmp_path / "tok"


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="No such file"):
        load_settings(tmp_path / "absent.yaml")


def test_cli_errors_have_no_traceback(tmp_path: Path) -> None:
    cases = [
        (["--mqtt-url", "http://x"], {}),
        (["--check-config"], {"SOLARWATER_INFLUX__BATCH_SIZE": "-3"}),
        (["--check-config"], {"SOLARWATER_INFLUX__BATCHSIZE": "3"}),
        (["--fleet", str(tmp_path / "none.yaml"), "--check-config"], {}),
        (["--config", str(tmp_path / "none.yaml")], {}),
        (["--influx-api", "v2", "--check-config"], {}),
    ]
    for args, env in cases:
        proc = run_cli(*args, env=env)
        assert proc.returncode == 2, (args, proc.stderr)
        assert "Traceback" not in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert proc.stderr.startswith("collector: ")


def test_cli_check_config_ok() -> None:
    proc = run_cli("--check-config")
    assert proc.returncode == 0, proc.stderr
    assert "19 stations" in proc.stdout


STRONG_TOKEN = "9f1c4e7a2b8d3f6a0c5e1b7d4a2f8c3e"


@pytest.mark.parametrize(
    "token",
    [
        "change-me",
        "9f1c4e7a2b8d3f6a0c5e1b7",  # random but 23 characters
        "change-me-change-me-change-me",
        "Replace_Me_With_A_Real_Token_Please",
        "my-secret-alert-api-value-2024",
        "PASSWORD-for-the-alert-api-1234",
        "the-alerts-token-for-pemba-fleet",
        "example-example-example-example",
        "test-test-test-test-test-test",
        "x" * 32,
        "xxxx-9f1c4e7a2b8d3f6a0c5e1b7d",
        "a" * 40,
        "abababababababababababababab",
        "123456789012345678901234567890",
    ],
)
def test_weak_api_tokens_are_refused(monkeypatch: pytest.MonkeyPatch, token: str) -> None:
    monkeypatch.setenv("SOLARWATER_ALERTS__API_TOKEN", token)
    with pytest.raises(ConfigError) as err:
        load_settings()
    message = str(err.value)
    assert "api_token" in message and "openssl rand -hex 24" in message
    assert "\n" not in message and token not in message


def test_strong_api_token_is_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOLARWATER_ALERTS__API_TOKEN", STRONG_TOKEN)
    token = load_settings().alerts.api_token
    assert token is not None and token.get_secret_value() == STRONG_TOKEN


def test_weak_api_token_from_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("changeme\n")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"alerts:\n  api_token_file: {tmp_path / 'token'}\n")
    with pytest.raises(ConfigError, match="api_token is 8 characters"):
        load_settings(cfg)
    (tmp_path / "token").write_text(STRONG_TOKEN + "\n")
    assert load_settings(cfg).alerts.api_token is not None


def test_check_config_refuses_a_placeholder_token() -> None:
    proc = run_cli("--check-config", env={"SOLARWATER_ALERTS__API_TOKEN": "change-me"})
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("collector: config error: alerts: api_token is 9 characters")
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("yaml_text", "setting"),
    [
        ("mqtt:\n  url: mqtt://sensor:Pw-9f1c4e@broker:1883\n", "mqtt"),
        ("mqtt:\n  url: mqtts://sensor:Pw-9f1c4e@broker\n", "mqtt"),
        ("influx:\n  url: http://writer:Pw-9f1c4e@influx:8086\n", "influx"),
    ],
)
def test_url_passwords_are_refused_in_the_config_file(
    tmp_path: Path, yaml_text: str, setting: str
) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml_text)
    with pytest.raises(ConfigError) as err:
        load_settings(cfg)
    message = str(err.value)
    assert f"{setting}.url carries a password" in message
    assert f"SOLARWATER_{setting.upper()}__URL" in message and f"{setting}.password_file" in message
    assert "Pw-9f1c4e" not in message and "\n" not in message


def test_url_user_without_password_in_file_and_password_in_env_are_fine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("mqtt:\n  url: mqtt://sensor@broker:1883\n")
    assert load_settings(cfg).mqtt.url == "mqtt://sensor@broker:1883"
    monkeypatch.setenv("SOLARWATER_INFLUX__URL", "http://writer:Pw-9f1c4e@influx:8086")
    assert load_settings(cfg).influx.url == "http://writer:Pw-9f1c4e@influx:8086"


def test_check_config_refuses_a_url_password_in_the_file(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("mqtt:\n  url: mqtt://sensor:Pw-9f1c4e@broker:1883\n")
    proc = run_cli("--config", str(cfg), "--check-config")
    assert proc.returncode == 2, proc.stderr
    assert (
        len(proc.stderr.strip().splitlines()) == 1 and "mqtt.url carries a password" in proc.stderr
    )
    assert "Pw-9f1c4e" not in proc.stderr


def test_cli_url_passwords_get_a_one_line_warning() -> None:
    proc = run_cli(
        "--mqtt-url",
        "mqtt://sensor:Pw-9f1c4e@127.0.0.1:1883",
        "--influx-url",
        "http://writer:Pw-9f1c4e@127.0.0.1:8086",
        "--check-config",
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 2 and "Pw-9f1c4e" not in proc.stderr
    assert lines[0].startswith("collector: warning: --mqtt-url carries a password")
    assert "SOLARWATER_MQTT__URL or mqtt.password_file" in lines[0]
    assert "SOLARWATER_INFLUX__URL or influx.password_file" in lines[1]
    quiet = run_cli("--mqtt-url", "mqtt://sensor@127.0.0.1:1883", "--check-config")
    assert quiet.returncode == 0 and quiet.stderr == ""


def test_simulator_cli_url_password_gets_a_one_line_warning() -> None:
    def simulator(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        # a bad --start makes it stop right after the argument checks, before any connection
        return subprocess.run(
            [sys.executable, "-m", "simulator", *args, "--start", "not-a-time"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env={**os.environ, **env},
            timeout=60,
        )

    url = "mqtt://sim:Pw-9f1c4e@127.0.0.1:9"
    warned = simulator("--mqtt-url", url, env={})
    first = warned.stderr.splitlines()[0]
    assert first.startswith("simulator: warning: --mqtt-url carries a password")
    assert "SIMULATOR_MQTT_URL" in first and "Pw-9f1c4e" not in warned.stderr
    from_env = simulator(env={"SIMULATOR_MQTT_URL": url})
    assert from_env.returncode == 2 and "warning" not in from_env.stderr
    assert "bad time" in from_env.stderr  # it got past --mqtt-url: the environment was used


def test_busy_http_port_is_one_line_and_exit_2(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        proc = run_cli(
            "--http",
            f"127.0.0.1:{port}",
            "--mqtt-url",
            "mqtt://127.0.0.1:9",
            "--influx-url",
            "http://127.0.0.1:9",
            "--data-dir",
            str(tmp_path / "data"),
            env={"SOLARWATER_LOG_LEVEL": "WARNING"},
        )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"collector: http.listen 127.0.0.1:{port}: cannot listen (Address already in use); "
        "stop what holds it or choose another with --http or SOLARWATER_HTTP__LISTEN"
    ]
